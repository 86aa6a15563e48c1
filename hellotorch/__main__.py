"""``python -m hellotorch``: the same command line as the ``hellotorch`` script."""

import sys

from hellotorch.cli import main

sys.exit(main())
