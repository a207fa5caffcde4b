"""Activation variance, gradient flow, loss landscape and curvature per activation, over trained
runs:

    python tools/analyze_activations.py WORK_DIR                  # a compare_activations.py sweep
    python tools/analyze_activations.py --runs CONFIG CKPT [CONFIG CKPT ...] --out DIR

measures every finished run on the same validation batches and writes analysis.md (the tables,
with each activation's paired difference from the first and its 95 % CI), analysis.json and the
figures to WORK_DIR/analysis (or --out); a sweep's comparison.md then links the page. Run
directories are only read. What each measure means: docs/analysis.md.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.cli import run_tool  # noqa: E402


def at_least(kind, least):
    def parse(text):
        value = kind(text)
        if not value >= least:
            raise argparse.ArgumentTypeError(f'must be at least {least}, got {text}')
        return value
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', nargs='?', help='a compare_activations.py work dir')
    parser.add_argument('--runs', nargs='+', metavar='CONFIG CKPT',
                        help='config and checkpoint pairs instead of a work dir')
    parser.add_argument('--out', help='where the report goes (default: WORK_DIR/analysis)')
    parser.add_argument('--batches', type=at_least(int, 1), default=2,
                        help='validation batches every measure averages over (default 2)')
    parser.add_argument('--points', type=at_least(int, 3), default=9,
                        help='points of the 1-D loss curve (default 9)')
    parser.add_argument('--grid', type=at_least(int, 2), default=5,
                        help='points per side of the 2-D loss surface (default 5)')
    parser.add_argument('--span', type=at_least(float, 1e-6), default=1.0,
                        help='the landscapes cover [-span, span] filter-normalised steps')
    parser.add_argument('--radius', type=at_least(float, 1e-6), default=0.25,
                        help='where sharpness is read: the mean loss rise at ±radius')
    parser.add_argument('--direction-seed', type=int, default=0,
                        help='seed of the random directions (the same for every run)')
    parser.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda where there is a '
                                         'GPU, else cpu)')
    parser.add_argument('--hessian-iterations', type=at_least(int, 0), default=20,
                        help='power iterations for the Hessian\'s top eigenvalue (0: skip)')
    parser.add_argument('--hessian-tolerance', type=at_least(float, 1e-12), default=1e-3,
                        help='relative change that ends the power iteration')
    parser.add_argument('--trace-samples', type=at_least(int, 0), default=30,
                        help='Hutchinson vectors for the Hessian\'s trace at most (0: skip)')
    parser.add_argument('--trace-tolerance', type=at_least(float, 1e-12), default=0.05,
                        help='relative standard error that ends the trace estimate')
    args = parser.parse_args(argv)
    if (args.work_dir is None) == (args.runs is None):
        parser.error('give either a work dir or --runs CONFIG CKPT pairs')
    if args.runs is not None and (len(args.runs) % 2 or args.out is None):
        parser.error('--runs takes CONFIG CKPT pairs and needs --out')
    if args.radius > args.span:
        parser.error(f'--radius {args.radius} lies outside the curve\'s span {args.span}')

    from golu_mm.openmmlab import run_analysis
    if args.runs is not None:
        runs = run_analysis.runs_from_pairs(list(zip(args.runs[::2], args.runs[1::2])))
    else:
        runs = run_analysis.finished_runs(args.work_dir)
    out = Path(args.out or Path(args.work_dir) / run_analysis.ANALYSIS_DIR)
    settings = run_analysis.Settings(
        args.batches, args.points, args.grid, args.span, args.radius, args.direction_seed,
        eigen_iterations=args.hessian_iterations, eigen_tolerance=args.hessian_tolerance,
        trace_samples=args.trace_samples, trace_tolerance=args.trace_tolerance,
        device=run_analysis.pick_device(args.device))
    paths = run_analysis.analyze(runs, out, settings)
    if args.work_dir is not None and Path(out) == Path(args.work_dir) / run_analysis.ANALYSIS_DIR:
        run_analysis.link_analysis(args.work_dir)
    print(f'wrote {paths["markdown"]} and {len(paths["figures"])} figures')


if __name__ == '__main__':
    run_tool(main)
