# The paper's DeepLabV3 R50 row (lr 0.01), ReLU: mIoU 65.11 ± 0.326 (GoLU 65.98 ± 0.124; GELU
# 65.59, Swish 64.14, Mish 64.40). Dataset: COCO restricted to the 20 Pascal VOC classes +
# background (tools/dataset_converters/coco_voc.py), not ADE20K. Recipe (torchvision's
# segmentation reference, deeplabv3_resnet50 with --aux-loss): ResNet-50 with a 7x7 stem, dilated
# (output stride 8), ASPP head, auxiliary FCN head on layer3 with loss weight 0.5 and 10x lr;
# 30 epochs, SGD lr 0.01 momentum 0.9 weight decay 1e-4, poly decay (power 0.9) per iteration,
# 32 images per batch (8 GPUs x 4); training images resized to a short side drawn from 260..1040
# (0.5-2x of 520), flipped, cropped to 480x480 (labels padded with 255); evaluation at short side
# 520, whole image.
# Differs: mmseg's ASPP head (image pooling + rates 1/12/24/36, then a 3x3 conv, 256 channels here)
# stands for torchvision's (the same branches, a 1x1 projection with dropout 0.5, then a 3x3 conv);
# the backbone's ImageNet weights are torchvision's ReLU ones unless backbone_checkpoint names a
# per-activation pretraining (configs/pretrain/), as the paper's were.
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py', 'mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['golu_mm.openmmlab.mmseg_models', 'golu_mm.openmmlab.mmseg_datasets'],
                      allow_failed_imports=False)

act_cfg = dict(type='ReLU')
# Every checkpoint records the model's activations; loading one trained with others is refused
# (--allow-activation-mismatch to override): golu_mm.openmmlab.activation_record.
custom_hooks = [dict(type='ActivationMetaHook')]
backbone_checkpoint = 'torchvision://resnet50'  # see configs/deeplabv3_relu.py
num_classes = 21
crop_size = (480, 480)
max_epochs = 30
data_root = 'data/'  # COCO in data/coco, the converter's output in data/coco_voc

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(type='ActResNet', act_cfg=act_cfg,
                  init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)
                  if backbone_checkpoint else None),
    decode_head=dict(channels=256, num_classes=num_classes),
    auxiliary_head=dict(channels=256, num_classes=num_classes,
                        loss_decode=dict(loss_weight=0.5)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(8192, 520), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(8192, 520), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='COCOVOCDataset', data_root=data_root, ann_file='coco_voc/train2017.txt',
                 data_prefix=dict(img_path='coco/train2017',
                                  seg_map_path='coco_voc/annotations/train2017'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='COCOVOCDataset', data_root=data_root, ann_file='coco_voc/val2017.txt',
                 data_prefix=dict(img_path='coco/val2017',
                                  seg_map_path='coco_voc/annotations/val2017'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'auxiliary_head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
auto_scale_lr = dict(enable=False, base_batch_size=32)
