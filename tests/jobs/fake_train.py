"""Stands in for tools/train.py in the job tests: parses the same arguments, records how it was
started (arguments, CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS, CPU affinity, start and end times) in
WORK_DIR/started.jsonl, then fails (an act_cfg type of 'Fail'), or sleeps FAKE_TRAIN_SLEEP
seconds and writes a scalars.json (mIoU 40 + seed; none for 'Silent') and a checkpoint. With
--save-on-signal, SIGUSR1, SIGTERM or a stop request (WORK_DIR/stop_requested) during the sleep
saves a checkpoint (iter_N, N one more than the last) and exits 75, as tools/train.py does;
FAKE_TRAIN_NO_SAVE=1 exits so without saving."""
import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument('config')
parser.add_argument('--work-dir')
parser.add_argument('--resume', nargs='?', const='auto')
parser.add_argument('--launcher', default='none')
parser.add_argument('--cfg-options', nargs='+', default=[])
parser.add_argument('--save-on-signal', action='store_true')
args = parser.parse_args()
options = dict(o.split('=', 1) for o in args.cfg_options)
act, seed = options['act_cfg.type'], int(options['randomness.seed'])
work = Path(args.work_dir)
start = time.time()


def save_and_stop(signum, _frame):
    if not os.environ.get('FAKE_TRAIN_NO_SAVE'):
        marker = work / 'last_checkpoint'
        last = int(marker.read_text().rsplit('_', 1)[1].split('.')[0]) if marker.exists() else 0
        (work / f'iter_{last + 1}.pth').write_bytes(b'')
        marker.write_text(str(work / f'iter_{last + 1}.pth'))
    sys.exit(75)


if args.save_on_signal:
    for signum in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(signum, save_and_stop)
deadline = time.monotonic() + float(os.environ.get('FAKE_TRAIN_SLEEP', '0'))
while time.monotonic() < deadline:  # a stop request (the sweep job's warning) acts as a signal
    time.sleep(0.05)
    if args.save_on_signal and (work / 'stop_requested').exists():
        save_and_stop(signal.SIGUSR1, None)
with (work / 'started.jsonl').open('a') as f:
    f.write(json.dumps({'argv': sys.argv[1:], 'start': start, 'end': time.time(),
                        'cuda': os.environ.get('CUDA_VISIBLE_DEVICES'),
                        'omp': os.environ.get('OMP_NUM_THREADS'),
                        'cores': sorted(os.sched_getaffinity(0))}) + '\n')
if act == 'Fail':
    print('error: RuntimeError: the fake training failed', flush=True)
    sys.exit(1)
log = work / time.strftime('%Y%m%d_%H%M%S') / 'vis_data' / 'scalars.json'
log.parent.mkdir(parents=True, exist_ok=True)
metrics = {} if act == 'Silent' else {'mIoU': 40.0 + seed, 'mAcc': 50.0, 'aAcc': 60.0}
log.write_text(json.dumps({'loss': 1.0, 'step': 2, **metrics}) + '\n')
(work / 'iter_2.pth').write_bytes(b'')
(work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
