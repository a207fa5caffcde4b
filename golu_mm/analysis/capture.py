"""Seeing a model's activations: the one place that hooks every activation module (ReLU, GELU,
SiLU, Mish, GoLU: the table's classes) and names the stage each module belongs to. Fused BN →
GoLU nodes have no separate activation output, so a capture runs the model unfused (the same
values within float rounding: tests/analysis/test_mechanisms.py compares them)."""
import contextlib
import re
from typing import Callable, Iterator

from torch import Tensor, nn

from ..nn import unfused
from ..nn.activations import ACTIVATIONS

__all__ = ['ACTIVATION_MODULES', 'capture_activations', 'stage_of']

# the module classes of the table's activations (GoLU's included)
ACTIVATION_MODULES = tuple(type(act.module()) for act in ACTIVATIONS.values())

_STAGE = re.compile(r'(layer|stage|res_layer)\d+$')


def stage_of(name: str) -> str:
    """The stage a module or parameter name belongs to: the name up to its first layerN / stageN
    part ('backbone.layer2.0.relu' -> 'backbone.layer2'); a backbone's modules before its first
    stage are its stem ('backbone.relu' -> 'backbone.stem', 'relu' -> 'stem'); elsewhere the
    top-level component ('neck.fpn_convs.0' -> 'neck')."""
    parts = name.split('.')
    for i, part in enumerate(parts):
        if _STAGE.fullmatch(part):
            return '.'.join(parts[:i + 1])
    if parts[0] == 'backbone':
        return 'backbone.stem'
    return 'stem' if len(parts) <= 2 else parts[0]


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
