# Mask R-CNN-FPN R50, 26 epochs at the default lr 0.02 (torchvision's and mmdet's), ReLU: the twin
# of the paper's lr 0.03 row (mask_rcnn_r50_fpn_26e_lr003_relu.py), which the paper does not report.
_base_ = './mask_rcnn_r50_fpn_26e_lr003_relu.py'
optim_wrapper = dict(optimizer=dict(lr=0.02))
