"""golu_mm's subpackages form layers: ops <- nn <- {data, analysis} <- jobs <- openmmlab, each importing
only those before it (read from the sources' import statements, lazy imports included), so
only openmmlab needs OpenMMLab; and no module of golu_mm, inside a subpackage or across them, is
part of an import cycle."""
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


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def import_graph(package: Path = PACKAGE) -> dict:
    """{module: modules of the package it imports}, over every .py file below `package`; an
    import names the submodule it reaches (`from . import x` with x a file: that file)."""
    paths = {module_name(path, package): path for path in package.rglob('*.py')}
    paths.update({f'{package.name}._C': None})  # the compiled library (setup.py): imports nothing
    graph = {}
    for module, path in paths.items():
        if path is None:
            continue
        is_package = path.name == '__init__.py'
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split('.')
                    base = base[:len(base) - node.level + (1 if is_package else 0)]
                    start = '.'.join(base + ([node.module] if node.module else []))
                else:
                    start = node.module
                targets = [f'{start}.{alias.name}' for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in paths:  # a name in a module: that module
                    target = target.rpartition('.')[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def cycle_in(graph: dict):
    """One import cycle of the graph as a list of modules, or None."""
    state = {}

    def visit(module, stack):
        state[module] = 'open'
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 'open':
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target, stack + [target])
                if found:
                    return found
        state[module] = 'done'
        return None
    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_no_module_is_part_of_an_import_cycle():
    assert cycle_in(import_graph()) is None, ' -> '.join(cycle_in(import_graph()))


def test_the_cycle_finder_sees_a_cycle_inside_a_subpackage(tmp_path):
    package = tmp_path / 'golu_mm' / 'nn'
    package.mkdir(parents=True)
    (package.parent / '__init__.py').write_text('')
    (package / '__init__.py').write_text('from .a import f\n')
    (package / 'a.py').write_text('def f():\n    from .b import g\n')  # lazy: still a cycle
    (package / 'b.py').write_text('from .a import f as g\n')
    graph = import_graph(package.parent)
    assert graph['golu_mm.nn'] == {'golu_mm.nn.a'} and graph['golu_mm.nn.a'] == {'golu_mm.nn.b'}
    assert cycle_in(graph) == ['golu_mm.nn.a', 'golu_mm.nn.b', 'golu_mm.nn.a']
    (package / 'b.py').write_text('import golu_mm.nn.c\n')
    (package / 'c.py').write_text('')
    assert cycle_in(import_graph(package.parent)) is None


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
