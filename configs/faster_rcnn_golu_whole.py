# Faster R-CNN R50-FPN 1x COCO with GoLU in the whole model: backbone, RPN head and box head.
_base_ = './faster_rcnn_golu.py'
model = dict(
    rpn_head=dict(type='ActRPNHead', act_cfg={{_base_.act_cfg}}),
    roi_head=dict(bbox_head=dict(type='ActShared2FCBBoxHead', act_cfg={{_base_.act_cfg}})))
