"""The signals a training stops on to go on later (Slurm's warning before the time limit, USR1;
a preemption's or the time limit's SIGTERM), noted from the moment a process listens, so that
one arriving while the training still starts up (imports, building the model) is acted on at
the end of its first iteration instead of killing it. openmmlab's SaveOnSignalHook acts on
them; tools/train.py --save-on-signal listens before its heavy imports."""
import signal
from typing import Optional, Sequence

SIGNALS = ('SIGUSR1', 'SIGTERM')
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
