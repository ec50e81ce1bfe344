"""Ctrl-C at any moment of a run, its start-up included: one `Error:` line and exit 130.

Python turns SIGINT into `KeyboardInterrupt`; Typer turns one raised in a command into a
silent exit 130, and one raised while the modules are still loading ends in a traceback. The
handler here is installed before anything heavy is imported and notes that the interrupt came,
so the entry point can say so in one line whichever way the run unwound. Every write is one
transaction rolled back on the way out and every output file goes through a temp file removed
on the way out (`fileio`), so the line can say that nothing half-done was kept. A leaf module:
the standard library only, so installing it costs nothing before the imports it guards.
"""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from types import FrameType

INTERRUPTED_EXIT = 130
"""128 + SIGINT, as shells report a program stopped by Ctrl-C."""
INTERRUPTED_LINE = (
    "Error: interrupted (Ctrl-C); nothing that was not yet committed was recorded and no partial "
    "output file was left: run the command again"
)


class _Interrupt:
    """Whether a SIGINT arrived during this run, and what the run had kept before it."""

    received = False
    holding = False  # inside `held()`: a Ctrl-C now waits for its end
    deferred = False  # a Ctrl-C came while holding
    kept: str | Callable[[], str] | None = None
    kept_on_commit: str | Callable[[], str] | None = None
    finished: str | None = None
    committed = False


def start_run() -> None:
    """Forget what an earlier command in this process committed or kept (tests and embedders
    run several in one process): each command's lines speak of its own writes only."""
    _Interrupt.committed = _Interrupt.holding = _Interrupt.deferred = False
    _Interrupt.kept = _Interrupt.kept_on_commit = _Interrupt.finished = None


def note_committed() -> None:
    """Say that this run has committed a write to the ledger: an error after it (its
    confirmation cannot be printed) must not ask for a rerun, which would record it twice."""
    _Interrupt.committed = True
    if _Interrupt.kept_on_commit is not None:  # the write `note_kept_on_commit` spoke of
        _Interrupt.kept, _Interrupt.kept_on_commit = _Interrupt.kept_on_commit, None


def has_committed() -> bool:
    """Whether this run has committed a write to the ledger (`note_committed`)."""
    return _Interrupt.committed


def kept_now() -> str | None:
    """What `note_kept` says this run committed and how to finish it, as of now (None: nothing
    noted), for an error after the commit to say, as the Ctrl-C line does."""
    return None if _Interrupt.kept is None else _said(_Interrupt.kept)


def note_kept(what: str | Callable[[], str] | None) -> None:
    """Say what this run has committed and how to finish what it was doing after that, for the
    interrupt line (a rerun would not: `checkpoint` again signs the next checkpoint); None once
    it is done. A callable is asked at the interrupt, so the line can say what is on disk then
    (a file in place or not), whichever moment the Ctrl-C came."""
    _Interrupt.kept = what


def note_kept_on_commit(what: str | Callable[[], str] | None) -> None:
    """`note_kept(what)` from the moment the write transaction open now commits (it is set in
    the same statement that notes the commit, so no Ctrl-C falls between the two); None to
    forget it when that transaction did not commit."""
    _Interrupt.kept_on_commit = what


def note_finished(what: str) -> None:
    """Say that this run's output is in place, whole (`what`: 'events.jsonl was written
    whole'): a Ctrl-C from then on (the closing line, the folder's fsync) stops nothing half
    done, and the interrupt line says so instead of asking for a rerun."""
    _Interrupt.finished = what


