# ResNet-50 on ImageNet-1k with GoLU in the backbone (stem and blocks): the backbone the paper's
# GoLU detection and segmentation rows start from. Recipe: resnet50_relu_in1k.py.
_base_ = './resnet50_relu_in1k.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
