# The paper's DeepLabV3 R50 row, GoLU in the backbone: mIoU 65.98 ± 0.124 (ReLU 65.11 ± 0.326).
# Recipe and differences: deeplabv3_r50_d8_cocovoc_30e_relu.py.
_base_ = './deeplabv3_r50_d8_cocovoc_30e_relu.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
