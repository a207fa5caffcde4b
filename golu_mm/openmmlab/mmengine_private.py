"""Every private mmengine API golu_mm relies on (mmengine 0.10.x), each behind one function here:
tests/openmmlab/test_mmengine_private.py checks each hook, so that an mmengine release that
changes one fails there, not somewhere in a training run."""
from typing import Callable

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


def route_checkpoint_loading(local: Callable, http: Callable) -> None:
    """Make mmengine load local files with `local` and http(s) URLs with `http`: its loader
    registry for direct use, and the module-level names its torchvision://, open-mmlab://, ...
    loaders call."""
    _checkpoint.CheckpointLoader.register_scheme(prefixes='', force=True)(local)
    _checkpoint.CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)(http)
    _checkpoint.load_from_local = local
    _checkpoint.load_from_http = http
