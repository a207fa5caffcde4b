"""Benchmark GoLU against other activations: forward and forward+backward time and peak extra
memory, each as a ratio to torch's SiLU measured in the same process; on CUDA also the achieved
memory bandwidth of golu_mm's kernels against the card's peak.

    python tools/benchmark_activation.py                       # CPU (and CUDA when present)
    python tools/benchmark_activation.py --sizes 16M --dtypes float32 --json out.json

It also times golu_mm on inputs drawn from the ranges where GoLU's exponentials leave the normal
floating-point range (subnormal arithmetic is slow on many CPUs), as a ratio to ordinary inputs.

Needs only torch and golu_mm (runs on a bare GPU box).
"""
import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import golu_mm  # noqa: E402
from golu_mm.analysis.timing import median_seconds  # noqa: E402
from golu_mm.nn.activations import ACTIVATIONS, golu_formula  # noqa: E402

# The table's functions ('GoLU' is golu_mm's operator), and GoLU's formula in torch ops, eager and
# through torch.compile.
FUNCTIONS = {**{name: act.function for name, act in ACTIVATIONS.items()},
             'GoLU-formula': golu_formula,
             'GoLU-formula-compiled': torch.compile(golu_formula, dynamic=False)}
SIZES = {'64K': 1 << 16, '1M': 1 << 20, '16M': 1 << 24, '64M': 1 << 26}


def timed(fn, repeats):
    """Median wall time of fn() in milliseconds, after two warm-up calls."""
    return median_seconds(fn, steps=repeats, warmup=2) * 1e3


def peak_extra_bytes(fn, device):
    """Peak memory allocated above the starting point while fn() runs."""
    if device == 'cuda':
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    # CPU: replay the profiler's allocations and frees (per op, time-ordered) to find the peak.
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        fn()
    deltas = sorted((e.time_range.start, e.cpu_memory_usage if e.name == '[memory]'
                     else e.self_cpu_memory_usage) for e in prof.events())
    level = peak = 0
    for _, delta in deltas:
        level += delta
        peak = max(peak, level)
    return peak


def measure(name, fn, numel, dtype, device, repeats):
    if name == 'GoLU-formula-compiled':
        # A fresh compilation per size and dtype: past dynamo's recompile limit (8) the compiled
        # function silently runs eagerly.
        torch._dynamo.reset()
    x = torch.randn(numel, dtype=dtype, device=device)
    xg = x.clone().requires_grad_(True)
    grad = torch.randn_like(x)

    def forward():
        with torch.no_grad():
            fn(x)

    def forward_backward():
        fn(xg).backward(grad)
        xg.grad = None

    return {'activation': name, 'device': device, 'dtype': str(dtype).replace('torch.', ''),
            'numel': numel, 'forward_ms': timed(forward, repeats),
            'forward_backward_ms': timed(forward_backward, repeats),
            'peak_extra_mb': peak_extra_bytes(forward_backward, device) / 2**20}


# Where exp(-x) or exp(-exp(-x)) is subnormal or underflows (float32 and float64), and beyond.
INPUT_RANGES = {'randn (typical)': None, 'uniform(-3, 3)': (-3, 3),
                'gate underflows (-6, -5)': (-6, -5), 'gate subnormal f32 (-4.64, -4.47)': (-4.644, -4.469),
                'gate subnormal f64 (-6.61, -6.56)': (-6.613, -6.563), 'exp(-x) subnormal (87, 104)': (87.4, 103.9),
                'far negative (-1000, -100)': (-1000, -100), 'far positive (100, 1000)': (100, 1000)}


