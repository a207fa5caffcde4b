"""MechanismsHook: the paper's mechanisms followed during training, opt in:

    custom_hooks = [dict(type='MechanismsHook', interval=50)]

every `interval` iterations it logs, per stage, the mean variance of the activation layers'
outputs and the norm of the loss's gradient with respect to the stage's weights and activation
outputs (this process's, before DDP averages them) as scalars to the runner's visualizer
(`mechanisms/variance/<stage>`, `mechanisms/grad_norm/weights/<stage>`,
`mechanisms/grad_norm/activations/<stage>`: TensorBoard and the local backend's scalars.json
show them); under AmpOptimWrapper the norms are unscaled (divided by the loss scale the
iteration's backward used). The measured iteration runs fused BN → GoLU nodes unfused (the same results within
float rounding; that one step has unfused GoLU's memory); the others are untouched, and without
the hook in the config nothing of it runs."""
from functools import partial
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..analysis.mechanisms import ActivationStats, norms_by_stage
from .registration import register

PREFIX = 'mechanisms/'


def loss_scale(runner) -> float:
    """The factor the runner's optimizer wrapper multiplies the loss by before backward
    (AmpOptimWrapper's loss scaler; 1 without one)."""
    scaler = getattr(getattr(runner, 'optim_wrapper', None), 'loss_scaler', None)
    return float(scaler.get_scale()) if hasattr(scaler, 'get_scale') else 1.0


@register(HOOKS)
class MechanismsHook(Hook):
    """Logs per-stage activation variance and gradient norms every `interval` iterations."""

    priority = 'NORMAL'

    def __init__(self, interval: int = 50):
        if type(interval) is not int or interval < 1:
            raise ValueError(f'MechanismsHook: interval must be a whole number >= 1, got '
                             f'{interval!r}')
        self.interval = interval
        self._stats: Optional[ActivationStats] = None
        self._handles, self._weight_squares, self._scale = [], {}, 1.0

    def _add_weight_grad(self, name, grad):
        self._weight_squares[name] = self._weight_squares.get(name, 0.0) + float(
            grad.detach().double().pow(2).sum())

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._scale = loss_scale(runner)  # what this iteration's backward is multiplied by
        self._stats = ActivationStats(model, grads=True, sample_size=0).__enter__()
        self._weight_squares = {}
        self._handles = [p.register_hook(partial(self._add_weight_grad, name))
                         for name, p in model.named_parameters() if p.requires_grad]

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._stats is None:
            return
        stats, self._stats = self._stats, None
        stats.__exit__(None, None, None)
        for handle in self._handles:
            handle.remove()
        self._handles = []
        scalars = {}
        for stage, names in stats.by_stage().items():
            variances = [stats.layers[n].variance for n in names]
            scalars[f'{PREFIX}variance/{stage}'] = sum(variances) / len(variances)
        for kind, squares in (('weights', self._weight_squares),
                              ('activations', stats.grad_squares)):
            scalars.update({f'{PREFIX}grad_norm/{kind}/{stage}': norm / self._scale
                            for stage, norm in norms_by_stage(squares, stats.stages).items()})
        runner.visualizer.add_scalars(scalars, step=runner.iter + 1)

    def after_train(self, runner) -> None:  # a run stopped inside a measured iteration
        if self._stats is not None:
            self._stats.__exit__(None, None, None)
            self._stats = None
        for handle in self._handles:
            handle.remove()
        self._handles = []