def _note_and_raise(_number: int, _frame: FrameType | None) -> None:
    """SIGINT handler: remember the interrupt, then unwind as Python's own handler does; a
    second Ctrl-C while the first unwinds is ignored, so every cleanup on the way runs whole."""
    if _Interrupt.received:
        return
    _Interrupt.received = True
    if _Interrupt.holding:  # a commit and its note: raised once they are both done
        _Interrupt.deferred = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends, then raise it: the block is a write's COMMIT and
    `note_committed`, so an interrupt lands before the commit or after the note, never between
    (where the line said "nothing … was recorded: run the command again" of a committed write,
    and the rerun recorded it twice)."""
    _Interrupt.holding = True
    try:
        yield
    finally:
        _Interrupt.holding = False
        deferred, _Interrupt.deferred = _Interrupt.deferred, False
        if deferred:  # also when the block failed (a full disk at COMMIT): never kept for later
            raise KeyboardInterrupt


def watch_for_ctrl_c() -> None:
    """Note every SIGINT from now on; a SIGINT the parent set to be ignored stays ignored."""
    # imported here, not above: `signal` builds its enums as it loads, long enough for a
    # Ctrl-C to land in it, and this module is imported before the guard that reports one
    import signal

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _note_and_raise)
        sys.unraisablehook = _raise_dropped_interrupts(sys.unraisablehook)


def _raise_dropped_interrupts(
    previous: Callable[["sys.UnraisableHookArgs"], object],
) -> Callable[["sys.UnraisableHookArgs"], None]:
    """An unraisable-exception hook for an interrupt raised where Python drops exceptions (a
    weakref callback, a `__del__`): it printed "Exception ignored … KeyboardInterrupt" with a
    traceback and the command went on. Now it is raised again where it unwinds the command."""

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        """Raise a dropped interrupt again a moment later; report anything else as before."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _interrupt_soon()
            return
        previous(unraisable)

    return hook


def _interrupt_soon() -> None:
    """Raise KeyboardInterrupt a millisecond from now, from a SIGALRM handler: raised in the
    hook itself it would be dropped again (as `fileio` does for SIGTERM)."""
    import signal

    def raise_again(_number: int, _frame: FrameType | None) -> None:
        """SIGALRM handler: the interrupt, raised where it unwinds."""
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, raise_again)
    signal.setitimer(signal.ITIMER_REAL, 0.001)


def run_reporting_interrupts(command: Callable[[], object]) -> None:
    """Run `command`; if a Ctrl-C interrupted it, print one line and exit 130 instead of a
    traceback or Typer's silent exit."""
    try:
        command()
    except KeyboardInterrupt:
        _Interrupt.received = True
    except Exception:
        # Python wraps an interrupt raised in some hooks (a class's `__set_name__` while a
        # module loads) in another error: after a Ctrl-C that is the interrupt too
        if not _Interrupt.received:
            raise
    except SystemExit:
        if not _Interrupt.received:  # a run that ended on its own
            raise
    if _Interrupt.received:
        _report_interrupt()


def _said(kept: str | Callable[[], str]) -> str:
    """What `note_kept` noted, asked now if it is a callable."""
    return kept if isinstance(kept, str) else kept()


def _report_interrupt() -> None:
    """Say that the run was interrupted, once (a second Ctrl-C no longer interrupts that), and
    exit 130 at once. Not through `sys.exit`: an interrupt that landed in code an extension
    module runs through the C API (Cython's start-up patches) leaves CPython's "unhandled
    Ctrl-C" flag set, and the interpreter then kills itself with SIGINT at the very end, so the
    code would be 130 or a signal death by chance. Every cleanup (transactions, temp files) has
    run by now: the interrupt has unwound the whole command."""
    import signal

    from sampleloans.errors import COMMITTED_ADVICE, StdoutUnwritable  # a leaf: loaded only now

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = INTERRUPTED_LINE
    kept = _Interrupt.kept
    if kept is not None:
        line = f"Error: interrupted (Ctrl-C) after it committed: {_said(kept)}"
    elif _Interrupt.finished is not None:
        line = (
            f"Error: interrupted (Ctrl-C) after its output was in place: {_Interrupt.finished}; "
            "nothing to run again"
        )
    elif _Interrupt.committed:  # while printing its confirmation: a rerun records it twice
        line = f"Error: interrupted (Ctrl-C) after it committed: {COMMITTED_ADVICE}"
    print(line, file=sys.stderr)

    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream, or a full disk under `> FILE`: nothing more to do
        with contextlib.suppress(OSError, ValueError, StdoutUnwritable):
            stream.flush()
    os._exit(INTERRUPTED_EXIT)
