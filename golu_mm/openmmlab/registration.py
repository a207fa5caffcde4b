"""Registering golu_mm's classes with mmengine's registries without ever replacing another's:
the same class again (a second import, or a reload of its module) is a no-op, while a
different class already registered under the name (a user's or another project's `GoLU` or
`ActResNet`) is an error naming both, where `register_module(force=True)` would silently win."""
from typing import Optional


class RegistrationClash(KeyError):
    """A name in an mmengine registry that another class holds already."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0])


def _where(cls) -> str:
    return f'{cls.__module__}.{cls.__qualname__}'


def register(registry, name: Optional[str] = None, module: Optional[type] = None):
    """registry.register_module for golu_mm: as a decorator (`@register(MODELS)`) or a call
    with `module`. A class under the same name from the same module and qualified name (the
    same definition, re-imported or reloaded) takes its place; any other raises
    RegistrationClash naming both."""
    def add(cls):
        key = name or cls.__name__
        held = registry.module_dict.get(key)
        if held is not None and held is not cls and _where(held) != _where(cls):
            raise RegistrationClash(
                f'{registry.name} registry already holds {key!r} ({_where(held)}); golu_mm '
                f'would register {_where(cls)} under the same name. Rename one of them, or '
                'import golu_mm.openmmlab before the other project if golu_mm\'s is wanted')
        registry.register_module(name=key, module=cls, force=held is not None)
        return cls
    return add if module is None else add(module)
