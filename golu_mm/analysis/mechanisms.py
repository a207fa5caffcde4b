"""The paper's mechanisms, measured on any torch model and a loss over fixed batches:

- activation statistics per activation layer (mean, variance, skewness, the fraction of outputs
  near zero and of exact zeros: ReLU's inactive units), streamed in float64, with a sample of
  values for density plots (the paper's Figures 3-4);
- gradient flow: the norm of the loss's gradient per stage, for the weights and for the
  activation outputs;
- the loss landscape (the paper's Figure 5, after Li et al. 2018, "Visualizing the Loss Landscape
  of Neural Nets"): the loss along filter-normalised random directions around the weights, and
  a sharpness number, the mean loss rise at a normalised radius;
- curvature without a random direction (as PyHessian computes it): the Hessian's top eigenvalue
  (power iteration) and its trace (Hutchinson's estimator), from Hessian-vector products by
  double backward (GoLU has one; the model runs unfused).

The model is measured as it is (the analysis uses eval mode: batch norm uses its running
statistics, which no direction moves; biases and batch norm parameters are not perturbed, as Li
et al. prescribe), on its own device, and is left exactly as it was: parameters and buffers
restored (a model in train mode updates batch norm's running statistics at every forward),
gradients cleared."""
import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .capture import Stages, capture_activations

__all__ = ['Moments', 'ActivationStats', 'norms_by_stage', 'gradient_flow',
           'filter_normalised_direction', 'fixed_randomness', 'loss_landscape', 'sharpness',
           'hessian_vector_product', 'top_eigenvalue', 'hessian_trace', 'Estimate']

LossFn = Callable[[nn.Module, object], Tensor]  # (model, batch) -> scalar loss


