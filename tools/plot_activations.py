"""Plots: the activation functions, gates and derivatives; or, for a model, the distribution of
each backbone activation layer's outputs on one image.

    python tools/plot_activations.py functions --out work_dirs/plots/activations.png
    python tools/plot_activations.py distribution CONFIG CHECKPOINT IMAGE --out dist.png
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.analysis import plot_activation_distributions, plot_activation_functions  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='kind', required=True)
    functions = sub.add_parser('functions')
    functions.add_argument('--out', default='work_dirs/plots/activations.png')
    dist = sub.add_parser('distribution')
    dist.add_argument('config')
    dist.add_argument('checkpoint')
    dist.add_argument('image')
    dist.add_argument('--out', default='work_dirs/plots/activation_distribution.png')
    args = parser.parse_args(argv)
    if args.kind == 'functions':
        path = plot_activation_functions(args.out)
    else:
        from golu_mm.openmmlab.apis import build_model, image_tensor
        model, cfg = build_model(args.config, args.checkpoint)
        act = cfg.model.backbone.get('act_cfg', {}).get('type', 'ReLU')
        path = plot_activation_distributions(model.backbone, image_tensor(args.image, model),
                                             args.out, title=f'{act} backbone: {args.image}')
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
