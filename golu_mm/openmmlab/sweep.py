"""An activation sweep: train one config with each (activation, seed), optionally after
pretraining the backbone with the same activation and seed, reusing, resuming or refusing run
directories by what defines them (run_record), and collect the final metrics."""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..analysis.run_record import (FAILED, failed_run, finish_run, plan_run, read_result, run_spec,
                         start_run)

# The validation metrics the table reports, per codebase (the config's default_scope).
METRICS = {'mmdet': ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP'],
           'mmseg': ['mIoU', 'mAcc', 'aAcc'],
           'mmpretrain': ['accuracy/top1']}
PRETRAIN_PREFIX = 'pretrain/'
BACKBONE_FILE = 'backbone.pth'


@dataclass
class Stage:
    """One training stage of every run: a config (and its loaded Config) with extra options."""
    config: str
    cfg: object
    options: Sequence[str] = ()

    @property
    def metrics(self) -> List[str]:
        return METRICS[self.cfg.get('default_scope')]


def activation_options(cfg, activation: str) -> List[str]:
    """--cfg-options setting `activation` at every act_cfg of the model that uses the config's
    declared (top-level) act_cfg type: the backbone only, or the whole model."""
    from .config_checks import act_cfg_paths
    if cfg.get('act_cfg', {}).get('type') is None:
        raise ValueError('the config declares no top-level act_cfg (see configs/*_golu.py)')
    return [f'{key}.type={activation}' for key in ['act_cfg'] + act_cfg_paths(cfg)]


def backbone_options(checkpoint) -> List[str]:
    """--cfg-options that initialise the model's backbone from `checkpoint` (strictly)."""
    return ['model.backbone.init_cfg._delete_=True', 'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={checkpoint}']


def read_scalars(work_dir: Path) -> List[dict]:
    """Every record of the run's scalars.json files (all its sessions, in order)."""
    records = []
    for scalars in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        records += [json.loads(line) for line in scalars.read_text().splitlines() if line]
    return records


def final_metrics(work_dir: Path, names: Sequence[str]) -> dict:
    """The last logged values of `names` in the run's scalars.json files (all its sessions);
    those never logged (an evaluation that produced no metrics) are absent."""
    found = {}
    for record in read_scalars(work_dir):
        found.update({k: v for k, v in record.items() if k in names})
    return found


def last_checkpoint(work_dir: Path) -> Path:
    """The checkpoint mmengine's last_checkpoint file names in `work_dir`."""
    marker = Path(work_dir) / 'last_checkpoint'
    if not marker.is_file():
        raise RuntimeError(f'{work_dir}: training saved no checkpoint (no last_checkpoint)')
    return Path(marker.read_text().strip())


def run_sweep(stage: Stage, activations: Sequence[str], seeds: Sequence[int], root: Path,
              version: str, force: bool, train: Callable[[str, Path, List[str], bool], None],
              pretrain: Optional[Stage] = None, log=print) -> List[dict]:
    """Every (activation, seed) run of `stage` under root/ACT_seedN; with `pretrain`, each first
    pretrains its backbone under root/pretrain/ACT_seedN (same activation and seed) and
    fine-tunes from it. All runs are planned first, so that a directory holding another
    experiment stops the sweep (StaleRunError) before anything trains.
    train(config, run_dir, options, resume) trains one run. Results carry the pretraining
    metrics as 'pretrain/<name>'. A run that fails (or whose pretraining failed) is a result
    with status FAILED and no metrics, and the sweep goes on; a metric its evaluation never
    logged is left out of its metrics (its result's note says which)."""
    planned = []
    for activation in activations:
        for seed in seeds:
            common = [f'randomness.seed={seed}']
            pre = None
            if pretrain is not None:
                pre_dir = Path(root) / 'pretrain' / f'{activation}_seed{seed}'
                options = activation_options(pretrain.cfg, activation) + common + [
                    *pretrain.options]
                spec = run_spec(pretrain.config, pretrain.cfg.pretty_text, options, activation,
                                seed, version)
                pre = (pretrain, pre_dir, spec, plan_run(pre_dir, spec, force))
                common = common + backbone_options(pre_dir / BACKBONE_FILE)
            run_dir = Path(root) / f'{activation}_seed{seed}'
            options = activation_options(stage.cfg, activation) + common + [*stage.options]
            spec = run_spec(stage.config, stage.cfg.pretty_text, options, activation, seed,
                            version, pretrain=None if pre is None else pre[2])
            planned.append((pre, (stage, run_dir, spec, plan_run(run_dir, spec, force))))

    def execute(stage_, run_dir, spec, plan, extra: Dict[str, float]) -> dict:
        if plan == 'reuse':
            log(f'[compare] {run_dir}: done before with the same config and options, reusing '
                f'{run_dir / "result.json"}')
            return read_result(run_dir)
        log(f'[compare] {run_dir}: ' + ('resuming from its last checkpoint'
                                        if plan == 'resume' else 'training'))
        start_run(run_dir, spec)
        try:
            train(stage_.config, run_dir, spec['options'], plan == 'resume')
            if stage_ is pretrain:
                from ..openmmlab.pretrained import extract_backbone
                extract_backbone(str(last_checkpoint(run_dir)), str(run_dir / BACKBONE_FILE))
        except Exception as exc:  # noqa: BLE001 (one run's failure must not end the sweep)
            log(f'[compare] {run_dir}: FAILED ({type(exc).__name__}: {exc}); going on')
            return failed_run(spec, f'{type(exc).__name__}: {exc}')
        metrics = final_metrics(run_dir, stage_.metrics)
        missing = [m for m in stage_.metrics if m not in metrics]
        if missing:
            log(f'[compare] {run_dir}: its evaluation produced no {", ".join(missing)} '
                '(e.g. nothing detected yet); recorded without them')
        return finish_run(run_dir, spec, {**metrics, **extra},
                          note=f'no {", ".join(missing)} logged' if missing else None)

    results = []
    for pre, run in planned:
        extra = {}
        if pre is not None:
            pre_result = execute(*pre, {})
            if pre_result.get('status') == FAILED:
                results.append(failed_run(run[2], f'its pretraining {pre[1]} failed'))
                continue
            extra = {PRETRAIN_PREFIX + k: v for k, v in pre_result['metrics'].items()}
        results.append(execute(*run, extra))
    return results
