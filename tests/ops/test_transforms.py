"""torch.func transforms and TorchScript behave the same on the compiled operator and on the
reference path: grad, jvp and vmap work on both; torch.jit.script fails with one clear message."""
import os
import subprocess
import sys

import pytest
import torch

from golu_mm import GoLU
from golu_mm.ops import golu_reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAMS = [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0)]


def derivative(x, params):
    x = x.detach().requires_grad_(True)
    golu_reference(x, *params).sum().backward()
    return x.grad


@pytest.mark.parametrize('params', PARAMS)
def test_func_grad(impl, params):
    x = torch.linspace(-6, 6, 25, dtype=torch.float64)
    grads = torch.func.vmap(torch.func.grad(lambda t: impl(t, *params)))(x)
    torch.testing.assert_close(grads, derivative(x, params))


@pytest.mark.parametrize('params', PARAMS)
def test_func_jvp_matches_backward(impl, params):
    x = torch.linspace(-6, 6, 25, dtype=torch.float64)
    tangent = torch.linspace(-1, 1, 25, dtype=torch.float64)
    out, jvp = torch.func.jvp(lambda t: impl(t, *params), (x,), (tangent,))
    torch.testing.assert_close(out, golu_reference(x, *params))
    torch.testing.assert_close(jvp, tangent * derivative(x, params))


def test_func_vmap_and_jacrev(impl):
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(impl)(x), golu_reference(x))
    jac = torch.func.jacrev(impl)(x[0])
    torch.testing.assert_close(jac, torch.diag(derivative(x[0], (1.0, 1.0, 1.0))))
    hess = torch.func.vmap(torch.func.grad(torch.func.grad(lambda t: impl(t))))(x[0])
    assert torch.isfinite(hess).all() and hess.shape == (5,)


def test_no_nan_gradients_under_transforms(impl):
    x = torch.tensor([-1000.0, -90.0, -20.0, 0.0, 50.0, 1000.0])
    grads = torch.func.vmap(torch.func.grad(impl))(x)
    assert torch.isfinite(grads).all()


def test_jit_script_fails_clearly():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), GoLU())
    with pytest.raises(RuntimeError, match='does not support torch.jit.script'):
        torch.jit.script(model)


def test_jit_trace_works(impl):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), GoLU())
    x = torch.randn(2, 3)
    traced = torch.jit.trace(model, x)
    torch.testing.assert_close(traced(x), model(x))


def test_same_behaviour_on_the_reference_path():
    """The checks above, in a process where golu() itself runs the reference."""
    code = '''
import torch, golu_mm, pytest
assert not golu_mm.backends()["cpu"]
x = torch.linspace(-5, 5, 11, dtype=torch.float64)
g = torch.func.vmap(torch.func.grad(golu_mm.golu))(x)
_, t = torch.func.jvp(golu_mm.golu, (x,), (torch.ones_like(x),))
torch.testing.assert_close(g, t)
with pytest.raises(RuntimeError, match="does not support torch.jit.script"):
    torch.jit.script(torch.nn.Sequential(golu_mm.GoLU()))
print("ok")
'''
    result = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT, text=True,
                            capture_output=True, timeout=120,
                            env={**os.environ, 'GOLU_MM_FORCE_REFERENCE': '1'})
    assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr


def test_nested_forward_over_reverse_transforms(impl):
    """hessian (forward over reverse) and jvp of grad: GoLU''(x) on both paths, against the
    reference's formula in float64."""
    from golu_mm.ops.reference import golu_second_derivative
    x = torch.linspace(-6, 6, 13, dtype=torch.float64)
    second = golu_second_derivative(x, 1.0, 1.0, 1.0)
    hessian = torch.func.hessian(lambda t: impl(t).sum())(x)
    torch.testing.assert_close(hessian, torch.diag(second))
    tangent = torch.linspace(-1, 1, 13, dtype=torch.float64)
    _, jvp = torch.func.jvp(torch.func.grad(lambda t: impl(t).sum()), (x,), (tangent,))
    torch.testing.assert_close(jvp, second * tangent)
