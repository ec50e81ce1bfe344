"""SIGTERM delivered while Python runs a callback that drops exceptions (importlib's module-lock
weakref callback, a `__del__`) still ends the command, with its cleanup, exit 143 and no
traceback: before, the kill sweep saw "Exception ignored in: <function _get_module_lock.<locals>
.cb>" followed by a traceback, and the command went on as if never signalled."""

import subprocess
import sys

_SCRIPT = """
import os, signal, weakref
from sampleloans import fileio

class Held:
    pass

with fileio._cleanup_on_termination():
    try:
        held = Held()

        def dropped(_ref):
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(10_000))  # the handler runs here, inside the callback

        ref = weakref.ref(held, dropped)
        del held  # the callback runs now; what it raises, Python prints and drops
        for _ in range(1_000_000):
            pass
        print("went on")
    finally:
        print("cleanup ran")
"""


def test_a_termination_raised_inside_a_callback_is_delivered_again() -> None:
    """The process exits 143 after its cleanup, prints no traceback, and does not go on."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True)
    assert done.returncode == 143, (done.stdout, done.stderr)
    assert done.stdout == "cleanup ran\n", done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_other_dropped_exceptions_are_still_reported() -> None:
    """Only a termination is delivered again: another exception in a callback is printed by
    the hook as before, and the block goes on."""
    script = _SCRIPT.replace(
        "os.kill(os.getpid(), signal.SIGTERM)", "raise ValueError('a bug in a callback')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "went on\ncleanup ran\n"
    assert "Exception ignored" in done.stderr and "a bug in a callback" in done.stderr
