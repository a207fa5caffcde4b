"""The activations a model runs, recorded in every checkpoint it saves and compared with the
model that loads one.

A ReLU checkpoint and a GoLU model have the same state_dict keys, so loading one into the other
succeeds and evaluates to a plausible, wrong number. ``ActivationMetaHook`` writes
``meta['activations']`` ({component: activation class names}, e.g. ``{'backbone': ['GoLU'],
'roi_head': ['ReLU']}``) into every checkpoint and checks every checkpoint loaded (evaluation,
load_from, resume); backbone initialisation checks its part (golu_mm.openmmlab.pretrained).
A file without a record (upstream's model zoo, torchvision) is taken as ReLU. A mismatch is
refused unless allowed (``--allow-activation-mismatch``, config ``allow_activation_mismatch =
True``); an unrecorded file used to initialise a fine-tune only warns, since ImageNet ReLU weights
are upstream's default starting point. Before a run starts the hook also checks that the model
holds the activations its config asks for (check_act_cfg_reach: a component ignoring its
act_cfg is refused).
"""
import contextlib
import contextvars
import functools
import warnings
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from ..nn.activations import ACTIVATIONS as COMPARED
from .checkpoint import CheckpointError
from .config_walk import config_items, dotted
from .registration import register

META_KEY = 'activations'
ALLOW_KEY = 'allow_activation_mismatch'  # config key, and init_cfg key for a backbone
ALLOW_FLAG = '--allow-activation-mismatch'
PRESUMED = 'ReLU'  # what a checkpoint without a record is taken to have been trained with
# Activation functions by class name: the compared ones (golu_mm.nn.activations' table, whose
# modules are what act_cfg builds) and the other activations torch and mmcv models use; gates
# (Sigmoid, Tanh, Softmax) are left out: they are the same in every variant of a model.
ACTIVATION_CLASSES = frozenset(
    {type(a.module()).__name__ for a in COMPARED.values()}
    | {'ReLU6', 'LeakyReLU', 'PReLU', 'RReLU', 'ELU', 'CELU', 'SELU', 'Swish', 'Hardswish',
       'HSwish', 'Softplus'})
PURPOSES = ('evaluation', 'resume', 'load_from', 'backbone init')
_warned = set()
_allowed = contextvars.ContextVar('allow_activation_mismatch', default=False)


class ActivationMismatchError(CheckpointError):
    """A checkpoint trained with other activations than the model that loads it."""


class IgnoredActCfgError(ValueError):
    """A component whose config asks for an activation it does not hold (it ignores act_cfg)."""


def activations_in(module: nn.Module) -> List[str]:
    """The sorted class names of the activation modules inside `module`."""
    return sorted({type(m).__name__ for m in module.modules()
                   if type(m).__name__ in ACTIVATION_CLASSES})


def model_activations(model: nn.Module) -> Dict[str, List[str]]:
    """{top-level component (backbone, neck, heads): its activations}, an empty list for a
    component without any (so that a head given one later is seen to differ)."""
    model = model.module if is_model_wrapper(model) else model
    return {name: activations_in(child) for name, child in model.named_children()}


# Config keys of a component that hold settings, not sub-components.
_SETTINGS = ('act_cfg', 'norm_cfg', 'conv_cfg', 'init_cfg', 'train_cfg', 'test_cfg', 'loss_cls',
             'loss_bbox', 'loss_mask', 'loss_decode', 'data_preprocessor')


def component_act_cfgs(model_cfg: dict) -> Dict[str, str]:
    """{'backbone': 'GoLU', 'roi_head.bbox_head': 'ReLU', ...}: the act_cfg type of every
    component of a model config (a dict with a type) that sets one, by attribute path."""
    found = {}
    for path, act, parent in config_items(dict(model_cfg)):
        component = path[:-1]
        if (path[-1] == 'act_cfg' and component and 'type' in parent and isinstance(act, dict)
                and act.get('type') and all(isinstance(p, str) and p not in _SETTINGS
                                            for p in component)):
            found[dotted(component)] = act['type'] if isinstance(act['type'], str) \
                else act['type'].__name__
    return found


