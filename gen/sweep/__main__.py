"""``python -m gen.sweep``: see :mod:`gen.sweep.cli`."""

import sys

from .cli import main

sys.exit(main())
