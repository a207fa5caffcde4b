"""Checks a run goes through before anything trains or evaluates, so that a mistake fails first,
with a message naming the key or file, instead of silently changing the run: a from-scratch
backbone left frozen, annotation files that are empty, incomplete or name unknown categories,
data folders and local checkpoints that do not exist, checkpoints that will be downloaded (said
before they are), and mmcv ops without CUDA kernels on a GPU machine.
"""
import json
import os
import os.path as osp
from typing import List

import torch
from mmengine.config import Config

from .config_options import ConfigError
from .config_walk import config_items
from .mmengine_private import config_tree


def from_scratch_problems(cfg: Config) -> List[str]:
    """What makes the config's from-scratch training (a backbone without init_cfg) unfair to
    an activation: stages frozen at their random weights, batch norm frozen at its initial
    statistics (with GoLU's slope of 1/e at 0 the signal then shrinks block by block). Empty
    for a pretrained backbone."""
    backbone = cfg.model.get('backbone') or {}
    if backbone.get('init_cfg') is not None:
        return []
    problems = []
    if backbone.get('frozen_stages', -1) >= 0:
        problems.append(f'model.backbone.frozen_stages={backbone["frozen_stages"]} (random '
                        'stages never train)')
    if backbone.get('norm_eval', False):
        problems.append('model.backbone.norm_eval=True (batch norm keeps its initial '
                        'statistics)')
    return problems


COCO_KEYS = ('images', 'annotations', 'categories')  # what a COCO dataset or metric reads


def annotation_files(cfg: Config) -> List[tuple]:
    """(path, required top-level keys) of the .json annotation files that the config's datasets
    and evaluators read: COCO_KEYS for a Coco* dataset or metric, none known for others."""
    files = {}
    for path, value, parent in config_items(config_tree(cfg).to_dict()):
        if path[-1] == 'ann_file' and isinstance(value, str) and value.endswith('.json'):
            root = parent.get('data_root') or ''
            path = value if osp.isabs(value) or not root else osp.join(root, value)
            coco = 'coco' in str(parent.get('type', '')).lower()
            files[path] = files.get(path, ()) or (COCO_KEYS if coco else ())
    return list(files.items())


def _verified_stamps() -> str:
    """Where the annotation files already parsed whole are listed (path, size, mtime)."""
    cache = os.environ.get('GOLU_CACHE') or osp.join(osp.expanduser('~'), '.cache', 'golu_mm')
    return osp.join(cache, 'verified_annotations.json')


def _read_stamps() -> dict:
    try:
        with open(_verified_stamps()) as f:
            stamps = json.load(f)
        return stamps if isinstance(stamps, dict) else {}
    except (OSError, ValueError):
        return {}


def check_annotation_file(path: str, keys=()) -> None:
    """ConfigError naming `path` when it is missing, empty, not a complete JSON object, or lacks
    one of `keys`. Every file is parsed whole once; a file parsed before (same path, size and
    modification time, listed in the golu_mm cache) is not parsed again, so that a large COCO
    file costs its parse (~10 s for COCO train's 450 MB) on the first run only."""
    if not osp.isfile(path):
        raise ConfigError(f'annotation file {path} does not exist (check data_root / ann_file)')
    stat = os.stat(path)
    if stat.st_size == 0:
        raise ConfigError(f'annotation file {path} is empty')
    identity = [stat.st_size, stat.st_mtime_ns, sorted(keys)]
    real = osp.realpath(path)
    stamps = _read_stamps()
    if stamps.get(real) == identity:
        return
    try:
        with open(path, 'rb') as f:
            content = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f'annotation file {path} is not valid JSON ({exc}): truncated or '
                          'corrupted? Download or regenerate it') from None
    if not isinstance(content, dict):
        raise ConfigError(f'annotation file {path} does not hold a JSON object')
    missing = [k for k in keys if k not in content]
    if missing:
        raise ConfigError(f'annotation file {path} has no {", ".join(map(repr, missing))}: '
                          f'not a COCO instances file (it needs {", ".join(keys)})')
    unknown = _unknown_categories(content)
    if unknown:
        raise ConfigError(
            f'annotation file {path}: {len(unknown)} of {len(content["annotations"])} '
            f'annotations have a category_id its categories do not list '
            f'({", ".join(map(str, sorted(set(unknown), key=str)[:5]))}): mmdet would drop '
            'them without a word and compute the metric without them. Fix the file')
    if stat.st_size > STAMPED_BYTES:
        stamps[real] = identity
        try:
            os.makedirs(osp.dirname(_verified_stamps()), exist_ok=True)
            with open(_verified_stamps(), 'w') as f:
                json.dump(stamps, f)
        except OSError:
            pass  # a read-only cache costs a parse next time, nothing more


def _unknown_categories(content: dict) -> list:
    """The category_ids of a COCO file's annotations that its categories do not list."""
    if not isinstance(content.get('categories'), list) or not isinstance(
            content.get('annotations'), list):
        return []
    known = {c.get('id') for c in content['categories'] if isinstance(c, dict)}
    return [a.get('category_id') for a in content['annotations']
            if isinstance(a, dict) and a.get('category_id') not in known]


STAMPED_BYTES = 16 << 20  # smaller files parse in well under a second: not worth a stamp


def check_data_files(cfg: Config) -> None:
    for path, keys in annotation_files(cfg):
        check_annotation_file(path, keys)


