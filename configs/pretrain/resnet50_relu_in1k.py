# ResNet-50 on ImageNet-1k with the backbone's activation as a config line: the ReLU anchor of the
# activation-matched pretraining. The paper's recipe (torchvision's reference): 90 epochs, SGD
# momentum 0.9, lr 0.1 per 256 images (8 GPUs x 32, as the base config), weight decay 1e-4, lr x0.1
# at epochs 30 and 60, SyncBN across GPUs (tools/train.py makes it BN on one GPU or the CPU).
# The checkpoints record the activation (ActivationMetaHook); a fine-tune config takes one with
#   backbone_checkpoint = 'work_dirs/resnet50_golu_in1k/epoch_90.pth'
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['golu_mm.openmmlab.mmpretrain_models'], allow_failed_imports=False)

act_cfg = dict(type='ReLU')
model = dict(backbone=dict(type='ActResNet', act_cfg=act_cfg,
                           norm_cfg=dict(type='SyncBN', requires_grad=True)))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(_delete_=True, type='MultiStepLR', by_epoch=True, milestones=[30, 60],
                       gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = [dict(type='ActivationMetaHook')]
