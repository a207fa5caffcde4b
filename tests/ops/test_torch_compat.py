"""Each private torch hook in golu_mm/ops/torch_compat.py, checked against what torch does with it:
a torch release that renames or changes one fails here, not silently in golu()."""
import pytest
import torch

from golu_mm.ops import torch_compat

from .conftest import EXTENSION_ERROR


def test_functorch_active_sees_the_transforms():
    assert not torch_compat.functorch_active()
    seen = []

    def f(t):
        seen.append(torch_compat.functorch_active())
        return (t * t).sum()
    torch.func.grad(f)(torch.ones(3))
    torch.func.vmap(lambda t: seen.append(torch_compat.functorch_active()) or t)(torch.ones(2, 3))
    assert seen == [True, True]


def test_has_kernel_reads_the_dispatcher():
    assert torch_compat.has_kernel('aten::add.Tensor', 'CPU')
    if EXTENSION_ERROR is None:
        assert torch_compat.has_kernel('golu_mm::golu', 'CPU')
        assert not torch_compat.has_kernel('golu_mm::golu', 'XLA')


@pytest.mark.skipif(not hasattr(torch.compiler, 'is_compiling'),
                    reason='torch < 2.3: dynamo cannot trace the fallback (a graph break instead)')
def test_is_compiling_is_true_only_while_tracing():
    assert not torch_compat.is_compiling()
    f = torch.compile(lambda x: x + 1 if torch_compat.is_compiling() else x - 1,
                      backend='eager', fullgraph=True)
    assert f(torch.zeros(1)).item() == 1.0


def test_constant_marker_is_what_torch_sets():
    def fn():
        return 1
    torch.compiler.assume_constant_result(fn)
    def ours():
        return 1
    torch_compat.mark_constant_result(ours)
    marked = {k: v for k, v in vars(fn).items()}
    assert marked == vars(ours) == {'_dynamo_marked_constant': True}


@pytest.mark.skipif(EXTENSION_ERROR is not None, reason=str(EXTENSION_ERROR))
def test_decompositions_land_in_torchs_tables():
    from torch._decomp import decomposition_table
    from torch._inductor import decomposition
    import importlib
    golu_module = importlib.import_module('golu_mm.ops.golu')
    assert torch.ops.golu_mm.golu.default in decomposition_table
    golu_module._let_inductor_fuse()
    assert torch.ops.golu_mm.golu_backward.default in decomposition.select_decomp_table()
    assert torch.ops.golu_mm.golu_second.default not in decomposition_table  # inductor's only


@pytest.mark.skipif(EXTENSION_ERROR is not None, reason=str(EXTENSION_ERROR))
def test_fake_kernels_give_shapes_without_computing():
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        x = torch.empty(2, 3, dtype=torch.bfloat16)
        y = torch.ops.golu_mm.golu(x)
        dx = torch.ops.golu_mm.golu_backward(y, x)
    assert y.shape == dx.shape == (2, 3) and y.dtype == torch.bfloat16


def test_missing_feature_names_the_torch_that_has_it():
    message = torch_compat.missing_feature('torch.export.Dim', 'dynamic-shape ONNX export')
    assert 'dynamic-shape ONNX export needs torch.export.Dim' in message
    assert f'torch {torch.__version__} does not have' in message and 'torch >= 2.2' in message


def test_export_feature_checks_agree_with_what_torch_does(tmp_path):
    x = torch.randn(2, 3)
    if torch_compat.has_dynamo_onnx_export():
        pytest.importorskip('onnxscript', reason='requirements/export.txt')
        torch.onnx.export(torch.nn.ReLU(), (x,), str(tmp_path / 'relu.onnx'), dynamo=True)
        assert (tmp_path / 'relu.onnx').stat().st_size > 0
    else:
        with pytest.raises(TypeError, match='dynamo'):
            torch.onnx.export(torch.nn.ReLU(), (x,), str(tmp_path / 'relu.onnx'), dynamo=True)
    if torch_compat.has_export_decompositions():
        program = torch.export.export(torch.nn.ReLU(), (x,)).run_decompositions()
        torch.testing.assert_close(program.module()(x), torch.relu(x))
    else:
        assert not hasattr(getattr(torch, 'export', None), 'ExportedProgram') or \
            not hasattr(torch.export.ExportedProgram, 'run_decompositions')
