"""Checks a config goes through before anything trains or evaluates, so that a mistake fails
first, with a message naming the key or file, instead of silently changing the run:

- `--cfg-options` must be KEY=VALUE; a key the config does not have is warned about (a typo such
  as `trian_cfg.max_iters=1` would otherwise be merged as a new, unused key);
- annotation files the config reads must be non-empty, complete JSON (with COCO's keys for a
  COCO dataset or metric);
- a config that sets `schedule_follows_max_iters = True` has its iteration schedule (warm-up,
  annealing, validation and checkpoint intervals) rescaled to `train_cfg.max_iters`.
"""
import argparse
import difflib
import importlib
import inspect
import json
import os
import os.path as osp
import warnings
from typing import Iterator, List, Optional

import torch
from mmengine.config import Config, DictAction

from .mmengine_private import config_tree


class ConfigError(ValueError):
    """A config or command-line option that cannot work, with the key or file and the fix."""


def option_problem(item: str) -> Optional[str]:
    """What is wrong with a KEY=VALUE option item (None when nothing is)."""
    key, sep, value = item.partition('=')
    if not sep or not key.strip():
        return f'takes KEY=VALUE items, got {item!r} (e.g. train_cfg.max_iters=100)'
    if not value.strip():
        return f'{key}: no value after "=" (to unset a key, write {key}=None)'
    return None


class KeyValueAction(DictAction):
    """mmengine's DictAction, with an argparse error for an item that is not KEY=VALUE or has
    no value, and single values kept intact (DictAction deletes every space: a path with one
    would name another file)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values or []:
            problem = option_problem(item)
            if problem:
                parser.error(f'{option_string} {problem}')
        super().__call__(parser, namespace, values, option_string)

    @staticmethod
    def _parse_iterable(val: str):
        single = val.strip('\'"')
        if ',' not in single and not single.startswith(('(', '[')):
            return DictAction._parse_int_float_bool(single)
        return DictAction._parse_iterable(val)


def unknown_option_keys(cfg: Config, options: dict) -> List[str]:
    """A message for each option key with a part the config does not have, with a suggestion."""
    messages = []
    for key in options:
        node, path = config_tree(cfg), []
        for part in key.split('.'):
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    messages.append(f'{key}: {".".join(path) or "the config"} has only '
                                    f'{len(node)} items')
                    break
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                if isinstance(node, dict):  # a new key inside a dict the config has
                    accepted = accepted_arguments(node.get('type'), cfg.get('default_scope'))
                    if part in accepted:
                        break  # an argument of the class the dict builds (dataset indices, ...)
                    close = difflib.get_close_matches(part, [str(k) for k in node] +
                                                      sorted(accepted), n=1)
                    hint = f' (did you mean {".".join(path + close)}?)' if close else ''
                    messages.append(f'{key}: the config has no {".".join(path + [part])}{hint}')
                break
            path.append(part)
    return messages


def accepted_arguments(type_name, scope: Optional[str]) -> set:
    """The keyword arguments the class a config dict's `type` names takes: its __init__'s, and
    through **kwargs its bases' (mmengine's BaseDataset takes `indices`); empty where the class
    is not found in the scope's registries."""
    cls = type_name if isinstance(type_name, type) else None
    if cls is None and isinstance(type_name, str) and scope:
        from mmengine.registry import Registry
        try:
            registries = importlib.import_module(f'{scope}.registry')
        except ImportError:
            return set()
        cls = next((found for registry in vars(registries).values()
                    if isinstance(registry, Registry)
                    for found in [registry.get(type_name)] if found is not None), None)
    names = set()
    for klass in getattr(cls, '__mro__', ()):
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(vars(klass)['__init__']).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names - {'self'}


def parse_options(items) -> dict:
    """KEY=VALUE strings as --cfg-options parses them (ConfigError naming a bad item)."""
    options = {}
    for item in items:
        problem = option_problem(item)
        if problem:
            raise ConfigError(f'--cfg-options {problem}')
        key, _, value = item.partition('=')
        options[key] = KeyValueAction._parse_iterable(value)
    return options


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


def act_cfg_paths(cfg: Config) -> List[str]:
    """The key of every act_cfg in cfg.model whose type is the config's declared (top-level)
    act_cfg's: where the config copied it (the backbone only, or the whole model)."""
    declared = (cfg.get('act_cfg') or {}).get('type')
    paths = []

    def walk(node, prefix):
        if isinstance(node, dict):
            act = node.get('act_cfg')
            if isinstance(act, dict) and act.get('type') == declared:
                paths.append(f'{prefix}act_cfg')
            for k, v in node.items():
                walk(v, f'{prefix}{k}.')

    if declared is not None:
        walk(cfg.model, 'model.')
    return paths


FROM_SCRATCH = {'frozen_stages': -1, 'norm_eval': False}  # a random backbone trains all of itself


