# The segmentation demo: deeplabv3_golu.py (same model code, GoLU backbone) sized for a 2-core CPU,
# trained from scratch on the synthetic scenes' ADE-style label maps (0 = background).
# Smaller than the paper's model in width (ResNet-18-V1c, 32 base channels), image size (128 px)
# and schedule; everything else is the shipped config.
_base_ = '../deeplabv3_golu.py'

data_root = 'data/synthetic/'
image_size = 128
crop_size = (image_size, image_size)
max_iters = 600
# The schedule below is written for 600 iterations; train_cfg.max_iters=N (tools/demo.py --iters N)
# rescales it, warm-up included, so that it always ends annealed (golu_mm.openmmlab.schedule).
schedule_follows_max_iters = True
import golu_mm.data as _data  # noqa: E402 (a module: mmengine keeps it out of the config)

# The label maps use 0 for background and k for the data set's class k.
metainfo = dict(classes=('background', *_data.CLASSES), palette=[(0, 0, 0), *_data.PALETTE])
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, base_channels=32, stem_channels=32, norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(in_channels=256, channels=64, num_classes=4, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=4, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
               img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, pipeline=train_pipeline,
                 data_prefix=dict(img_path='ade/images/training',
                                  seg_map_path='ade/annotations/training')))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, pipeline=test_pipeline,
                 data_prefix=dict(img_path='ade/images/validation',
                                  seg_map_path='ade/annotations/validation')))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(_delete_=True, type='OptimWrapper', clip_grad=dict(max_norm=10.0),
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False, begin=50, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
