"""Real runs of tools/train.py, tools/test.py and tools/dist_train.sh on tiny generated data:
checkpoints are saved, evaluation prints COCO AP and mIoU, --resume continues, and a 2-process
CPU (gloo) run completes."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from golu_mm.data import config_options, generate
from golu_mm.openmmlab.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parents[2]
DET = 'configs/demo/mask_rcnn_golu_demo.py'
SEG = 'configs/demo/deeplabv3_golu_demo.py'
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp('synthetic'), num_train=8, num_val=4, size=96, seed=1)


def options(config, data_root, iters):
    """--cfg-options pointing a demo config at `data_root` for a run of `iters` iterations."""
    opts = [f'train_cfg.max_iters={iters}', 'default_hooks.logger.interval=1',
            *(f'{key}={value}' for key, value in config_options(data_root, config == DET).items())]
    opts += [f'{loader}.batch_size=2' for loader in ('train_dataloader', 'val_dataloader')]
    if config == DET:
        opts.append('model.roi_head.bbox_head.fc_out_channels=64')
    return ['--cfg-options', *opts]


def run(*args, env=None):
    result = subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True,
                            timeout=900, env={**os.environ, 'PYTHON': sys.executable, **(env or {})})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def test_detection_train_test_resume(data_root, tmp_path):
    work = tmp_path / 'det'
    run(sys.executable, 'tools/train.py', DET, '--work-dir', work, *options(DET, data_root, 3))
    assert (work / 'iter_3.pth').is_file()

    out = run(sys.executable, 'tools/test.py', DET, work / 'iter_3.pth', '--work-dir', work,
              '--out', work / 'results.pkl', *options(DET, data_root, 3))
    assert 'bbox_mAP_copypaste' in out and 'segm_mAP_copypaste' in out
    assert (work / 'results.pkl').stat().st_size > 0

    log = run(sys.executable, 'tools/train.py', DET, '--work-dir', work, '--resume',
              *options(DET, data_root, 5))
    assert 'resumed' in log.lower() and 'Iter(train) [4/5]' in log
    assert 'Iter(train) [1/5]' not in log
    assert (work / 'iter_5.pth').is_file()


def test_segmentation_train_test(data_root, tmp_path):
    work = tmp_path / 'seg'
    run(sys.executable, 'tools/train.py', SEG, '--work-dir', work, *options(SEG, data_root, 2))
    out = run(sys.executable, 'tools/test.py', SEG, work / 'iter_2.pth', '--work-dir', work,
              '--show-dir', work / 'show', *options(SEG, data_root, 2))
    assert 'mIoU' in out
    assert any((work / 'show').rglob('*.png'))


def test_two_process_cpu_training(data_root, tmp_path):
    work = tmp_path / 'dist'
    log = run('bash', 'tools/dist_train.sh', SEG, 2, '--work-dir', work,
              *options(SEG, data_root, 2), env={'PORT': '29517', 'OMP_NUM_THREADS': '1'})
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # GPU: world size
    assert 'Iter(train) [2/2]' in log
    assert (work / 'iter_2.pth').is_file()


def fails(*args, env=None):
    """Runs a tool that must fail; returns its stderr, whose last lines must be the error."""
    result = subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True,
                            timeout=900, env={**os.environ, 'PYTHON': sys.executable, **(env or {})})
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith('(traceback in ') and lines[-2].startswith('error: '), lines[-5:]
    return lines[-2]


def test_checkpoints_are_checked(data_root, tmp_path):
    """Evaluation, --resume and auto-resume refuse or skip checkpoints that would give a wrong
    number, naming the file; --non-strict loads a mismatched one, loudly."""
    work = tmp_path / 'seg'
    opts = options(SEG, data_root, 2)
    run(sys.executable, 'tools/train.py', SEG, '--work-dir', work, *opts)
    seg_ckpt = work / 'iter_2.pth'

    # A DeepLabV3 checkpoint for Mask R-CNN: refused, offending keys named.
    error = fails(sys.executable, 'tools/test.py', DET, seg_ckpt, '--work-dir', tmp_path / 'det',
                  *options(DET, data_root, 2))
    assert 'CheckpointError' in error and f'{seg_ckpt} does not match the model' in error
    assert 'missing: backbone.' in error or 'missing: ' in error and 'unexpected: ' in error
    out = run(sys.executable, 'tools/test.py', DET, seg_ckpt, '--work-dir', tmp_path / 'det',
              '--non-strict', *options(DET, data_root, 2))
    assert 'NON-STRICT LOAD' in out and 'bbox_mAP_copypaste' in out

    # A class-count mismatch (shape) is refused too.
    error = fails(sys.executable, 'tools/test.py', SEG, seg_ckpt, '--work-dir', work,
                  *opts[:-1], *opts[-1:], 'model.decode_head.num_classes=7',
                  'model.auxiliary_head.num_classes=7')
    assert 'shape mismatch: decode_head.conv_seg.weight (4, 64, 1, 1) in the checkpoint' in error

    # Unreadable files are named.
    for name, content in (('empty.pth', b''), ('random.pth', os.urandom(4096)),
                          ('truncated.pth', seg_ckpt.read_bytes()[:20000])):
        (tmp_path / name).write_bytes(content)
        error = fails(sys.executable, 'tools/test.py', SEG, tmp_path / name, '--work-dir', work,
                      *opts)
        assert str(tmp_path / name) in error

    # --resume from a weights-only file.
    import torch
    weights = tmp_path / 'weights.pth'
    torch.save({'state_dict': read_checkpoint(str(seg_ckpt))['state_dict']}, weights)
    error = fails(sys.executable, 'tools/train.py', SEG, '--work-dir', work, '--resume', weights,
                  *opts)
    assert '--resume needs a checkpoint saved by training' in error and str(weights) in error

    # Nothing left to train: said so.
    log = run(sys.executable, 'tools/train.py', SEG, '--work-dir', work, '--resume', *opts)
    assert 'nothing to train: the resumed checkpoint is at iteration 2' in log
    # ... and its validation made (a run stopped before it gets its final metrics).
    assert 'mIoU' in log.partition('evaluating the resumed final checkpoint')[2]

    # The latest checkpoint is corrupt: auto-resume falls back to the previous one.
    (work / 'iter_3.pth').write_bytes(seg_ckpt.read_bytes()[:10000])
    (work / 'last_checkpoint').write_text(str(work / 'iter_3.pth'))
    log = run(sys.executable, 'tools/train.py', SEG, '--work-dir', work, '--resume',
              *options(SEG, data_root, 3))
    assert f'cannot resume from {work / "iter_3.pth"}' in log
    assert 'Iter(train) [3/3]' in log and 'Iter(train) [1/3]' not in log


def test_config_errors_are_short_and_last(data_root, tmp_path):
    error = fails(sys.executable, 'tools/train.py', SEG, '--work-dir', tmp_path,
                  *options(SEG, data_root, 1), 'model.backbone.type=NoSuchNet')
    assert 'NoSuchNet' in error and len(error) < 1300
    ann = tmp_path / 'instances_val.json'
    ann.write_text('{"images": [')
    error = fails(sys.executable, 'tools/test.py', DET, tmp_path / 'x.pth', '--work-dir',
                  tmp_path, *options(DET, data_root, 1), f'val_evaluator.ann_file={ann}',
                  f'test_evaluator.ann_file={ann}')
    assert f'annotation file {ann} is not valid JSON' in error
    result = subprocess.run([sys.executable, 'tools/train.py', SEG, '--cfg-options', 'garbage'],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "takes KEY=VALUE items, got 'garbage'" in result.stderr
