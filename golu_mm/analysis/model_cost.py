"""What an activation costs a whole model, as ratios to ReLU measured in one process: the
activation memory a training step saves for backward and the step's time.

Saved memory is counted as the bytes of the unique storages autograd saves that are not the
model's parameters or buffers (a conv saves its input, an in-place ReLU its output, which is also
the next conv's input: one storage). Only torch is needed: this runs on a bare GPU box
(tools/benchmark_model.py --torchvision).
"""
from typing import Callable, Dict, Tuple

import torch
from torch import nn

from ..nn import GoLU
from ..nn.activations import ACTIVATIONS, GoLUFormula
from .timing import interleaved_medians


# The table's modules, and two GoLU variants: 'GoLU' runs BN -> GoLU fused where the model allows
# it (Act* backbones, fuse_resnet), 'GoLU-unfused' the same modules one after the other,
# 'GoLU-formula' the formula in torch ops (what inductor fuses by itself; --compile).
MODULES: Dict[str, Callable[[], nn.Module]] = {
    **{name: act.module for name, act in ACTIVATIONS.items()},
    'GoLU-unfused': GoLU, 'GoLU-formula': GoLUFormula}
VARIANTS = ('-unfused', '-formula')  # run with GoLU modules, then unfused or swapped


def saved_activation_bytes(model: nn.Module, step: Callable[[], torch.Tensor]) -> int:
    """Bytes of the non-parameter storages autograd saves while `step()` computes a loss."""
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    saved: Dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = step()
    del loss
    return sum(saved.values())


def train_step(model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]):
    """A closure: forward, loss, backward (gradients cleared first)."""
    def step():
        model.zero_grad(set_to_none=True)
        value = loss(model)
        value.backward()
        return value
    return step


def compare(cases: Dict[str, Tuple[nn.Module, Callable, Callable]], steps: int = 10,
            warmup: int = 2) -> Dict[str, dict]:
    """cases: activation -> (model, loss(model), infer(model)). For each: the activation memory
    saved for backward, the median train-step time (train mode, `loss`) and inference time (eval
    mode, no grad, `infer`), the cases taking turns step by step in this process; and each as a
    ratio to the first case's."""
    results = {}
    for act, (model, loss, _) in cases.items():
        model.train()
        results[act] = {'saved_bytes': saved_activation_bytes(model, lambda: loss(model))}
    train = interleaved_medians({act: train_step(model, loss)
                                 for act, (model, loss, _) in cases.items()}, steps, warmup)
    for model, _, _ in cases.values():
        model.eval()
    with torch.no_grad():
        inference = interleaved_medians({act: (lambda m=model, f=infer: f(m))
                                         for act, (model, _, infer) in cases.items()},
                                        steps, warmup)
    base = next(iter(cases))
    for act, row in results.items():
        row.update(train_s=train[act], inference_s=inference[act])
    for row in results.values():
        for key in ('saved_bytes', 'train_s', 'inference_s'):
            row[f'{key}_ratio'] = row[key] / results[base][key] if results[base][key] else \
                float('nan')
    return results


def table(results: Dict[str, dict], title: str) -> str:
    """The comparison as a markdown table (ratios to the first activation)."""
    first = next(iter(results))
    lines = [f'{title} (ratios to {first}, same process)', '',
             '| activation | saved for backward | ratio | train step | ratio | inference | ratio |',
             '|---|---|---|---|---|---|---|']
    for act, r in results.items():
        lines.append(f'| {act} | {r["saved_bytes"] / 2 ** 20:.1f} MiB | '
                     f'{r["saved_bytes_ratio"]:.3f} | {r["train_s"] * 1e3:.1f} ms | '
                     f'{r["train_s_ratio"]:.3f} | {r["inference_s"] * 1e3:.1f} ms | '
                     f'{r["inference_s_ratio"]:.3f} |')
    return '\n'.join(lines)
