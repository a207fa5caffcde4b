# ResNet-50-V1c (deep 3x3 stem: DeepLabV3's backbone) on ImageNet-1k, ReLU; recipe as
# resnet50_relu_in1k.py. Its checkpoint loads into configs/deeplabv3_*.py (mmseg's ResNetV1c key
# layout is converted on load).
_base_ = './resnet50_relu_in1k.py'
model = dict(backbone=dict(type='ActResNetV1c'))
