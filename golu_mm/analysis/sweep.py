"""An activation sweep: train one config with each (activation, seed), reusing, resuming or
refusing run directories by what defines them (run_record), and collect the final metrics."""
import json
from pathlib import Path
from typing import Callable, List, Sequence

from .run_record import finish_run, plan_run, read_result, run_spec, start_run

# The validation metrics the table reports, per codebase (the config's default_scope).
METRICS = {'mmdet': ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP'],
           'mmseg': ['mIoU', 'mAcc', 'aAcc']}


def activation_options(cfg, activation: str) -> List[str]:
    """--cfg-options setting `activation` at every act_cfg of the model that uses the config's
    declared (top-level) act_cfg type: the backbone only, or the whole model."""
    declared = cfg.get('act_cfg', {}).get('type')
    if declared is None:
        raise ValueError('the config declares no top-level act_cfg (see configs/*_golu.py)')
    keys = []

    def walk(node, prefix):
        if isinstance(node, dict):
            act = node.get('act_cfg')
            if isinstance(act, dict) and act.get('type') == declared:
                keys.append(f'{prefix}act_cfg')
            for k, v in node.items():
                walk(v, f'{prefix}{k}.')

    walk(cfg.model, 'model.')
    return [f'{key}.type={activation}' for key in ['act_cfg'] + keys]


def final_metrics(work_dir: Path, names: Sequence[str]) -> dict:
    """The last logged values of `names` in the run's scalars.json files (all its sessions)."""
    found = {}
    for scalars in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            found.update({k: v for k, v in record.items() if k in names})
    missing = [n for n in names if n not in found]
    if missing:
        raise RuntimeError(f'{work_dir}: no {missing} in the logs (did validation run?)')
    return found


def run_sweep(config: str, cfg, activations: Sequence[str], seeds: Sequence[int], root: Path,
              extra_options: Sequence[str], version: str, force: bool,
              train: Callable[[Path, List[str], bool], None], log=print) -> List[dict]:
    """Every (activation, seed) run of `config` (cfg: its loaded Config) under root/ACT_seedN.
    All runs are planned first, so that a directory holding another experiment stops the sweep
    (StaleRunError) before anything trains. train(run_dir, options, resume) trains one run."""
    metrics = METRICS[cfg.get('default_scope')]
    runs = []
    for activation in activations:
        for seed in seeds:
            run_dir = Path(root) / f'{activation}_seed{seed}'
            options = activation_options(cfg, activation) + [f'randomness.seed={seed}',
                                                             *extra_options]
            spec = run_spec(config, cfg.pretty_text, options, activation, seed, version)
            runs.append((run_dir, spec, plan_run(run_dir, spec, force)))
    results = []
    for run_dir, spec, plan in runs:
        if plan == 'reuse':
            log(f'[compare] {run_dir.name}: done before with the same config and options, '
                f'reusing {run_dir / "result.json"}')
            results.append(read_result(run_dir))
            continue
        log(f'[compare] {run_dir.name}: ' + ('resuming from its last checkpoint'
                                            if plan == 'resume' else 'training'))
        start_run(run_dir, spec)
        train(run_dir, spec['options'], plan == 'resume')
        results.append(finish_run(run_dir, spec, final_metrics(run_dir, metrics)))
    return results
