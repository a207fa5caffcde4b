"""The main job (`make demo`): generate the synthetic scenes, train Mask R-CNN with a GoLU
backbone on the CPU, evaluate it with COCO metrics, plot the activations, and print a summary.

    python tools/demo.py                 # Mask R-CNN, about 6 minutes on 2 cores
    python tools/demo.py --task seg      # DeepLabV3 on the same scenes (mIoU)
    python tools/demo.py --iters 0       # evaluate the untrained model (the baseline)
"""
import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from golu_mm.analysis import plot_activation_distributions, plot_activation_functions  # noqa
from golu_mm.data import config_options, generate  # noqa: E402
from golu_mm.openmmlab import runner  # noqa: E402

TASKS = {
    'det': dict(config='configs/demo/mask_rcnn_golu_demo.py', model='Mask R-CNN',
                metrics=[('bbox AP', 'coco/bbox_mAP'), ('bbox AP50', 'coco/bbox_mAP_50'),
                         ('segm AP', 'coco/segm_mAP'), ('segm AP50', 'coco/segm_mAP_50')]),
    'seg': dict(config='configs/demo/deeplabv3_golu_demo.py', model='DeepLabV3',
                metrics=[('mIoU', 'mIoU'), ('mAcc', 'mAcc'), ('aAcc', 'aAcc')]),
}


def say(step, text):
    print(f'\n[demo {step}] {text}', flush=True)


def data_options(task, data_root, iters):
    # The demo configs' schedule, validation and checkpoint intervals follow max_iters.
    return {'train_cfg.max_iters': max(iters, 1),
            **config_options(data_root, detection=task == 'det')}


def untrained_checkpoint(config, opts, work_dir):
    """A checkpoint of the randomly initialised model (seeded), for the --iters 0 baseline."""
    from mmengine.runner import set_random_seed
    set_random_seed(0)
    model, _ = runner.build_model(config, cfg_options=opts)
    model.init_weights()
    path = Path(work_dir) / 'untrained.pth'
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--task', choices=list(TASKS), default='det')
    parser.add_argument('--iters', type=int, default=600, help='training iterations (0: none)')
    parser.add_argument('--data-root', default=str(ROOT / 'data' / 'synthetic'))
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    parser.add_argument('--work-dir', default=None)
    args = parser.parse_args(argv)
    if args.iters < 0:
        parser.error('--iters must be >= 0')
    task = TASKS[args.task]
    config = str(ROOT / task['config'])
    work_dir = Path(args.work_dir or ROOT / 'work_dirs' / f'demo_{args.task}')
    start = time.time()

    say('1/4', f'data: {args.num_train}+{args.num_val} synthetic scenes of {args.size} px '
               f'(seed {args.seed}) in {args.data_root}')
    generate(args.data_root, args.num_train, args.num_val, args.size, args.seed)
    opts = data_options(args.task, args.data_root, args.iters)

    if args.iters:
        say('2/4', f'training {task["model"]} with a GoLU backbone for {args.iters} iterations '
                   f'on {torch.get_num_threads()} CPU threads (logs: {work_dir})')
        runner.train(config, work_dir=str(work_dir), cfg_options=opts)
        checkpoint = str(work_dir / f'iter_{args.iters}.pth')
    else:
        say('2/4', 'no training (--iters 0): evaluating the randomly initialised model')
        checkpoint = untrained_checkpoint(config, opts, work_dir)
    trained_s = time.time() - start

    say('3/4', f'evaluating {checkpoint} on the validation scenes')
    metrics = runner.test(config, checkpoint, work_dir=str(work_dir), cfg_options=opts)

    say('4/4', 'plots')
    plots = work_dir / 'plots'
    plot_activation_functions(plots / 'activation_functions.png')
    model, cfg = runner.build_model(config, checkpoint, cfg_options=opts)
    image = sorted((Path(args.data_root) / ('coco/val' if args.task == 'det'
                                            else 'ade/images/validation')).glob('*.png'))[0]
    plot_activation_distributions(model.backbone, runner.image_tensor(image, model),
                                  plots / 'activation_distribution.png',
                                  title=f'GoLU backbone outputs per layer: {image.name}')

    total = time.time() - start
    print('\n' + '=' * 72)
    print(f'golu_mm demo: {task["model"]}, GoLU backbone, {args.iters} iterations on CPU')
    for label, key in task['metrics']:
        print(f'  {label:<10} {metrics[key]:.3f}')
    print(f'  time       {total / 60:.1f} min (training {trained_s / 60:.1f} min)')
    print(f'  checkpoint {checkpoint}')
    print(f'  logs       {work_dir}')
    print(f'  plots      {plots}/activation_functions.png, activation_distribution.png')
    print('=' * 72)
    return metrics


if __name__ == '__main__':
    runner.run_tool(main)
