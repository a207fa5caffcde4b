# Mask R-CNN R50-FPN 1x COCO, the ReLU baseline: upstream mmdet's config with the backbone
# swapped for golu_mm's ActResNet, which is upstream's ResNet when act_cfg is ReLU.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['golu_mm.openmmlab.mmdet_models'], allow_failed_imports=False)

act_cfg = dict(type='ReLU')
# Every checkpoint records the model's activations; loading one trained with others is refused
# (--allow-activation-mismatch to override): golu_mm.openmmlab.activation_record.
custom_hooks = [dict(type='ActivationMetaHook')]
# Backbone initialisation, one line to change (see docs/openmmlab.md, "Pretrained weights"):
#   'torchvision://resnet50'  ImageNet ReLU weights (upstream's default)
#   '/path/to/golu_r50.pth'   your own ResNet-50 trained on ImageNet with GoLU (the paper's setup)
#   None                      from scratch
backbone_checkpoint = 'torchvision://resnet50'

model = dict(
    backbone=dict(
        type='ActResNet',
        act_cfg=act_cfg,
        fuse_bn_golu=True,  # with a GoLU act_cfg: BN -> GoLU fused (ReLU's memory); False: unfused
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)
        if backbone_checkpoint else None,
        # Upstream freezes the stem + layer1 and batch norm's statistics of a pretrained backbone;
        # from scratch both must train (frozen at their initial values, BN lets a GoLU signal
        # shrink block by block: docs/openmmlab.md, "Fair settings").
        frozen_stages=1 if backbone_checkpoint else -1,
        norm_eval=bool(backbone_checkpoint)))
