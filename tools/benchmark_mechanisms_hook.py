"""What MechanismsHook costs a training, as a share of a training step measured in this process:
a plain step (forward, backward, optimizer) and a step the hook measures, alternated after
warm-up, medians compared; the hook's cost per step at interval N is their difference over N.

    python tools/benchmark_mechanisms_hook.py [--config configs/demo/deeplabv3_golu_demo.py]
        [--interval 50] [--repeats 15]

Runs on the demo config's synthetic data (generated where missing), batch of the config's train
dataloader. Steps the hook does not measure run nothing of it (tested), so they cost nothing.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _Visualizer:
    def add_scalars(self, scalars, step):
        self.last = scalars


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='configs/demo/deeplabv3_golu_demo.py')
    parser.add_argument('--interval', type=int, default=50)
    parser.add_argument('--repeats', type=int, default=15)
    args = parser.parse_args(argv)

    from golu_mm.data import config_options, generate
    from golu_mm.openmmlab import apis
    from golu_mm.openmmlab.mechanisms_hook import MechanismsHook
    from golu_mm.openmmlab.run_analysis import fixed_batches, mm_loss
    data = generate(Path(tempfile.gettempdir()) / 'golu_mm_hook_benchmark', num_train=4,
                    num_val=4, size=128, seed=0)
    options = config_options(data, detection='mask_rcnn' in args.config)
    model, cfg = apis.build_model(args.config, cfg_options=options)
    model.train()
    batch = fixed_batches(cfg, 1)[0]
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    hook = MechanismsHook(interval=1)  # every call measures: the measured step's cost
    runner = SimpleNamespace(model=model, iter=0, visualizer=_Visualizer())

    def step(measured):
        start = time.perf_counter()
        if measured:
            hook.before_train_iter(runner, 0)
        optimizer.zero_grad(set_to_none=True)
        mm_loss(model, batch).backward()
        optimizer.step()
        if measured:
            hook.after_train_iter(runner, 0)
        return time.perf_counter() - start

    for _ in range(3):
        step(False), step(True)
    plain, measured = [], []
    for _ in range(args.repeats):
        plain.append(step(False))
        measured.append(step(True))
    p, m = statistics.median(plain), statistics.median(measured)
    share = (m - p) / (args.interval * p)
    print(f'{Path(args.config).stem}, {torch.get_num_threads()} threads, '
          f'{len(runner.visualizer.last)} scalars per measurement')
    print(f'plain step {p * 1000:.1f} ms, measured step {m * 1000:.1f} ms '
          f'({m / p:.2f}x); at interval {args.interval}: {100 * share:+.2f} % of a step')


if __name__ == '__main__':
    main()
