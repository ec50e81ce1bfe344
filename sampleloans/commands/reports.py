"""`sampleloans report …` and `verify-document`: PDF custody, return, overdue and inventory reports.

Each report command: parse → build the read model in one read transaction
(services.reporting) → render PDF bytes (reports/) → write atomically (fileio). reportlab and
pypdf are imported only inside these commands.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.commands.common import (
    console,
    db_path,
    errors_to_exit_codes,
    now,
    reading,
    state,
)
from sampleloans.commands.signer import (
    PassphraseFileOption,
    SignerCertOption,
    SignerKeyOption,
    SignerP12Option,
    SignOption,
    SignRequest,
    sign_request,
)
from sampleloans.commands.statement import statement as statement_command
from sampleloans.errors import SampleLoansError, StorageError
from sampleloans.text import counted, path_shown

if TYPE_CHECKING:
    from sampleloans.readmodels.report import Report, ReportRequest
    from sampleloans.reports.signing import SigningCredentials

app = typer.Typer(
    help="PDF reports: custody, return, overdue, inventory.\n\n"
    "Chain-of-custody report, return report, overdue notice, inventory statement, PI statements.",
    no_args_is_help=True,
)

OutOption = Annotated[
    Path, typer.Option("--out", metavar="FILE.pdf", help="The PDF file to write.")
]
GeneratedOption = Annotated[
    str | None,
    typer.Option(
        "--generated-at",
        metavar="DATETIME",
        help="Generation time printed on the report (ISO 8601); default now. Same ledger and "
        "same --generated-at give a byte-identical file.",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace an existing --out file (a regular file; never the ledger)."
    ),
]
LoanOption = Annotated[str | None, typer.Option("--loan", metavar="NUMBER", help="A loan number.")]
InstitutionOption = Annotated[
    str | None, typer.Option("--institution", metavar="SHORT", help="An institution's short name.")
]


def _parse_time(text: str | None, option: str) -> Any:
    from sampleloans.dates import parse_datetime

    return parse_datetime(text, option) if text else None


def _make(
    ctx: typer.Context,
    kind: str,
    out: Path,
    force: bool,
    generated_at: str | None,
    signing: SignRequest = SignRequest(),  # frozen: a shared default is safe
    **scope: Any,
) -> None:
    """Build, render, sign when asked, and write one report."""
    from sampleloans.commands.signer import load_credentials, signing_inputs, warn_if_exposed
    from sampleloans.fileio import check_output, write_atomic
    from sampleloans.reports import render
    from sampleloans.services.reporting import make_request

    with errors_to_exit_codes():
        as_of = _parse_time(scope.pop("as_of", None), "--as-of")
        signing_time = now()
        when = _parse_time(generated_at, "--generated-at") or signing_time
        request = make_request(kind, as_of=as_of, **scope)
        ledger = db_path(ctx)  # never written over, under any name (link, symlink, ..)
        reads = signing_inputs(signing)
        # before the work of building the report
        check_output(out, force=force, ledger=ledger, inputs=reads)
        credentials = load_credentials(signing, signing_time)  # a bad key fails before work too
        report = _build(ctx, request, when, dated_by_hand=generated_at is not None)
        data = render(report)
        signed = ""
        if credentials is not None:
            data = _signed(data, report, credentials, signing_time)
            signed = f"; signed by {credentials.signer_name}"
        write_atomic(out, data, force=force, ledger=ledger, inputs=reads)
    console().print(
        # the title's first letter only: "F-75" keeps its capital
        f"Wrote {path_shown(out)}: {report.title[:1].lower()}{report.title[1:]}, "
        f"{report.scope_label}; "
        f"ledger head {report.head_seq}:{report.head_hash[:12]}…, digest "
        f"{report.digest[:16]}{signed}.",
        markup=False,
    )
    warn_if_exposed(signing)


def _build(
    ctx: typer.Context, request: "ReportRequest", when: datetime, *, dated_by_hand: bool
) -> "Report":
    """The report read from the ledger, dated `when`; a date typed by hand (not the clock,
    which may lag a copy) is refused before the last event it prints."""
    from sampleloans.services.reporting import build_report, for_reader, refuse_dated_before_head

    with reading(ctx) as (session, service_ctx):
        request = for_reader(session, service_ctx, request)
        report = build_report(session, service_ctx, request, generated_at=when)
        if dated_by_hand:
            refuse_dated_before_head(session, report)
    return report


def _signed(
    data: bytes, report: "Report", credentials: "SigningCredentials", signing_time: datetime
) -> bytes:
    """The rendering signed (PAdES), the report and its head named as the reason."""
    from sampleloans.reports.signing import sign_pdf

    # an incremental update: `data` stays a byte-exact prefix of the signed file
    return sign_pdf(
        data,
        credentials,
        signing_time,
        reason=f"{report.title}, {report.scope_label}; ledger head "
        f"{report.head_seq}:{report.head_hash[:16]}",
    )


@app.command("custody")
def custody(
    ctx: typer.Context,
    out: OutOption,
    loan: LoanOption = None,
    sample: Annotated[
        str | None,
        typer.Option("--sample", metavar="CODE", help="A sample code (its whole split lineage)."),
    ] = None,
    institution: InstitutionOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATETIME",
            help="The ledger as it stood then (ISO 8601, UTC if no offset).",
        ),
    ] = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
    sign: SignOption = False,
    signer_p12: SignerP12Option = None,
    signer_key: SignerKeyOption = None,
    signer_cert: SignerCertOption = None,
    signer_passphrase_file: PassphraseFileOption = None,
) -> None:
    """Chain-of-custody report of a loan, lineage or institution.

    Of a loan, a sample lineage or an institution.

    \b
    Example: sampleloans --as compliance@naoc.example report custody --loan L-2025-UoC \\
      --out custody.pdf
    """
    _make(
        ctx,
        "custody",
        out,
        force,
        generated_at,
        sign_request(ctx, sign, signer_p12, signer_key, signer_cert, signer_passphrase_file),
        loan=loan,
        sample=sample,
        institution=institution,
        as_of=as_of,
    )


@app.command("return")
def return_report(
    ctx: typer.Context,
    out: OutOption,
    loan: LoanOption = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
    sign: SignOption = False,
    signer_p12: SignerP12Option = None,
    signer_key: SignerKeyOption = None,
    signer_cert: SignerCertOption = None,
    signer_passphrase_file: PassphraseFileOption = None,
) -> None:
    """Return report of a loan: per-sample mass accounting.

    A digital NASA Form F-75.

    \b
    Example: sampleloans report return --loan L-2025-IPGP --out return.pdf
    """
    _make(
        ctx,
        "return",
        out,
        force,
        generated_at,
        sign_request(ctx, sign, signer_p12, signer_key, signer_cert, signer_passphrase_file),
        loan=loan,
    )


@app.command("overdue")
def overdue(
    ctx: typer.Context,
    out: OutOption,
    institution: InstitutionOption = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
    sign: SignOption = False,
    signer_p12: SignerP12Option = None,
    signer_key: SignerKeyOption = None,
    signer_cert: SignerCertOption = None,
    signer_passphrase_file: PassphraseFileOption = None,
) -> None:
    """Notice to an institution of loans and inventories past due.

    Days late are counted at --generated-at.

    Addressed to each PI and the institution, with a date to respond by (14 days after
    --generated-at: return the samples, or request an extension while one would be granted) and
    the agreement terms.

    \b
    Example: sampleloans report overdue --institution Osaka --out notice.pdf
    """
    _make(
        ctx,
        "overdue",
        out,
        force,
        generated_at,
        sign_request(ctx, sign, signer_p12, signer_key, signer_cert, signer_passphrase_file),
        institution=institution,
    )


@app.command("inventory")
def inventory(
    ctx: typer.Context,
    out: OutOption,
    loan: LoanOption = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
    sign: SignOption = False,
    signer_p12: SignerP12Option = None,
    signer_key: SignerKeyOption = None,
    signer_cert: SignerCertOption = None,
    signer_passphrase_file: PassphraseFileOption = None,
) -> None:
    """Inventory statement of a loan, for the PI to attest.

    It lists what the ledger says the PI holds.

    The PI writes the mass measured beside each sample, confirms it, and explains any
    difference under Remarks; samples no longer held are listed apart.

    \b
    Example: sampleloans report inventory --loan L-2025-OU --out inventory.pdf
    """
    _make(
        ctx,
        "inventory",
        out,
        force,
        generated_at,
        sign_request(ctx, sign, signer_p12, signer_key, signer_cert, signer_passphrase_file),
        loan=loan,
    )


app.command("statement")(statement_command)


def read_document(path: Path) -> tuple[bytes, dict[str, Any]]:
    """A report file's bytes and the metadata it carries (Keywords JSON)."""
    from sampleloans.reports.document import read_document as read

    return read(path)


