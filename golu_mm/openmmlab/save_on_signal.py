"""SaveOnSignalHook: a training that is told to stop (Slurm's warning before the time limit,
USR1, or a stop request in its work dir: golu_mm.jobs.signals; a preemption's or the time
limit's SIGTERM) saves a checkpoint at the end of the current iteration and stops, so that the next attempt resumes there instead of at the last periodic
checkpoint. tools/train.py --save-on-signal adds it (every sweep job does) and listens from its
start (golu_mm.jobs.signals); a config can name it in custom_hooks.

It works for iteration- and epoch-based loops and under DDP: every rank notes the signal, the
ranks agree on it at the end of each iteration (one all-reduce of a flag), rank 0 saves, and
every rank stops at that same iteration (but the last one, whose validation and checkpoint follow
anyway; a validation due at the stopping iteration is not made up). An epoch-based run resumed from such a checkpoint skips
the batches of the interrupted epoch it had trained (loaded and dropped, as mmengine's
IterBasedTrainLoop advances its dataloader on resume), so that no batch is trained twice."""
import itertools
import os.path as osp
import signal
from typing import Sequence

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from ..jobs import signals as stop_signals
from .registration import register


class TrainingStopped(Exception):
    """Raised on every rank once the checkpoint is saved: the training stops at this iteration,
    to go on in a later attempt (tools/train.py exits with golu_mm.jobs.runner.SAVED_EXIT)."""

    def __init__(self, signal_name: str, checkpoint: str):
        super().__init__(f'stopped on {signal_name} after saving {checkpoint}')
        self.signal_name, self.checkpoint = signal_name, checkpoint


class _SkipFirst:
    """The epoch loop's dataloader for one resumed epoch: its first `skip` batches dropped."""

    def __init__(self, loader, skip: int):
        self._loader, self._skip = loader, skip

    def __iter__(self):
        return itertools.islice(iter(self._loader), self._skip, None)

    def __len__(self):
        return len(self._loader)

    def __getattr__(self, name):  # sampler, dataset, batch_size: the wrapped loader's
        return getattr(self._loader, name)


@register(HOOKS)
class SaveOnSignalHook(Hook):
    """Saves a checkpoint and stops the training at the end of the iteration during which one of
    `signals` arrived (see the module docstring). The previous handlers come back after
    training."""

    priority = 'LOWEST'  # after the schedulers stepped and the logger logged this iteration

    def __init__(self, signals: Sequence[str] = stop_signals.SIGNALS):
        stop_signals.signal_numbers(signals)  # a wrong name is a ValueError now, not at the start
        self.signals = list(signals)
        self._unwrapped = None
        self._listening = False

    def before_train(self, runner) -> None:
        # Where the process listens already (tools/train.py), it keeps listening after training,
        # so that a late signal cannot kill a run that has finished.
        self._listening = stop_signals.listen(self.signals)

    def after_train(self, runner) -> None:
        if self._listening:
            stop_signals.stop_listening()

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop):
            return  # the iteration loop advances its dataloader on resume itself
        done = runner.iter - runner.epoch * len(loop.dataloader)
        if 0 < done < len(loop.dataloader):
            runner.logger.warning(f'resumed in epoch {runner.epoch + 1} after {done} of its '
                                  f'{len(loop.dataloader)} iterations: skipping the batches '
                                  'it trained')
            self._unwrapped = loop.dataloader
            loop.dataloader = _SkipFirst(loop.dataloader, done)

    def after_train_epoch(self, runner) -> None:
        if self._unwrapped is not None:
            runner.train_loop.dataloader, self._unwrapped = self._unwrapped, None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        received = stop_signals.received() or (
            is_main_process() and stop_signals.stop_requested(runner.work_dir)) or 0
        if get_world_size() > 1:  # every rank stops at the same iteration
            flag = torch.tensor([received], dtype=torch.int64)
            all_reduce(flag, op='max')
            received = int(flag.item())
        if not received or runner.iter + 1 >= runner.max_iters:
            return  # the last iteration: its validation and checkpoint come next anyway
        filename = f'iter_{runner.iter + 1}.pth'
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)  # rank 0 writes
        checkpoint = osp.join(runner.work_dir, filename)
        if is_main_process():
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(checkpoint)
        barrier()
        name = signal.Signals(received).name
        stop_signals.stop_listening()
        runner.logger.warning(f'{name}: saved {checkpoint} after iteration {runner.iter + 1}; '
                              'stopping (a resumed run goes on from there)')
        raise TrainingStopped(name, checkpoint)
