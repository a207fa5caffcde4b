"""GoLU leaves PyTorch: torch.onnx.export (dynamo and TorchScript exporters) writes standard ONNX
operators only, onnxruntime reproduces golu over [-100, 100] and the special values, and
torch.export (with run_decompositions) gives golu's results."""
import pytest
import torch
from torch import nn

from golu_mm import GoLU, golu
from golu_mm.ops import torch_compat

onnx = pytest.importorskip('onnx', reason='requirements/export.txt (installed by make setup)')
ort = pytest.importorskip('onnxruntime', reason='requirements/export.txt')
needs_dynamo_exporter = pytest.mark.skipif(
    not torch_compat.has_dynamo_onnx_export(),
    reason=torch_compat.missing_feature('torch.onnx.export(dynamo=True)', 'this test'))

PARAMS = [(1.0, 1.0, 1.0), (0.5, 2.0, 3.0), (0.3, 1.7, 0.9), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0)]
SPECIAL = [0.0, -0.0, float('inf'), float('-inf'), float('nan'), 1e-30, -1e-30, 88.0, -88.0,
           3.4e38, -3.4e38]


def exported(module, x, path, dynamo):
    # torch >= 2.9 exports with dynamo unless told not to; torch < 2.5 has no dynamo argument.
    chosen = {'dynamo': dynamo} if torch_compat.has_dynamo_onnx_export() else {}
    torch.onnx.export(module, (x,), str(path), **chosen, **({} if dynamo else {'opset_version': 17}))
    graph = onnx.load(str(path)).graph
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return graph, session


def run(session, x):
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def inputs(dtype):
    x = torch.cat([torch.linspace(-100, 100, 20001, dtype=torch.float64),
                   torch.tensor(SPECIAL, dtype=torch.float64)])
    return x.to(dtype)


def assert_matches(ours, theirs, x, params, dtype):
    """Same NaNs and infinities; elsewhere within a few ulp of the compute type, scaled by the
    gate's conditioning |t| = beta * exp(-gamma x) (onnxruntime's exp has its own rounding), plus
    half a ulp of a half-precision result; below the normal range, absolutely within tiny."""
    assert ours.dtype == theirs.dtype == dtype
    assert torch.equal(torch.isnan(ours), torch.isnan(theirs))  # no NaN from finite inputs
    finite = torch.isfinite(ours)
    assert torch.equal(ours[~finite & ~torch.isnan(ours)], theirs[~finite & ~torch.isnan(ours)])
    _, beta, gamma = params
    t = (beta * torch.exp(-gamma * x.double())).nan_to_num(posinf=1e300)
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    rtol = 8 * torch.finfo(compute).eps * (1 + t)
    if dtype == torch.float16:
        rtol = rtol + torch.finfo(dtype).eps / 2
    error = (theirs.double() - ours.double()).abs()[finite]
    allowed = (rtol * ours.double().abs())[finite] + torch.finfo(dtype).tiny
    worst = (error / allowed).max()
    assert worst <= 1, f'error up to {worst:.2f}x the tolerance'


@pytest.mark.parametrize('dynamo', [pytest.param(True, marks=needs_dynamo_exporter), False],
                         ids=['dynamo', 'torchscript'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.float16], ids=str)
@pytest.mark.parametrize('params', PARAMS, ids=lambda p: 'a{}_b{}_g{}'.format(*p))
def test_golu_exports_to_standard_onnx(tmp_path, dynamo, dtype, params):
    x = inputs(dtype)
    graph, session = exported(GoLU(*params), x, tmp_path / 'golu.onnx', dynamo)
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}  # no custom domain
    assert not any('golu' in node.op_type.lower() for node in graph.node)
    ours = golu(x, *params)
    assert_matches(ours, run(session, x), x, params, dtype)


@needs_dynamo_exporter
def test_functional_golu_inside_a_model_and_dynamic_shapes(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return golu(self.conv(x), 1.0, 2.0, 0.5)

    net = Net().eval()
    x = torch.randn(2, 3, 16, 16)
    batch, size = torch.export.Dim('batch'), torch.export.Dim('size', min=4, max=256)
    torch.onnx.export(net, (x,), str(tmp_path / 'net.onnx'), dynamo=True,
                      dynamic_shapes={'x': {0: batch, 2: size, 3: size}})
    session = ort.InferenceSession(str(tmp_path / 'net.onnx'))
    for shape in ((2, 3, 16, 16), (5, 3, 40, 40)):
        y = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(run(session, y), net(y), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch_compat.has_export_decompositions(), reason=torch_compat.missing_feature(
    'torch.export.ExportedProgram.run_decompositions', 'this test'))
def test_torch_export_and_decompositions_give_golus_results():
    module = GoLU(0.5, 2.0, 3.0)
    x = inputs(torch.float32)
    program = torch.export.export(module, (x,))
    assert any('golu' in str(n.target) for n in program.graph.nodes)
    for candidate in (program, program.run_decompositions()):
        assert torch.equal(torch.isnan(candidate.module()(x)), torch.isnan(module(x)))
        torch.testing.assert_close(candidate.module()(x), module(x), equal_nan=True,
                                   rtol=0, atol=0)
