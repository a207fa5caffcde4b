"""The plots people expect from an activation paper: the functions, their gates and derivatives;
and, for a trained model and an image, the distribution of each activation layer's outputs (the
paper argues GoLU's right-skewed gate lowers their variance)."""
from pathlib import Path
from typing import Dict

import torch
from torch import nn

from ..nn.activations import ACTIVATIONS
from .capture import capture_activations


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


def plot_activation_functions(path, x_range=(-5.0, 3.0)) -> Path:
    """Three panels: f(x), its gate g(x) = f(x)/x, and f'(x), for ReLU/GELU/SiLU/Mish/GoLU."""
    plt = pyplot()
    x = torch.linspace(*x_range, 801, dtype=torch.float64, requires_grad=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, act in ACTIVATIONS.items():
        fn, gate = act.function, act.gate
        y = fn(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        xs = x.detach().numpy()
        style = dict(lw=2.4 if name == 'GoLU' else 1.4, label=name)
        axes[0].plot(xs, y.detach().numpy(), **style)
        axes[1].plot(xs, gate(x.detach()).numpy(), **style)
        axes[2].plot(xs, dy.numpy(), **style)
    for ax, title in zip(axes, ('activation f(x)', 'gate f(x) / x', "derivative f'(x)")):
        ax.set_title(title)
        ax.axhline(0, color='gray', lw=0.5)
        ax.axvline(0, color='gray', lw=0.5)
        ax.grid(alpha=0.3)
    axes[0].legend()
    return save_figure(fig, path)


def activation_outputs(model: nn.Module, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Outputs of every activation module of `model` for one forward pass, by module name
    (a module applied several times, like a ResNet block's relu, gets one entry per call; fused
    BN → GoLU nodes run unfused for it)."""
    outputs: Dict[str, torch.Tensor] = {}

    def keep(name, out):
        key, k = name, 1
        while key in outputs:
            k += 1
            key = f'{name}#{k}'
        outputs[key] = out.detach().flatten().float().cpu()
    with torch.no_grad(), capture_activations(model, keep):
        model(inputs)
    return outputs


def plot_activation_distributions(model: nn.Module, inputs: torch.Tensor, path,
                                  title: str = '') -> Path:
    """Box plot of each activation layer's outputs (in forward order) and their variance."""
    plt = pyplot()
    outputs = activation_outputs(model, inputs)
    names = list(outputs)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 0.28 * len(names)), 6), sharex=True)
    top.boxplot([outputs[n].numpy() for n in names], showfliers=False)
    top.set_ylabel('activation output')
    top.set_title(title or 'activation outputs per layer')
    bottom.plot(range(1, len(names) + 1), [outputs[n].var().item() for n in names], 'o-')
    bottom.set_ylabel('variance')
    bottom.set_yscale('log')
    bottom.set_xticks(range(1, len(names) + 1))
    bottom.set_xticklabels(names, rotation=90, fontsize=6)
    return save_figure(fig, path)
