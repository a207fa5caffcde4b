"""torch.func transforms and TorchScript behave the same on the compiled operator and on the
reference path: grad, jvp, vmap and hessian give GoLU's closed-form derivatives (written out here,
independent of both implementations) on both; torch.jit.script fails with one clear message."""
import os
import subprocess
import sys

import pytest
import torch

from golu_mm import GoLU

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAMS = [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0)]


def closed_form(x, params):
    """GoLU, GoLU' and GoLU'' in float64 from the formulas: with u = exp(-gamma x), e =
    exp(-beta u), k = beta gamma: f = alpha x e, f' = alpha e (1 + k x u), f'' = alpha e k u
    (2 + k x u - gamma x); where u overflows (x -> -inf) the limits, 0."""
    alpha, beta, gamma = params
    x = x.double()
    u = torch.exp(-gamma * x)
    e = torch.exp(-beta * u)
    k = beta * gamma
    gone = torch.isinf(u)
    f = torch.where(gone, 0.0, alpha * x * e)
    first = torch.where(gone, 0.0, alpha * e * (1 + k * x * u))
    second = torch.where(gone, 0.0, alpha * e * k * u * (2 + k * x * u - gamma * x))
    return f, first, second


def derivative(x, params):
    return closed_form(x, params)[1]


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
    torch.testing.assert_close(out, closed_form(x, params)[0])
    torch.testing.assert_close(jvp, tangent * derivative(x, params))


def test_func_vmap_and_jacrev(impl):
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(impl)(x), closed_form(x, (1.0, 1.0, 1.0))[0])
    jac = torch.func.jacrev(impl)(x[0])
    torch.testing.assert_close(jac, torch.diag(derivative(x[0], (1.0, 1.0, 1.0))))
    hess = torch.func.vmap(torch.func.grad(torch.func.grad(lambda t: impl(t))))(x[0])
    torch.testing.assert_close(hess, closed_form(x[0], (1.0, 1.0, 1.0))[2])


def test_gradients_under_transforms_at_the_extremes(impl):
    # float32: exp(-gamma x) overflows below -88.7 (the limit 0), and is 0 above 103 (alpha)
    x = torch.tensor([-1000.0, -90.0, -20.0, 0.0, 50.0, 1000.0])
    grads = torch.func.vmap(torch.func.grad(impl))(x)
    expected = derivative(x, (1.0, 1.0, 1.0)).float()
    assert expected.tolist()[0] == 0.0 and expected.tolist()[-1] == 1.0
    torch.testing.assert_close(grads, expected, rtol=1e-5, atol=1e-30)


def test_jit_script_fails_clearly():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), GoLU())
    with pytest.raises(RuntimeError, match='does not support torch.jit.script'):
        torch.jit.script(model)


def test_jit_trace_works(impl):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 3)

        def forward(self, x):
            return impl(self.linear(x), 1.5, 0.5, 2.0)

    model = Net().double()
    traced = torch.jit.trace(model, torch.randn(2, 3, dtype=torch.float64))
    x = torch.randn(4, 3, dtype=torch.float64)  # another batch size than traced with
    with torch.no_grad():
        expected = closed_form(model.linear(x), (1.5, 0.5, 2.0))[0]
    torch.testing.assert_close(traced(x), expected)


def test_same_behaviour_on_the_reference_path():
    """The checks above, in a process where golu() itself runs the reference."""
    code = '''
import torch, golu_mm, pytest
assert not golu_mm.backends()["cpu"]
x = torch.linspace(-5, 5, 11, dtype=torch.float64)
g = torch.func.vmap(torch.func.grad(golu_mm.golu))(x)
_, t = torch.func.jvp(golu_mm.golu, (x,), (torch.ones_like(x),))
u = torch.exp(-x)
exact = torch.exp(-u) * (1 + x * u)  # GoLU'(x) from its formula, not from the reference
torch.testing.assert_close(g, exact, rtol=1e-12, atol=1e-15)
torch.testing.assert_close(t, exact, rtol=1e-12, atol=1e-15)
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
    x = torch.linspace(-6, 6, 13, dtype=torch.float64)
    second = closed_form(x, (1.0, 1.0, 1.0))[2]
    hessian = torch.func.hessian(lambda t: impl(t).sum())(x)
    torch.testing.assert_close(hessian, torch.diag(second))
    tangent = torch.linspace(-1, 1, 13, dtype=torch.float64)
    _, jvp = torch.func.jvp(torch.func.grad(lambda t: impl(t).sum()), (x,), (tangent,))
    torch.testing.assert_close(jvp, second * tangent)
