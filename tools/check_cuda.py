"""What is built for CUDA here, in one look: torch and the GPUs it sees, golu_mm's kernels, mmcv's
ops, and what setup would build on this machine. Exits 1 when a visible GPU would not be used
(golu_mm or mmcv built without CUDA kernels, or setup refusing to build).

    python tools/check_cuda.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from build_plan import BuildPlanError, plan, smi_gpus  # noqa: E402


def report() -> tuple:
    """(lines to print, problems found)."""
    lines, problems = [], []
    gpus = [f'{torch.cuda.get_device_name(i)} (capability %d.%d)' % torch.cuda.get_device_capability(i)
            for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    lines.append(f'torch {torch.__version__}, built for CUDA {torch.version.cuda or "- (CPU-only build)"}; '
                 f'GPUs torch sees: {", ".join(gpus) or "none"}')
    lines.append(f'nvidia-smi: {"; ".join(smi_gpus(os.environ)) or "no GPU listed (or not installed)"}')

    import golu_mm
    from golu_mm.ops import backends, cpu_isa, load_error
    kernels = backends()
    if load_error():
        lines.append(f'golu_mm {golu_mm.__file__}: compiled operator NOT loaded ({load_error()})')
    else:
        lines.append(f'golu_mm._C: CPU kernels {"yes" if kernels["cpu"] else "no"} '
                     f'(loops: {cpu_isa()}), CUDA kernels {"yes" if kernels["cuda"] else "no"}')
    if gpus and not kernels['cuda']:
        problems.append('golu_mm has no CUDA kernels: GoLU on the GPU runs the slow reference. '
                        'Rebuild here: pip install --no-build-isolation -e . (or make setup)')

    try:
        import mmcv
        from mmcv.ops import get_compiling_cuda_version
    except ImportError as exc:
        lines.append(f'mmcv: not usable here ({exc})')
    else:
        built = get_compiling_cuda_version()
        with_cuda = built not in ('', 'not available')
        lines.append(f'mmcv {mmcv.__version__}: ops built '
                     f'{"with CUDA " + built if with_cuda else "WITHOUT CUDA kernels"}')
        if gpus and not with_cuda:
            problems.append('mmcv has no CUDA ops: detectors (nms, RoIAlign) cannot run on the '
                            'GPU. Rebuild it here: make setup (or FORCE_CUDA=1 make setup)')

    try:
        decided = plan()
        lines.append(f'setup here would build: {decided.flavour}' + (
            f' for {decided.arch_list} with nvcc {decided.nvcc_version} ({decided.cuda_home})'
            if decided.cuda else '') + f' [key {decided.key}]')
    except BuildPlanError as exc:
        lines.append(f'setup here would stop: {exc}')
        problems.append('setup cannot build for this machine as it is (see above)')
    return lines, problems


def main() -> int:
    lines, problems = report()
    print('\n'.join(lines))
    for problem in problems:
        print(f'problem: {problem}')
    print('ready for GPU runs' if torch.cuda.is_available() and not problems else
          'CPU only: no GPU visible to torch' if not problems else
          f'{len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
