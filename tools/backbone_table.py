"""Write docs/backbones.md: where act_cfg=dict(type='GoLU') reaches in every backbone of the
installed mmdet, mmseg and mmpretrain (golu_mm.openmmlab.backbone_survey).

    python tools/backbone_table.py [--out docs/backbones.md]
"""
import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=str(ROOT / 'docs' / 'backbones.md'))
    args = parser.parse_args(argv)
    from mmengine.logging import MMLogger

    from golu_mm.openmmlab.backbone_survey import SCOPES, installed_versions, markdown, survey
    MMLogger.get_current_instance().setLevel('ERROR')  # init_weights' reports, per backbone
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        rows = [row for scope in SCOPES for row in survey(scope)]
    Path(args.out).write_text(markdown(rows, installed_versions()))
    print(f'[backbones] {len(rows)} backbones -> {args.out}')


if __name__ == '__main__':
    from golu_mm.cli import run_tool
    run_tool(main)
