"""What tools/train.py and tools/test.py do, following mmdet's, mmseg's and mmpretrain's tools: load the
config, apply the command-line options, pick the codebase from the config's default_scope, adapt
the config to the machine, and run mmengine's Runner."""
import gc
import importlib
import os.path as osp
import uuid
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import is_model_wrapper

from .activation_record import ALLOW_KEY, allowing_mismatch, check_act_cfg_reach
from .runner import CheckedRunner
from .config_options import ConfigError, merge_options, parse_options
from .machine import adapt_to_machine, close_process_group
from .preflight import (announce_downloads, check_data_files, check_mmcv_cuda_ops,
                        data_path_problems, local_checkpoint_problems)
from .save_on_signal import SaveOnSignalHook, TrainingStopped
from .schedule import check_train_cfg, fit_schedule_to_length

CODEBASES = ('mmdet', 'mmseg', 'mmpretrain')


def codebase_of(cfg: Config) -> str:
    scope = cfg.get('default_scope')
    if scope not in CODEBASES:
        raise ValueError(f"config default_scope must be one of {CODEBASES}, got {scope!r}: "
                         'inherit an mmdet::, mmseg:: or mmpretrain:: base config')
    return scope


def register_codebase(scope: str) -> None:
    """Register the codebase's modules (as its own tools do) and golu_mm's adapters for it."""
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    importlib.import_module(f'golu_mm.openmmlab.{scope}_models')


def model_registry(scope: str):
    return importlib.import_module(f'{scope}.registry').MODELS


