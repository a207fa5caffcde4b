"""A run adapted to the machine it runs on: SyncBN becomes BN where it cannot run, CPU
distributed runs get gloo and CPU-friendly DDP (under Slurm, their rendezvous from srun's
variables), and a distributed run's process group is closed before the interpreter exits."""
import os
import subprocess

import torch
from mmengine.config import Config

from .config_walk import config_items


def replace_sync_bn(node):
    """Every SyncBN in a config tree becomes BN (SyncBN needs CUDA and a process group)."""
    for path, value, parent in config_items(node):
        if path[-1] == 'type' and value == 'SyncBN':
            parent['type'] = 'BN'
    return node


def adapt_to_machine(cfg: Config, launcher: str) -> Config:
    """SyncBN -> BN where it cannot run; gloo and CPU-friendly DDP for CPU distributed runs."""
    cuda = torch.cuda.is_available()
    if launcher == 'none' or not cuda:
        replace_sync_bn(cfg.model)
    if launcher != 'none' and not cuda:
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        # mmengine passes device_ids=[LOCAL_RANK] unless told otherwise; CPU DDP needs None.
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                     device_ids=None)
        if not torch.distributed.is_initialized():  # mmengine would call torch.cuda.set_device
            if launcher == 'slurm':
                slurm_rendezvous()
            torch.distributed.init_process_group(backend='gloo')
    return cfg


def slurm_rendezvous() -> None:
    """RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT from an srun task's SLURM_* variables,
    as mmengine's slurm launcher sets them (the first node of the job is the master; port
    MASTER_PORT, else 29500), for CPU runs, where that launcher cannot be used (it selects a
    CUDA device)."""
    env = os.environ
    if 'SLURM_PROCID' not in env:
        raise RuntimeError('--launcher slurm runs under srun (no SLURM_PROCID here): use '
                           'tools/slurm_train.sh, or --launcher none')
    first = subprocess.run(['scontrol', 'show', 'hostnames', env['SLURM_NODELIST']],
                           capture_output=True, text=True, check=True).stdout.split()[0]
    env.setdefault('MASTER_ADDR', first)
    env.setdefault('MASTER_PORT', '29500')
    env.update(RANK=env['SLURM_PROCID'], WORLD_SIZE=env['SLURM_NTASKS'],
               LOCAL_RANK=env.get('SLURM_LOCALID', '0'))


def close_process_group() -> None:
    """End a distributed run's process group before the interpreter exits: left to exit-time
    teardown, gloo's threads can abort rank 0 ("terminate called without an active exception")
    after a successful run."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
