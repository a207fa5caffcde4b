"""The command-line arguments of golu_mm's OpenMMLab tools, following mmdet's and mmseg's."""
import argparse
import os
from typing import Optional, Sequence

from .config_options import KeyValueAction


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, metavar='KEY=VALUE',
                        help='override config settings, e.g. model.backbone.act_cfg.type=GELU')


def add_allow_activation_mismatch_argument(parser) -> None:
    parser.add_argument('--allow-activation-mismatch', action='store_true',
                        help='load a checkpoint trained with other activations than the model '
                             '(refused by default; a file without a record counts as ReLU), '
                             'with a warning')


def tool_arguments(parser, kind: str, argv: Optional[Sequence[str]] = None):
    """The command-line conventions of mmdet's and mmseg's tools."""
    parser.add_argument('config', help='config file')
    if kind == 'test':
        parser.add_argument('checkpoint', help='checkpoint file')
        parser.add_argument('--out', help='mmdet, mmpretrain: results pickle; mmseg: directory of predictions')
        parser.add_argument('--show-dir', help='directory to save drawn predictions')
        parser.add_argument('--show', action='store_true', help='display each prediction')
        parser.add_argument('--wait-time', type=float, default=2,
                            help='seconds each prediction is shown (--show)')
        parser.add_argument('--tta', action='store_true',
                            help='test-time augmentation: the config\'s tta_model and '
                                 'tta_pipeline')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    if kind == 'train':
        parser.add_argument('--resume', nargs='?', type=str, const='auto',
                            help='resume from the latest readable checkpoint in the work dir, or '
                                 'from the given checkpoint')
        parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
        parser.add_argument('--auto-scale-lr', action='store_true',
                            help='scale the learning rate to the actual batch size '
                                 '(auto_scale_lr.base_batch_size in the config)')
        parser.add_argument('--save-on-signal', action='store_true',
                            help='on SIGUSR1 or SIGTERM, save a checkpoint at the end of the '
                                 'current iteration and stop (exit code 75); --resume goes on '
                                 'from it')
    if kind in ('train', 'test'):
        parser.add_argument('--non-strict', action='store_true',
                            help='load a checkpoint whose keys or shapes do not match the model '
                                 '(refused by default), with a warning')
        add_allow_activation_mismatch_argument(parser)
    add_cfg_options_argument(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
