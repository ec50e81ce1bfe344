"""One hierarchy of errors whose messages are written for the person at the terminal."""


class SampleLoansError(Exception):
    """Base of every error a user can cause; the message says what, which and how to fix."""

    exit_code = 1


class NotFound(SampleLoansError):
    """A named record (sample, loan, person, …) does not exist."""

    exit_code = 2


class InvalidInput(SampleLoansError):
    """A value a user typed cannot be parsed or is out of range."""

    exit_code = 2


class Conflict(SampleLoansError):
    """The current state forbids the operation (e.g. splitting a sample that is on loan)."""

    exit_code = 1


class RuleViolation(SampleLoansError):
    """An agreement term or the mass balance forbids the operation."""

    exit_code = 1


class PermissionDenied(SampleLoansError):
    """The acting person's role does not allow the operation."""

    exit_code = 4


class StorageError(SampleLoansError):
    """The environment failed: no database, locked past the timeout, unwritable output."""

    exit_code = 3


class DamagedFile(StorageError):
    """The ledger file is damaged (SQLite cannot read its pages): only a restore mends it."""