class AlteredDocument(SampleLoansError):
    """A report file whose metadata no `report` command writes: it was changed afterwards."""

    exit_code = 1


@dataclass(frozen=True)
class DocumentClaim:
    """What a report file says about itself: which report, at which head, with which digest."""

    request: "ReportRequest"
    head_seq: int
    head_hash: str
    digest: str
    generated_at: datetime
    as_of: datetime | None
    checkpoint: str | None = None  # `SIZE:ROOT` of the signed checkpoint it names
    layout: int = 2  # the page layout it was printed in (its metadata's "v")


CHECKPOINT_ID = re.compile(r"[1-9][0-9]{0,15}:[0-9a-f]{64}")


def _metadata_text(meta: dict[str, Any], key: str) -> str:
    """One metadata value, which every report writes as text."""
    from sampleloans.errors import InvalidInput

    value = meta.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{key}: missing or not text")
    return value


def document_claim(path: Path, meta: dict[str, Any]) -> DocumentClaim:
    """The report a file claims to be; metadata no report carries means it was altered."""
    from sampleloans.errors import InvalidInput

    try:
        return _claim_of(meta)
    except InvalidInput as exc:
        raise AlteredDocument(
            f"FILE: {path} carries report metadata no report is written with ({exc}); "
            "the document was altered"
        ) from None


