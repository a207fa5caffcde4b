"""Loading checkpoints safely on every supported torch: with ``weights_only=True`` (torch's
default from 2.6, asked for explicitly here) and an allow-list (torch >= 2.4), or on older torch
through a restricted unpickler that allows the same and nothing else.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its checkpoints hold a few
non-tensor objects: the MessageHub's HistoryBuffers, the numpy arrays and scalars inside them,
and references to HistoryBuffer's statistics methods, which pickle as ``getattr(HistoryBuffer,
'mean')``. Rather than disabling ``weights_only`` for everything (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
lets any checkpoint file run code), allow-list exactly those: HistoryBuffer, the numpy types, and
in place of ``getattr`` a function that only resolves HistoryBuffer's statistics methods. A
checkpoint asking for anything else still fails to load.

allow_mmengine_checkpoints() also routes mmengine's own loaders (local files, URLs, the model-zoo
schemes, s3://, petrel://, pavi://) through checked_load: safe_load after the checks that
read_checkpoint makes (a missing, empty, corrupt (CRC-32) or truncated file, a pickle that is no
checkpoint), each refusal one UnreadableCheckpointError naming the file, whichever tool loads
(upstream's Runner, init_detector, init_model, the inferencers). It is called where mmengine may
load a checkpoint: when a config's adapters are imported ({mmdet,mmseg,mmpretrain}_models, so
upstream's tools load safely too) and by golu_mm's runner; a script that imports only
golu_mm.openmmlab calls it itself (golu_mm.openmmlab.allow_mmengine_checkpoints): importing a
library should not replace another library's loaders unasked.
"""
import _compat_pickle
import codecs
import collections
import io
import os
import os.path as osp
import pickle
import re
import tempfile
import types
import urllib.parse
import zipfile

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .mmengine_private import (OBJECT_STORAGE, OPENMMLAB, local_loader, mmengine_home,
                               route_checkpoint_loading)


ALLOWED_CONTENT = 'golu_mm loads weights, mmengine metadata and numpy values only'


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
                f'it asks for {module}.{name}, which could run code ({ALLOWED_CONTENT})')
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


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked, with the file and the fix."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint file that is missing, empty, truncated, corrupt or not a checkpoint at all."""


def check_integrity(file, name: str) -> None:
    """UnreadableCheckpointError when a checkpoint in torch's zip format (a path or a file
    object) has a member whose bytes fail the CRC-32 stored beside them (torch.load does not
    check: a flipped bit in a weight loads silently). Other files (the legacy format) are left
    to the loader."""
    if not zipfile.is_zipfile(file):
        return
    try:
        with zipfile.ZipFile(file) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UnreadableCheckpointError(f'checkpoint {name} is corrupt or truncated '
                                        f'({type(exc).__name__}: {exc})') from exc
    if bad is not None:
        raise UnreadableCheckpointError(
            f'checkpoint {name} is corrupt: {bad} fails its CRC-32 check (bytes changed '
            'after it was written: a copy or disk error?)')


def checked_load(file, map_location=None, name=None) -> dict:
    """The checkpoint dict in `file` (a path, or a file object named `name`), loaded through
    safe_load after checking it; UnreadableCheckpointError naming the file when it is missing,
    empty, corrupt (CRC-32), truncated, asks to run code, or holds no checkpoint."""
    name = name or file
    if isinstance(file, (str, os.PathLike)):
        if not osp.isfile(file):
            raise UnreadableCheckpointError(f'checkpoint {name} does not exist')
        if osp.getsize(file) == 0:
            raise UnreadableCheckpointError(f'checkpoint {name} is empty (0 bytes)')
    check_integrity(file, name)
    if hasattr(file, 'seek'):
        file.seek(0)
    try:
        content = safe_load(file, map_location)
    except pickle.UnpicklingError as exc:
        raise UnreadableCheckpointError(f'checkpoint {name} cannot be loaded safely or is not a '
                                        f'checkpoint: {_refusal(exc)}') from exc
    except Exception as exc:  # noqa: BLE001 (random bytes fail in many ways: all say "corrupt")
        first_line = (str(exc).strip().splitlines() or [''])[0]
        raise UnreadableCheckpointError(f'checkpoint {name} is corrupt or truncated '
                                        f'({type(exc).__name__}: {first_line})') from exc
    if not isinstance(content, dict):
        raise UnreadableCheckpointError(f'checkpoint {name} holds a {type(content).__name__}, '
                                        'not a checkpoint (a dict of weights)')
    return content


