"""What defines one run of an activation sweep, recorded in its directory, so that a rerun reuses
a finished run only when it is the same experiment, resumes an interrupted one, and refuses to
mix in anything else (another config, other options, another golu_mm)."""
import hashlib
import json
import shutil
from pathlib import Path
from typing import List, Optional, Sequence

SPEC_FILE = 'run.json'
RESULT_FILE = 'result.json'


def run_spec(config: str, config_text: str, options: List[str], activation: str, seed: int,
             version: str, pretrain: Optional[dict] = None) -> dict:
    """The run's identity: config path and a hash of its resolved text (bases included), the
    --cfg-options it trains with (canonical_options), activation, seed, golu_mm version, and the spec of the
    pretraining run its backbone comes from (if any)."""
    spec = {'config': str(config),
            'config_sha256': hashlib.sha256(config_text.encode()).hexdigest(),
            'options': canonical_options(options), 'activation': activation, 'seed': seed,
            'golu_mm': version}
    if pretrain is not None:
        spec['pretrain'] = pretrain
    return spec


def canonical_options(options: List[str]) -> List[str]:
    """KEY=VALUE options sorted by key, the last of a repeated key kept: the same run however
    they were ordered (mmengine merges them as one dict, so their order does not matter)."""
    by_key = {}
    for option in options:
        by_key[option.partition('=')[0]] = option
    return [by_key[k] for k in sorted(by_key)]


def spec_mismatches(recorded: dict, wanted: dict) -> List[str]:
    return [f'{key}: recorded {recorded.get(key)!r}, now {wanted[key]!r}'
            for key in wanted if recorded.get(key) != wanted[key]]


class StaleRunError(RuntimeError):
    """A run directory that holds a different experiment than the one asked for."""


def stale_problems(run_dir: Path, spec: dict) -> List[str]:
    """Why `run_dir` holds another experiment than `spec`; [] where it holds this one or
    nothing yet."""
    run_dir = Path(run_dir)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return []
    try:
        recorded = json.loads((run_dir / SPEC_FILE).read_text())
    except (OSError, ValueError):
        recorded = None
    return (spec_mismatches(recorded, spec) if isinstance(recorded, dict)
            else [f'no readable {SPEC_FILE}: what trained there is unknown'])


def plan_run(run_dir: Path, spec: dict, force: bool = False) -> str:
    """'reuse' (finished, same spec), 'resume' (same spec, unfinished) or 'train' (new). A
    directory holding another experiment raises StaleRunError naming the differences, unless
    `force`, which deletes it for a fresh run."""
    run_dir = Path(run_dir)
    problems = stale_problems(run_dir, spec)
    if problems:
        if not force:
            raise StaleRunError(f'{run_dir} holds a different run ({"; ".join(problems)}). '
                                'Use another --work-dir, or --force to delete it and retrain')
        shutil.rmtree(run_dir)
        return 'train'
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return 'train'
    return 'reuse' if (run_dir / RESULT_FILE).is_file() else 'resume'


def start_run(run_dir: Path, spec: dict) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SPEC_FILE).write_text(json.dumps(spec, indent=1))


FINISHED, FAILED = 'finished', 'failed'


def finish_run(run_dir: Path, spec: dict, metrics: dict, note: Optional[str] = None) -> dict:
    """The result of a run that trained to its end (written: a rerun reuses it)."""
    result = {'activation': spec['activation'], 'seed': spec['seed'], 'status': FINISHED,
              'metrics': metrics, 'note': note, 'spec': spec}
    (Path(run_dir) / RESULT_FILE).write_text(json.dumps(result, indent=1))
    return result


def failed_run(spec: dict, error: str) -> dict:
    """The result of a run that did not finish (not written: a rerun resumes or retries it)."""
    return {'activation': spec['activation'], 'seed': spec['seed'], 'status': FAILED,
            'metrics': {}, 'note': error, 'spec': spec}


def read_spec(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / SPEC_FILE).read_text())


def read_result(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / RESULT_FILE).read_text())


def read_scalars(run_dir: Path) -> List[dict]:
    """Every record of the run's scalars.json files (all its sessions, in order)."""
    records = []
    for scalars in sorted(Path(run_dir).glob('*/vis_data/scalars.json')):
        records += [json.loads(line) for line in scalars.read_text().splitlines() if line]
    return records


def final_metrics(run_dir: Path, names: Sequence[str]) -> dict:
    """The last logged values of `names` in the run's scalars.json files (all its sessions);
    those never logged (an evaluation that produced no metrics) are absent."""
    found = {}
    for record in read_scalars(run_dir):
        found.update({k: v for k, v in record.items() if k in names})
    return found


def last_logged_step(run_dir: Path) -> Optional[int]:
    """The highest training step the run's scalars.json files logged (None before the first)."""
    steps = [r['step'] for r in read_scalars(run_dir) if 'loss' in r and 'step' in r]
    return max(steps, default=None)


def last_checkpoint(run_dir: Path) -> Optional[Path]:
    """The checkpoint mmengine's last_checkpoint file names (None where there is none). A name
    outside `run_dir` is refused: a run resumes from its own checkpoints only."""
    marker = Path(run_dir) / 'last_checkpoint'
    if not marker.is_file():
        return None
    checkpoint = Path(marker.read_text().strip())
    if Path(run_dir).resolve() not in checkpoint.resolve().parents:
        raise StaleRunError(f'{marker} names {checkpoint}, which is not in {run_dir}: this run '
                            'resumes from its own checkpoints only (was the folder copied?)')
    return checkpoint
