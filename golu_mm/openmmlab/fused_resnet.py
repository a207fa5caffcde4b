"""The Act* ResNets' stem with its BN → GoLU fused, and their forward around it (the blocks are
golu_mm.nn.fused_blocks subclasses: swap.ResNetActCfgMixin)."""
from torch import Tensor, nn

from ..nn.norm_golu import fusable, norm_golu


def run_stem(resnet: nn.Module, x: Tensor) -> Tensor:
    """A ResNet's stem (before the max pool): conv1 → norm1 → relu fused, or a deep stem's
    Sequential with each BatchNorm → GoLU pair fused (mmpretrain's ConvModule stems run as
    they are)."""
    if not resnet.deep_stem:
        return norm_golu(resnet.norm1, resnet.relu, resnet.conv1(x))
    layers = list(resnet.stem)
    i = 0
    while i < len(layers):
        if i + 1 < len(layers) and fusable(layers[i], layers[i + 1], x):
            x, i = norm_golu(layers[i], layers[i + 1], x), i + 2
        else:
            x, i = layers[i](x), i + 1
    return x


def resnet_forward(resnet: nn.Module, x: Tensor) -> tuple:
    """Upstream ResNet.forward (mmdet, mmseg and mmpretrain alike) with the stem of run_stem."""
    x = resnet.maxpool(run_stem(resnet, x))
    outs = []
    for i, layer_name in enumerate(resnet.res_layers):
        x = getattr(resnet, layer_name)(x)
        if i in resnet.out_indices:
            outs.append(x)
    return tuple(outs)
