"""The activation table: for each activation the module, the function and the gate all match
its formula computed in Python's math; GoLU's formula matches golu where both are finite and
normal; the slot walker finds exactly the modules of the asked type."""
import math

import pytest
import torch
from torch import nn

from golu_mm import GoLU, golu
from golu_mm.nn.activations import ACTIVATIONS, GoLUFormula, module_slots, replace_modules


# Each activation from its textbook formula, in Python's math on float64: the oracle that the
# table's module, function and gate must all match (the module alone calls the function).
ORACLES = {
    'ReLU': lambda v: max(v, 0.0),
    'GELU': lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))),
    'SiLU': lambda v: v / (1 + math.exp(-v)),
    'Mish': lambda v: v * math.tanh(math.log1p(math.exp(v))),
    'GoLU': lambda v: v * math.exp(-math.exp(-v)),
}


@pytest.mark.parametrize('name', list(ACTIVATIONS))
def test_module_function_and_gate_are_the_activations_formula(name):
    act = ACTIVATIONS[name]
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    x = x[x != 0]
    exact = torch.tensor([ORACLES[name](v) for v in x.tolist()], dtype=torch.float64)
    for computed in (act.module()(x.clone()), act.function(x), x * act.gate(x)):
        torch.testing.assert_close(computed, exact, rtol=1e-12, atol=1e-15)


def test_the_oracles_cover_the_table():
    assert list(ORACLES) == list(ACTIVATIONS)


def test_names_are_what_mm_configs_write():
    assert list(ACTIVATIONS) == ['ReLU', 'GELU', 'SiLU', 'Mish', 'GoLU']
    assert isinstance(ACTIVATIONS['GoLU'].module(), GoLU) and ACTIVATIONS['GoLU'].function is golu
    relu = ACTIVATIONS['ReLU'].module()
    assert isinstance(relu, nn.ReLU) and relu.inplace  # what upstream models build


def test_formula_is_golu():
    x = torch.linspace(-4, 20, 2401, dtype=torch.float64)
    torch.testing.assert_close(GoLUFormula()(x), golu(x), rtol=1e-13, atol=1e-300)
    assert GoLUFormula()(torch.tensor([0.0, 1.0], dtype=torch.float64)).tolist() == [0.0, 0.6922006275553464]


def test_slots_are_exactly_the_modules_of_that_type():
    class Own(nn.ReLU):
        pass

    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.Sequential(nn.ReLU(), Own()), nn.GELU())
    assert module_slots(model) == [(model, '1'), (model[2], '0')]  # not the subclass
    assert replace_modules(model, GoLU) == 2
    assert [type(m) for m in model.modules()].count(GoLU) == 2 and isinstance(model[2][1], Own)
    assert replace_modules(model, nn.SiLU, kind=GoLU) == 2 and module_slots(model, GoLU) == []