def input_range_rows(device, dtype, numel, repeats):
    """golu_mm's forward and forward+backward time per input range, as a ratio to randn."""
    rows = []
    # The first range twice, the first time discarded: the first timings of a process run slow.
    for name, bounds in [next(iter(INPUT_RANGES.items())), *INPUT_RANGES.items()]:
        x = torch.randn(numel, device=device) if bounds is None else \
            torch.empty(numel, device=device).uniform_(*bounds)
        x = x.to(dtype)
        grad = torch.randn_like(x)
        rows.append({'range': name, 'device': device, 'dtype': str(dtype).replace('torch.', ''),
                     'forward_ms': timed(lambda: golu_mm.golu(x), repeats),
                     'backward_ms': timed(lambda: torch.ops.golu_mm.golu_backward(grad, x),
                                          repeats)})
    rows = rows[1:]
    for r in rows:
        r['forward_vs_typical'] = r['forward_ms'] / rows[0]['forward_ms']
        r['backward_vs_typical'] = r['backward_ms'] / rows[0]['backward_ms']
    return rows


def input_range_table(rows):
    lines = ['| device | dtype | input range | fwd ms | fwd/typical | bwd ms | bwd/typical |',
             '|' + '---|' * 7]
    lines += ['| {device} | {dtype} | {range} | {forward_ms:.2f} | {forward_vs_typical:.2f} | '
              '{backward_ms:.2f} | {backward_vs_typical:.2f} |'.format(**r) for r in rows]
    return '\n'.join(lines)


def cuda_bandwidth(numel, dtype, repeats):
    """Achieved GB/s of golu_mm's forward and backward kernels and of SiLU's, and the peaks."""
    x = torch.randn(numel, dtype=dtype, device='cuda')
    grad = torch.randn_like(x)
    size = x.element_size() * numel
    props = torch.cuda.get_device_properties(0)
    clock_khz = getattr(props, 'memory_clock_rate', 0)
    bus_bits = getattr(props, 'memory_bus_width', 0)
    theoretical = 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9 if clock_khz and bus_bits else None
    kernels = {
        'golu_mm_forward': (lambda: golu_mm.golu(x), 2 * size),
        'golu_mm_backward': (lambda: torch.ops.golu_mm.golu_backward(grad, x), 3 * size),
        'silu_forward': (lambda: F.silu(x), 2 * size),
        'silu_backward': (lambda: torch.ops.aten.silu_backward(grad, x), 3 * size),
        'copy': (lambda: x.clone(), 2 * size),
    }
    result = {'device_name': props.name, 'theoretical_peak_gbs': theoretical,
              'dtype': str(dtype).replace('torch.', ''), 'numel': numel}
    for name, (fn, nbytes) in kernels.items():
        result[f'{name}_gbs'] = nbytes / (timed(fn, repeats) / 1e3) / 1e9
    peak = theoretical or result['copy_gbs']
    result['golu_forward_fraction_of_peak'] = result['golu_mm_forward_gbs'] / peak
    result['golu_backward_fraction_of_peak'] = result['golu_mm_backward_gbs'] / peak
    return result


def with_ratios(rows):
    silu = {(r['device'], r['dtype'], r['numel']): r for r in rows if r['activation'] == 'SiLU'}
    for r in rows:
        base = silu[(r['device'], r['dtype'], r['numel'])]
        for key in ('forward_ms', 'forward_backward_ms', 'peak_extra_mb'):
            r[key.rsplit('_', 1)[0] + '_vs_silu'] = r[key] / base[key] if base[key] else None
    return rows


def table(rows):
    head = ('| device | dtype | numel | activation | fwd ms | fwd/SiLU | fwd+bwd ms | fwd+bwd/SiLU '
            '| peak extra MB | mem/SiLU |')
    lines = [head, '|' + '---|' * 10]
    for r in rows:
        lines.append('| {device} | {dtype} | {numel} | {activation} | {forward_ms:.2f} | '
                     '{forward_vs_silu:.2f} | {forward_backward_ms:.2f} | '
                     '{forward_backward_vs_silu:.2f} | {peak_extra_mb:.1f} | {mem} |'.format(
                         mem='%.2f' % r['peak_extra_vs_silu'] if r['peak_extra_vs_silu'] else '-',
                         **r))
    return '\n'.join(lines)


