# Mask R-CNN-FPN R50, 26 epochs at lr 0.02, GoLU in the backbone (no paper number: see
# mask_rcnn_r50_fpn_26e_relu.py).
_base_ = './mask_rcnn_r50_fpn_26e_relu.py'
act_cfg = dict(type='GoLU')
model = dict(backbone=dict(act_cfg=act_cfg))
