# The paper's RetinaNet-FPN R50 "v2" row, ReLU: box mAP 39.90 (GoLU 40.77, GELU 40.68, Swish
# 40.27, Mish 40.45; one run each). "v2" is torchvision's retinanet_resnet50_fpn_v2: RetinaNet with
# the post-paper improvements of "Bridging the Gap Between Anchor-based and Anchor-free Detection"
# (ATSS paper): BN not frozen (SyncBN), P6/P7 from C5, GroupNorm in the heads, GIoU box loss. Its
# torchvision recipe: AdamW lr 1e-4, weight decay 0.05 (none on norm layers), 26 epochs, lr x0.1 at
# 16 and 22, 16 images per batch (8 GPUs x 2), multiscale training (short side 480..800 step 32,
# long side <= 1333), horizontal flip.
# Kept from mmdet: IoU anchor assignment 0.5/0.4 with low-quality matches (as torchvision),
# frozen stem + layer1 (torchvision's default trainable layers). SyncBN runs across GPUs in
# distributed runs (BN on one GPU or the CPU). The recipe names no warm-up: mmdet's is dropped.
# Differs: the backbone pretraining per activation (configs/pretrain/), as in the other rows.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['golu_mm.openmmlab.mmdet_models'], allow_failed_imports=False)

act_cfg = dict(type='ReLU')
# Every checkpoint records the model's activations; loading one trained with others is refused
# (--allow-activation-mismatch to override): golu_mm.openmmlab.activation_record.
custom_hooks = [dict(type='ActivationMetaHook')]
backbone_checkpoint = 'torchvision://resnet50'  # see configs/mask_rcnn_relu.py
max_epochs = 26

model = dict(
    backbone=dict(type='ActResNet', act_cfg=act_cfg,
                  norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False,
                  init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)
                  if backbone_checkpoint else None),
    neck=dict(add_extra_convs='on_input'),
    bbox_head=dict(norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
                   reg_decoded_bbox=True, loss_bbox=dict(_delete_=True, type='GIoULoss',
                                                         loss_weight=1.0)))
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(1333, s) for s in range(480, 801, 32)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 22],
         gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(enable=False, base_batch_size=16)
