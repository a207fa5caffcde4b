"""Loading mmengine checkpoints safely on every supported torch: with ``weights_only=True``
(torch's default from 2.6, asked for explicitly here) and an allow-list (torch >= 2.4), or on older
torch through a restricted unpickler that allows the same and nothing else.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its checkpoints hold a few
non-tensor objects: the MessageHub's HistoryBuffers, the numpy arrays and scalars inside them,
and references to HistoryBuffer's statistics methods, which pickle as ``getattr(HistoryBuffer,
'mean')``. Rather than disabling ``weights_only`` for everything (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
lets any checkpoint file run code), allow-list exactly those: HistoryBuffer, the numpy types, and
in place of ``getattr`` a function that only resolves HistoryBuffer's statistics methods. A
checkpoint asking for anything else still fails to load.
"""
import _compat_pickle
import codecs
import collections
import os
import os.path as osp
import pickle
import types
import urllib.parse

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader


def history_buffer_method(owner, name):
    """``getattr`` restricted to what HistoryBuffer pickles: its statistics methods."""
    if owner is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); golu_mm only allows '
        f'HistoryBuffer statistics methods {sorted(HistoryBuffer._statistics_methods)}')


def _numpy_globals() -> list:
    multiarray = np._core if int(np.__version__.split('.')[0]) >= 2 else np.core  # renamed in 2.0
    dtypes = {type(np.dtype(t)) for t in (np.float64, np.float32, np.float16, np.int64, np.int32,
                                          np.int16, np.int8, np.uint8, np.bool_)}
    return [multiarray.multiarray._reconstruct, multiarray.multiarray.scalar, np.ndarray,
            np.dtype, *dtypes]


def _allowed_globals() -> dict:
    """(module, name) -> object: what a checkpoint may name besides torch's tensor rebuilding."""
    HistoryBuffer()  # fills the class-level registry of statistics methods
    allowed = {(obj.__module__, obj.__name__): obj for obj in [HistoryBuffer, *_numpy_globals()]}
    allowed[('builtins', 'getattr')] = history_buffer_method
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """For torch without an extensible weights_only allow-list (< 2.4): torch's tensor and
    storage rebuilding, OrderedDict, torch.Size, and _allowed_globals(); anything else refused."""
    TORCH = {('torch._utils', name) for name in ('_rebuild_tensor', '_rebuild_tensor_v2',
                                                 '_rebuild_parameter', '_rebuild_parameter_with_state')}

    def find_class(self, module, name):
        # protocol-2 pickles (torch.save's) name Python 2 modules: map them as pickle does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) == ('_codecs', 'encode'):  # how numpy's bytes are pickled: no code
            return codecs.encode
        if (module, name) in self.TORCH or (module == 'torch' and name.endswith('Storage')):
            return super().find_class(module, name)
        if (module, name) in (('collections', 'OrderedDict'), ('torch', 'Size')):
            return {'OrderedDict': collections.OrderedDict, 'Size': torch.Size}[name]
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(
                f'checkpoint asks for {module}.{name}, which golu_mm does not allow in a '
                'checkpoint (it could run code); weights, mmengine metadata and numpy values load')
        return allowed


def _restricted_load(file, **kwargs):
    return _RestrictedUnpickler(file, **kwargs).load()


_RESTRICTED_PICKLE = types.SimpleNamespace(
    __name__='golu_mm_restricted_pickle', Unpickler=_RestrictedUnpickler, load=_restricted_load,
    UnpicklingError=pickle.UnpicklingError)
_ALLOWED = {}


def safe_load(filename, map_location=None):
    """torch.load that runs no code from the file, on every supported torch."""
    if hasattr(torch.serialization, 'add_safe_globals'):
        return torch.load(filename, map_location=map_location, weights_only=True)
    return torch.load(filename, map_location=map_location, pickle_module=_RESTRICTED_PICKLE)


def load_from_local(filename, map_location=None):
    """mmengine's loader for local files (tools/test.py's checkpoint, load_from, resume, a
    backbone's Pretrained init), loading through safe_load."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location)


def _download(url: str, model_dir=None, progress=False) -> str:
    """url's file in model_dir (default: torch hub's checkpoints directory, where mmengine keeps
    them), downloaded unless it is there."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    path = osp.join(model_dir, osp.basename(urllib.parse.urlparse(url).path))
    if not osp.exists(path):
        torch.hub.download_url_to_file(url, path, progress=progress)
    return path


def load_from_http(filename, map_location=None, model_dir=None, progress=False):
    """mmengine's loader for http(s) URLs, which torchvision:// and open-mmlab:// resolve to
    (mmengine's own loads them with weights_only=False, on every torch): downloaded by rank 0
    first in a distributed run, loaded through safe_load."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        path = _download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = _download(filename, model_dir, progress)
    return safe_load(path, map_location)


def allow_mmengine_checkpoints() -> None:
    """Allow-list what mmengine checkpoints hold, and load every checkpoint mmengine reads (local
    files, URLs, torchvision:// and the other model-zoo schemes) through safe_load."""
    _ALLOWED.update(_allowed_globals())
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(
            [HistoryBuffer, (history_buffer_method, 'builtins.getattr'), *_numpy_globals()])
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)(load_from_http)
    # mmengine's torchvision://, open-mmlab://, ... loaders call these two by module-level name
    mmengine_checkpoint.load_from_local = load_from_local
    mmengine_checkpoint.load_from_http = load_from_http
