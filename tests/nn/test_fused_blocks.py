"""golu_mm.nn.fused_blocks' building parts: fused_steps (which BatchNorm → GoLU pairs run as one
node) and rebuilt_as (a module taken over by a subclass, its tensors and keys kept)."""
import pytest
import torch
from torch import nn

from golu_mm import GoLU
from golu_mm.nn.fused_blocks import fused_steps, rebuilt_as, run_fused


def stem():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), GoLU(), nn.Conv2d(4, 4, 1),
                         nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4), GoLU())


@pytest.mark.parametrize('keep,names', [((), ['0', '2', '3', '4', '5', '7']),
                                        (('1',), ['0', '1', '2', '3', '4', '5', '7'])])
def test_fused_steps_fuse_batch_norm_golu_pairs_unless_kept(keep, names):
    """A BatchNorm → GoLU pair is one step named after the GoLU; BN → ReLU is not a pair; a
    kept BatchNorm's output is yielded (its pair runs unfused). Same output either way."""
    model = stem().train()
    x = torch.randn(2, 3, 8, 8)
    steps = list(fused_steps(model.named_children(), x, keep=keep))
    assert [name for name, _ in steps] == names
    expected = stem().train()(x)
    torch.testing.assert_close(steps[-1][1], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(run_fused(stem().train(), x), expected, rtol=1e-5, atol=1e-5)


def test_rebuilt_as_keeps_tensors_keys_and_leaves_the_original():
    class Loud(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    linear = nn.Linear(3, 2)
    loud = rebuilt_as(Loud, linear)
    assert type(loud) is Loud and type(linear) is nn.Linear
    assert loud.weight is linear.weight and list(loud.state_dict()) == ['weight', 'bias']
    x = torch.randn(4, 3)
    torch.testing.assert_close(loud(x), 2 * linear(x))
    loud.register_buffer('extra', torch.zeros(1))
    assert 'extra' not in linear.state_dict()  # its own dicts, not the original's
    with pytest.raises(TypeError, match='Loud is not a subclass of Conv2d'):
        rebuilt_as(Loud, nn.Conv2d(1, 1, 1))