@dataclass
class Moments:
    """Streaming moments of the values added (float64, merged exactly per chunk: Chan et al.),
    the count of values with |v| < near_zero and of exact zeros, and a seeded random sample of
    at most `sample_size` values (a fixed share of each chunk) for density plots."""
    near_zero: float = 1e-2
    sample_size: int = 2048
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    near_zero_count: int = 0
    zero_count: int = 0
    sample: List[float] = field(default_factory=list)
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))

    def add(self, values: Tensor) -> None:
        v = values.detach().flatten().to('cpu', torch.float64)
        n = v.numel()
        if n == 0:
            return
        mean = v.mean().item()
        d = v - mean
        m2, m3 = (d * d).sum().item(), (d * d * d).sum().item()
        na, nb = self.count, n
        total = na + nb
        delta = mean - self.mean
        self.m3 += m3 + delta ** 3 * na * nb * (na - nb) / total ** 2 \
            + 3 * delta * (na * m2 - nb * self.m2) / total
        self.m2 += m2 + delta ** 2 * na * nb / total
        self.mean += delta * nb / total
        self.count = total
        self.near_zero_count += int((v.abs() < self.near_zero).sum())
        self.zero_count += int((v == 0).sum())
        room = self.sample_size - len(self.sample)
        if room > 0:
            take = min(room, max(1, self.sample_size // 8), n)
            self.sample += v[torch.randperm(n, generator=self.generator)[:take]].tolist()

    @property
    def variance(self) -> float:
        """The population variance (divided by the count)."""
        return self.m2 / self.count if self.count else math.nan

    @property
    def skewness(self) -> float:
        """The population skewness E[(v - mean)^3] / variance^1.5 (0 without spread)."""
        if not self.count or self.m2 == 0:
            return 0.0 if self.count else math.nan
        return (self.m3 / self.count) / self.variance ** 1.5

    def summary(self) -> Dict[str, float]:
        return {'mean': self.mean if self.count else math.nan, 'variance': self.variance,
                'skewness': self.skewness,
                'near_zero': self.near_zero_count / self.count if self.count else math.nan,
                'inactive': self.zero_count / self.count if self.count else math.nan}


class ActivationStats:
    """Within it (a context manager), the moments of every activation layer's outputs, by module
    name in forward order, and with `grads` the squared norm of the loss's gradient with respect
    to them (a backward pass must follow the forward). The model runs unfused while recorded."""

    def __init__(self, model: nn.Module, grads: bool = False, near_zero: float = 1e-2,
                 sample_size: int = 2048):
        self.model, self.grads = model, grads
        self.stages = Stages(model)
        self.layers: Dict[str, Moments] = {}
        self.grad_squares: Dict[str, float] = {}
        self._new = lambda: Moments(near_zero=near_zero, sample_size=sample_size)
        self._stack = contextlib.ExitStack()

    def _record(self, name: str, output: Tensor) -> None:
        self.layers.setdefault(name, self._new()).add(output)
        if self.grads and output.requires_grad:
            def add_grad(grad, name=name):
                self.grad_squares[name] = self.grad_squares.get(name, 0.0) + float(
                    grad.detach().double().pow(2).sum())
            output.register_hook(add_grad)

    def __enter__(self) -> 'ActivationStats':
        self._stack.enter_context(capture_activations(self.model, self._record))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def by_stage(self) -> Dict[str, List[str]]:
        """{stage: its layer names in forward order}."""
        stages: Dict[str, List[str]] = {}
        for name in self.layers:
            stages.setdefault(self.stages.of(name), []).append(name)
        return stages


def norms_by_stage(squares: Dict[str, float], stages: Stages) -> Dict[str, float]:
    """{stage: sqrt of the sum of its names' squared norms} from {name: squared norm}."""
    by_stage: Dict[str, float] = {}
    for name, value in squares.items():
        by_stage[stages.of(name)] = by_stage.get(stages.of(name), 0.0) + value
    return {stage: math.sqrt(value) for stage, value in by_stage.items()}


def gradient_flow(model: nn.Module, loss_fn: LossFn, batches: Sequence,
                  stats: Optional[ActivationStats] = None) -> Dict[str, Dict[str, float]]:
    """Per stage, the L2 norm of the loss's gradient with respect to the stage's weights
    ('weights') and to its activation outputs ('activations'), each averaged over the batches
    (one backward pass per batch); None where the stage has none (a neck or a head that applies
    a functional activation has weights and no activation module). With `stats` (an ActivationStats made with grads=True and not
    yet entered) the activation statistics of the same passes are recorded too. The model's
    gradients are cleared before and after."""
    if not batches:
        raise ValueError('gradient_flow needs at least one batch')
    stats = stats if stats is not None else ActivationStats(model, grads=True, sample_size=0)
    if not stats.grads:
        raise ValueError('gradient_flow needs an ActivationStats made with grads=True')
    weights: Dict[str, List[float]] = {}
    activations: Dict[str, List[float]] = {}
    model.zero_grad(set_to_none=True)
    try:
        with stats, _restored(model):
            for batch in batches:
                stats.grad_squares.clear()
                loss_fn(model, batch).backward()
                squares = {name: float(p.grad.detach().double().pow(2).sum())
                           for name, p in model.named_parameters() if p.grad is not None}
                for stage, norm in norms_by_stage(squares, stats.stages).items():
                    weights.setdefault(stage, []).append(norm)
                for stage, norm in norms_by_stage(stats.grad_squares, stats.stages).items():
                    activations.setdefault(stage, []).append(norm)
                model.zero_grad(set_to_none=True)
    finally:
        model.zero_grad(set_to_none=True)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return {stage: {'weights': mean(weights[stage]) if stage in weights else None,
                    'activations': mean(activations[stage]) if stage in activations else None}
            for stage in dict.fromkeys([*weights, *activations])}


def filter_normalised_direction(model: nn.Module, seed: int) -> Dict[str, Tensor]:
    """A random direction in weight space, one tensor per parameter (by name), drawn from a
    generator seeded with `seed` in named_parameters order (so models of one architecture get
    the same draw), then filter-normalised (Li et al.): each filter (a slice along the first
    dimension) scaled to the norm of the weights' filter; zero for biases and norm parameters
    (parameters of at most one dimension). Drawn and scaled on the CPU in float64 (the same
    numbers whatever the device), then put on each parameter's device and dtype."""
    generator = torch.Generator().manual_seed(seed)
    directions = {}
    for name, p in model.named_parameters():
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64)
        if p.dim() <= 1:
            d.zero_()
        else:
            w = p.detach().to('cpu', torch.float64).flatten(1).norm(dim=1)
            norm = d.flatten(1).norm(dim=1)
            d = d * (w / torch.where(norm > 0, norm, torch.ones_like(norm))).view(
                -1, *([1] * (p.dim() - 1)))
        directions[name] = d.to(p.device, p.dtype)
    return directions


def fixed_randomness(loss_fn: LossFn, seed: int = 0) -> LossFn:
    """loss_fn evaluated with the same random state at every call: torch's (CPU and every CUDA
    device), Python's and numpy's generators seeded with `seed` inside a copy of their state,
    which is given back afterwards. Sampling inside a loss (a detector's proposal and RoI
    samplers, dropout, batch augments) is then the same at every landscape point, in every
    gradient pass and for every run, instead of noise of the size of the effects measured."""
    import random

    import numpy as np

    def fixed(model: nn.Module, batch) -> Tensor:
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        python, numpy = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed)
            try:
                return loss_fn(model, batch)
            finally:
                random.setstate(python)
                np.random.set_state(numpy)
    return fixed


