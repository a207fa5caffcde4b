"""Export a shipped config's model to ONNX and check it in onnxruntime against PyTorch.

What is exported, per codebase: mmseg segmentors end to end (logits at the input size), mmpretrain
classifiers end to end (class scores), mmdet detectors' backbone + neck (their RoI heads need
mmcv's RoIAlign, which only mmdeploy exports, and mmdeploy does not install beside onnx 1.23).
GoLU exports as standard ONNX operators (golu_mm.ops registers its decomposition).
"""
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..analysis.timing import median_seconds
from ..ops import torch_compat
from . import apis

MIN_OPSET = 18  # the lowest opset torch.onnx's default (dynamo) exporter writes


class SegmentorLogits(nn.Module):
    """An mmseg segmentor as image -> class logits at the image's size."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode_decode(x, [dict(img_shape=x.shape[2:])])


class BackboneNeck(nn.Module):
    """An mmdet detector's backbone and neck: image -> feature pyramid."""

    def __init__(self, model):
        super().__init__()
        self.backbone, self.neck = model.backbone, model.neck

    def forward(self, x):
        return tuple(self.neck(self.backbone(x)))


class ClassifierScores(nn.Module):
    """An mmpretrain classifier as image -> class scores."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


EXPORTED_PART = {'mmseg': (SegmentorLogits, 'segmentor (logits)'),
                 'mmdet': (BackboneNeck, 'backbone + neck'),
                 'mmpretrain': (ClassifierScores, 'classifier (scores)')}


def check_opset(opset: Optional[int]) -> None:
    import onnx
    newest = onnx.defs.onnx_opset_version()
    if opset is not None and not MIN_OPSET <= opset <= newest:
        raise ValueError(f'opset {opset} is not supported: torch.onnx writes opsets '
                         f'{MIN_OPSET} to {newest} (onnx {onnx.__version__})')


def input_image(model, shape: Sequence[int], image: Optional[str] = None) -> torch.Tensor:
    """(1, 3, H, W) as the model's data preprocessor feeds it: `image`, or a synthetic scene of
    golu_mm.data, resized to `shape`."""
    import cv2

    from ..data.synthetic import render_scene
    height, width = shape
    if image is None:
        picture, _ = render_scene(np.random.default_rng(0), max(height, width))
    else:
        picture = cv2.imread(str(image))
        if picture is None:
            raise FileNotFoundError(f'cannot read image {image}')
    return apis.image_tensor(cv2.resize(picture, (width, height)), model)[..., :height, :width]


def check_exportable(part: nn.Module, config: str) -> None:
    """ValueError naming the first module of `part` that is one of mmcv's compiled operators
    (deformable convolution, RoIAlign, ...): torch.onnx cannot express them (mmdeploy's custom
    ONNX operators do, and mmdeploy does not install beside onnx 1.23)."""
    for name, module in part.named_modules():
        if type(module).__module__.startswith('mmcv.ops'):
            raise ValueError(f'{config}: {name} is mmcv.ops.{type(module).__name__}, a compiled '
                             'mmcv operator that torch.onnx cannot export (mmdeploy\'s custom '
                             'operators can); export a model without it (e.g. no DCN)')


def _median_seconds(fn) -> float:
    return median_seconds(fn, steps=5, warmup=1)


def export(config: str, out: str, checkpoint: Optional[str] = None, shape=(512, 512),
           opset: Optional[int] = None, dynamic: bool = False, image: Optional[str] = None,
           cfg_options: Optional[dict] = None, allow_activation_mismatch: bool = False) -> dict:
    """Export the config's model (see the module docstring for which part) to `out`, run it in
    onnxruntime on an image and compare with PyTorch. Returns what was exported and measured:
    part, outputs, max_abs_error, max_rel_error, torch_s, onnxruntime_s, nodes (op types)."""
    if not torch_compat.has_dynamo_onnx_export():
        raise RuntimeError(torch_compat.missing_feature('torch.onnx.export(dynamo=True)',
                                                        'exporting an OpenMMLab model to ONNX'))
    import onnx
    import onnxruntime as ort
    check_opset(opset)
    if len(shape) != 2 or min(shape) < 32:
        raise ValueError(f'shape must be H W of at least 32 pixels, got {tuple(shape)}')
    if checkpoint is not None and '://' not in checkpoint and not Path(checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    model, cfg = apis.build_model(config, checkpoint, cfg_options, allow_activation_mismatch)
    wrapper_cls, part = EXPORTED_PART[apis.codebase_of(cfg)]
    wrapper = wrapper_cls(model).eval()
    check_exportable(wrapper, config)
    x = input_image(model, shape, image)
    dynamic_shapes = None
    if dynamic:
        batch, height, width = (torch.export.Dim(n, min=m, max=4096)
                                for n, m in (('batch', 1), ('height', 32), ('width', 32)))
        dynamic_shapes = {'x': {0: batch, 2: height, 3: width}}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(wrapper, (x,), str(out), dynamo=True, opset_version=opset,
                          dynamic_shapes=dynamic_shapes)
        expected = wrapper(x)
        torch_s = _median_seconds(lambda: wrapper(x))  # before onnxruntime's threads exist
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    feed = {session.get_inputs()[0].name: x.numpy()}
    actual = session.run(None, feed)
    abs_error = max(float(np.abs(a - e.numpy()).max()) for a, e in zip(actual, expected))
    rel_error = max(float((np.abs(a - e.numpy()) / np.maximum(np.abs(e.numpy()), 1e-6)).max())
                    for a, e in zip(actual, expected))
    return {'part': part, 'out': str(out), 'input_shape': tuple(x.shape),
            'outputs': [tuple(a.shape) for a in actual], 'max_abs_error': abs_error,
            'max_rel_error': rel_error, 'torch_s': torch_s,
            'onnxruntime_s': _median_seconds(lambda: session.run(None, feed)),
            'nodes': sorted({(n.domain or 'ai.onnx', n.op_type)
                             for n in onnx.load(str(out)).graph.node})}
