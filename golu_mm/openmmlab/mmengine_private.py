"""Every private mmengine API golu_mm relies on (mmengine 0.10.x), each behind one function here:
tests/openmmlab/test_mmengine_private.py checks each hook, so that an mmengine release that
changes one fails there, not somewhere in a training run."""
from typing import Callable, Dict, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.runner import checkpoint as _checkpoint


def load_checkpoint_object(filename: str, map_location='cpu'):
    """What a checkpoint file or URL holds, through mmengine's scheme dispatch (local files,
    http(s), torchvision://, open-mmlab://, ...): ``_load_checkpoint``."""
    return _checkpoint._load_checkpoint(filename, map_location=map_location)


def load_into_model(model, checkpoint: dict, revise_keys) -> dict:
    """Copy a checkpoint's state_dict into `model` non-strictly, keys revised by the (pattern,
    replacement) pairs, as Runner.load_checkpoint does: ``_load_checkpoint_to_model``."""
    return _checkpoint._load_checkpoint_to_model(model, checkpoint, strict=False,
                                                 revise_keys=revise_keys)


def config_tree(cfg: Config) -> ConfigDict:
    """The ConfigDict behind a Config (``Config._cfg_dict``), without Config's attribute magic."""
    return cfg._cfg_dict


# mmengine's own scheme loaders that only resolve a name to a URL and call load_from_http
RESOLVING_LOADERS = ('load_from_torchvision', 'load_from_mmcls')
OBJECT_STORAGE = (r'(\S+\:)?s3://', r'(\S+\:)?petrel://')  # mmengine's prefixes, as registered
OPENMMLAB = ('open-mmlab://', 'openmmlab://')


def route_checkpoint_loading(local: Callable, http: Callable,
                             by_prefix: Dict[Tuple[str, ...], Callable]) -> None:
    """Make mmengine load local files with `local`, http(s) URLs with `http` and each of its
    other prefixes (OBJECT_STORAGE, OPENMMLAB, 'pavi://', ...) with the loader given: its loader
    registry for direct use, and the module-level names its torchvision:// and mmcls:// loaders
    call."""
    register = _checkpoint.CheckpointLoader.register_scheme
    register(prefixes='', force=True)(local)
    register(prefixes=('http://', 'https://'), force=True)(http)
    for prefixes, loader in by_prefix.items():
        register(prefixes=prefixes, force=True)(loader)
    _checkpoint.load_from_local = local
    _checkpoint.load_from_http = http


def local_loader() -> Callable:
    """The function mmengine loads local checkpoint files with (``load_from_local``)."""
    return _checkpoint.load_from_local


def mmengine_home() -> str:
    """Where mmengine keeps the files its model lists name (``_get_mmengine_home``)."""
    return _checkpoint._get_mmengine_home()


def checkpoint_loaders() -> Dict[str, Callable]:
    """mmengine's scheme prefix -> loader registry (``CheckpointLoader._schemes``)."""
    return dict(_checkpoint.CheckpointLoader._schemes)
