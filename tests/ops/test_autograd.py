"""gradcheck / gradgradcheck in float64, and the autograd contract (only the input is saved)."""
import pytest
import torch

from golu_mm import GoLU
from golu_mm.nn.activations import GoLUFormula

PARAMS = [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0), (0.7, 0.0, 1.0)]


@pytest.mark.parametrize('params', PARAMS)
def test_gradcheck(impl, device, params):
    x = torch.linspace(-6, 6, 61, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: impl(t, *params), (x,))
    assert torch.autograd.gradgradcheck(lambda t: impl(t, *params), (x,))


def test_double_backward_matches_autograd_of_the_formula(impl):
    x = torch.linspace(-4, 4, 33, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(impl(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    xr = x.detach().clone().requires_grad_(True)
    (gr,) = torch.autograd.grad((xr * torch.exp(-torch.exp(-xr))).sum(), xr, create_graph=True)
    (hr,) = torch.autograd.grad(gr.sum(), xr)
    torch.testing.assert_close(g, gr)
    torch.testing.assert_close(h, hr)


def test_saves_only_the_input(impl):
    x = torch.randn(64, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        impl(x * 1).sum().backward()
    golu_saved = [t for t in saved if t.shape == x.shape]
    assert len(golu_saved) == 1


def test_module_is_a_drop_in_activation(device):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), GoLU(inplace=True), torch.nn.Linear(16, 1))
    model.to(device)
    x = torch.randn(4, 8, device=device)
    model(x).sum().backward()
    # the same gradients as the network with GoLU's formula written out
    reference = torch.nn.Sequential(model[0], GoLUFormula(), model[2])
    grads = torch.autograd.grad(reference(x).sum(), list(model.parameters()))
    for p, want in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, want, rtol=1e-5, atol=1e-6)
    assert repr(GoLU()) == 'GoLU()' and 'alpha=2.0' in repr(GoLU(alpha=2))


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_second_derivative_kernel_matches_the_reference(device, dtype):
    """torch.ops.golu_mm.golu_second (grad * GoLU'', double backward's kernel) against the
    reference's GoLU'' in float64: within rounding of the dtype, NaN where the reference is,
    and 0 for a zero grad even where GoLU'' underflows next to an overflowing x * exp(-x)."""
    from golu_mm.ops import reference
    x = torch.cat([torch.linspace(-60, 60, 4001, dtype=torch.float64),
                   torch.tensor([-torch.inf, torch.inf, torch.nan, -1000.0, -88.5, 200.0],
                                dtype=torch.float64)])
    grad = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xd, gd = x.to(dtype), grad.to(dtype)
    for params in [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0), (0.7, 0.0, 1.0)]:
        got = torch.ops.golu_mm.golu_second(gd.to(device), xd.to(device), *params).cpu()
        want = gd.double() * reference.golu_second_derivative(xd.double(), *params)
        assert torch.equal(torch.isnan(got), torch.isnan(want))
        finite = torch.isfinite(want)
        tol = 4 * torch.finfo(dtype).eps * (1 + want.abs())
        assert ((got.double() - want)[finite].abs() <= tol[finite]).all()
        zero = torch.ops.golu_mm.golu_second(torch.zeros_like(xd).to(device), xd.to(device),
                                             *params).cpu()
        assert (zero[~torch.isnan(x)] == 0).all()
