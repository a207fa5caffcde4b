"""Loading mmengine checkpoints under torch's ``weights_only=True`` default (torch >= 2.6).

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its checkpoints hold a few
non-tensor objects: the MessageHub's HistoryBuffers, the numpy arrays and scalars inside them,
and references to HistoryBuffer's statistics methods, which pickle as ``getattr(HistoryBuffer,
'mean')``. Rather than disabling ``weights_only`` for everything (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
lets any checkpoint file run code), allow-list exactly those: HistoryBuffer, the numpy types, and
in place of ``getattr`` a function that only resolves HistoryBuffer's statistics methods. A
checkpoint asking for anything else still fails to load.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def history_buffer_method(owner, name):
    """``getattr`` restricted to what HistoryBuffer pickles: its statistics methods."""
    if owner is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); golu_mm only allows '
        f'HistoryBuffer statistics methods {sorted(HistoryBuffer._statistics_methods)}')


def _numpy_globals() -> list:
    multiarray = getattr(np, '_core', None) or np.core
    dtypes = {type(np.dtype(t)) for t in (np.float64, np.float32, np.float16, np.int64, np.int32,
                                          np.int16, np.int8, np.uint8, np.bool_)}
    return [multiarray.multiarray._reconstruct, multiarray.multiarray.scalar, np.ndarray,
            np.dtype, *dtypes]


def allow_mmengine_checkpoints() -> None:
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return  # torch < 2.4 does not default to weights_only
    HistoryBuffer()  # fills the class-level registry of statistics methods
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (history_buffer_method, 'builtins.getattr'), *_numpy_globals()])
