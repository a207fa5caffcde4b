# AN APPROXIMATION, not the paper's protocol: torchvision's ReLU ImageNet ResNet-50 adapted to
# GoLU with a short schedule (10 epochs, about 1/9 of resnet50_golu_in1k.py's cost, one epoch of
# linear warm-up then cosine decay from lr 0.01 per 256 images). The weights were learnt with ReLU
# and only adapted to GoLU: a cheap GoLU backbone for trying the pipeline, not evidence of what
# GoLU pretraining gives. The classifier head starts from scratch.
_base_ = './resnet50_golu_in1k.py'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=10, eta_min=0,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=10)
