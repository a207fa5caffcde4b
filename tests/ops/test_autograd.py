"""gradcheck / gradgradcheck in float64, and the autograd contract (only the input is saved)."""
import pytest
import torch

from golu_mm import GoLU

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
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert repr(GoLU()) == 'GoLU()' and 'alpha=2.0' in repr(GoLU(alpha=2))