def load_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                launcher: str, non_strict: bool = False,
                allow_activation_mismatch: bool = False) -> Config:
    """The config with the options merged (warning about unknown keys), its schedule fitted to
    its length, and adapted to the machine."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config} does not exist')
    cfg = fit_schedule_to_length(check_train_cfg(merge_options(Config.fromfile(config),
                                                               cfg_options)))
    cfg.launcher = launcher
    if non_strict:
        cfg.load_non_strict = True
    if allow_activation_mismatch:
        cfg[ALLOW_KEY] = True
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    register_codebase(codebase_of(cfg))
    return adapt_to_machine(cfg, launcher)


ACTIVATION_HOOK = dict(type='ActivationMetaHook')
SAVE_ON_SIGNAL_HOOK = SaveOnSignalHook.__name__


def build_runner(cfg: Config) -> CheckedRunner:
    """CheckedRunner, with ActivationMetaHook (the activation record in every checkpoint saved,
    checked at every load) whether or not the config names it."""
    if 'runner_type' in cfg:
        raise ValueError(f'config sets runner_type={cfg.runner_type!r}: golu_mm\'s tools run '
                         'CheckedRunner (strict checkpoint loading); remove runner_type')
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == ACTIVATION_HOOK['type'] for h in hooks):
        cfg.custom_hooks = hooks + [dict(ACTIVATION_HOOK)]
    visualizer = cfg.get('visualizer')
    if isinstance(visualizer, dict):
        # mmengine keeps one visualizer per name and process, and the codebases' configs name
        # theirs 'visualizer': a second runner in the process would log into the first one's
        # directory. A name of its own gives every runner its own.
        visualizer['name'] = f'{visualizer.get("name", "visualizer")}-{uuid.uuid4().hex[:12]}'
    return CheckedRunner.from_cfg(cfg)


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None,
          amp: bool = False, cfg_options: Optional[dict] = None, launcher: str = 'none',
          non_strict: bool = False, allow_activation_mismatch: bool = False,
          auto_scale_lr: bool = False, save_on_signal: bool = False):
    """Train as `mmdet`/`mmseg` tools/train.py do. resume: 'auto' (latest readable checkpoint in
    the work dir) or a checkpoint path. non_strict: load mismatched checkpoints (loudly).
    allow_activation_mismatch: load checkpoints trained with other activations (loudly).
    auto_scale_lr: scale the learning rate by the actual batch size over the config's
    auto_scale_lr.base_batch_size (mmengine's linear rule). save_on_signal: SIGUSR1 or SIGTERM
    saves a checkpoint at the end of the current iteration and stops the training
    (SaveOnSignalHook); the returned runner's `stopped` then says why (else None)."""
    cfg = load_config(config, cfg_options, work_dir, launcher, non_strict,
                      allow_activation_mismatch)
    check_mmcv_cuda_ops(cfg)
    check_data_files(cfg)
    if auto_scale_lr:
        enable_auto_scale_lr(cfg)
    announce_downloads(cfg)
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if save_on_signal:
        hooks = list(cfg.get('custom_hooks') or [])
        if not any(h.get('type') == SAVE_ON_SIGNAL_HOOK for h in hooks):
            cfg.custom_hooks = hooks + [dict(type=SAVE_ON_SIGNAL_HOOK)]
    runner = build_runner(cfg)
    runner.stopped = None
    with allowing_mismatch(cfg.get(ALLOW_KEY, False)):  # also for the backbone's init_cfg
        try:
            runner.train()
        except TrainingStopped as stopped:
            runner.stopped = stopped
    if launcher != 'none':
        # The DDP wrapper holds the process group: dropped first, the group ends inside
        # destroy_process_group, not at interpreter exit, where a gloo thread still running can
        # abort a finished run ("terminate called without an active exception")
        if is_model_wrapper(runner.model):
            runner.model = runner.model.module
        gc.collect()
        close_process_group()
    return runner


def use_test_time_augmentation(cfg: Config) -> None:
    """The config's tta_model wrapping its model, its test pipeline tta_pipeline (mmdet's and
    mmseg's --tta); a ConfigError naming what is missing where the config has neither."""
    missing = [k for k in ('tta_model', 'tta_pipeline') if not cfg.get(k)]
    if missing:
        raise ConfigError(f'--tta needs {" and ".join(missing)} in the config (mmseg\'s base '
                          'configs define both; for mmdet add them as its configs do, e.g. '
                          'DetTTAModel with a flip pipeline)')
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def draw_predictions(cfg: Config, show_dir: Optional[str], show: bool, wait_time: float) -> None:
    """The codebase's visualization hook set to save drawn predictions in show_dir and/or
    display them (show) for wait_time seconds each, as the upstream tools' --show-dir/--show."""
    if not (show_dir or show):
        return
    scope, hook = codebase_of(cfg), cfg.default_hooks.visualization
    hook.update(draw=True, show=show, wait_time=wait_time)
    if scope == 'mmpretrain':
        hook.enable = True
    if scope == 'mmseg':  # its hook draws every `interval`-th image (default 50): all
        hook.interval = 1
    if show_dir:
        if scope == 'mmdet':
            hook.test_out_dir = show_dir
        elif scope == 'mmpretrain':
            hook.out_dir = show_dir
        else:
            cfg.visualizer.save_dir = show_dir


def enable_auto_scale_lr(cfg: Config) -> None:
    """--auto-scale-lr: mmengine scales the learning rate by the actual batch size over the
    config's auto_scale_lr.base_batch_size."""
    if not (cfg.get('auto_scale_lr') or {}).get('base_batch_size'):
        raise ConfigError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config '
                          '(the batch size its learning rate was written for)')
    cfg.auto_scale_lr.enable = True


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, out: Optional[str] = None,
         show_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
         launcher: str = 'none', non_strict: bool = False,
         allow_activation_mismatch: bool = False, show: bool = False, wait_time: float = 2,
         tta: bool = False):
    """Evaluate a checkpoint as `mmdet`/`mmseg` tools/test.py do; returns the metrics. A
    checkpoint that does not match the model (keys, shapes, activations) is refused unless
    non_strict / allow_activation_mismatch. show: display each prediction for wait_time
    seconds; tta: test-time augmentation (the config's tta_model and tta_pipeline)."""
    cfg = load_config(config, cfg_options, work_dir, launcher, non_strict,
                      allow_activation_mismatch)
    check_mmcv_cuda_ops(cfg)
    check_data_files(cfg)
    cfg.load_from = checkpoint
    announce_downloads(cfg, training=False)
    scope = codebase_of(cfg)
    if tta:
        use_test_time_augmentation(cfg)
    draw_predictions(cfg, show_dir, show, wait_time)
    if out and scope == 'mmseg':  # mmseg: a directory of prediction maps
        cfg.test_evaluator.output_dir = out
        cfg.test_evaluator.keep_results = True
    runner = build_runner(cfg)
    if out and scope == 'mmdet':  # mmdet: a pickle of the raw results
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=out))
    elif out and scope == 'mmpretrain':  # mmpretrain: a pickle of the predictions
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))
    metrics = runner.test()
    if launcher != 'none':
        close_process_group()
    return metrics


