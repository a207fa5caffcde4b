"""Where `act_cfg=dict(type='GoLU')` reaches in every backbone of the installed mmdet, mmseg and
mmpretrain: each backbone is built with GoLU (golu_mm's Act* class where upstream hard-codes
ReLU, else upstream's own act_cfg) and its activations counted (activation_record.act_cfg_reach).
tools/backbone_table.py writes the result to docs/backbones.md; a test regenerates it."""
import importlib
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.registry import DefaultScope
from torch import nn

from .activation_record import act_cfg_reach
from .act_cfg import ResNetActCfgMixin
from .config_options import accepted_arguments

SCOPES = ('mmdet', 'mmseg', 'mmpretrain')
ADAPTERS = {'mmdet': 'mmdet_models', 'mmseg': 'mmseg_models', 'mmpretrain': 'mmpretrain_models'}
GOLU = dict(type='GoLU')
_HRNET = dict(extra=dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,),
                num_channels=(16,)),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                num_channels=(8, 16)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                num_channels=(8, 16, 32)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                num_channels=(8, 16, 32, 64))))
# The smallest arguments each backbone needs to be built (the others build with defaults).
ARGS: Dict[str, Dict[str, dict]] = {
    'mmdet': {
        'RegNet': dict(arch='regnetx_400mf'), 'ResNet': dict(depth=18),
        'ResNetV1d': dict(depth=18), 'ResNeXt': dict(depth=50), 'SSDVGG': dict(depth=16),
        'HRNet': _HRNET, 'Res2Net': dict(depth=50), 'DetectoRS_ResNet': dict(depth=50),
        'DetectoRS_ResNeXt': dict(depth=50), 'ResNeSt': dict(depth=50),
        'TridentResNet': dict(depth=50, num_branch=3, test_branch_idx=1, strides=(1, 2, 2),
                              dilations=(1, 1, 1), trident_dilations=(1, 2, 3), num_stages=3,
                              out_indices=(2,))},
    'mmseg': {
        'ResNet': dict(depth=18), 'ResNetV1c': dict(depth=18), 'ResNetV1d': dict(depth=18),
        'ResNeXt': dict(depth=50), 'HRNet': _HRNET, 'ResNeSt': dict(depth=50),
        'BiSeNetV1': dict(backbone_cfg=dict(type='ResNet', depth=18)),
        'ICNet': dict(backbone_cfg=dict(type='ResNetV1c', depth=18)),
        'STDCNet': dict(stdc_type='STDCNet1', in_channels=3, channels=(32, 64, 256, 512, 1024),
                        bottleneck_type='cat', num_convs=4, norm_cfg=dict(type='BN')),
        'STDCContextPathNet': dict(backbone_cfg=dict(
            type='STDCNet', stdc_type='STDCNet1', in_channels=3,
            channels=(32, 64, 256, 512, 1024), bottleneck_type='cat', num_convs=4,
            norm_cfg=dict(type='BN')))},
    'mmpretrain': {
        'VGG': dict(depth=11), 'RegNet': dict(arch='regnetx_400mf'), 'ResNet': dict(depth=18),
        'ResNeXt': dict(depth=50), 'ResNetV1d': dict(depth=18), 'ResNetV1c': dict(depth=18),
        'ResNeSt': dict(depth=50), 'ResNet_CIFAR': dict(depth=18), 'SEResNet': dict(depth=50),
        'SEResNeXt': dict(depth=50), 'Res2Net': dict(depth=50), 'RepVGG': dict(arch='A0'),
        'PCPVT': dict(arch='small'), 'SVT': dict(arch='small'), 'CSPDarkNet': dict(depth=53),
        'CSPResNet': dict(depth=50), 'CSPResNeXt': dict(depth=50), 'RepLKNet': dict(arch='31B'),
        'RepMLPNet': dict(arch='B'), 'MobileOne': dict(arch='s0'), 'LeViT': dict(arch='128s'),
        'Vig': dict(arch='tiny'), 'PyramidVig': dict(arch='tiny'),
        'SparseResNet': dict(depth=50), 'HRNet': dict(arch='w18'),
        'InceptionV3': dict(aux_logits=False)},
}


@dataclass
class Row:
    scope: str
    backbone: str
    use: Optional[str]  # the class to name in a config ('—' where act_cfg cannot be given)
    reach: str  # 'all', 'part: GoLU at N of M', 'none (...)', or why it was not built
    fused: bool


