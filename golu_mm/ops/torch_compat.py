"""Every torch API golu_mm uses that is private or newer than torch 2.1, in one place. golu_mm
supports torch 2.1 up to the pinned 2.14; each integration is switched on by what the running
torch has, never by its version string. tests/ops/test_torch_compat.py checks each private hook,
so that a torch release that changes one fails loudly there."""
import inspect
import sys

import torch

__all__ = ['HAS_REGISTER_VMAP', 'COMPILE_WITHOUT_GRAPH_BREAKS', 'HAS_OPCHECK', 'is_compiling', 'functorch_active', 'has_kernel',
           'mark_constant_result', 'register_fake', 'register_vmap', 'register_decomposition',
           'register_inductor_decomposition', 'opaque_to_compile', 'missing_feature',
           'has_dynamo_onnx_export', 'has_export_decompositions']

# torch.library.register_vmap (torch >= 2.4): batching rules for custom operators.
HAS_REGISTER_VMAP = hasattr(torch.library, 'register_vmap')
# torch.compile traces golu() into one graph (fake kernels through register_fake, a public
# is_compiling): torch >= 2.4. Older torch compiles models with GoLU through graph breaks
# (golu runs eagerly there: correct, less fused).
COMPILE_WITHOUT_GRAPH_BREAKS = (hasattr(torch.library, 'register_fake')
                                and hasattr(torch.compiler, 'is_compiling'))
# torch.library.opcheck (torch >= 2.4): the operator's registrations checked by torch.
HAS_OPCHECK = hasattr(torch.library, 'opcheck')

# Which torch first has each optional feature (for the messages where one is missing).
FEATURE_SINCE = {'torch.library.register_vmap': '2.4', 'torch.library.register_fake': '2.4',
                 'torch.library.opcheck': '2.4', 'torch.compile without graph breaks': '2.4',
                 'torch.serialization.add_safe_globals': '2.4',
                 'torch.onnx.export(dynamo=True)': '2.5', 'torch.export.Dim': '2.2',
                 'torch.export.ExportedProgram.run_decompositions': '2.2'}


def has_dynamo_onnx_export() -> bool:
    """torch.onnx.export(dynamo=True) (torch >= 2.5); before, only the TorchScript exporter.
    A function, not a constant: reading torch.onnx's signature at `import golu_mm` costs time."""
    return 'dynamo' in inspect.signature(torch.onnx.export).parameters


def has_export_decompositions() -> bool:
    """torch.export.export and ExportedProgram.run_decompositions (torch >= 2.2)."""
    export = getattr(torch, 'export', None)
    return hasattr(getattr(export, 'ExportedProgram', None), 'run_decompositions')


def missing_feature(feature: str, needed_for: str) -> str:
    """One message naming the feature, what needs it, and the torch that has it."""
    return (f'{needed_for} needs {feature}, which torch {torch.__version__} does not have '
            f'(torch >= {FEATURE_SINCE[feature]} has it)')


def is_compiling() -> bool:
    """Whether torch.compile's tracer is running this code (torch.compiler.is_compiling from
    torch 2.3; before, dynamo's own, and only when dynamo was imported at all: `import torch`
    does not import it, and nothing compiles without it)."""
    public = getattr(torch.compiler, 'is_compiling', None)
    if public is not None:
        return public()
    dynamo = sys.modules.get('torch._dynamo')
    return dynamo is not None and dynamo.is_compiling()


def functorch_active() -> bool:
    """Whether a torch.func transform (grad, jvp, vmap, ...) is active. Private:
    torch._C._functorch.peek_interpreter_stack."""
    return torch._C._functorch.peek_interpreter_stack() is not None


def has_kernel(qualname: str, dispatch_key: str) -> bool:
    """Whether operator `qualname` has a kernel for `dispatch_key` ('CPU', 'CUDA'). Private:
    torch._C._dispatch_has_kernel_for_dispatch_key."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(qualname, dispatch_key)


def mark_constant_result(fn):
    """fn's result is a constant to torch.compile's tracer: what torch.compiler
    .assume_constant_result sets (private attribute), set directly because that API imports
    dynamo (about 1 s) and `import golu_mm` must stay light."""
    fn._dynamo_marked_constant = True
    return fn


_META_LIBRARIES = {}


def register_fake(qualname: str):
    """Decorator registering an operator's fake (shape) kernel: torch.library.register_fake (2.4+),
    impl_abstract (2.2, 2.3), or on torch 2.1 a Meta kernel (fake tensors fall back to it)."""
    if hasattr(torch.library, 'register_fake'):
        return torch.library.register_fake(qualname)
    if hasattr(torch.library, 'impl_abstract'):
        return torch.library.impl_abstract(qualname)
    namespace, name = qualname.split('::')
    library = _META_LIBRARIES.setdefault(namespace, torch.library.Library(namespace, 'IMPL'))

    def register(fn):
        library.impl(name, fn, 'Meta')
        return fn
    return register


def register_vmap(qualname: str):
    """torch.library.register_vmap (2.4+); without it, None: golu() then runs the reference under
    vmap (standard ops, which torch batches itself)."""
    return torch.library.register_vmap(qualname) if HAS_REGISTER_VMAP else None


def opaque_to_compile(fn):
    """fn as torch.compile's tracer should see it: traced into the graph where torch can
    (COMPILE_WITHOUT_GRAPH_BREAKS); on older torch run eagerly behind a graph break (the same
    result: dynamo 2.1 fails internally when it traces golu's Python). That needs dynamo at
    import: about 0.4 s more for `import golu_mm` on torch 2.1.2."""
    if COMPILE_WITHOUT_GRAPH_BREAKS:
        return fn
    disable = getattr(torch.compiler, 'disable', None)
    if disable is None:
        from torch import _dynamo
        disable = _dynamo.disable
    return disable(fn)


def register_decomposition(op):
    """Decorator: op's decomposition into standard operators, in torch's global table (what
    torch.export's and torch.onnx's decompositions draw from). Private: torch._decomp."""
    from torch._decomp import register_decomposition as register
    return register(op)


def register_inductor_decomposition(op):
    """Decorator: op's decomposition in inductor's own table only (torch.compile fuses it; other
    backends still see the op), visible even after inductor's first compilation cached the table.
    Private: torch._inductor.decomposition (its fast_random_decomps cache from torch 2.2)."""
    from torch._inductor import decomposition

    def register(fn):
        decomposition.register_decomposition(op)(fn)
        getattr(decomposition.fast_random_decomps, 'cache_clear', lambda: None)()
        return fn
    return register
