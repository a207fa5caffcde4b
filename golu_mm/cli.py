"""What every tool's command line shares and that needs neither torch nor OpenMMLab: run_tool,
which ends a failing tool with one short message (a dataset converter prints its error without
importing mmengine)."""
import os
import sys
import tempfile
import traceback
from typing import Callable, Optional, Sequence

__all__ = ['run_tool', 'TRACEBACK_ENV']

TRACEBACK_ENV = 'GOLU_MM_TRACEBACK'


def run_tool(main: Callable, argv: Optional[Sequence[str]] = None):
    """Run a tool's main(argv); an error ends it with one short message as the last thing printed
    (after mmengine's config dump and logs), the traceback saved to a file it names. Set
    GOLU_MM_TRACEBACK=1 to get the traceback printed instead."""
    try:
        return main(argv)
    except Exception as exc:  # noqa: BLE001 (reported, exit code 1)
        if os.environ.get(TRACEBACK_ENV, '0') not in ('', '0'):
            raise
        fd, path = tempfile.mkstemp(prefix='golu_mm_error_', suffix='.log')
        with os.fdopen(fd, 'w') as f:
            traceback.print_exc(file=f)
        message = str(exc).strip() or type(exc).__name__
        if len(message) > 1200:
            message = message[:1200] + ' ...'
        sys.stdout.flush()
        print(f'\nerror: {type(exc).__name__}: {message}\n(traceback in {path}; '
              f'{TRACEBACK_ENV}=1 prints it)', file=sys.stderr)
        sys.exit(1)
