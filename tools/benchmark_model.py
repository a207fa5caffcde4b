"""What an activation costs a model, as ratios to in-place ReLU measured in this process: activation
memory saved for backward, train-step and inference time (median after warm-up, same input).

    python tools/benchmark_model.py configs/mask_rcnn_golu.py --shape 320 320   # backbone + neck
    python tools/benchmark_model.py --torchvision resnet50 fasterrcnn maskrcnn deeplabv3
    python tools/benchmark_model.py CONFIG --compile --activations ReLU GoLU GoLU-formula

CONFIG: the config's backbone (+ neck) with its own frozen stages and norm_eval, each activation
set where the config sets its act_cfg (GoLU runs BN -> GoLU fused as the Act* backbones do,
GoLU-unfused with fuse_bn_golu=False; on a CPU a detector's full step is dominated by RoIAlign,
so the backbone + neck is measured). --torchvision: torchvision's models, the backbone's ReLUs
swapped (the paper's setup; GoLU with BN -> GoLU fused by nn.fuse_resnet; needs only torch,
torchvision and golu_mm: a bare GPU box). Runs on CUDA when available (--device). Memory: bytes
of the unique non-parameter storages autograd saves.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.analysis.model_cost import MODULES, VARIANTS, compare, table  # noqa: E402
from golu_mm.nn.activations import replace_modules  # noqa: E402
from golu_mm import GoLU  # noqa: E402
from golu_mm.nn import fuse_resnet  # noqa: E402

TORCHVISION = ('resnet50', 'fasterrcnn', 'maskrcnn', 'deeplabv3')


def config_case(config, act, shape, batch, device):
    """(build, loss, infer) for the config's backbone (+ neck) with activation `act`."""
    from mmengine import Config

    from golu_mm.openmmlab.sweep import activation_options
    from golu_mm.openmmlab import apis
    name = act.split('-')[0]
    keys = [option.split('=')[0][:-len('.type')]
            for option in activation_options(Config.fromfile(config), name)]
    act_cfg = dict(type=name, inplace=True) if name == 'ReLU' else dict(type=name)
    options = {key: act_cfg for key in keys}
    if act.endswith(VARIANTS):
        options['model.backbone.fuse_bn_golu'] = False
    model, _ = apis.build_model(config, cfg_options=options)
    if act == 'GoLU-formula':
        replace_modules(model, MODULES[act], kind=GoLU)
    parts = torch.nn.Sequential(model.backbone, *([model.neck] if model.with_neck else []))
    x = torch.randn(batch, 3, *shape, device=device)
    return parts.to(device), lambda m: sum(f.float().mean() for f in m(x)), lambda m: m(x)


def torchvision_case(name, act, shape, batch, device):
    """(build, loss, infer) for a torchvision model with its backbone's ReLUs swapped."""
    import torchvision
    from torchvision.models import detection, segmentation
    torch.manual_seed(0)
    if name == 'resnet50':
        model, body = torchvision.models.resnet50(), None
    elif name in ('fasterrcnn', 'maskrcnn'):
        builder = getattr(detection, f'{name}_resnet50_fpn')
        # the detectors' transform resizes to min_size (default 800): make it the stated shape
        model = builder(weights=None, weights_backbone=None, num_classes=91,
                        min_size=min(shape), max_size=max(shape))
        body = model.backbone.body
    else:
        model = segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None,
                                                num_classes=21, aux_loss=True)
        body = model.backbone
    replace_modules(body if body is not None else model, MODULES[act])
    if act == 'GoLU':
        model = fuse_resnet(model)  # BN -> GoLU in the stem and the residual blocks
    model.to(device)
    images = torch.rand(batch, 3, *shape, device=device)
    height, width = shape
    targets = []
    for i in range(batch):
        boxes = torch.tensor([[10., 10., width / 2, height / 2], [width / 3, height / 3,
                                                                   width - 5., height - 5.]])
        target = {'boxes': boxes.to(device), 'labels': torch.tensor([1, 2 + i], device=device)}
        if name == 'maskrcnn':
            masks = torch.zeros(2, height, width, dtype=torch.uint8, device=device)
            for j, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
                masks[j, y0:y1, x0:x1] = 1
            target['masks'] = masks
        targets.append(target)
    labels = torch.randint(0, 21, (batch, height, width), device=device)

    def loss(m):
        if name == 'resnet50':
            return torch.nn.functional.cross_entropy(m(images), labels[:, 0, 0])
        if name == 'deeplabv3':
            out = m(images)
            ce = torch.nn.functional.cross_entropy
            return ce(out['out'], labels) + 0.5 * ce(out['aux'], labels)
        return sum(m(list(images), targets).values())

    def infer(m):
        return m(list(images)) if name in ('fasterrcnn', 'maskrcnn') else m(images)

    return model, loss, infer


def compiled(model, loss, infer):
    """The case with its steps (the memory measure's too) run through torch.compile(model)."""
    fast = torch.compile(model)
    return model, lambda m: loss(fast), lambda m: infer(fast)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', help='a shipped config (its backbone + neck)')
    parser.add_argument('--torchvision', nargs='+', choices=TORCHVISION,
                        help='torchvision models instead of a config')
    parser.add_argument('--activations', nargs='+',
                        default=['ReLU', 'GoLU', 'GoLU-unfused', 'GELU', 'SiLU'],
                        choices=list(MODULES))
    parser.add_argument('--shape', nargs=2, type=int, default=None, metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--compile', action='store_true',
                        help='run torch.compile(model) (inductor; compiled in the warm-up '
                             'steps; memory: what the compiled graphs save for backward)')
    args = parser.parse_args(argv)
    if args.compile and args.warmup < 1:
        parser.error('--compile needs at least one warm-up step (the compilation)')
    if bool(args.config) == bool(args.torchvision):
        parser.error('give either a CONFIG or --torchvision MODEL ...')
    if args.activations[0] != 'ReLU':
        parser.error('the first activation is the reference: ReLU')
    cases = ([(name, name) for name in args.torchvision] if args.torchvision
             else [(f'{Path(args.config).stem}: backbone + neck', args.config)])
    reports = {}
    for title, case in cases:
        shape = tuple(args.shape or ((224, 224) if case == 'resnet50' else (320, 320)))
        make = torchvision_case if args.torchvision else config_case
        cases = {act: make(case, act, shape, args.batch, args.device)
                 for act in args.activations}
        if args.compile:
            torch._dynamo.reset()
            cases = {act: compiled(*case) for act, case in cases.items()}
            title += ', torch.compile'
        results = compare(cases, args.steps, args.warmup)
        reports[title] = results
        print(table(results, f'{title}, {args.batch}x3x{shape[0]}x{shape[1]}, {args.device}')
              + '\n', flush=True)
    return reports


if __name__ == '__main__':
    main()