def linked_options(cfg: Config, options: dict) -> dict:
    """The options that carry a config variable's new value to where the config copied it when
    it was read (else the option would change the variable and nothing that reads it):
    ``backbone_checkpoint`` to model.backbone.init_cfg (None: from scratch, with every stage and
    batch norm trained: FROM_SCRATCH), ``act_cfg[.KEY]`` to every act_cfg of the declared type."""
    linked = {}
    for key, value in options.items():
        if key == 'backbone_checkpoint' and 'backbone_checkpoint' in cfg:
            backbone = 'model.backbone.'
            if value is None:
                linked[backbone + 'init_cfg'] = None
                linked.update({backbone + k: v for k, v in FROM_SCRATCH.items()})
            else:
                linked[backbone + 'init_cfg'] = dict(_delete_=True, type='Pretrained',
                                                     checkpoint=str(value))
        elif key == 'act_cfg' or key.startswith('act_cfg.'):
            linked.update({path + key[len('act_cfg'):]: value for path in act_cfg_paths(cfg)})
    return {k: v for k, v in linked.items() if k not in options}


def merge_options(cfg: Config, options: Optional[dict]) -> Config:
    """cfg with the --cfg-options merged in (and linked_options), warning about keys the config
    did not have."""
    if options:
        for message in unknown_option_keys(cfg, options):
            warnings.warn(f'--cfg-options {message}; it is added as a new key, which nothing '
                          'may read', UserWarning, stacklevel=2)
        options = {**options, **linked_options(cfg, options)}
        cfg.merge_from_dict(options)
    return cfg


def _walk(node) -> Iterator:
    """(key, value, parent) of every dict item in a config tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v, node
            yield from _walk(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _walk(v)


COCO_KEYS = ('images', 'annotations', 'categories')  # what a COCO dataset or metric reads


def annotation_files(cfg: Config) -> List[tuple]:
    """(path, required top-level keys) of the .json annotation files that the config's datasets
    and evaluators read: COCO_KEYS for a Coco* dataset or metric, none known for others."""
    files = {}
    for key, value, parent in _walk(config_tree(cfg).to_dict()):
        if key == 'ann_file' and isinstance(value, str) and value.endswith('.json'):
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


def remote_checkpoints(cfg: Config, training: bool = True) -> List[str]:
    """The `scheme://` checkpoints the run will load: load_from, and in training the
    Pretrained init_cfgs."""
    tree = config_tree(cfg).to_dict()
    found = [v.get('checkpoint') for _, v, _ in _walk(tree) if training
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


WHOLE_NUMBERS = {'max_iters': 1, 'max_epochs': 1, 'val_interval': 1, 'val_begin': 0}


def check_train_cfg(cfg: Config) -> Config:
    """ConfigError naming the key where train_cfg's lengths and intervals are not whole
    numbers at least their minimum (a string from --cfg-options, a 0)."""
    train_cfg = cfg.get('train_cfg') or {}
    for key, least in WHOLE_NUMBERS.items():
        value = train_cfg.get(key)
        if value is not None and (type(value) is not int or value < least):
            raise ConfigError(f'train_cfg.{key} must be a whole number of at least {least}, '
                              f'got {value!r}')
    return cfg


def _iteration_schedulers(cfg: Config) -> list:
    schedulers = cfg.get('param_scheduler') or []
    schedulers = schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]
    return [s for s in schedulers if not s.get('by_epoch', True)]


def fit_schedule_to_length(cfg: Config) -> Config:
    """With `schedule_follows_max_iters`, rescale the iteration-based schedule, written for the
    length its last scheduler ends at, to train_cfg.max_iters: begin/end of each scheduler, and
    the validation and checkpoint intervals that equalled the written length. A schedule then
    ends at its final value (eta_min) at any length, and warm-up keeps its share."""
    if not cfg.get('schedule_follows_max_iters'):
        return cfg
    schedulers = _iteration_schedulers(cfg)
    target = cfg.train_cfg.get('max_iters')
    if not schedulers or target is None:
        raise ConfigError('schedule_follows_max_iters needs iteration-based param_scheduler '
                          'entries (by_epoch=False) and train_cfg.max_iters')
    written = max(s.get('end', 0) for s in schedulers)
    if target == written:
        return cfg

    # Scale each phase boundary; a phase of two or more steps keeps at least two (mmengine ramps
    # over end - begin steps, so a one-step warm-up would never leave its start factor).
    points = sorted({v for s in schedulers for v in (s.get('begin', 0), s.get('end', written))})
    moved, previous = {}, None
    for point in points:
        value = round(point * target / written)
        if previous is not None and point - previous >= 2:
            value = max(value, moved[previous] + 2)
        moved[point], previous = min(value, target), point
    moved[written] = target
    for s in schedulers:
        s['begin'], s['end'] = moved[s.get('begin', 0)], moved[s.get('end', written)]
    # A run too short for every phase (a few smoke-test iterations) drops the phases left empty.
    cfg.param_scheduler = [s for s in cfg.param_scheduler
                           if s.get('by_epoch', True) or s['end'] > s['begin']]
    if cfg.train_cfg.get('val_interval') == written:
        cfg.train_cfg.val_interval = target
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint is not None and checkpoint.get('interval') == written:
        checkpoint.interval = target
    return cfg


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.backbone.act_cfg.type=GELU')


def mmcv_ops_in(cfg: Config) -> List[str]:
    """The `type`s in cfg.model that are mmcv's compiled ops (nms, RoIAlign, DCN, ...), sorted."""
    import mmcv.ops
    from mmengine.registry import MODELS
    used = set()
    for key, value, _ in _walk(cfg.get('model', {})):
        if key != 'type' or not isinstance(value, str):
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
