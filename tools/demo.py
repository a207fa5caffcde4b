"""The main job (`make demo`): generate the synthetic scenes, train Mask R-CNN with a GoLU
backbone on the CPU, evaluate it with COCO metrics, plot the activations, and print a summary.

    python tools/demo.py                 # Mask R-CNN, about 6 minutes on 2 cores
    python tools/demo.py --task seg      # DeepLabV3 on the same scenes (mIoU)
    python tools/demo.py --iters 0       # evaluate the untrained model (the baseline)
    python tools/demo.py --pretrain      # pretrain the GoLU backbone (classification), fine-tune
                                         # Mask R-CNN from it, and compare with from scratch
"""
import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from golu_mm.analysis import plot_activation_distributions, plot_activation_functions  # noqa
from golu_mm.data import config_options, generate, generate_classification  # noqa: E402
from golu_mm.cli import run_tool  # noqa: E402
from golu_mm.openmmlab import apis  # noqa: E402

TASKS = {
    'det': dict(config='configs/demo/mask_rcnn_golu_demo.py', model='Mask R-CNN',
                metrics=[('bbox AP', 'coco/bbox_mAP'), ('bbox AP50', 'coco/bbox_mAP_50'),
                         ('segm AP', 'coco/segm_mAP'), ('segm AP50', 'coco/segm_mAP_50')]),
    'seg': dict(config='configs/demo/deeplabv3_golu_demo.py', model='DeepLabV3',
                metrics=[('mIoU', 'mIoU'), ('mAcc', 'mAcc'), ('aAcc', 'aAcc')]),
}
PRETRAIN_CONFIG = 'configs/demo/resnet_golu_pretrain_demo.py'


def say(step, text):
    print(f'\n[demo {step}] {text}', flush=True)


def data_options(task, data_root, iters):
    # The demo configs' schedule, validation and checkpoint intervals follow max_iters.
    return {'train_cfg.max_iters': max(iters, 1),
            **config_options(data_root, detection=task == 'det')}


def untrained_checkpoint(config, opts, work_dir):
    """A checkpoint of the randomly initialised model (seeded), for the --iters 0 baseline."""
    from mmengine.runner import set_random_seed

    from golu_mm.openmmlab.activation_record import activation_meta
    set_random_seed(0)
    model, _ = apis.build_model(config, cfg_options=opts)
    model.init_weights()
    path = Path(work_dir) / 'untrained.pth'
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': activation_meta(model)}, path)
    return str(path)


def train_and_test(config, work_dir, opts, iters):
    """Train `config` for `iters` iterations, evaluate its last checkpoint; (metrics, checkpoint)."""
    apis.train(config, work_dir=str(work_dir), cfg_options=opts)
    checkpoint = str(Path(work_dir) / f'iter_{iters}.pth')
    return apis.test(config, checkpoint, work_dir=str(work_dir), cfg_options=opts), checkpoint