@contextlib.contextmanager
def _restored(model: nn.Module) -> Iterator[Dict[str, Tensor]]:
    """Within it the model may change; after it, its parameters and buffers (batch norm's running
    statistics, which a model in train mode updates at every forward) are as they were. Yields
    the parameters as they were."""
    saved = {name: p.detach().clone() for name, p in model.named_parameters()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        yield saved
    finally:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(saved[name])
            for name, b in model.named_buffers():
                b.copy_(buffers[name])


def loss_landscape(model: nn.Module, loss_fn: LossFn, batches: Sequence,
                   directions: Sequence[Dict[str, Tensor]],
                   points: Sequence[Tuple[float, ...]]) -> List[float]:
    """The mean loss over `batches` at each point w + sum_k point[k] * directions[k] (one
    coefficient per direction), in order; no gradients; the weights restored exactly after."""
    if not batches:
        raise ValueError('loss_landscape needs at least one batch')
    losses = []
    with _restored(model) as origin, torch.no_grad():
        for point in points:
            if len(point) != len(directions):
                raise ValueError(f'point {point} has {len(point)} coordinates for '
                                 f'{len(directions)} directions')
            for name, p in model.named_parameters():
                moved = origin[name].double() + sum(c * d[name].double()
                                                    for c, d in zip(point, directions))
                p.copy_(moved.to(p.dtype))
            losses.append(sum(float(loss_fn(model, b)) for b in batches) / len(batches))
    return losses


def sharpness(coefficients: Sequence[float], losses: Sequence[float], radius: float) -> float:
    """The mean loss rise from the centre to ±radius along a 1-D landscape: (L(r) + L(-r)) / 2
    - L(0). The coefficients must hold 0 and ±radius."""
    at = {round(c, 12): loss for c, loss in zip(coefficients, losses)}
    missing = [c for c in (0.0, radius, -radius) if round(c, 12) not in at]
    if missing:
        raise ValueError(f'the landscape has no point at {missing} (coefficients '
                         f'{list(coefficients)})')
    return (at[round(radius, 12)] + at[round(-radius, 12)]) / 2 - at[0.0]


def _weights(model: nn.Module) -> List[Tuple[str, Tensor]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def hessian_vector_product(model: nn.Module, loss_fn: LossFn, batches: Sequence,
                           vector: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """H v, H the Hessian of the mean loss over `batches` with respect to the parameters that
    require gradients, v one tensor per parameter name (double backward; the model runs
    unfused, gradients are not accumulated into .grad)."""
    from ..nn import unfused
    named = _weights(model)
    params = [p for _, p in named]
    product = {name: torch.zeros_like(p) for name, p in named}
    with unfused(model), _restored(model):
        for batch in batches:
            grads = torch.autograd.grad(loss_fn(model, batch), params, create_graph=True,
                                        allow_unused=True)
            dot = sum((g * vector[name].to(g)).sum() for (name, _), g in zip(named, grads)
                      if g is not None)
            if not torch.is_tensor(dot) or not dot.requires_grad:
                continue  # the loss does not depend on these weights twice over
            for (name, _), hv in zip(named, torch.autograd.grad(dot, params, allow_unused=True)):
                if hv is not None:
                    product[name] += hv.detach() / len(batches)
    return product


def _dot(a: Dict[str, Tensor], b: Dict[str, Tensor]) -> float:
    return sum(float((a[k].double() * b[k].double()).sum()) for k in a)


def _random_vector(model: nn.Module, generator: torch.Generator, rademacher: bool
                   ) -> Dict[str, Tensor]:
    """One tensor per weight, drawn on the CPU from `generator` (the same numbers on every
    device), then put on the parameter's device and dtype."""
    vector = {}
    for name, p in _weights(model):
        if rademacher:
            v = torch.randint(0, 2, p.shape, generator=generator, dtype=torch.float64) * 2 - 1
        else:
            v = torch.randn(p.shape, generator=generator, dtype=torch.float64)
        vector[name] = v.to(p.device, p.dtype)
    return vector


@dataclass
class Estimate:
    """An iterative estimate: its value, the iterations (or samples) it took, and whether it met
    its tolerance before the bound."""
    value: float
    iterations: int
    converged: bool


def top_eigenvalue(model: nn.Module, loss_fn: LossFn, batches: Sequence, iterations: int = 20,
                   tolerance: float = 1e-3, seed: int = 0) -> Estimate:
    """The Hessian's eigenvalue of largest magnitude (its top one at a minimum), by power
    iteration on Hessian-vector products from a seeded random start, stopped when it changes by
    less than `tolerance` (relative) or after `iterations` products."""
    if iterations < 1 or tolerance <= 0:
        raise ValueError('top_eigenvalue needs iterations >= 1 and tolerance > 0')
    vector = _random_vector(model, torch.Generator().manual_seed(seed), rademacher=False)
    norm = math.sqrt(_dot(vector, vector))
    vector = {k: v / norm for k, v in vector.items()}
    value = None
    for step in range(1, iterations + 1):
        product = hessian_vector_product(model, loss_fn, batches, vector)
        new = _dot(vector, product)
        size = math.sqrt(_dot(product, product))
        if size == 0:
            return Estimate(0.0, step, True)
        vector = {k: v / size for k, v in product.items()}
        if value is not None and abs(new - value) <= tolerance * max(abs(value), 1e-12):
            return Estimate(new, step, True)
        value = new
    return Estimate(value, iterations, False)


MIN_TRACE_SAMPLES = 10


def hessian_trace(model: nn.Module, loss_fn: LossFn, batches: Sequence, samples: int = 50,
                  tolerance: float = 0.05, seed: int = 0) -> Estimate:
    """The Hessian's trace, Hutchinson's estimator: the mean of v.Hv over seeded Rademacher
    vectors v, stopped once its standard error is at most `tolerance` times its magnitude (from
    the MIN_TRACE_SAMPLES-th vector on: fewer give no trustworthy error) or after `samples`
    vectors."""
    if samples < 1 or tolerance <= 0:
        raise ValueError('hessian_trace needs samples >= 1 and tolerance > 0')
    generator = torch.Generator().manual_seed(seed)
    values: List[float] = []
    for step in range(1, samples + 1):
        vector = _random_vector(model, generator, rademacher=True)
        values.append(_dot(vector, hessian_vector_product(model, loss_fn, batches, vector)))
        mean = sum(values) / step
        if step >= MIN_TRACE_SAMPLES:
            spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (step - 1))
            if spread / math.sqrt(step) <= tolerance * abs(mean):
                return Estimate(mean, step, True)
    return Estimate(sum(values) / len(values), samples, False)
