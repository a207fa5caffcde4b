"""Write the backbone of a pretraining (or detection / segmentation) checkpoint as a shareable file:

    python tools/extract_backbone.py work_dirs/resnet50_golu_in1k/epoch_90.pth golu_r50.pth

The file holds {'state_dict': the backbone's weights under torchvision's names (mmcv's flat
layout for a deep stem), 'meta': {'act_cfg', 'source'}}; a det/seg config loads it with
`backbone_checkpoint = 'golu_r50.pth'`, torchvision with `resnet50().load_state_dict(
torch.load(f)['state_dict'], strict=False)` (only `fc.` is missing).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.openmmlab import runner  # noqa: E402
from golu_mm.openmmlab.pretrained import extract_backbone  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='checkpoint with backbone.* keys')
    parser.add_argument('out', help='where to write the backbone file (.pth)')
    args = parser.parse_args(argv)
    result = extract_backbone(args.checkpoint, args.out)
    print(f'{args.out}: {len(result["state_dict"])} backbone tensors, '
          f'act_cfg={result["meta"]["act_cfg"]}')


if __name__ == '__main__':
    runner.run_tool(main)