def summary(rows):
    """golu_mm against the project's targets: ratios to SiLU, torch.compile'd and eager GoLU."""
    by_key = {(r['device'], r['dtype'], r['numel'], r['activation']): r for r in rows}
    lines = []
    for (device, dtype, numel, name), r in by_key.items():
        compiled = by_key.get((device, dtype, numel, 'GoLU-formula-compiled'))
        eager = by_key.get((device, dtype, numel, 'GoLU-formula'))
        if name != 'GoLU' or not (compiled and eager):
            continue
        lines.append(
            f'{device} {dtype} n={numel}: golu_mm fwd {r["forward_vs_silu"]:.2f}x SiLU, '
            f'fwd+bwd {r["forward_backward_vs_silu"]:.2f}x SiLU; speed-up over torch.compile '
            f'{compiled["forward_ms"] / r["forward_ms"]:.2f}x fwd, '
            f'{compiled["forward_backward_ms"] / r["forward_backward_ms"]:.2f}x fwd+bwd; over eager '
            f'{eager["forward_ms"] / r["forward_ms"]:.2f}x fwd, '
            f'{eager["forward_backward_ms"] / r["forward_backward_ms"]:.2f}x fwd+bwd; '
            f'peak memory {r["peak_extra_vs_silu"]:.2f}x SiLU')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', default=list(SIZES), choices=list(SIZES))
    parser.add_argument('--dtypes', nargs='+', default=['float32', 'bfloat16'])
    parser.add_argument('--devices', nargs='+', default=None, help='default: cpu and cuda if any')
    parser.add_argument('--activations', nargs='+', default=list(FUNCTIONS),
                        choices=list(FUNCTIONS))
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--range-dtypes', nargs='*', default=['float32', 'bfloat16', 'float64'],
                        help='dtypes of the input-range rows (none: --range-dtypes with no value)')
    parser.add_argument('--json', type=Path, help='also write the results here')
    args = parser.parse_args(argv)
    devices = args.devices or ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    names = list(dict.fromkeys(['SiLU'] + args.activations))

    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, golu_mm backends '
          f'{golu_mm.backends()}' + (f', {torch.cuda.get_device_name()}' if 'cuda' in devices else ''))
    rows, bandwidth, ranges = [], [], []
    for device in devices:
        for dtype in (getattr(torch, d) for d in args.dtypes):
            for size in args.sizes:
                for name in names:
                    rows.append(measure(name, FUNCTIONS[name], SIZES[size], dtype, device,
                                        args.repeats))
                if device == 'cuda':
                    bandwidth.append(cuda_bandwidth(SIZES[size], dtype, args.repeats))
        if golu_mm.backends().get(device):
            for dtype in (getattr(torch, d) for d in args.range_dtypes):
                ranges += input_range_rows(device, dtype, SIZES['1M'] * 4, args.repeats)
    print(table(with_ratios(rows)))
    print(summary(rows))
    for b in bandwidth:
        print('CUDA {device_name} {dtype} n={numel}: golu fwd {golu_mm_forward_gbs:.0f} GB/s '
              '({golu_forward_fraction_of_peak:.0%} of peak), bwd {golu_mm_backward_gbs:.0f} GB/s '
              '({golu_backward_fraction_of_peak:.0%}); silu fwd {silu_forward_gbs:.0f}, bwd '
              '{silu_backward_gbs:.0f}; copy {copy_gbs:.0f}; theoretical peak '
              '{theoretical_peak_gbs}'.format(**b))
    if ranges:
        print(input_range_table(ranges))
        worst = max(ranges, key=lambda r: max(r['forward_vs_typical'], r['backward_vs_typical']))
        print(f'slowest input range: {worst["device"]} {worst["dtype"]} {worst["range"]}: fwd '
              f'{worst["forward_vs_typical"]:.2f}x, bwd {worst["backward_vs_typical"]:.2f}x typical')
    if args.json:
        args.json.write_text(json.dumps({'rows': rows, 'cuda_bandwidth': bandwidth,
                                         'input_ranges': ranges}, indent=1))
    return rows, bandwidth


if __name__ == '__main__':
    main()