def _class_name(act_type: str) -> str:
    """The class an activation type builds (mmengine's registry: 'GELU' -> nn.GELU)."""
    from mmengine.registry import MODELS
    built = MODELS.get(act_type)
    return built.__name__ if isinstance(built, type) else act_type


@dataclass
class Reach:
    """How far a component's act_cfg reaches: `held` modules of the activation it asks for
    (`wanted`, a class name), `others` ('Kind at path') that hold another activation."""
    path: str
    component: str
    act_type: str
    wanted: str
    held: int
    others: List[str]


def act_cfg_reach(model: nn.Module, model_cfg: dict) -> List[Reach]:
    """The Reach of every component whose config sets act_cfg (its sub-components with act_cfgs
    of their own counted on their own); components that are no attribute of the model (a list
    of heads) are left out."""
    model = model.module if is_model_wrapper(model) else model
    components = component_act_cfgs(model_cfg)
    found = []
    for path, act_type in components.items():
        try:
            module = functools.reduce(getattr, path.split('.'), model)
        except AttributeError:
            continue
        own = [p[len(path) + 1:] for p in components if p.startswith(path + '.')]
        wanted = _class_name(act_type)
        held, others = 0, []
        for name, child in module.named_modules():
            if any(name == o or name.startswith(o + '.') for o in own):
                continue
            kind = type(child).__name__
            held += kind == wanted
            if kind in ACTIVATION_CLASSES and kind != wanted:
                others.append(f'{kind} at {name}')
        found.append(Reach(path, type(module).__name__, act_type, wanted, held, others))
    return found


def check_act_cfg_reach(model: nn.Module, model_cfg: dict) -> List[str]:
    """Checks that each component whose config sets act_cfg holds modules of that activation
    (act_cfg_reach). None at all raises IgnoredActCfgError naming the component (it ignores
    act_cfg: a comparison on it would compare the upstream activation with itself); returns a
    warning per component where other activations remain, naming them and where (plugins,
    attention or SE layers that keep upstream's)."""
    notes = []
    for r in act_cfg_reach(model, model_cfg):
        if not r.held:
            runs = sorted({o.split()[0] for o in r.others})
            raise IgnoredActCfgError(
                f'model.{r.path} ({r.component}) asks for act_cfg={r.act_type} and holds no '
                f'{r.wanted} module' + (f' (it runs {", ".join(runs)})' if runs else '')
                + f': {r.component} ignores act_cfg, so this run would not use {r.act_type}. '
                'Use a model that takes it (docs/backbones.md)')
        if r.others:
            shown = ', '.join(r.others[:6]) + (f' and {len(r.others) - 6} more'
                                               if len(r.others) > 6 else '')
            notes.append(f'model.{r.path} ({r.component}): act_cfg={r.act_type} reaches '
                         f'{r.held} module(s); {len(r.others)} keep other activations: {shown}')
    return notes


def activation_meta(model: nn.Module) -> dict:
    """What every checkpoint's meta records of the model's activations: META_KEY (per
    component) and the backbone's act_cfg (which extract_backbone hands on)."""
    model = model.module if is_model_wrapper(model) else model
    meta = {META_KEY: model_activations(model)}
    act_cfg = getattr(getattr(model, 'backbone', None), 'act_cfg', None)
    if act_cfg is not None:
        meta['act_cfg'] = dict(act_cfg)
    return meta


def checkpoint_activations(checkpoint: dict) -> Optional[Dict[str, List[str]]]:
    """A checkpoint's record, or None where it has none. Pretraining checkpoints written before
    the record held the backbone's act_cfg only."""
    meta = checkpoint.get('meta') or {}
    if not isinstance(meta, dict):
        return None
    record = meta.get(META_KEY)
    if record is None and isinstance(meta.get('act_cfg'), dict):
        record = {'backbone': [meta['act_cfg']['type']]}
    return record


