# ResNet-50-V1c on ImageNet-1k with GoLU in the backbone; recipe as resnet50_relu_in1k.py.
_base_ = './resnet50_v1c_relu_in1k.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