def _claim_of(meta: dict[str, Any]) -> DocumentClaim:
    """The claim read field by field from the metadata (a field no report writes: InvalidInput)."""
    from sampleloans.dates import parse_datetime
    from sampleloans.errors import InvalidInput

    kind, scope, head, digest, generated = (
        _metadata_text(meta, key) for key in ("kind", "scope", "head", "digest", "generated_at")
    )
    as_of_text = meta.get("as_of")
    if as_of_text is not None and not isinstance(as_of_text, str):
        raise InvalidInput("as_of: not text")
    seq, hash_hex = _head_of(head)
    scope_name, _, scope_value = scope.partition(":")
    if scope_name not in ("loan", "sample", "institution") or not scope_value:
        raise InvalidInput(f"scope: {scope[:60]!r} is not loan:, sample: or institution:")
    generated_at = parse_datetime(generated, "generated_at")
    as_of = parse_datetime(as_of_text, "as_of") if as_of_text else None
    layout = _layout(meta)
    checkpoint = _checkpoint_id(meta, layout)
    request = _request_of(kind, scope, as_of, _audience(meta, layout), **{scope_name: scope_value})
    return DocumentClaim(request, seq, hash_hex, digest, generated_at, as_of, checkpoint, layout)


def _head_of(head: str) -> tuple[int, str]:
    """The printed head SEQ:HASH."""
    from sampleloans.errors import InvalidInput
    from sampleloans.services.verify import parse_anchor

    try:
        return parse_anchor(head)
    except InvalidInput:
        raise InvalidInput(f"head: {head[:40]!r} is not SEQ:HASH") from None


