# The RetinaNet demo: mmdet's RetinaNet R50-FPN (a one-stage detector: no proposals, no RoIs) with
# GoLU in its ActResNet backbone, at the Mask R-CNN demo's size, data and schedule
# (mask_rcnn_golu_demo.py).
_base_ = './faster_rcnn_golu_demo.py'

width = 64
model = dict(
    _delete_=True, type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ActResNet', depth=18, base_channels=32, num_stages=4,
                  out_indices=(0, 1, 2, 3), frozen_stages=-1, norm_eval=False,
                  norm_cfg=dict(type='BN', requires_grad=True), style='pytorch',
                  act_cfg={{_base_.act_cfg}}, init_cfg=None),
    neck=dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=width,
              start_level=1, add_extra_convs='on_input', num_outs=5),
    bbox_head=dict(
        type='RetinaHead', num_classes=3, in_channels=width, stacked_convs=2,
        feat_channels=width,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                 min_pos_iou=0, ignore_iof_thr=-1),
                   sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                   debug=False),
    test_cfg=dict(nms_pre=300, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))
