# DeepLabV3 R50-D8, ADE20K 512x512, 80k, with GoLU in the backbone (the paper's headline setting).
_base_ = './deeplabv3_relu.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