def _checkpoint_id(meta: dict[str, Any], layout: int) -> str | None:
    """The checkpoint SIZE:ROOT a report names (layout 2 on), or None."""
    from sampleloans.errors import InvalidInput

    checkpoint = meta.get("checkpoint")
    if checkpoint is not None and layout < 2:
        raise InvalidInput(f"checkpoint: a layout {layout} report names none")
    if checkpoint is not None and (
        not isinstance(checkpoint, str) or not CHECKPOINT_ID.fullmatch(checkpoint)
    ):
        raise InvalidInput("checkpoint: not SIZE:ROOT")
    return checkpoint


def _audience(meta: dict[str, Any], layout: int) -> str | None:
    """Whom a report was printed for (metadata "for", layout 9 on): the borrower, or None."""
    from sampleloans.errors import InvalidInput
    from sampleloans.readmodels.report import BORROWER, RECALLED_LAYOUT

    audience = meta.get("for")
    if audience is None:
        return None
    if audience != BORROWER or layout < RECALLED_LAYOUT:
        raise InvalidInput(f"for: {str(audience)[:20]!r} in a layout {layout} report")
    return BORROWER


def _request_of(
    kind: str, scope: str, as_of: datetime | None, audience: str | None, **subject: str
) -> "ReportRequest":
    """The request that would write this kind of report of this scope (none: InvalidInput)."""
    from sampleloans.errors import InvalidInput
    from sampleloans.services.reporting import make_request

    try:
        return make_request(kind, as_of=as_of, audience=audience, **subject)
    except InvalidInput:
        raise InvalidInput(
            f"kind: no {kind[:20]!r} report of {scope[:60]!r}"
            + (" as of a moment" if as_of else "")
            + " is ever written"
        ) from None


def _layout(meta: dict[str, Any]) -> int:
    """The page layout a report file says it was printed in (metadata "v")."""
    from sampleloans.errors import InvalidInput
    from sampleloans.readmodels.report import REPORT_LAYOUTS

    layout = meta.get("v")
    # bool is an int in Python, but `true` is no layout number
    if type(layout) is not int or layout not in REPORT_LAYOUTS:
        accepted = ", ".join(str(number) for number in REPORT_LAYOUTS)
        raise InvalidInput(f"v: {str(layout)[:12]!r} is not a report layout (accepted: {accepted})")
    return layout


def _refuse_future_dates(path: Path, claim: DocumentClaim, now: datetime) -> None:
    """A report is dated when it is made: a date after now was put there afterwards."""
    from sampleloans.dates import to_iso

    for name, moment in (("generated_at", claim.generated_at), ("as_of", claim.as_of)):
        if moment is not None and moment > now:
            raise AlteredDocument(
                f"FILE: {path} says {name} {to_iso(moment)}, later than now ({to_iso(now)}); "
                "no report is dated in the future: the document was altered"
            )


def verify_document(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.pdf", help="A PDF written by 'sampleloans report'.")
    ],
    trust_root: Annotated[
        Path | None,
        typer.Option(
            "--trust-root",
            metavar="CERT",
            help="The lender's root certificate (PEM or DER): validate the report's signature "
            "against it, offline. Without a ledger at --db, only the signature is checked.",
        ),
    ] = None,
    signature_only: Annotated[
        bool,
        typer.Option(
            "--signature-only",
            help="With --trust-root: skip the ledger checks even if a ledger is there.",
        ),
    ] = False,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            metavar="KEY.pub",
            help="Check the checkpoint a statement or report names, and its proofs (every event "
            "a statement lists, a report's head event), with the lender's public key alone (the "
            ".pub file of 'keys generate'), without the ledger.",
        ),
    ] = None,
) -> None:
    """Check a report against the ledger, and any signature.

    The ledger still has the head it names, its content and file are unchanged, it is current
    (no later event changes it); a signed one's signature holds.

    Exit 0 when all hold; 1 when the ledger no longer has the printed head, the content or the
    file differ from what the ledger says at that head, later events change the report, the
    file's report metadata was altered (e.g. a date in the future), or the signature fails (a
    changed byte, an update appended after signing, a signer not chaining to --trust-root, an
    expired certificate, one whose key usage does not allow signing documents, no signature
    with --trust-root); 2 when the file is not a report.

    \b
    Example: sampleloans verify-document custody.pdf --trust-root lender/root-cert.pem
    """
    out = console()
    with errors_to_exit_codes():
        root, data, meta = _read_inputs(file, trust_root, signature_only)
    if meta.get("kind") == "statement":
        _verify_statement(ctx, file, data, meta, public_key, root, signature_only=signature_only)
        return
    if public_key is not None:
        with errors_to_exit_codes():
            claim = document_claim(file, meta)
        _verify_report_offline(file, data, claim, public_key, root)
        return
    with errors_to_exit_codes():
        claim = document_claim(file, meta)
        if _checked_without_ledger(ctx, out, file, claim, data, root, signature_only):
            return
        problems, signature_problems = _check_against_ledger(ctx, out, file, data, claim, root)
    _print_outcome(out, file, problems, signature_problems)


