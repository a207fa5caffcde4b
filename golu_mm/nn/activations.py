"""The activations GoLU is compared with, in one table under the names mm configs use (ReLU, GELU,
SiLU, Mish, GoLU): each as a module, as a function, and its gate f(x)/x (plots); GoLU also as the
plain formula in torch ops (what torch.compile fuses by itself); and the one walker that finds
and replaces activation modules inside a model."""
from dataclasses import dataclass
from typing import Callable, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops import golu
from ..ops.reference import golu_gate
from .golu import GoLU

__all__ = ['Activation', 'ACTIVATIONS', 'golu_formula', 'GoLUFormula', 'module_slots',
           'replace_modules']


@dataclass(frozen=True)
class Activation:
    module: Callable[[], nn.Module]  # a new module, as upstream models build it
    function: Callable[[Tensor], Tensor]
    gate: Callable[[Tensor], Tensor]  # f(x) / x


ACTIVATIONS = {
    'ReLU': Activation(lambda: nn.ReLU(inplace=True), F.relu, lambda x: (x > 0).to(x.dtype)),
    'GELU': Activation(nn.GELU, F.gelu, lambda x: 0.5 * (1 + torch.erf(x / 2 ** 0.5))),
    'SiLU': Activation(nn.SiLU, F.silu, torch.sigmoid),
    'Mish': Activation(nn.Mish, F.mish, lambda x: torch.tanh(F.softplus(x))),
    'GoLU': Activation(GoLU, golu, golu_gate),
}


def golu_formula(x: Tensor) -> Tensor:
    """GoLU as the plain formula x * exp(-exp(-x)) in torch ops (no special-value care)."""
    return x * torch.exp(-torch.exp(-x))


class GoLUFormula(nn.Module):
    """golu_formula as a module: to set beside the custom operator in benchmarks."""

    def forward(self, x: Tensor) -> Tensor:
        return golu_formula(x)


def module_slots(module: nn.Module, kind: type = nn.ReLU) -> List[Tuple[nn.Module, str]]:
    """(parent, attribute) of every module of exactly type `kind` inside `module`."""
    return [(parent, name) for parent in module.modules()
            for name, child in parent.named_children() if type(child) is kind]


def replace_modules(module: nn.Module, make: Callable[[], nn.Module], kind: type = nn.ReLU) -> int:
    """Replace every `kind` module inside `module` by make(); returns how many."""
    slots = module_slots(module, kind)
    for parent, name in slots:
        setattr(parent, name, make())
    return len(slots)
