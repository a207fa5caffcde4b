"""mmseg datasets, registered in mmseg's DATASETS registry: the COCO-VOC dataset of the paper's
DeepLabV3 row (configs/paper/deeplabv3_*cocovoc*)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..data.coco_voc import VOC_CLASSES, VOC_PALETTE
from .registration import register


@register(DATASETS)
class COCOVOCDataset(BaseSegDataset):
    """COCO restricted to the 20 VOC classes (tools/dataset_converters/coco_voc.py writes the
    label maps): 21 classes with background, 255 ignored, COCO's .jpg images."""
    METAINFO = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)

    def __init__(self, img_suffix='.jpg', seg_map_suffix='.png', **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)
