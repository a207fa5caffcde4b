"""A config's command-line options: `--cfg-options` parsed as KEY=VALUE items (an item that is
not one is an error), keys the config does not have warned about with a suggestion (a typo such
as `trian_cfg.max_iters=1` would otherwise be merged as a new, unused key), and the options that
carry a config variable to where the config copied it (`backbone_checkpoint`, `act_cfg`).
"""
import difflib
import importlib
import inspect
import warnings
from typing import List, Optional

from mmengine.config import Config, DictAction

from .config_walk import config_items, dotted
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


def act_cfg_paths(cfg: Config) -> List[str]:
    """The key of every act_cfg in cfg.model whose type is the config's declared (top-level)
    act_cfg's: where the config copied it (the backbone only, or the whole model)."""
    declared = (cfg.get('act_cfg') or {}).get('type')
    if declared is None:
        return []
    return [dotted(('model',) + path) for path, value, _ in config_items(cfg.model)
            if path[-1] == 'act_cfg' and isinstance(value, dict) and value.get('type') == declared]


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
