"""Seeing a model's activations: the one place that hooks every activation module (ReLU, GELU,
SiLU, Mish, GoLU: the table's classes), and the stage each module belongs to, from the model's
structure (Stages). Fused BN →
GoLU nodes have no separate activation output, so a capture runs the model unfused (the same
values within float rounding: tests/analysis/test_mechanisms.py compares them)."""
import contextlib
import re
from typing import Callable, Iterator, List, Tuple

from torch import Tensor, nn

from ..nn import unfused
from ..nn.activations import ACTIVATIONS

__all__ = ['ACTIVATION_MODULES', 'Stages', 'backbone_stages', 'capture_activations']

# the module classes of the table's activations (GoLU's included)
ACTIVATION_MODULES = tuple(type(act.module()) for act in ACTIVATIONS.values())

STAGE_CONTAINERS = ('stages', 'layers', 'blocks')  # a backbone's ModuleList of stages
_NUMBERED_STAGE = re.compile(r'(layer|stage|res_layer)\d+')


def backbone_stages(backbone: nn.Module) -> List[Tuple[List[str], str]]:
    """The backbone's stages, in order, each as (the names of its modules, relative to the
    backbone; its name), from the backbone's structure: OpenMMLab's ResNet family lists them
    (`res_layers`); VGG slices its `features` into stages (`range_sub_modules`); otherwise its
    numbered children (layer1..N, stage1..N: HRNet, MobileNet, torchvision's ResNet); otherwise
    each element of a ModuleList or Sequential child named stages, layers or blocks (Swin,
    ConvNeXt, MiT, ViT's layers, as their out_indices count them), with the element of the same
    index of a ModuleList beside it of the same length (ConvNeXt's downsampling layers);
    otherwise each of its children, where it has several (FastSCNN's three parts)."""
    children = dict(backbone.named_children())
    listed = getattr(backbone, 'res_layers', None)
    if isinstance(listed, (list, tuple)) and listed and all(n in children for n in listed):
        return [([n], n) for n in listed]
    ranges = getattr(backbone, 'range_sub_modules', None)
    if ranges and 'features' in children:
        return [([f'features.{i}' for i in range(start, end)], f'stage{k + 1}')
                for k, (start, end) in enumerate(ranges)]
    numbered = [n for n in children if _NUMBERED_STAGE.fullmatch(n)]
    if numbered:
        return [([n], n) for n in numbered]
    for name in STAGE_CONTAINERS:
        container = children.get(name)
        if isinstance(container, (nn.ModuleList, nn.Sequential)) and len(container) > 1:
            # a ModuleList beside it of the same length (ConvNeXt's downsample_layers) holds
            # each stage's own first part
            beside = [n for n, c in children.items() if n != name
                      and isinstance(c, nn.ModuleList) and len(c) == len(container)]
            return [([f'{b}.{i}' for b in beside] + [f'{name}.{i}'], f'{name}.{i}')
                    for i in range(len(container))]
    parts = [n for n, c in children.items() if any(True for _ in c.parameters())]
    return [([n], n) for n in parts] if len(parts) > 1 else []


class Stages:
    """Which stage each module or parameter of a model belongs to, derived from the model's
    structure: its backbone's stages (backbone_stages; what comes before the first is the
    backbone's stem, any other part of it is named as itself), then each other top-level
    component (neck, rpn_head, roi_head, decode_head, head, ...). A model without a `backbone`
    (a plain torch network) is taken as one. of(name) gives the stage of a dotted name;
    `prefixes` holds (module name, stage) pairs, `names` the stages in the model's order."""

    def __init__(self, model: nn.Module):
        children = dict(model.named_children())
        backbone = children.get('backbone', model)
        prefix = 'backbone.' if 'backbone' in children else ''
        stages = backbone_stages(backbone)
        containers = {m.split('.')[0] for modules, _ in stages for m in modules}
        labels = {}  # module prefix -> its stage
        if stages:
            seen_stage = False
            for name in dict(backbone.named_children()):
                seen_stage = seen_stage or name in containers
                if name not in containers:
                    labels[prefix + name] = prefix + (name if seen_stage else 'stem')
            labels.update({prefix + m: prefix + label for modules, label in stages
                           for m in modules})
        elif prefix:
            labels['backbone'] = 'backbone'
        if prefix:
            labels.update({name: name for name in children if name != 'backbone'})
        self._default = 'model' if not prefix else None
        self.prefixes = sorted(labels.items(), key=lambda item: -len(item[0]))
        order = {name: i for i, (name, _) in enumerate(model.named_modules())}
        self.names = list(dict.fromkeys(label for _, label in sorted(
            labels.items(), key=lambda item: order.get(item[0], len(order)))))

    def of(self, name: str) -> str:
        for prefix, label in self.prefixes:
            if name == prefix or name.startswith(prefix + '.'):
                return label
        return self._default or name.split('.')[0]


@contextlib.contextmanager
def capture_activations(model: nn.Module,
                        on_output: Callable[[str, Tensor], None]) -> Iterator[nn.Module]:
    """Within it, every output of an activation module of `model` is passed to on_output(name,
    output) as the module returns it (a module applied several times, like a ResNet block's
    relu, is called back each time); the model runs unfused. ValueError for a model without
    activation modules."""
    handles = [module.register_forward_hook(lambda _, __, out, name=name: on_output(name, out))
               for name, module in model.named_modules() if isinstance(module, ACTIVATION_MODULES)]
    if not handles:
        raise ValueError(f'{type(model).__name__} has no activation modules '
                         f'({", ".join(c.__name__ for c in ACTIVATION_MODULES)}) to record')
    try:
        with unfused(model):
            yield model
    finally:
        for handle in handles:
            handle.remove()
