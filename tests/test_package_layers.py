"""golu_mm's subpackages form layers: ops <- nn <- {data, analysis} <- jobs <- openmmlab, each importing
only those before it (read from the sources' import statements, lazy imports included), so
there is no import cycle and only openmmlab needs OpenMMLab."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'golu_mm'
LAYERS = {'ops': set(), 'nn': {'ops'}, 'data': set(), 'analysis': {'ops', 'nn'},
          'jobs': {'analysis'}, 'openmmlab': {'ops', 'nn', 'data', 'analysis', 'jobs'}}
OPENMMLAB = ('mmcv', 'mmengine', 'mmdet', 'mmseg', 'mmpretrain')


def imports_of(subpackage: str):
    """(file, imported module) for every import in golu_mm/<subpackage>, relative ones resolved."""
    for path in sorted((PACKAGE / subpackage).glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                yield from ((path.name, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    yield path.name, node.module
                else:  # golu_mm.<subpackage>.<file>: level 1 is the subpackage, 2 golu_mm
                    base = ['golu_mm', subpackage][:3 - node.level]
                    yield path.name, '.'.join(base + ([node.module] if node.module else []))


def test_subpackages_import_only_the_layers_below():
    wrong = []
    for subpackage, allowed in LAYERS.items():
        for name, module in imports_of(subpackage):
            parts = module.split('.')
            if parts[0] == 'golu_mm' and len(parts) > 1 and parts[1] in LAYERS \
                    and parts[1] != subpackage and parts[1] not in allowed:
                wrong.append(f'golu_mm/{subpackage}/{name} imports {module}')
            if parts[0] in OPENMMLAB and subpackage != 'openmmlab':
                wrong.append(f'golu_mm/{subpackage}/{name} imports {module} (OpenMMLab)')
    assert not wrong, wrong


def test_the_reader_sees_imports():
    # the check above is only as good as imports_of: it finds a known import of each kind
    found = set(imports_of('openmmlab'))
    assert ('act_cfg.py', 'golu_mm.nn.fused_blocks') in found  # from ..nn.fused_blocks import
    assert ('apis.py', 'golu_mm.openmmlab.runner') in found  # from .runner import
    assert ('act_cfg.py', 'mmcv.cnn') in found
