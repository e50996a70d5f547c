"""``python -m fpga.host``: the host driver's command line (see :mod:`fpga.host.cli`)."""

import sys

from .cli import main

sys.exit(main())
