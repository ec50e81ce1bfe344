"""One hierarchy of errors whose messages are written for the person at the terminal."""


class SampleLoansError(Exception):
    """Base of every error a user can cause; the message says what, which and how to fix."""

    exit_code = 1


class NotFound(SampleLoansError):
    """A named record (sample, loan, person, …) does not exist."""

    exit_code = 2


class NoSuchRecord(NotFound):
    """A record named by key that does not exist (or, `scoped`, that the reader may not read:
    the same words either way). One wording for every kind, led by the option or argument the
    key was typed in once a front end knows it: `--institution 'UoC': no such institution; see
    'sampleloans institutions list'`; without one (a key read from a document), by the kind
    of record, `institution 'UoC': no such institution; …`, so "no such institution among the
    records you may read" reads the same wherever the key came from."""

    def __init__(
        self,
        what: str,
        key: str,
        hint: str,
        *,
        scoped: bool = False,
        option: str | None = None,
        twin: str | None = None,
    ) -> None:
        self.what, self.key, self.hint, self.scoped, self.option = what, key, hint, scoped, option
        self.twin = twin  # the record's key spelt in another case, when one is recorded
        super().__init__(self.wording())

    def _shown(self) -> str:
        """The key as typed: a number bare; text quoted, cut and escaped (repr) so the line
        stays one line."""
        cut = self.key if len(self.key) <= 80 else self.key[:80] + "…"
        return cut if cut.isascii() and cut.isdigit() else repr(cut)

    def wording(self) -> str:
        """The one-line refusal: the option and key, what is missing, where to look."""
        scope = " among the records you may read" if self.scoped else ""
        lead = self.option or self.what
        return f"{lead} {self._shown()}: no such {self.what}{scope}; {self.hint}"

    def typed_as(self, option: str) -> "NoSuchRecord":
        """The same refusal led by the option (or argument) the key was typed in."""
        return NoSuchRecord(
            self.what, self.key, self.hint, scoped=self.scoped, option=option, twin=self.twin
        )


class NotYetRecorded(NoSuchRecord):
    """A record that exists now but was not recorded yet at an earlier moment (`when` says
    which): "no such" would send the reader to a list that shows it."""

    def __init__(
        self, what: str, key: str, when: str, *, scoped: bool = False, option: str | None = None
    ) -> None:
        self.when = when
        super().__init__(what, key, "", scoped=scoped, option=option)

    @classmethod
    def as_of(
        cls,
        exc: NoSuchRecord,
        moment: str,
        held: str,
        *,
        option: str | None = None,
        later: str | None = None,
    ) -> "NotYetRecorded":
        """A record not found in the ledger as it stood at `--as-of` (`moment`, in words),
        though the request was checked against the ledger as it is: one wording for every
        command that takes --as-of (a report, a history); `held`: '0 events'; `later`: the
        bound of the --as-of moments that hold it ('from 2025-05-02T10:00:01Z on')."""
        why = f"by {moment}, the --as-of moment (the ledger then held {held}); "
        why += f"give --as-of {later}" if later else "give a later --as-of"
        return cls(exc.what, exc.key, why, scoped=exc.scoped, option=option or exc.option)

    def wording(self) -> str:
        """The one-line refusal: the option and key, and the moment it was not recorded by."""
        lead = f"{self.option} {self._shown()}" if self.option else f"{self.what} {self._shown()}"
        return f"{lead}: not recorded yet {self.when}"

    def typed_as(self, option: str) -> "NoSuchRecord":
        """The same refusal led by the option (or argument) the key was typed in."""
        return NotYetRecorded(self.what, self.key, self.when, scoped=self.scoped, option=option)


class InvalidInput(SampleLoansError):
    """A value a user typed cannot be parsed or is out of range."""

    exit_code = 2


class Conflict(SampleLoansError):
    """The current state forbids the operation (e.g. splitting a sample that is on loan)."""

    exit_code = 1


class RecordConflict(Conflict):
    """A new record whose key is taken (or differs from a taken one only in case): the
    message says which; a front end leads it with the option the key was typed in (`CODE:
    sample CE5-1 is already registered; …`)."""

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(message)


class RuleViolation(SampleLoansError):
    """An agreement term or the mass balance forbids the operation."""

    exit_code = 1


class PermissionDenied(SampleLoansError):
    """The acting person's role does not allow the operation."""

    exit_code = 4


class StorageError(SampleLoansError):
    """The environment failed: no database, locked past the timeout, unwritable output."""

    exit_code = 3


COMMITTED_ADVICE = (
    "what it recorded is kept, whatever was printed: check the ledger ('custody history', "
    "'checkpoint list') before running it again"
)
"""Said by an error or a Ctrl-C that comes after a run committed a write: a rerun would
record it twice (a second consumption of the same micrograms)."""


class StdoutUnwritable(StorageError):
    """Standard output cannot be written (a full disk, `> /dev/full`): what was printed is
    incomplete; after a committed write the line says so, so that nobody records it twice."""

    def __init__(self, reason: str, *, committed: bool, kept: str | None = None) -> None:
        advice = kept or COMMITTED_ADVICE  # `kept`: the run's own words (`checkpoint show N`)
        after = f"it committed: {advice}" if committed else "the output is incomplete"
        super().__init__(f"cannot write standard output: {reason}; {after}")


class DamagedFile(StorageError):
    """The ledger file is damaged (SQLite cannot read its pages): only a restore mends it."""


class EditedTable(StorageError):
    """A table's cell holds what no release writes (text where a whole number or a time
    belongs): the ledger file was edited by hand. A read or write stops there in one line,
    exit 3; `verify` names the cell."""
