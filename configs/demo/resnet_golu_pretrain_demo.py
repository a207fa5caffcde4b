# The pretraining demo: resnet50_golu_in1k.py (same model code, GoLU backbone) sized for a 2-core
# CPU: the demo detector's backbone (ResNet-18, 32 base channels) classifies the single-shape
# images of golu_mm.data (tools/demo.py --pretrain generates them under data/synthetic_cls).
_base_ = '../pretrain/resnet50_golu_in1k.py'

data_root = 'data/synthetic_cls/'
max_iters = 2000
# Written for 2000 iterations; train_cfg.max_iters=N rescales it (golu_mm.openmmlab.schedule).
schedule_follows_max_iters = True
import golu_mm.data as _data  # noqa: E402 (a module: mmengine keeps it out of the config)

model = dict(
    backbone=dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=dict(type='BN')),
    head=dict(num_classes=len(_data.CLASSES), in_channels=256, topk=(1, )))
data_preprocessor = dict(num_classes=len(_data.CLASSES))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 classes=_data.CLASSES, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 classes=_data.CLASSES, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))  # three classes: top-5 is always 100 %
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
