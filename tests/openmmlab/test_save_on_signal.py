"""SaveOnSignalHook in mmengine's own Runner: a signal during an iteration saves a checkpoint at its
end and stops there, in iteration- and epoch-based loops; the resumed training goes on from it
and sees exactly the batches an uninterrupted one would (none twice, none skipped); a signal that
came before the training started is acted on after the first iteration; under DDP every rank
stops at the same iteration even where only one rank was signalled."""
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from golu_mm.jobs import signals
from golu_mm.openmmlab.checkpoint import read_checkpoint
from golu_mm.openmmlab.save_on_signal import SaveOnSignalHook, TrainingStopped

ROOT = Path(__file__).resolve().parents[2]


class Numbers(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return {'inputs': torch.tensor([float(i)])}


class Recorder(BaseModel):
    """A one-weight model that records every batch it trains on (in `seen`)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.seen = []

    def forward(self, inputs, mode='loss'):
        self.seen.append([int(x) for x in torch.stack(inputs).flatten()])
        return {'loss': (torch.stack(inputs) * self.weight).mean()}


class SignalAt(Hook):
    """Sends this process `signum` before training iteration `at` (0-based)."""

    def __init__(self, at, signum=signal.SIGUSR1):
        self.at, self.signum = at, signum

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            os.kill(os.getpid(), self.signum)


def runner(work_dir, loop, hooks=(), resume=False):
    return Runner(
        model=Recorder(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=Numbers(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)), train_cfg=loop,
        custom_hooks=[dict(type='SaveOnSignalHook'), *hooks], resume=resume,
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1000)),
        randomness=dict(seed=3), experiment_name=uuid.uuid4().hex)


LOOPS = {'iter': dict(by_epoch=False, max_iters=14), 'epoch': dict(by_epoch=True, max_epochs=3)}


@pytest.mark.parametrize('kind', list(LOOPS))
@pytest.mark.parametrize('signum', [signal.SIGUSR1, signal.SIGTERM])
def test_a_signal_saves_at_the_end_of_its_iteration_and_the_run_goes_on(tmp_path, kind,
                                                                          signum):
    whole = runner(tmp_path / 'whole', LOOPS[kind])
    whole.train()
    first = runner(tmp_path / 'cut', LOOPS[kind], [SignalAt(8, signum)])
    name = signal.Signals(signum).name
    with pytest.raises(TrainingStopped, match=rf'stopped on {name} after saving .*iter_9.pth'):
        first.train()
    assert (tmp_path / 'cut' / 'last_checkpoint').read_text() == str(tmp_path / 'cut' /
                                                                      'iter_9.pth')
    assert read_checkpoint(str(tmp_path / 'cut' / 'iter_9.pth'))['meta']['iter'] == 9
    assert signal.getsignal(signum) is signal.SIG_DFL  # the handlers are given back
    second = runner(tmp_path / 'cut', LOOPS[kind], resume=True)
    second.train()
    # The two sessions trained on the batches of the uninterrupted run, each exactly once.
    assert first.model.seen + second.model.seen == whole.model.seen
    assert second.iter == whole.iter and len(first.model.seen) == 9


def test_a_signal_in_the_last_iteration_lets_the_training_end(tmp_path):
    last = runner(tmp_path, LOOPS['iter'], [SignalAt(13)])
    signals.listen()  # as tools/train.py: a signal after the training must not kill it
    try:
        last.train()  # no TrainingStopped: its end (validation, checkpoint) comes anyway
        assert last.iter == 14 and signals.received() == signal.SIGUSR1
    finally:
        signals.stop_listening()


def test_a_signal_before_the_training_is_acted_on_after_its_first_iteration(tmp_path):
    signals.listen()  # as tools/train.py --save-on-signal does before its imports
    os.kill(os.getpid(), signal.SIGUSR1)
    with pytest.raises(TrainingStopped, match='SIGUSR1'):
        runner(tmp_path, LOOPS['iter']).train()
    assert (tmp_path / 'iter_1.pth').is_file() and signals.received() is None


def test_wrong_signal_names_are_refused():
    with pytest.raises(ValueError, match=r"signals must be names such as .*got \['USR9'\]"):
        SaveOnSignalHook(['USR9'])


DDP = textwrap.dedent('''
    import os, sys, signal, torch, torch.distributed as dist
    from types import SimpleNamespace
    from golu_mm.openmmlab.save_on_signal import SaveOnSignalHook, TrainingStopped
    rank = int(sys.argv[1])
    dist.init_process_group('gloo', init_method='file://' + sys.argv[2], rank=rank, world_size=2)
    work = sys.argv[3]
    saved = []
    class Log:
        def warning(self, message): pass
    def save_checkpoint(out_dir, filename, by_epoch):  # mmengine's is master_only
        if rank == 0:
            saved.append(filename)
            open(os.path.join(out_dir, filename), 'w').close()
    runner = SimpleNamespace(iter=0, max_iters=10, work_dir=work, logger=Log(),
                             save_checkpoint=save_checkpoint)
    hook = SaveOnSignalHook()
    hook.before_train(runner)
    for it in range(10):
        runner.iter = it
        if rank == 1 and it == 4:
            os.kill(os.getpid(), signal.SIGUSR1)
        try:
            hook.after_train_iter(runner, it)
        except TrainingStopped:
            print(f'rank {rank} stopped after iteration {it + 1}, saved {saved}', flush=True)
            break
    dist.destroy_process_group()
''')


def test_under_ddp_every_rank_stops_at_the_same_iteration(tmp_path):
    script = tmp_path / 'ddp.py'
    script.write_text(DDP)
    ranks = [subprocess.Popen([sys.executable, str(script), str(r), str(tmp_path / 'rdv'),
                               str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, 'PYTHONPATH': str(ROOT)}) for r in (0, 1)]
    out = [p.communicate(timeout=120)[0].strip() for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], out
    assert out == ["rank 0 stopped after iteration 5, saved ['iter_5.pth']",
                   'rank 1 stopped after iteration 5, saved []']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_5.pth')


class RequestAt(Hook):
    """Writes a stop request into the work dir before training iteration `at`, as a sweep job
    does when Slurm warns it."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            signals.request_stop(runner.work_dir, signal.SIGUSR1)


def test_a_stop_request_in_the_work_dir_acts_as_the_warning(tmp_path):
    with pytest.raises(TrainingStopped, match=r'stopped on SIGUSR1 after saving .*iter_4\.pth'):
        runner(tmp_path, LOOPS['iter'], [RequestAt(3)]).train()
