"""Every shipped config loads, builds its model, and puts GoLU exactly where it says."""
from pathlib import Path

import pytest
from mmengine import Config
from torch import nn

from golu_mm import GoLU
from golu_mm.openmmlab.apis import build_model, codebase_of

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
ALL = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob('*.py'))


def build(name):
    """(config, model) as the tools build them; building loads no pretrained weights."""
    model, cfg = build_model(str(CONFIGS / name))
    return cfg, model


def activation_kinds(model):
    """{top-level part: set of activation classes} over the model's modules."""
    kinds = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.ReLU, GoLU)):
            kinds.setdefault(name.split('.')[0], set()).add(type(module).__name__)
    return kinds


def test_every_config_is_covered():
    expected = {f'{m}_{v}.py' for m in ('faster_rcnn', 'mask_rcnn', 'deeplabv3')
                for v in ('relu', 'golu', 'golu_whole')}
    assert expected <= set(ALL)


@pytest.mark.parametrize('name', ALL)
def test_config_builds_with_the_declared_activations(name):
    cfg, model = build(name)
    kinds = activation_kinds(model)
    act = cfg.act_cfg['type']
    assert kinds['backbone'] == {act}
    heads = {k: v for k, v in kinds.items() if k != 'backbone'}
    if 'whole' in name:
        assert set().union(*heads.values()) == {act}
        assert ('rpn_head' in heads) == (codebase_of(cfg) == 'mmdet')
    elif act == 'GoLU':  # backbone only: heads stay upstream (a classifier's have none)
        upstream = set() if codebase_of(cfg) == 'mmpretrain' else {'ReLU'}
        assert set().union(*heads.values()) == upstream


def test_golu_config_differs_from_upstream_only_in_the_backbone():
    golu_cfg = Config.fromfile(CONFIGS / 'mask_rcnn_golu.py')
    import mmdet
    upstream = Config.fromfile(Path(mmdet.__file__).parent / '.mim' / 'configs' / 'mask_rcnn' /
                               'mask-rcnn_r50_fpn_1x_coco.py')
    golu_backbone = dict(golu_cfg.model.backbone)
    relu_backbone = dict(upstream.model.backbone)
    assert golu_backbone.pop('act_cfg') == dict(type='GoLU')
    assert golu_backbone.pop('fuse_bn_golu') is True  # golu_mm's switch, named in the config
    assert golu_backbone.pop('type') == 'ActResNet' and relu_backbone.pop('type') == 'ResNet'
    assert unscoped(golu_backbone) == unscoped(relu_backbone)
    for key in ('neck', 'rpn_head', 'roi_head', 'train_cfg', 'test_cfg'):
        assert unscoped(golu_cfg.model[key]) == unscoped(upstream.model[key]), key
    for key in ('train_dataloader', 'val_evaluator', 'optim_wrapper', 'param_scheduler'):
        assert unscoped(golu_cfg[key]) == unscoped(upstream[key]), key


def unscoped(node):
    """A config tree without the `_scope_` keys that mmdet:: inheritance adds."""
    if isinstance(node, dict):
        return {k: unscoped(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return [unscoped(v) for v in node]
    return node


@pytest.mark.slow  # each runs an upstream tool in a subprocess
@pytest.mark.parametrize('name,codebase', [('mask_rcnn_golu.py', 'mmdet'),
                                           ('deeplabv3_golu.py', 'mmseg'),
                                           ('pretrain/resnet50_golu_in1k.py', 'mmpretrain')])
def test_config_works_without_golu_mm_tools(name, codebase):
    """As mmdet's / mmseg's / mmpretrain's own tools/train.py load it: custom_imports brings in golu_mm's
    adapters (nothing imports golu_mm beforehand) and the model builds with GoLU."""
    code = f'''
import sys
from mmengine import Config
cfg = Config.fromfile("configs/{name}")
assert "golu_mm.openmmlab.{codebase}_models" in sys.modules
from {codebase}.registry import MODELS
from {codebase}.utils import register_all_modules
register_all_modules()
model = MODELS.build(cfg.model)
print(sorted({{type(m).__name__ for m in model.backbone.modules()
               if type(m).__name__ in ("ReLU", "GoLU")}}))
'''
    import subprocess
    import sys
    result = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True,
                            text=True, timeout=300, cwd=CONFIGS.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "['GoLU']"