def pretrain_demo(args, work_dir, start):
    """Pretrain the demo backbone with GoLU on the single-shape images, fine-tune Mask R-CNN
    from it, train Mask R-CNN from scratch alongside, and print the three numbers."""
    task, config = TASKS['det'], str(ROOT / TASKS['det']['config'])
    cls_root = f'{args.data_root}_cls'
    say('1/4', f'data: scenes in {args.data_root}, single-shape images in {cls_root}')
    generate(args.data_root, args.num_train, args.num_val, args.size, args.seed)
    generate_classification(cls_root, seed=args.seed)
    opts = data_options('det', args.data_root, args.iters)

    iters = args.pretrain_iters
    say('2/4', f'pretraining the GoLU backbone on shape classification for {iters} iterations')
    pre_opts = {'train_cfg.max_iters': iters, **config_options(cls_root, detection=False)}
    pre_metrics, backbone = train_and_test(str(ROOT / PRETRAIN_CONFIG), work_dir / 'pretrain',
                                           pre_opts, iters)
    say('3/4', f'fine-tuning {task["model"]} from {backbone} for {args.iters} iterations')
    init = {'model.backbone.init_cfg': dict(_delete_=True, type='Pretrained', checkpoint=backbone)}
    tuned, _ = train_and_test(config, work_dir / 'finetune', {**opts, **init}, args.iters)
    say('4/4', f'training {task["model"]} from scratch for {args.iters} iterations (the reference)')
    scratch, _ = train_and_test(config, work_dir / 'scratch', opts, args.iters)

    print('\n' + '=' * 72)
    print(f'golu_mm pretraining demo: GoLU backbone, {task["model"]}, {args.iters} iterations '
          'on CPU')
    print(f'  pretrain top-1   {pre_metrics["accuracy/top1"]:.1f} % (3 shapes, chance 33.3 %)')
    print(f'  {"":<12} {"from scratch":>13} {"pretrained":>11}')
    for label, key in task['metrics']:
        print(f'  {label:<12} {scratch[key]:>13.3f} {tuned[key]:>11.3f}')
    print(f'  time       {(time.time() - start) / 60:.1f} min; logs in {work_dir}')
    print('=' * 72)
    return {'pretrain': pre_metrics, 'finetune': tuned, 'scratch': scratch}


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
    parser.add_argument('--pretrain', action='store_true',
                        help='pretrain the backbone first, then compare fine-tuned with scratch')
    parser.add_argument('--pretrain-iters', type=int, default=2000,
                        help='pretraining iterations (with --pretrain)')
    args = parser.parse_args(argv)
    if args.iters < 0 or (args.pretrain and args.iters == 0):
        parser.error('--iters must be >= 0 (>= 1 with --pretrain)')
    if args.pretrain_iters < 1:
        parser.error('--pretrain-iters must be >= 1')
    if args.pretrain and args.task != 'det':
        parser.error('--pretrain runs the Mask R-CNN demo (--task det)')
    start = time.time()
    if args.pretrain:
        return pretrain_demo(args, Path(args.work_dir or ROOT / 'work_dirs' / 'demo_pretrain'),
                             start)
    task = TASKS[args.task]
    config = str(ROOT / task['config'])
    work_dir = Path(args.work_dir or ROOT / 'work_dirs' / f'demo_{args.task}')

    say('1/4', f'data: {args.num_train}+{args.num_val} synthetic scenes of {args.size} px '
               f'(seed {args.seed}) in {args.data_root}')
    generate(args.data_root, args.num_train, args.num_val, args.size, args.seed)
    opts = data_options(args.task, args.data_root, args.iters)

    if args.iters:
        say('2/4', f'training {task["model"]} with a GoLU backbone for {args.iters} iterations '
                   f'on {torch.get_num_threads()} CPU threads (logs: {work_dir})')
        metrics, checkpoint = train_and_test(config, work_dir, opts, args.iters)
    else:
        say('2/4', 'no training (--iters 0): evaluating the randomly initialised model')
        checkpoint = untrained_checkpoint(config, opts, work_dir)
        metrics = apis.test(config, checkpoint, work_dir=str(work_dir), cfg_options=opts)
    trained_s = time.time() - start

    say('3/4', f'evaluated {checkpoint} on the validation scenes')

    say('4/4', 'plots')
    plots = work_dir / 'plots'
    plot_activation_functions(plots / 'activation_functions.png')
    model, cfg = apis.build_model(config, checkpoint, cfg_options=opts)
    image = sorted((Path(args.data_root) / ('coco/val' if args.task == 'det'
                                            else 'ade/images/validation')).glob('*.png'))[0]
    plot_activation_distributions(model.backbone, apis.image_tensor(image, model),
                                  plots / 'activation_distribution.png',
                                  title=f'GoLU backbone outputs per layer: {image.name}')

    total = time.time() - start
    print('\n' + '=' * 72)
    print(f'golu_mm demo: {task["model"]}, GoLU backbone, {args.iters} iterations on CPU')
    for label, key in task['metrics']:
        print(f'  {label:<10} {metrics[key]:.3f}')
    print(f'  time       {total / 60:.1f} min (training and evaluation {trained_s / 60:.1f} min)')
    print(f'  checkpoint {checkpoint}')
    print(f'  logs       {work_dir}')
    print(f'  plots      {plots}/activation_functions.png, activation_distribution.png')
    print('=' * 72)
    return metrics


if __name__ == '__main__':
    run_tool(main)
