"""Export a config's model to ONNX (standard operators only, GoLU included), run it in
onnxruntime on an image and compare with PyTorch:

    python tools/export_onnx.py configs/demo/deeplabv3_golu_demo.py work_dirs/demo_seg/iter_600.pth \
        --out work_dirs/deeplabv3_golu_demo.onnx --shape 128 128 [--dynamic] [--opset 18]

DeepLabV3 (mmseg) exports end to end (logits), mmpretrain classifiers end to end (scores),
Faster / Mask R-CNN (mmdet) their backbone + neck: their RoI heads need mmdeploy, which does not
install beside onnx 1.23. Needs requirements/export.txt (installed by tools/setup_env.sh).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.cli import run_tool  # noqa: E402
from golu_mm.openmmlab.tool_arguments import (  # noqa: E402
    add_allow_activation_mismatch_argument, add_cfg_options_argument)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='weights (default: the untrained model)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', nargs=2, type=int, default=[512, 512], metavar=('H', 'W'))
    parser.add_argument('--opset', type=int, help='ONNX opset (default: the exporter\'s)')
    parser.add_argument('--dynamic', action='store_true', help='dynamic batch, height, width')
    parser.add_argument('--image', help='image to compare on (default: a synthetic scene)')
    add_cfg_options_argument(parser)
    add_allow_activation_mismatch_argument(parser)
    args = parser.parse_args(argv)
    from golu_mm.openmmlab.onnx_export import export
    result = export(args.config, args.out, args.checkpoint, tuple(args.shape), args.opset,
                    args.dynamic, args.image, args.cfg_options,
                    args.allow_activation_mismatch)
    ops = ', '.join(op for _, op in result['nodes'])
    custom = [f'{domain}::{op}' for domain, op in result['nodes'] if domain != 'ai.onnx']
    print(f'\nexported {result["part"]} of {args.config} to {result["out"]}\n'
          f'  input {result["input_shape"]}, outputs {result["outputs"]}\n'
          f'  ONNX operators: {ops} (custom-domain: {", ".join(custom) or "none"})\n'
          f'  onnxruntime vs PyTorch: max abs error {result["max_abs_error"]:.3g}, '
          f'max rel error {result["max_rel_error"]:.3g}\n'
          f'  time per image: PyTorch {result["torch_s"] * 1e3:.1f} ms, '
          f'onnxruntime {result["onnxruntime_s"] * 1e3:.1f} ms (CPU)')
    return result


if __name__ == '__main__':
    run_tool(main)