def check_run(config: str, options: Sequence[str], produced: Sequence[str] = ()) -> None:
    """What a training of `config` with the KEY=VALUE `options` would refuse at its start,
    checked before it is queued: the config and options, the training's data folders and
    annotation files, its local checkpoints (but `produced`: files a run it waits for writes),
    and the act_cfg reach of its model. Raises ConfigError (or the check's own error) naming the
    key and path. Assumes the machine checking and the one training share the file system."""
    cfg = load_config(config, parse_options(options), None, 'none')
    problems = data_path_problems(cfg) + local_checkpoint_problems(cfg, produced)
    if problems:
        raise ConfigError('; '.join(problems))
    check_data_files(cfg)
    model_of(cfg)


def model_of(cfg: Config) -> torch.nn.Module:
    """The loaded config's model, built in its codebase's scope. A model that ignores the
    act_cfg its config gives it is refused, and a partial reach warned about, as in training
    (activation_record.check_act_cfg_reach)."""
    from mmengine.registry import DefaultScope
    scope = codebase_of(cfg)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner builds it
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(scope):
        model = model_registry(scope).build(cfg.model)
    for note in check_act_cfg_reach(model, cfg.model):  # as a training's ActivationMetaHook
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return model


def build_model(config: str, checkpoint: Optional[str] = None,
                cfg_options: Optional[dict] = None, allow_activation_mismatch: bool = False):
    """The config's model (model_of: its act_cfg reach checked) in eval mode on the CPU, with
    the checkpoint's weights if given (its keys, shapes and activations those of the model)."""
    cfg = load_config(config, cfg_options, None, 'none',
                      allow_activation_mismatch=allow_activation_mismatch)
    from .activation_record import check_activations, checkpoint_activations, model_activations
    from .checkpoint import mismatch_error, read_checkpoint, revised_state_dict
    model = model_of(cfg)
    if checkpoint:
        content = read_checkpoint(checkpoint)
        state_dict = revised_state_dict(content, [(r'^module\.', '')])
        error = mismatch_error(model, state_dict, checkpoint)
        if error is not None:
            raise error
        check_activations(checkpoint_activations(content), model_activations(model), checkpoint,
                          'evaluation', cfg.get(ALLOW_KEY, False))
        model.load_state_dict(state_dict)
    return model.eval(), cfg


def image_tensor(image, model) -> torch.Tensor:
    """An image (a file, or a BGR uint8 array as cv2 reads one) as the model's own data
    preprocessor feeds it to the backbone: (1, 3, H, W), channel order, normalisation and padding
    as the config says."""
    import cv2
    img = cv2.imread(str(image)) if not hasattr(image, 'shape') else image
    if img is None:
        raise FileNotFoundError(f'cannot read image {image}')
    tensor = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()
    with torch.no_grad():
        return model.data_preprocessor({'inputs': [tensor], 'data_samples': None},
                                       False)['inputs']