def backbone_classes(scope: str) -> Dict[str, type]:
    """The registered backbones `{scope}.models.backbones` exports, by name (a base class that
    is not registered, such as mmpretrain's CSPNet, cannot be named in a config)."""
    module = importlib.import_module(f'{scope}.models.backbones')
    registry = importlib.import_module(f'{scope}.registry').MODELS
    return {n: getattr(module, n) for n in getattr(module, '__all__', dir(module))
            if registry.module_dict.get(n) is getattr(module, n, None)
            and issubclass(getattr(module, n), nn.Module)}


def built_backbones(scope: str) -> Iterator[Tuple[str, Optional[str], object, bool]]:
    """(name, class to use, the backbone built with act_cfg=GoLU, fused) for every backbone of
    `scope`, in the order the codebase exports them; the class is None for one that takes no
    act_cfg, and the backbone is the exception where it could not be built here."""
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    importlib.import_module(f'golu_mm.openmmlab.{ADAPTERS[scope]}')
    registry = importlib.import_module(f'{scope}.registry').MODELS
    for name, cls in backbone_classes(scope).items():
        ours = registry.module_dict.get(f'Act{name}')
        ours = ours if ours is not None and ours.__module__.startswith('golu_mm.') else None
        fused = ours is not None and issubclass(ours, ResNetActCfgMixin)
        if ours is not None:
            use = ours.__name__
        elif 'act_cfg' in accepted_arguments(cls, scope):
            use = name
        else:
            yield name, None, None, False
            continue
        try:
            with DefaultScope.overwrite_default_scope(scope):  # for its nested builds
                yield name, use, registry.build(backbone_cfg(scope, name, use)), fused
        except Exception as exc:  # noqa: BLE001 (a backbone that needs what is not installed)
            yield name, use, exc, False


def backbone_cfg(scope: str, name: str, use: str) -> dict:
    return dict(type=use, act_cfg=GOLU, **ARGS.get(scope, {}).get(name, {}))


def survey(scope: str) -> List[Row]:
    """One Row per backbone of `scope`, in the order the codebase exports them."""
    rows = []
    for name, use, built, fused in built_backbones(scope):
        if use is None:
            rows.append(Row(scope, name, None, 'none (takes no act_cfg)', False))
            continue
        if isinstance(built, Exception):
            rows.append(Row(scope, name, use, f'not built here ({type(built).__name__}: '
                            f'{str(built).splitlines()[0][:60]})', False))
            continue
        holder = nn.Module()
        holder.backbone = built
        reach = act_cfg_reach(holder, dict(backbone=backbone_cfg(scope, name, use)))[0]
        if not reach.held:
            kept = sorted({o.split()[0] for o in reach.others})
            text = f'none: ignores act_cfg (runs {", ".join(kept) or "no activation"})'
        elif reach.others:
            kept = sorted({o.split()[0] for o in reach.others})
            text = (f'part: GoLU at {reach.held} of {reach.held + len(reach.others)} '
                    f'({", ".join(kept)} kept)')
        else:
            text = 'all'
        rows.append(Row(scope, name, use, text, fused))
    return rows


def markdown(rows: List[Row], versions: Dict[str, str]) -> str:
    """docs/backbones.md from the survey's rows and the versions it ran on."""
    lines = ['# Where act_cfg reaches: every backbone of mmdet, mmseg and mmpretrain', '',
             'Generated by `python tools/backbone_table.py` (a test regenerates it and fails '
             'when it differs) on ' + ', '.join(f'{k} {v}' for k, v in versions.items()) + '.',
             'Each backbone is built with `act_cfg=dict(type=\'GoLU\')` through the class in the '
             '"use" column (golu_mm\'s `Act*` where upstream hard-codes ReLU: import '
             '`golu_mm.openmmlab.mmdet_models`, `mmseg_models` or `mmpretrain_models` in '
             '`custom_imports`) and its activation modules counted: "all" is GoLU at every '
             'activation; "part" names what keeps another activation (SE gates, attention, '
             'activations upstream builds without act_cfg); "none" is a backbone that takes no '
             'act_cfg, or ignores it (golu_mm\'s tools refuse to train it with one: '
             '[openmmlab.md](openmmlab.md#where-act_cfg-reaches)). "fused": BN → GoLU runs '
             'as one node (the ResNets).', '']
    for scope in SCOPES:
        lines += [f'## {scope}', '', '| backbone | use | GoLU reaches | fused |',
                  '|---|---|---|---|']
        lines += [f'| {r.backbone} | {"`" + r.use + "`" if r.use else "—"} | {r.reach} | '
                  f'{"yes" if r.fused else ""} |' for r in rows if r.scope == scope]
        lines.append('')
    return '\n'.join(lines)


def installed_versions() -> Dict[str, str]:
    return {scope: importlib.import_module(scope).__version__ for scope in SCOPES}
