from torch import Tensor, nn

from ..ops import check_params, golu


class GoLU(nn.Module):
    """Gompertz Linear Unit: x * alpha * exp(-beta * exp(-gamma * x)) (arXiv 2502.03654).

    Args:
        alpha, beta, gamma: gate parameters, finite and non-negative; the paper's GoLU is 1, 1, 1.
        inplace: accepted for compatibility with OpenMMLab's ``ConvModule`` (which passes it) and
            ignored: the backward needs the input, so GoLU always returns a new tensor.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0,
                 inplace: bool = False):
        super().__init__()
        check_params(alpha, beta, gamma)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return golu(x, self.alpha, self.beta, self.gamma)

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every submodule: one clear message on every backend.
        raise RuntimeError('golu_mm.GoLU does not support torch.jit.script (TorchScript is '
                           'deprecated in PyTorch 2); use torch.compile, torch.export, '
                           'torch.onnx.export or torch.jit.trace')

    def extra_repr(self) -> str:
        if (self.alpha, self.beta, self.gamma) == (1.0, 1.0, 1.0):
            return ''
        return f'alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}'