def _refusal(exc: pickle.UnpicklingError) -> str:
    """What the unpickler refused, in one line: the global a file asks for (torch's long
    weights_only message, which also suggests loading the file unsafely, reduced to it)."""
    text = str(exc).strip()
    asked = re.search(r'unsupported (?:global: )?GLOBAL (\S+)', text, re.I)
    if asked:
        return f'it asks for {asked.group(1)}, which could run code ({ALLOWED_CONTENT})'
    refused = re.search(r'WeightsUnpickler error:\s*(.+?)\s*(?:Check the documentation|$)', text,
                        re.S)
    if refused:
        return (f'it holds what a weights-only load refuses ({" ".join(refused.group(1).split())}'
                f'; {ALLOWED_CONTENT})')
    return text.splitlines()[0] if text else type(exc).__name__


REMOTE_HINT = ('offline? Download it where there is network, then name the local file '
               '(--cfg-options backbone_checkpoint=/path/to/file.pth for a backbone, '
               'load_from=/path/to/file.pth for a whole model)')


def is_network_error(exc: BaseException) -> bool:
    import http.client
    import socket
    import urllib.error
    while exc is not None:
        if isinstance(exc, (urllib.error.URLError, ConnectionError, socket.timeout,
                            http.client.HTTPException)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def load_from_local(filename, map_location=None):
    """mmengine's loader for local files (tools/test.py's checkpoint, load_from, resume, a
    backbone's Pretrained init), loading through checked_load."""
    return checked_load(osp.expanduser(filename), map_location)


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
    try:
        if rank == 0:
            path = _download(filename, model_dir, progress)
        if world_size > 1:
            torch.distributed.barrier()
            if rank > 0:
                path = _download(filename, model_dir, progress)
    except Exception as exc:  # noqa: BLE001 (a network failure is said as such, others raise)
        if not is_network_error(exc):
            raise
        raise UnreadableCheckpointError(f'cannot download checkpoint {filename}: '
                                        f'{type(exc).__name__}: {exc}; {REMOTE_HINT}') from exc
    return checked_load(path, map_location)


def load_from_object_storage(filename, map_location=None, backend='petrel'):
    """mmengine's loader for s3:// and petrel:// paths (its petrel file backend fetches the
    bytes), loading them through safe_load."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return checked_load(buffer, map_location, name=filename)


def load_from_pavi(filename, map_location=None):
    """mmengine's loader for pavi:// model-cloud names, loading the download through safe_load."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(f'loading {filename} needs the pavi package (pip install pavi)')
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, model.name)
        model.download(path)
        return checked_load(path, map_location, name=filename)


def load_from_openmmlab(filename, map_location=None):
    """mmengine's loader for open-mmlab:// names: a name listed with a URL loads through
    load_from_http, one listed with a file in mmengine's home through safe_load (mmengine's own
    torch.loads that file without weights_only)."""
    entry = openmmlab_entry(filename)
    if entry.startswith(('http://', 'https://')):
        return load_from_http(entry, map_location)
    return load_from_local(osp.join(mmengine_home(), entry), map_location)


def allow_mmengine_checkpoints() -> None:
    """Allow-list what mmengine checkpoints hold, and load every checkpoint mmengine reads (local
    files, URLs, torchvision:// and the other model-zoo schemes, s3://, petrel://, pavi://)
    through safe_load. Nothing to do where that is already so. Replacing mmengine's own loaders
    takes its registry's force=True: the one registration golu_mm forces, on purpose."""
    if local_loader() is load_from_local:
        return
    _ALLOWED.update(_allowed_globals())
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(
            [HistoryBuffer, (history_buffer_method, 'builtins.getattr'), *_numpy_globals()])
    route_checkpoint_loading(load_from_local, load_from_http, {
        OBJECT_STORAGE: load_from_object_storage, OPENMMLAB: load_from_openmmlab,
        ('pavi://',): load_from_pavi})

def openmmlab_entry(filename: str) -> str:
    """What mmengine's model list gives for an open-mmlab:// name (deprecated names followed): a
    URL, or a file relative to mmengine's home. KeyError for a name it does not list."""
    from mmengine.runner import checkpoint as ckpt
    name = filename.partition('://')[2]
    name = ckpt.get_deprecated_model_names().get(name, name)
    return ckpt.get_external_models()[name]
