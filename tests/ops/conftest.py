import pytest
import torch

import golu_mm
from golu_mm.ops import golu, golu_reference

EXTENSION_ERROR = golu_mm.ops.load_error()
FLOAT_DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


@pytest.fixture(params=['extension', 'reference'])
def impl(request):
    """Both implementations behind one API: the compiled operator and the reference. A missing
    extension fails these tests rather than skipping them."""
    if request.param == 'extension':
        assert EXTENSION_ERROR is None, f'golu_mm._C is not loaded: {EXTENSION_ERROR}'
        return golu
    return golu_reference
