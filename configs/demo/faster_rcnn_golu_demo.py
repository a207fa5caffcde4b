# The Faster R-CNN demo: faster_rcnn_golu.py's model at the Mask R-CNN demo's size, data and
# schedule (mask_rcnn_golu_demo.py): the same detector without its mask branch.
_base_ = './mask_rcnn_golu_demo.py'

model = dict(type='FasterRCNN', roi_head=dict(mask_roi_extractor=None, mask_head=None))
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
