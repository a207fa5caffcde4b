# The paper's Faster R-CNN-FPN R50 row, ReLU: box mAP 37.44 ± 0.146 (GoLU 38.31 ± 0.058; GELU
# 38.16, Swish 37.28, Mish 37.71; 3 seeds, last epoch). Recipe (torchvision's detection reference):
# 26 epochs, lr x0.1 at epochs 16 and 22, SGD lr 0.02 momentum 0.9 weight decay 1e-4, 16 images
# per batch (8 GPUs x 2), linear warm-up over the first 1000 iterations from lr x 0.001.
# As in torchvision: 800/1333 resizing, horizontal flip, frozen BN and frozen stem + layer1.
# Differs: the paper's backbone was pretrained per activation on ImageNet (set backbone_checkpoint
# to such a checkpoint: configs/pretrain/); images are batched by aspect ratio as mmdet does
# (torchvision: aspect-ratio group factor 3).
_base_ = '../faster_rcnn_relu.py'

max_epochs = 26
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 22],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)