def activation_mismatches(recorded: Optional[dict], model_record: Dict[str, List[str]]) -> List[str]:
    """'component: X in the checkpoint, Y in the model' for each component of both whose
    activations differ (a component only one side has is a key mismatch, refused as such); a
    checkpoint without a record (None) counts as ReLU wherever the model has an activation."""
    if recorded is None:
        recorded = {name: [PRESUMED] for name, acts in model_record.items() if acts}
    found = []
    for name in sorted(set(model_record) & set(recorded)):
        theirs, ours = sorted(recorded[name]), model_record[name]
        if theirs != ours:
            found.append(f'{name}: {"/".join(theirs) or "none"} in the checkpoint, '
                         f'{"/".join(ours) or "none"} in the model')
    return found


def check_activations(recorded: Optional[dict], model_record: Dict[str, List[str]],
                      filename: str, purpose: str, allowed: bool = False) -> None:
    """ActivationMismatchError when checkpoint `filename` (its record `recorded`, None for
    none) was trained with other activations than the model loading it for `purpose` (one of
    PURPOSES). A warning instead when `allowed`, or when an unrecorded file initialises a
    fine-tune (load_from in training, a backbone init)."""
    if purpose not in PURPOSES:
        raise ValueError(f'purpose must be one of {PURPOSES}, got {purpose!r}')
    problems = activation_mismatches(recorded, model_record)
    if not problems:
        return
    whose = ('' if recorded is not None else
             f' (it records no activations: an upstream or older file, taken as {PRESUMED})')
    message = (f'checkpoint {filename}{whose} was trained with other activations than the model '
               f'loading it for {purpose}: {"; ".join(problems)}')
    if allowed or (recorded is None and purpose in ('load_from', 'backbone init')):
        key = (filename, purpose, message)
        if key not in _warned:
            _warned.add(key)
            warnings.warn(f'{message}. Not an activation-matched run', UserWarning, stacklevel=3)
        return
    raise ActivationMismatchError(
        f'{message}. Use the config it was trained with, or pass {ALLOW_FLAG} (config: '
        f'{ALLOW_KEY} = True) to load it anyway')


@contextlib.contextmanager
def allowing_mismatch(allowed: bool = True) -> Iterator[None]:
    """Within: backbone inits load mismatched checkpoints with a warning (what a tool's
    --allow-activation-mismatch means for the init_cfg it cannot pass the flag to)."""
    token = _allowed.set(bool(allowed))
    try:
        yield
    finally:
        _allowed.reset(token)


def mismatch_allowed() -> bool:
    return _allowed.get()


def _purpose(runner) -> str:
    """What the runner is loading a checkpoint for: resume, load_from (training) or
    evaluation (tools/test.py: no training loop was built)."""
    from mmengine.runner import BaseLoop
    if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
        return 'evaluation'
    return 'resume' if getattr(runner, '_resume', False) else 'load_from'


@register(HOOKS)
class ActivationMetaHook(Hook):
    """Records the model's activations in every checkpoint's meta (and the backbone's act_cfg,
    which extract_backbone hands on), and refuses to load a checkpoint whose record differs
    from the model (see the module docstring). golu_mm's tools add it to every run."""

    def before_run(self, runner) -> None:
        """The model holds the activations its config asks for (check_act_cfg_reach)."""
        for note in check_act_cfg_reach(runner.model, runner.cfg.model):
            runner.logger.warning(note)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {}).update(activation_meta(runner.model))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        filename = (getattr(runner, 'loading_checkpoint', None)
                    or getattr(runner, '_load_from', None) or '(being loaded)')
        check_activations(checkpoint_activations(checkpoint), model_activations(runner.model),
                          filename, _purpose(runner), bool(runner.cfg.get(ALLOW_KEY, False)))
