"""How a terminal starts a command, for tests that press Ctrl-C.

A shell starts a background job with SIGINT ignored, and a process inherits that; Python then
keeps SIGINT ignored and never raises KeyboardInterrupt. A test suite run in the background
(`pytest … &`, a CI runner's job) would so see its Ctrl-C tests pass silently or finish before
the signal. A command started from a terminal has SIGINT at its default: give it that.
"""

import signal


def sigint_as_in_a_terminal() -> None:
    """A `preexec_fn`: the child starts with SIGINT at its default, as a terminal's job does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
