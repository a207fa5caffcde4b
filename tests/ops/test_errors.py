"""Bad input gets a clear error naming the problem, on both paths and on the raw operator."""
import math

import pytest
import torch

from golu_mm import GoLU

from .conftest import EXTENSION_ERROR


@pytest.mark.parametrize('dtype', [torch.int32, torch.int64, torch.uint8, torch.bool,
                                   torch.complex64])
def test_non_floating_dtype_is_a_type_error(impl, dtype):
    x = torch.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=str(dtype)):
        impl(x)


def test_raw_operator_checks_dtype_too():
    assert EXTENSION_ERROR is None, EXTENSION_ERROR
    with pytest.raises(TypeError, match='Long'):
        torch.ops.golu_mm.golu(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='beta'):
        torch.ops.golu_mm.golu(torch.zeros(3), 1.0, -1.0, 1.0)
    with pytest.raises(RuntimeError, match='shape'):
        torch.ops.golu_mm.golu_backward(torch.zeros(2), torch.zeros(3))


@pytest.mark.parametrize('name', ['alpha', 'beta', 'gamma'])
@pytest.mark.parametrize('value', [-1.0, math.inf, math.nan])
def test_bad_parameters_are_value_errors(impl, name, value):
    with pytest.raises(ValueError, match=name):
        impl(torch.zeros(3), **{name: value})
    with pytest.raises(ValueError, match=name):
        GoLU(**{name: value})


def test_non_number_parameter_is_a_type_error(impl):
    with pytest.raises(TypeError, match='alpha'):
        impl(torch.zeros(3), alpha='1')
    with pytest.raises(TypeError, match='Tensor'):
        impl([1.0, 2.0])


@pytest.mark.cuda
def test_mixed_devices_are_rejected():
    x = torch.zeros(3, device='cuda')
    with pytest.raises(RuntimeError, match='device|cuda'):
        torch.ops.golu_mm.golu_backward(torch.zeros(3), x)
