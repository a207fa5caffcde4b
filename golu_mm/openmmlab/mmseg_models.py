"""mmseg backbones with a configurable activation, registered in mmseg's MODELS registry (mmseg's
decode heads already take act_cfg), and the COCO-VOC dataset of the paper's DeepLabV3 row."""
from mmseg.datasets import BaseSegDataset
from mmseg.models.backbones import ResNet, ResNetV1c, ResNetV1d
from mmseg.registry import DATASETS, MODELS

from ..data.coco_voc import VOC_CLASSES, VOC_PALETTE
from .swap import register_act_backbones


ActResNet, ActResNetV1c, ActResNetV1d = register_act_backbones(  # V1c: DeepLabV3's backbone
    MODELS, __name__, ResNet, ResNetV1c, ResNetV1d)


@DATASETS.register_module(force=True)
class COCOVOCDataset(BaseSegDataset):
    """COCO restricted to the 20 VOC classes (tools/dataset_converters/coco_voc.py writes the
    label maps): 21 classes with background, 255 ignored, COCO's .jpg images."""
    METAINFO = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)

    def __init__(self, img_suffix='.jpg', seg_map_suffix='.png', **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)