DATA_KEYS = ('data_root', 'data_prefix', 'ann_file')
TRAINING_DATA = ('train_dataloader', 'val_dataloader')  # what a training reads


def _local(path) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def data_path_problems(cfg: Config, loaders=TRAINING_DATA) -> List[str]:
    """'KEY PATH does not exist' for each data folder or file that the datasets of `loaders`
    name (data_root, each data_prefix, a non-JSON ann_file; relative ones under data_root) and
    that is not there. Remote paths (`scheme://`) are left to their backend."""
    tree = config_tree(cfg).to_dict()
    problems = []
    for loader in loaders:
        for path, value, _ in config_items(tree.get(loader) or {}, (loader,)):
            if not isinstance(value, dict) or not set(DATA_KEYS) & value.keys():
                continue
            root = value.get('data_root') or ''
            where = '.'.join(map(str, path))
            if _local(root) and not osp.isdir(root):
                problems.append(f'{where}.data_root {root} does not exist')
                continue
            prefix = value.get('data_prefix')
            named = dict(prefix) if isinstance(prefix, dict) else {'': prefix}
            ann = value.get('ann_file')
            if not (isinstance(ann, str) and ann.endswith('.json')):  # JSON: check_data_files
                named['ann_file'] = ann
            for key, sub in named.items():
                if not _local(sub):
                    continue
                full = sub if osp.isabs(sub) or not root else osp.join(root, sub)
                if not osp.exists(full):
                    name = 'ann_file' if key == 'ann_file' else '.'.join(
                        ['data_prefix', key] if key else ['data_prefix'])
                    problems.append(f'{where}.{name} {full} does not exist')
    return problems


def local_checkpoint_problems(cfg: Config, produced=()) -> List[str]:
    """'KEY PATH does not exist' for load_from and each Pretrained init_cfg checkpoint that is a
    local file and is not there, except the paths in `produced` (written by a run this one
    waits for)."""
    tree = config_tree(cfg).to_dict()
    wanted = [('load_from', tree.get('load_from'))] + [
        ('.'.join(map(str, path)) + '.checkpoint', v.get('checkpoint'))
        for path, v, _ in config_items(tree.get('model') or {}, ('model',))
        if isinstance(v, dict) and v.get('type') == 'Pretrained']
    produced = {osp.abspath(p) for p in produced}
    return [f'{key} {path} does not exist' for key, path in wanted
            if _local(path) and osp.abspath(path) not in produced and not osp.isfile(path)]


def remote_checkpoints(cfg: Config, training: bool = True) -> List[str]:
    """The `scheme://` checkpoints the run will load: load_from, and in training the
    Pretrained init_cfgs."""
    tree = config_tree(cfg).to_dict()
    found = [v.get('checkpoint') for _, v, _ in config_items(tree) if training
             and isinstance(v, dict) and v.get('type') == 'Pretrained']
    found.append(tree.get('load_from'))
    return list(dict.fromkeys(c for c in found if isinstance(c, str) and '://' in c))


def announce_downloads(cfg: Config, training: bool = True, say=print) -> None:
    """Say, before anything runs, which checkpoints come from the network and from where (and
    whether a downloaded copy is already there), and how to use a local file instead."""
    from .checkpoint import REMOTE_HINT, cached_download, remote_checkpoint_url
    for name in remote_checkpoints(cfg, training):
        url = remote_checkpoint_url(name)
        cached = url and osp.isfile(cached_download(url))
        where = (f'downloaded before: {cached_download(url)}' if cached else
                 f'downloaded from {url or "the network"} on first use: needs the network')
        say(f'[golu_mm] checkpoint {name}: {where}' + ('' if cached else f'; {REMOTE_HINT}'))


def mmcv_ops_in(cfg: Config) -> List[str]:
    """The `type`s in cfg.model that are mmcv's compiled ops (nms, RoIAlign, DCN, ...), sorted."""
    import mmcv.ops
    from mmengine.registry import MODELS
    used = set()
    for path, value, _ in config_items(cfg.get('model', {})):
        if path[-1] != 'type' or not isinstance(value, str):
            continue
        op = getattr(mmcv.ops, value, None) or MODELS.module_dict.get(value)
        module = getattr(op, '__module__', '')  # not the deprecated plain-PyTorch nn wrappers
        if module.startswith('mmcv.ops') and module != 'mmcv.ops.deprecated_wrappers':
            used.add(value)
    return sorted(used)


def check_mmcv_cuda_ops(cfg: Config) -> None:
    """ConfigError before a GPU run of a model that uses mmcv's compiled ops when this mmcv was
    built without their CUDA kernels (it would stop at the first one, e.g. the first NMS)."""
    if not torch.cuda.is_available():
        return
    import mmcv
    from mmcv.ops import get_compiling_cuda_version
    built_with = get_compiling_cuda_version()
    ops = mmcv_ops_in(cfg)
    if ops and built_with in ('', 'not available'):
        raise ConfigError(
            f'the model uses mmcv ops ({", ".join(ops)}) but this mmcv {mmcv.__version__} has '
            'no CUDA kernels (mmcv.ops.get_compiling_cuda_version() says '
            f'{built_with!r}): a GPU run would stop at the first of them. Rebuild mmcv with '
            'its CUDA ops on this GPU machine (`make setup` builds them when torch sees a GPU; '
            'FORCE_CUDA=1 forces it), or run on the CPU with CUDA_VISIBLE_DEVICES=')