def _read_inputs(
    file: Path, trust_root: Path | None, signature_only: bool
) -> tuple[Any, bytes, dict[str, Any]]:
    """The trust root (or None) and the document's bytes and report metadata."""
    from sampleloans.commands.signer import load_trust_root

    if signature_only and trust_root is None:
        from sampleloans.errors import InvalidInput

        raise InvalidInput("--signature-only: give --trust-root CERT to check the signature")
    root = load_trust_root(trust_root) if trust_root is not None else None
    data, meta = read_document(file)
    return root, data, meta


def _checked_without_ledger(
    ctx: typer.Context,
    out: Any,
    file: Path,
    claim: DocumentClaim,
    data: bytes,
    root: Any,
    signature_only: bool,
) -> bool:
    """Check only the signature when asked or when there is no ledger; True if that was done.

    No ledger and no trust root: nothing can be checked, which is an environment error.
    """
    ledger = db_path(ctx)
    present = _ledger_present(ctx)
    if root is not None and (signature_only or not present):
        _verify_signature_only(out, file, claim, data, root, ledger, signature_only)
        return True
    if not present:
        raise StorageError(
            f"no ledger at {ledger}: to check {file} without one, give --trust-root "
            "ROOT.pem (its signature) or --public-key KEY.pub (the checkpoint it names)"
        )
    return False


def _check_against_ledger(
    ctx: typer.Context, out: Any, file: Path, data: bytes, claim: DocumentClaim, root: Any
) -> tuple[list[str], int]:
    """The signature then the ledger checks; the problems found, the signature's counted apart."""
    from sampleloans.commands.signer import check_document_signature
    from sampleloans.readmodels.report import INVENTORY_SENT_BACK_LAYOUT, SENT_BACK_LAYOUT
    from sampleloans.services.queries import judged_before_sent_back
    from sampleloans.services.reporting import check_access

    problems: list[str] = []
    with reading(ctx) as (session, service_ctx):
        # who may read this report is settled before anything at all is printed
        check_access(session, service_ctx, claim.request)
        _refuse_future_dates(file, claim, service_ctx.now)
        out.print(
            f"{path_shown(file)}: {claim.request.kind} report, {claim.request.scope_words}, ledger "
            "head "
            f"{claim.head_seq}:{claim.head_hash[:12]}…",
            markup=False,
        )
        signed = check_document_signature(out, problems, data, root, service_ctx.now)
        signature_problems = len(problems)  # the signature's come first
        head_seq = _check_head(out, problems, session, claim)
        if head_seq is not None:
            check = _LedgerCheck(out, problems, session, service_ctx, claim, data, signed)
            # a file of a layout before the sent-back rule is judged as it was then
            with judged_before_sent_back(
                claim.layout < SENT_BACK_LAYOUT, claim.layout < INVENTORY_SENT_BACK_LAYOUT
            ):
                then_digest = _check_content_then(check, head_seq)
                _check_still_current(check, head_seq, then_digest)
    return problems, signature_problems


