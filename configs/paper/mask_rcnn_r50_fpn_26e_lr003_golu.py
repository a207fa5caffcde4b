# The paper's Mask R-CNN-FPN R50 row (lr 0.03), GoLU in the backbone: box mAP 39.36 ± 0.192, mask
# mAP 34.97 ± 0.146 (ReLU 38.25 / 34.28). Recipe: mask_rcnn_r50_fpn_26e_lr003_relu.py.
_base_ = './mask_rcnn_r50_fpn_26e_lr003_relu.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
