# Faster R-CNN R50-FPN 1x COCO with GoLU in the backbone (the paper's headline setting).
_base_ = './faster_rcnn_relu.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
