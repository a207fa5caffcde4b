"""A training schedule checked and fitted: train_cfg's lengths and intervals must be whole
numbers, and a config that sets `schedule_follows_max_iters = True` has its iteration schedule
(warm-up, annealing, validation and checkpoint intervals) rescaled to `train_cfg.max_iters`.
"""
from mmengine.config import Config

from .config_options import ConfigError


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