def _print_outcome(out: Any, file: Path, problems: list[str], signature_problems: int) -> None:
    """Every problem, then the verdict line; exit 1 if there was any."""
    for problem in problems:
        out.print(f"FAIL  {problem}", markup=False)
    if problems:
        out.print(
            f"{path_shown(file)}: "
            f"{_verdict(len(problems) - signature_problems, signature_problems)} "
            f"({counted(len(problems), 'problem')})",
            markup=False,
        )
        raise typer.Exit(1)
    out.print(f"{path_shown(file)}: verified against the ledger", markup=False)


def _verdict(ledger_problems: int, signature_problems: int) -> str:
    """The last line's verdict: what failed, the ledger checks, the signature or both."""
    if not ledger_problems:
        return "matches the ledger, but its signature is NOT valid"
    if not signature_problems:
        return "does NOT match the ledger"
    return "does NOT match the ledger, and its signature is NOT valid"


def _check_head(out: Any, problems: list[str], session: Any, claim: DocumentClaim) -> int | None:
    """The report's head is in the ledger with the same hash: the ledger's own head seq, or
    None (with the problem: events removed, or the ledger rewritten)."""
    from sampleloans.services.reporting import hash_at, ledger_head

    seq, hash_hex = claim.head_seq, claim.head_hash
    found = hash_at(session, seq)
    head_seq, _head_hash = ledger_head(session)
    if found is None:
        problems.append(
            f"head: the ledger ends at event {head_seq} but this report was built on "
            f"event {seq}: events were removed (a rollback to an older copy or a truncation)"
        )
        return None
    if found != hash_hex:
        problems.append(
            f"head: event {seq} has hash {found[:16]}… but the report says "
            f"{hash_hex[:16]}…: the ledger was rewritten or replaced"
        )
        return None
    out.print(f"ok    head {seq} is in the ledger with the same hash", markup=False)
    return int(head_seq)


@dataclass(frozen=True)
class _LedgerCheck:
    """What the checks of a report against the ledger share: where they print and collect
    problems, the reading session, the file's claim and bytes, whether it is signed."""

    out: Any
    problems: list[str]
    session: Any
    service_ctx: Any
    claim: DocumentClaim
    data: bytes
    signed: bool


def _check_content_then(check: _LedgerCheck, head_seq: int) -> str:
    """The file equals the report rebuilt as the ledger stood at its head, naming the
    checkpoint it names (content and bytes); the digest to compare the current report with
    (the file's own when the checkpoint check failed and nothing was rebuilt)."""
    from sampleloans.reports import render
    from sampleloans.services.reporting import build_report, rebuild_at

    claim = check.claim
    if not _check_named_checkpoint(check.out, check.problems, check.session, claim):
        return claim.digest
    # rebuilt naming the checkpoint the file names: a later one changes nothing
    if claim.head_seq == head_seq and claim.as_of is None:
        then = build_report(
            check.session,
            check.service_ctx,
            claim.request,
            generated_at=claim.generated_at,
            checkpoint=claim.checkpoint,
        )
    else:
        then = rebuild_at(
            check.session,
            check.service_ctx,
            claim.request,
            claim.head_seq,
            claim.generated_at,
            checkpoint=claim.checkpoint,
        )
    # re-rendered in the layout the file was printed in (an older release's)
    then = replace(then, layout=claim.layout)
    _compare(
        check.out,
        check.problems,
        then,
        claim.digest,
        check.data,
        render,
        claim.head_seq,
        signed=check.signed,
    )
    return str(then.digest)


def _check_still_current(check: _LedgerCheck, head_seq: int, then_digest: str) -> None:
    """No event after the report's head changes its content (it is not out of date)."""
    from sampleloans.services.reporting import build_report

    claim = check.claim
    # the checkpoint is printed beside the content, not in it: compare content alone
    current = build_report(
        check.session,
        check.service_ctx,
        claim.request,
        generated_at=claim.generated_at,
        checkpoint=None,
    )
    # digested in the file's layout (a later layout may digest more fields)
    current = replace(current, layout=claim.layout)
    if current.digest != then_digest:
        check.problems.append(
            f"current: events after {claim.head_seq} (the ledger is at {head_seq}) change this "
            "report's content; it is out of date: issue a new one"
        )
    else:
        check.out.print(
            f"ok    no later event (ledger at {head_seq}) changes its content", markup=False
        )


