"""What a training stops on to go on later: Slurm's warning before the time limit (USR1) and a
preemption's or the time limit's SIGTERM, noted from the moment a process listens, so that one
arriving while the training still starts up (imports, building the model) is acted on at the
end of its first iteration instead of killing it; and a stop request, the file STOP_FILE in the
training's work dir, which a sweep's job writes when it gets the warning (its training may run
under srun, which would hand the signal on before the training listens). openmmlab's
SaveOnSignalHook acts on both; tools/train.py --save-on-signal listens before its heavy
imports."""
import os
import signal
from pathlib import Path
from typing import Optional, Sequence

SIGNALS = ('SIGUSR1', 'SIGTERM')
STOP_FILE = 'stop_requested'


def request_stop(work_dir, signum: int) -> None:
    """Asks the training in `work_dir` to save and stop at the end of its current iteration."""
    (Path(work_dir) / STOP_FILE).write_text(signal.Signals(signum).name)


def stop_requested(work_dir) -> Optional[int]:
    """The signal a stop request in `work_dir` stands for (None: there is none)."""
    try:
        return int(getattr(signal, (Path(work_dir) / STOP_FILE).read_text().strip()))
    except (OSError, AttributeError, TypeError, ValueError):
        return None


def clear_stop_request(work_dir) -> None:
    try:
        os.remove(Path(work_dir) / STOP_FILE)
    except FileNotFoundError:
        pass
_received: list = []
_previous: dict = {}


def signal_numbers(names: Sequence[str]) -> list:
    """The signals named (ValueError naming what is not a signal)."""
    unknown = [n for n in names if not isinstance(getattr(signal, str(n), None), signal.Signals)]
    if unknown or not names:
        raise ValueError(f'signals must be names such as {SIGNALS}, got {list(names)}')
    return [getattr(signal, n) for n in names]


def listen(names: Sequence[str] = SIGNALS) -> bool:
    """From now on the signals are noted (received()) instead of acted on. Returns whether this
    call began listening (False: something listened already, and will stop)."""
    began = not _previous
    for signum in signal_numbers(names):
        if signum not in _previous:
            _previous[signum] = signal.signal(signum, _note)
    return began


def _note(signum, _frame) -> None:
    _received.append(signum)


def received() -> Optional[int]:
    """The first signal noted since listen() (None: none yet)."""
    return _received[0] if _received else None


def stop_listening() -> None:
    """The handlers from before listen() back, the notes forgotten."""
    for signum, previous in _previous.items():
        signal.signal(signum, previous)
    _previous.clear()
    _received.clear()
