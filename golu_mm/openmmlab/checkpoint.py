"""Reading checkpoints checked, with errors that name the file and the fix: read_checkpoint names
a missing, empty, corrupt (CRC-32), truncated, unsafe or undownloadable file (the checks are
safe_load.checked_load's, which every loader mmengine uses runs too); mismatch lists what of a
state_dict does not fit a model; checkpoints_newest_first finds a work dir's checkpoints to
resume from.
"""
import collections
import glob
import os.path as osp
import re
from typing import List, Optional

import torch

from .mmengine_private import load_checkpoint_object
from .safe_load import (REMOTE_HINT, CheckpointError, UnreadableCheckpointError,  # noqa: F401
                        allow_mmengine_checkpoints, is_network_error, openmmlab_entry)


SHOWN_KEYS = 5


def remote_checkpoint_url(filename: str) -> Optional[str]:
    """The URL mmengine downloads a `scheme://name` checkpoint from (None if it cannot tell)."""
    from mmengine.runner import checkpoint as ckpt
    scheme, _, name = filename.partition('://')
    try:
        if scheme in ('http', 'https'):
            return filename
        if scheme in ('torchvision', 'modelzoo'):
            return ckpt.get_torchvision_models().get(name)
        if scheme in ('open-mmlab', 'openmmlab'):
            url = openmmlab_entry(filename)
            return url if url.startswith(('http://', 'https://')) else None
        if scheme == 'mmcls':
            return ckpt.get_mmcls_models().get(name)
    except Exception:  # noqa: BLE001 (an unknown name: mmengine reports it when loading)
        return None
    return None


def cached_download(url: str) -> str:
    """Where mmengine keeps a downloaded checkpoint (torch hub's checkpoints directory)."""
    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url.split('?')[0]))


def read_checkpoint(filename: str, map_location='cpu') -> dict:
    """The checkpoint dict in `filename` (a file, a URL or a model-zoo name), through mmengine's
    loaders routed to safe_load.checked_load, or UnreadableCheckpointError naming the file (a
    failed download of a remote one said as such, with the URL)."""
    allow_mmengine_checkpoints()  # mmengine's loaders, which read it, checked and safe
    try:
        return load_checkpoint_object(filename, map_location)
    except UnreadableCheckpointError as exc:
        if '://' not in filename or not is_network_error(exc):
            raise
        url = remote_checkpoint_url(filename)
        cause = exc.__cause__
        raise UnreadableCheckpointError(
            f'cannot download checkpoint {filename}' + (f' ({url})' if url else '') +
            f': {type(cause).__name__}: {cause}; {REMOTE_HINT}') from exc
    except Exception as exc:  # noqa: BLE001 (an unknown model-zoo name, a scheme's own error)
        raise UnreadableCheckpointError(f'checkpoint {filename} cannot be loaded '
                                        f'({type(exc).__name__}: {exc})') from exc


def revised_state_dict(checkpoint: dict, revise_keys) -> dict:
    state_dict = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in revise_keys:
        state_dict = collections.OrderedDict((re.sub(pattern, replacement, k), v)
                                 for k, v in state_dict.items())
    return state_dict


def mismatch(model, state_dict: dict) -> List[str]:
    """What differs between the model's state_dict and a checkpoint's: missing and unexpected
    keys, and shape mismatches, each with its first few keys. Empty when they match."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f'{k} {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in the model'
              for k, v in state_dict.items()
              if k in own and hasattr(v, 'shape') and tuple(v.shape) != tuple(own[k].shape)]
    problems = []
    for what, keys in (('missing', missing), ('unexpected', unexpected),
                       ('shape mismatch', shapes)):
        if keys:
            more = f', ... ({len(keys) - SHOWN_KEYS} more)' if len(keys) > SHOWN_KEYS else ''
            problems.append(f'{len(keys)} {what}: {", ".join(keys[:SHOWN_KEYS])}{more}')
    return problems


def mismatch_error(model, state_dict: dict, filename: str):
    """A CheckpointError naming what of `filename` does not match the model, or None."""
    problems = mismatch(model, state_dict)
    if not problems:
        return None
    return CheckpointError(f'checkpoint {filename} does not match the model '
                           f'({type(model).__name__}): ' + '; '.join(problems))


def checkpoints_newest_first(work_dir: str) -> List[str]:
    """The checkpoints of a work dir, the one last_checkpoint names first, then by number."""
    found = []
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            found.append(f.read().strip())

    def number(path):
        match = re.search(r'(\d+)\.pth$', path)
        return int(match.group(1)) if match else -1

    for path in sorted(glob.glob(osp.join(work_dir, '*_*.pth')), key=number, reverse=True):
        if path not in found and osp.abspath(path) not in map(osp.abspath, found):
            found.append(path)
    return found
