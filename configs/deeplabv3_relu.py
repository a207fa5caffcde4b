# DeepLabV3 R50-D8, ADE20K 512x512, 80k iterations, the ReLU baseline: upstream mmseg's config
# with the backbone swapped for golu_mm's ActResNetV1c (upstream's ResNetV1c when act_cfg is ReLU).
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(imports=['golu_mm.openmmlab.mmseg_models'], allow_failed_imports=False)

act_cfg = dict(type='ReLU')
# Every checkpoint records the model's activations; loading one trained with others is refused
# (--allow-activation-mismatch to override): golu_mm.openmmlab.activation_record.
custom_hooks = [dict(type='ActivationMetaHook')]
# Backbone initialisation, one line to change (see docs/openmmlab.md, "Pretrained weights"):
#   'open-mmlab://resnet50_v1c'  ImageNet ReLU weights (upstream's default)
#   '/path/to/golu_r50_v1c.pth'  your own ResNet-50-V1c trained on ImageNet with GoLU
#   None                         from scratch
backbone_checkpoint = 'open-mmlab://resnet50_v1c'

model = dict(
    pretrained=None,
    backbone=dict(
        type='ActResNetV1c',
        act_cfg=act_cfg,
        fuse_bn_golu=True,  # with a GoLU act_cfg: BN -> GoLU fused (ReLU's memory); False: unfused
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)
        if backbone_checkpoint else None))
