"""golu_mm/include/golu_mm/constants.h, the kernels' thresholds, as Python reads them: each value
meets the bound its comment states, checked here with exact arithmetic (math.ldexp, float32
rounding by struct), not taken from the file."""
import math
import struct

import torch

from golu_mm.ops import reference


def as_float32(value: float) -> float:
    return struct.unpack('f', struct.pack('f', value))[0]


def test_python_reads_every_threshold_of_the_header():
    assert set(reference._CONSTANTS) == {'kZeroBelowF32', 'kZeroBelowF64', 'kFlushedBelowF32',
                                         'kFlushedBelowF64'}
    assert reference.ZERO_BELOW[torch.float32] == reference._CONSTANTS['kZeroBelowF32']
    assert reference.FLUSHED_BELOW[torch.float64] == reference._CONSTANTS['kFlushedBelowF64']


def test_flush_points_leave_exp_normal():
    # above the flush point exp(t) is a normal number (float32: above 2^-125, as fast_exp needs)
    assert math.exp(reference.FLUSHED_BELOW[torch.float32]) > math.ldexp(1, -125)
    assert math.exp(reference.FLUSHED_BELOW[torch.float64]) > math.ldexp(1, -1022)


def test_zero_points_make_any_moderate_product_zero():
    # below the zero point a * exp(t) rounds to 0 for |a| < 9.8e19 (float32) / 1e284 (float64),
    # as constants.h states (and no further: 1.1e20 would not)
    assert as_float32(9.7e19 * math.exp(reference.ZERO_BELOW[torch.float32])) == 0.0
    assert as_float32(1.1e20 * math.exp(reference.ZERO_BELOW[torch.float32])) > 0.0
    log_product = math.log(1e284) + reference.ZERO_BELOW[torch.float64]
    assert log_product < -1075 * math.log(2)  # below half the smallest subnormal, 2^-1075
