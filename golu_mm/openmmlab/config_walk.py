"""The one walk over a config tree (the nested dicts and lists an mmengine Config holds)."""
from typing import Iterator, Tuple

__all__ = ['config_items', 'dotted']


def config_items(node, path: tuple = ()) -> Iterator[Tuple[tuple, object, dict]]:
    """(path, value, parent) for every dict item below `node`, parents before their children.
    `path` holds the keys and list indices leading to the item (('model', 'backbone',
    'act_cfg'), ('model', 'roi_head', 'bbox_head', 0, 'type')); `parent` is the dict holding it,
    so that parent[path[-1]] = ... changes the tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,), value, node
            yield from config_items(value, path + (key,))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from config_items(value, path + (index,))


def dotted(path: tuple) -> str:
    """A path as --cfg-options and merge_from_dict write it: 'model.roi_head.bbox_head.0.type'."""
    return '.'.join(str(part) for part in path)
