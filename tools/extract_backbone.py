"""Write the backbone of a pretraining (or detection / segmentation) checkpoint as a shareable file:

    python tools/extract_backbone.py work_dirs/resnet50_golu_in1k/epoch_90.pth golu_r50.pth

The file is a plain state_dict of the backbone under torchvision's names (mmcv's flat layout for
a deep stem), the activation it was trained with recorded in its `_metadata` (where torch keeps
state_dict versions): a det/seg config loads it with `backbone_checkpoint = 'golu_r50.pth'` (and
warns on an activation mismatch), torchvision with `resnet50().load_state_dict(torch.load(f),
strict=False)` (only `fc.` is missing).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.cli import run_tool  # noqa: E402
from golu_mm.openmmlab.pretrained import extract_backbone  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='checkpoint with backbone.* keys')
    parser.add_argument('out', help='where to write the backbone file (.pth)')
    args = parser.parse_args(argv)
    weights = extract_backbone(args.checkpoint, args.out)
    act_cfg = weights._metadata['']['golu_mm']['act_cfg']
    print(f'{args.out}: {len(weights)} backbone tensors, act_cfg={act_cfg}')


if __name__ == '__main__':
    run_tool(main)
