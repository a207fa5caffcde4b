"""README's measured figures have one home, the docs page README links beside them: each figure
in a README paragraph (a decimal such as 0.208, 1.11x, 37.4, or a time such as 7 min 29 s) is
stated the same way in a docs page that the same paragraph links, so that README cannot drift
from the docs. Versions (torch 2.1, arXiv 2502.03654) are not figures."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r'(?<![\w.])(\d+ min \d+ s|\d+\.\d+)(?!\.\d|\d|[a-wyzA-Z_])')  # 1.11x too
VERSION = re.compile(r'(torch|arXiv|Python|numpy|CUDA|mmcv|mmdet|mmengine|sm_|C\+\+|<=|>=|==|'
                     r'\d\.\d+ to)\s*$')  # words before a version
DOC_LINK = re.compile(r'\]\((docs/[^)#]+)')


def figures(paragraph: str):
    paragraph = re.sub(r'\]\([^)]*\)', ']', paragraph)  # link targets
    return [m.group(1) for m in FIGURE.finditer(paragraph)
            if not VERSION.search(paragraph[:m.start()].split('\n')[-1][-12:])]


def paragraphs():
    return [p for p in re.split(r'\n\s*\n', (ROOT / 'README.md').read_text()) if figures(p)]


def test_the_check_sees_figures_and_not_versions():
    assert figures('AP 0.208 in 8.0 min, 1.11x SiLU; make test 7 min 29 s') == [
        '0.208', '8.0', '1.11', '7 min 29 s']
    assert figures('torch 2.1 to 2.14 (arXiv 2502.03654), torch >= 2.5, mmcv 2.1.0') == []


@pytest.mark.parametrize('paragraph', paragraphs(), ids=lambda p: p[:40])
def test_each_readme_figure_is_the_linked_docs_figure(paragraph):
    pages = sorted(set(DOC_LINK.findall(paragraph)))
    assert pages, f'README states {figures(paragraph)} without linking the docs page holding them'
    docs = ' '.join(' '.join((ROOT / page).read_text().split()) for page in pages)
    missing = [f for f in figures(paragraph)  # 1.40 is 1.400; 1.1 is not 1.11
               if not re.search(r'(?<![\d.])' + re.escape(f) + r'0*(?![\d])', docs)]
    assert not missing, f'{missing} are in README but not in {pages}'
