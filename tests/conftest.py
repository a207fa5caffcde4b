import pytest
import torch

CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip cleanly, with the reason, where no GPU is present."""
    if CUDA:
        return
    skip = pytest.mark.skip(reason='no CUDA device')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=pytest.mark.cuda)])
def device(request):
    return request.param