def _ledger_present(ctx: typer.Context) -> bool:
    """Whether this invocation names a ledger: a PostgreSQL URL, or a file that exists."""
    from sampleloans.fileio import inspected_mode
    from sampleloans.services.ledgerfile import is_server_url

    given = state(ctx).db
    if given and is_server_url(given):
        return True
    # a name the system will not look up (too long) is one line naming --db, where
    # Path.exists raised
    return inspected_mode(db_path(ctx), "--db") is not None


def _check_named_checkpoint(
    out: Any, problems: list[str], session: Any, claim: DocumentClaim
) -> bool:
    """With the ledger: the checkpoint the report names is kept here, signed by the key kept
    with it, and covers the report's head (False, with the problem, when it is not)."""
    from sampleloans.services.reporting.checkpoint import named_problem

    if claim.checkpoint is None:
        why = (
            "printed by a release before signed checkpoints (layout 1)"
            if claim.layout < 2
            else "none covered its head when it was made"
        )
        out.print(f"note  the report names no signed checkpoint ({why})", markup=False)
        return True
    problem = named_problem(session, claim.checkpoint, claim.head_seq)
    if problem is not None:
        problems.append(problem)
        return False
    size, _, root = claim.checkpoint.partition(":")
    # 'SIZE:ROOT' would read as a head 'SEQ:HASH' beside the head line above, with another hash
    out.print(
        f"ok    checkpoint of {counted(int(size), 'event')} (root {root[:12]}…) is kept in the "
        "ledger and its "
        "signature verifies",
        markup=False,
    )
    return True


def _verify_report_offline(
    file: Path, data: bytes, claim: DocumentClaim, public_key: Path, trust_root: Any
) -> None:
    """A report with the lender's public key alone: its checkpoint's signature and the head
    event's inclusion proof under the signed root (and its PDF signature when signed)."""
    from sampleloans.commands.signer import print_offline_verdict
    from sampleloans.commands.statement import read_public_key_text
    from sampleloans.errors import RuleViolation
    from sampleloans.services.reporting.checkpoint import verify_report_proof

    out = console()
    with errors_to_exit_codes():
        _refuse_future_dates(file, claim, now())
        key_text = read_public_key_text(public_key)
        if claim.checkpoint is None:
            raise RuleViolation(
                f"FILE: {file} names no signed checkpoint (none covered its head when it was "
                "made): there is nothing to check with --public-key; print it again after "
                "'sampleloans checkpoint'"
            )
        document = embedded_checkpoint(data)
        report = verify_report_proof(
            document,
            key_text,
            head=f"{claim.head_seq}:{claim.head_hash}",
            checkpoint_id=claim.checkpoint,
        )
    out.print(
        f"{path_shown(file)}: {claim.request.kind} report, {claim.request.scope_words}, ledger "
        "head "
        f"{claim.head_seq}:{claim.head_hash[:12]}…",
        markup=False,
    )
    print_offline_verdict(
        out,
        file,
        report,
        data,
        trust_root,
        unsigned_note="its printed content is checked only against the ledger (or by a signed "
        "copy, --sign)",
        verdict="its head event is in the ledger the lender signed",
    )


def embedded_checkpoint(data: bytes) -> dict[str, Any]:
    """The checkpoint file embedded in a report PDF (InvalidInput when there is none)."""
    from sampleloans.commands.statement import embedded_json
    from sampleloans.reports.common import CHECKPOINT_FILE

    return embedded_json(data, CHECKPOINT_FILE)


