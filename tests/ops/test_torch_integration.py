"""The operator as PyTorch sees it: opcheck (schema, fake kernels, autograd registration),
torch.compile(fullgraph=True) without graph breaks (torch >= 2.4; older: through graph breaks),
autocast."""
import pytest
import torch

from golu_mm import GoLU
from golu_mm.ops import golu, golu_reference, torch_compat

from .conftest import EXTENSION_ERROR

needs_opcheck = pytest.mark.skipif(not torch_compat.HAS_OPCHECK, reason=torch_compat.missing_feature(
    'torch.library.opcheck', 'checking the registrations'))
one_graph = pytest.mark.skipif(
    not torch_compat.COMPILE_WITHOUT_GRAPH_BREAKS, reason=torch_compat.missing_feature(
        'torch.compile without graph breaks', 'golu in one compiled graph'))


@pytest.fixture(autouse=True)
def extension_present():
    assert EXTENSION_ERROR is None, EXTENSION_ERROR


@needs_opcheck
@pytest.mark.parametrize('op', ['golu', 'golu_backward', 'golu_second'])
def test_opcheck(device, op):
    x = torch.randn(3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    cl = torch.randn(2, 3, 4, 4, device=device).contiguous(memory_format=torch.channels_last)
    if op == 'golu':
        samples = [(x, 1.0, 1.0, 1.0), (x.detach()[:, ::2], 2.0, 0.5, 1.5), (cl, 1.0, 1.0, 1.0)]
    else:
        samples = [(torch.randn_like(x), x, 1.0, 1.0, 1.0), (torch.randn_like(cl), cl, 1.0, 2.0, 0.5)]
    for args in samples:
        torch.library.opcheck(getattr(torch.ops.golu_mm, op).default, args)


class SmallNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.act = GoLU()
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.act(self.conv(x)).mean((2, 3)))


@pytest.mark.parametrize('fullgraph', [pytest.param(True, marks=one_graph), False])
def test_compile_matches_eager(device, fullgraph):
    """One graph where torch has what that needs; on older torch, through graph breaks: the
    same result either way."""
    torch.manual_seed(0)
    model = SmallNet().to(device)
    x = torch.randn(2, 3, 8, 8, device=device)
    eager_out = model(x)
    eager_out.sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=fullgraph, backend='aot_eager')
    out = compiled(x)
    out.sum().backward()
    torch.testing.assert_close(out, eager_out)
    for p, g in zip(model.parameters(), eager_grads):
        torch.testing.assert_close(p.grad, g)


@one_graph
def test_compile_emits_the_custom_op_without_graph_breaks():
    explanation = torch._dynamo.explain(lambda t: golu(t) * 2)(torch.randn(8))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    graph_code = explanation.graphs[0].code
    assert 'golu_mm.golu' in graph_code


@one_graph
def test_first_compilation_in_a_process_is_one_graph():
    """golu hands inductor its decompositions while torch.compile traces it: in a fresh process
    (nothing compiled before) that must neither break the graph (fullgraph=True) nor come too
    late for the graph being compiled."""
    from .test_fallback import run_python
    out = run_python('''
import torch, golu_mm
from torch._inductor.utils import run_and_get_code
fn = torch.compile(lambda t: golu_mm.golu(t).sum(), fullgraph=True)
x = torch.randn(64, requires_grad=True)
_, code = run_and_get_code(lambda: fn(x).backward())
print('golu_mm calls in inductor code:', sum('golu_mm' in c for c in code))
''').stdout
    assert 'golu_mm calls in inductor code: 0' in out


@one_graph
def test_compile_inductor_cpu():
    """inductor gets golu's decompositions (the reference's ops) and fuses them into its own
    kernels: no call of the custom operator is left in the code it generates."""
    from torch._inductor.utils import run_and_get_code
    torch._dynamo.reset()
    fn = torch.compile(lambda t: golu(t * 2).sum(), fullgraph=True)
    x = torch.randn(1000, requires_grad=True)

    def step():
        fn(x).backward()
    _, code = run_and_get_code(step)
    assert code and not any('golu_mm' in c for c in code)
    xr = x.detach().clone().requires_grad_(True)
    golu_reference(xr * 2).sum().backward()
    torch.testing.assert_close(x.grad, xr.grad)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_keeps_the_half_dtype(impl, device, dtype):
    if device == 'cpu' and dtype == torch.float16:
        dtype = torch.bfloat16  # CPU autocast runs in bfloat16
    conv = torch.nn.Conv2d(3, 4, 3).to(device)
    x = torch.randn(1, 3, 8, 8, device=device)
    with torch.autocast(device, dtype=dtype):
        h = conv(x)
        y = impl(h)
    assert h.dtype == dtype and y.dtype == dtype
    torch.testing.assert_close(y, golu_reference(h.float()).to(dtype))
    y.float().sum().backward()
    # the same gradient in float32 from GoLU's formula (autograd through plain torch ops): the
    # half-precision run is within its rounding of it
    weight = conv.weight.detach().clone().requires_grad_(True)
    h32 = torch.nn.functional.conv2d(x, weight, conv.bias.detach())
    (h32 * torch.exp(-torch.exp(-h32))).sum().backward()
    error = (conv.weight.grad - weight.grad).norm() / weight.grad.norm()
    assert error < 2e-2, error
