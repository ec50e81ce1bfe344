"""An interrupt a library logs with its traceback and raises again (SQLAlchemy's pool does, when
SIGTERM arrives while it resets a connection: "Exception during reset or similar") reaches the
user as the command's exit code, never as a traceback on stderr; so does a reset that fails
because the interrupt cut a statement short (seen once under load: Ctrl-C while a PostgreSQL
write waited for the writers' lock printed the pool's traceback before the one line); other log
records still print."""

import subprocess
import sys

SCRIPT = """
import logging, sys
from sampleloans.fileio import Terminated, quiet_reraised_interrupts
quiet_reraised_interrupts()
log = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
try:
    raise Terminated(143)
except BaseException:
    log.error("Exception during reset or similar", exc_info=True)
try:
    try:
        raise KeyboardInterrupt
    finally:  # the pool's reset, while Ctrl-C is on its way out, finds the statement cut short
        try:
            raise RuntimeError("sending query failed: another command is already in progress")
        except RuntimeError:
            log.error("Exception during reset or similar", exc_info=True)
except KeyboardInterrupt:
    pass
try:
    raise OSError("disk I/O error")
except OSError:
    log.error("a real failure", exc_info=True)
"""


def test_a_logged_interrupt_prints_no_traceback_and_other_errors_still_print() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Exception during reset" not in done.stderr
    assert "Terminated" not in done.stderr
    assert "another command is already in progress" not in done.stderr
    assert "a real failure" in done.stderr and "disk I/O error" in done.stderr


def test_the_console_script_installs_the_filter() -> None:
    """`cli.main`, the console script, installs it before the command runs."""
    code = (
        "import logging; import sampleloans.cli as c; c.app = lambda: None; c.main(); "
        "print([f.__name__ for f in logging.lastResort.filters])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "_not_an_interrupt" in done.stdout