def _verify_statement(
    ctx: typer.Context,
    file: Path,
    data: bytes,
    meta: dict[str, Any],
    public_key: Path | None,
    trust_root: Any,
    *,
    signature_only: bool,
) -> None:
    """A statement: with --public-key, its proofs alone; with a ledger, against it; else, with
    --trust-root, its PDF signature alone (like a report, no acting person needed)."""
    from sampleloans.commands import statement

    if public_key is not None:
        statement.verify_offline(file, data, meta, public_key, trust_root)
    elif not signature_only and _ledger_present(ctx):
        statement.verify_with_ledger(ctx, file, data, meta, trust_root)
    elif trust_root is not None:
        skipped = "--signature-only" if signature_only else f"no ledger at {db_path(ctx)}"
        _statement_signature_only(file, data, meta, trust_root, skipped)
    else:
        with errors_to_exit_codes():
            raise StorageError(
                f"no ledger at {db_path(ctx)}: to check {file} without one, give --public-key "
                "KEY.pub (its proofs) or --trust-root ROOT.pem (its signature)"
            )


def _statement_signature_only(
    file: Path, data: bytes, meta: dict[str, Any], root: Any, skipped: str
) -> None:
    """Validate a signed statement with the trust root alone: no ledger, no acting person."""
    from sampleloans.commands.signer import check_document_signature

    out = console()
    scope = str(meta.get("scope", ""))
    out.print(f"{path_shown(file)}: statement to {scope.removeprefix('pi:')}", markup=False)
    problems: list[str] = []
    check_document_signature(out, problems, data, root, now())
    for problem in problems:
        out.print(f"FAIL  {problem}", markup=False)
    if problems:
        out.print(
            f"{path_shown(file)}: signature NOT valid ({counted(len(problems), 'problem')})",
            markup=False,
        )
        raise typer.Exit(1)
    out.print(
        f"{path_shown(file)}: signature valid; the ledger checks were skipped ({skipped}); its "
        "proofs are "
        "checked with --public-key",
        markup=False,
    )


def _verify_signature_only(
    out: Any,
    file: Path,
    claim: DocumentClaim,
    data: bytes,
    root: Any,
    ledger: Path,
    asked: bool,
) -> None:
    """Validate a signed report with the trust root alone: no ledger, no acting person."""
    from sampleloans.commands.signer import check_document_signature

    when = now()
    _refuse_future_dates(file, claim, when)
    request = claim.request
    out.print(
        f"{path_shown(file)}: {request.kind} report, {request.scope_words}, ledger head "
        f"{claim.head_seq}:{claim.head_hash[:12]}…, digest {claim.digest[:16]}",
        markup=False,
    )
    problems: list[str] = []
    check_document_signature(out, problems, data, root, when)
    for problem in problems:
        out.print(f"FAIL  {problem}", markup=False)
    skipped = "--signature-only" if asked else f"no ledger at {ledger}"
    if problems:
        out.print(
            f"{path_shown(file)}: signature NOT valid ({counted(len(problems), 'problem')})",
            markup=False,
        )
        raise typer.Exit(1)
    # the checkpoint a report names is the key's to check: say so, as a statement's line does
    unchecked = "; the checkpoint it names is checked with --public-key" if claim.checkpoint else ""
    out.print(
        f"{path_shown(file)}: signature valid; the ledger checks were skipped "
        f"({skipped}){unchecked}",
        markup=False,
    )


def _compare(
    out: Any,
    problems: list[str],
    then: Any,
    digest: str,
    data: bytes,
    render: Any,
    seq: int,
    *,
    signed: bool = False,
) -> None:
    """Compare the rebuilt report's digest and a fresh rendering with the document (for a
    signed file, with the part before the signature, whose checks run apart)."""
    if then.digest != digest:
        problems.append(
            f"content: the ledger at event {seq} gives digest {then.digest[:16]} but the "
            f"document says {digest[:16]}: its content is not what the ledger recorded"
        )
        return
    out.print(f"ok    content digest {digest[:16]} matches the ledger at event {seq}", markup=False)
    fresh = render(then)
    if signed and data.startswith(fresh):
        out.print(
            "ok    up to its signature, the file is byte-identical to a fresh rendering",
            markup=False,
        )
    elif fresh != data:
        problems.append(
            "file: the PDF differs from a fresh rendering of the same report: the file was "
            "modified after it was written"
        )
    else:
        out.print("ok    the file is byte-identical to a fresh rendering", markup=False)
