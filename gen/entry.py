"""How a command line ends: a user's mistake in one line, a bug as a bug.

Each command line's ``main`` refuses what the user asked wrongly itself, in one line
``error: ...`` naming the option, the value and the limit, with exit status 2 (1 for a run
that went wrong, such as outputs that differ or a serial port that cannot be opened).
Anything else that escapes it is the generator's own fault, never the user's: :func:`command`
prints it with its traceback, then one line ``internal error: ...`` asking for a bug
report, and exits with :data:`INTERNAL_ERROR`, a status no refusal uses.
"""

import functools
import sys
import traceback

__all__ = ["INTERNAL_ERROR", "command"]

#: Exit status of a command that failed by a bug of its own.
INTERNAL_ERROR = 3


def command(main):
    """``main(argv=None, **options)`` of a command line, reporting an unexpected exception as
    an internal error (see the module's description). ``SystemExit`` (argparse's refusals,
    ``--help``) and ``KeyboardInterrupt`` pass through."""
    @functools.wraps(main)
    def checked(argv=None, **options):
        try:
            return main(argv, **options)
        except Exception as error:
            traceback.print_exc()
            print(f"internal error: {type(error).__name__} in {main.__module__} (a bug, not a mistake "
                  f"in the request): please report it with the command line and the traceback above",
                  file=sys.stderr)
            return INTERNAL_ERROR
    return checked
