"""Checks a config goes through before anything trains or evaluates, so that a mistake fails
first, with a message naming the key or file, instead of silently changing the run:

- `--cfg-options` must be KEY=VALUE; a key the config does not have is warned about (a typo such
  as `trian_cfg.max_iters=1` would otherwise be merged as a new, unused key);
- annotation files the config reads must be non-empty, complete JSON;
- a config that sets `schedule_follows_max_iters = True` has its iteration schedule (warm-up,
  annealing, validation and checkpoint intervals) rescaled to `train_cfg.max_iters`.
"""
import argparse
import difflib
import json
import os.path as osp
import warnings
from typing import Iterator, List, Optional

from mmengine.config import Config, DictAction


class ConfigError(ValueError):
    """A config or command-line option that cannot work, with the key or file and the fix."""


class KeyValueAction(DictAction):
    """mmengine's DictAction, with an argparse error for an item that is not KEY=VALUE."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values or []:
            key, sep, _ = item.partition('=')
            if not sep or not key.strip():
                parser.error(f'{option_string} takes KEY=VALUE items, got {item!r} '
                             '(e.g. train_cfg.max_iters=100)')
        super().__call__(parser, namespace, values, option_string)


def unknown_option_keys(cfg: Config, options: dict) -> List[str]:
    """A message for each option key with a part the config does not have, with a suggestion."""
    messages = []
    for key in options:
        node, path = cfg._cfg_dict, []
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
                    close = difflib.get_close_matches(part, [str(k) for k in node], n=1)
                    hint = f' (did you mean {".".join(path + close)}?)' if close else ''
                    messages.append(f'{key}: the config has no {".".join(path + [part])}{hint}')
                break
            path.append(part)
    return messages


def merge_options(cfg: Config, options: Optional[dict]) -> Config:
    """cfg with the --cfg-options merged in, warning about keys the config did not have."""
    if options:
        for message in unknown_option_keys(cfg, options):
            warnings.warn(f'--cfg-options {message}; it is added as a new key, which nothing '
                          'may read', UserWarning, stacklevel=2)
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


def annotation_files(cfg: Config) -> List[str]:
    """The .json annotation files that the config's datasets and evaluators read."""
    files = []
    for key, value, parent in _walk(cfg._cfg_dict.to_dict()):
        if key == 'ann_file' and isinstance(value, str) and value.endswith('.json'):
            root = parent.get('data_root') or ''
            path = value if osp.isabs(value) or not root else osp.join(root, value)
            if path not in files:
                files.append(path)
    return files


FULL_PARSE_BYTES = 64 << 20  # larger files (COCO train: 450 MB) get the cheap check only


def check_annotation_file(path: str) -> None:
    """ConfigError naming `path` when it is missing, empty or not a complete JSON object. Files
    up to 64 MiB are parsed; larger ones are checked by their first and last bytes, so that a
    large COCO file is not parsed twice."""
    if not osp.isfile(path):
        raise ConfigError(f'annotation file {path} does not exist (check data_root / ann_file)')
    size = osp.getsize(path)
    if size == 0:
        raise ConfigError(f'annotation file {path} is empty')
    with open(path, 'rb') as f:
        head = f.read(64).lstrip()
        f.seek(max(0, size - 64))
        tail = f.read().rstrip()
    if size > FULL_PARSE_BYTES and head.startswith(b'{') and tail.endswith(b'}'):
        return
    try:
        with open(path, 'rb') as f:
            content = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f'annotation file {path} is not valid JSON ({exc}): truncated or '
                          'corrupted? Download or regenerate it') from None
    if not isinstance(content, dict):
        raise ConfigError(f'annotation file {path} does not hold a JSON object')


def check_data_files(cfg: Config) -> None:
    for path in annotation_files(cfg):
        check_annotation_file(path)


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
    if not schedulers or not target:
        raise ConfigError('schedule_follows_max_iters needs iteration-based param_scheduler '
                          'entries (by_epoch=False) and train_cfg.max_iters')
    written = max(s.get('end', 0) for s in schedulers)
    if target == written:
        return cfg
    if target < 1:
        raise ConfigError(f'train_cfg.max_iters must be at least 1, got {target}')

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
