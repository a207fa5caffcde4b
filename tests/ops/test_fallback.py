"""Choosing between the compiled operator and the reference: automatic, warned once, forced by
GOLU_MM_FORCE_REFERENCE, and importable with nothing but torch."""
import os
import subprocess
import sys
import warnings

from golu_mm.ops import extension

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code, **env):
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_backends_report_the_compiled_kernels():
    assert extension.backends()['cpu'] is True
    assert set(extension.backends()) == {'cpu', 'cuda'}


def test_forced_reference_warns_once_and_matches():
    code = '''
import warnings, torch, golu_mm
from golu_mm.ops import golu_reference
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    x = torch.linspace(-5, 5, 101, requires_grad=True)
    y = golu_mm.golu(x); golu_mm.golu(x); y.sum().backward()
msgs = [str(w.message) for w in caught]
assert len(msgs) == 1 and "GOLU_MM_FORCE_REFERENCE" in msgs[0], msgs
assert golu_mm.backends() == {"cpu": False, "cuda": False}
assert torch.equal(y, golu_reference(x))
assert not hasattr(torch.ops.golu_mm, "golu") or "golu_mm._C" not in __import__("sys").modules
print("ok")
'''
    assert run_python(code, GOLU_MM_FORCE_REFERENCE='1').stdout.strip() == 'ok'


def test_device_without_kernel_falls_back_with_a_warning():
    extension._warned.discard('golu_mm._C has no xpu kernel (built without it)')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert extension.uses_extension('xpu') is False
        assert extension.uses_extension('xpu') is False
    assert len(caught) == 1 and 'no xpu kernel' in str(caught[0].message)
    assert extension.uses_extension('cpu') is True


def test_cuda_without_kernels_warns_once_naming_the_rebuild(monkeypatch):
    """A CPU-only golu_mm._C on a GPU machine (faked: the cuda backend reported missing)."""
    monkeypatch.setitem(extension._BACKENDS, 'cuda', False)
    monkeypatch.setattr(extension, '_warned', set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert not extension.uses_extension('cuda') and not extension.uses_extension('cuda')
    assert len(caught) == 1 and caught[0].category is RuntimeWarning
    message = str(caught[0].message)
    assert 'no cuda kernel' in message and 'reference' in message
    assert 'pip install --no-build-isolation -e .' in message and 'check_cuda.py' in message


def test_imports_with_only_torch():
    """With OpenMMLab hidden, golu_mm still imports and computes."""
    code = '''
import sys
for name in ("mmcv", "mmengine", "mmdet", "mmseg", "mmpretrain"):
    sys.modules[name] = None  # makes `import name` raise ImportError
import torch, golu_mm
print(golu_mm.golu(torch.zeros(2)).tolist())
'''
    assert run_python(code).stdout.strip() == '[0.0, 0.0]'


def test_import_is_light_and_has_no_side_effects():
    """import golu_mm loads no OpenMMLab package and leaves torch's unpickling allow-list alone;
    the import time is printed (pytest -rP shows it), not asserted: this machine is noisy."""
    code = '''
import sys, time
start = time.perf_counter()
import torch
after_torch = time.perf_counter()
allow_list = getattr(torch.serialization, "get_safe_globals", list)  # torch >= 2.4
safe = [str(g) for g in allow_list()]
import golu_mm
after_golu = time.perf_counter()
loaded = [m for m in ("mmengine", "mmcv", "mmdet", "mmseg", "mmpretrain") if m in sys.modules]
assert not loaded, loaded
assert [str(g) for g in allow_list()] == safe
from golu_mm.ops import torch_compat  # older torch: dynamo hides golu from its tracer
assert ("torch._dynamo" in sys.modules) == (not torch_compat.COMPILE_WITHOUT_GRAPH_BREAKS)
print(f"import torch {after_torch - start:.2f} s; import golu_mm {after_golu - after_torch:.2f} s more")
'''
    out = run_python(code).stdout.strip()
    print(out)
    assert out.startswith('import torch ')


def test_missing_extension_is_named_as_not_built(monkeypatch):
    """A tree where golu_mm._C was never built says so, not Python's "partially initialized
    module ... (most likely due to a circular import)"."""
    real = extension.importlib.util.find_spec
    monkeypatch.setattr(extension.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'golu_mm._C' else real(name, *a))
    error = extension._load()
    assert 'golu_mm._C is not built' in error and 'pip install --no-build-isolation -e .' in error
