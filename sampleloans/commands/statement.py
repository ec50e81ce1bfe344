"""`sampleloans report statement`: one PDF per principal investigator, built on a signed
checkpoint, and `verify-document` of a statement (with the ledger, or the public key alone)."""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.commands.common import console, db_path, errors_to_exit_codes, now, reading
from sampleloans.commands.signer import (
    PassphraseFileOption,
    SignerCertOption,
    SignerKeyOption,
    SignerP12Option,
    SignOption,
    sign_request,
)
from sampleloans.text import counted, path_shown

if TYPE_CHECKING:
    from sampleloans.commands.signer import SignRequest
    from sampleloans.readmodels.statement import CheckpointRef, Statement

CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        metavar="FILE",
        help="A signed checkpoint file ('sampleloans checkpoint'); default the newest kept.",
    ),
]


def checkpoint_ref(note: str, option: str) -> "CheckpointRef":
    """A signed note's checkpoint as a statement names it (InvalidInput naming `option`)."""
    from sampleloans.services.statement import checkpoint_ref as parse_note

    return parse_note(note, option)


def read_checkpoint_file(path: Path) -> "CheckpointRef":
    """The checkpoint a signed-note file holds (its signature is the borrower's to check)."""
    from sampleloans.errors import InvalidInput
    from sampleloans.fileio import read_input_bytes

    try:
        note = read_input_bytes(path, "--checkpoint").decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"--checkpoint: {path} is not a signed checkpoint (not UTF-8)") from None
    return checkpoint_ref(note, "--checkpoint")


def newest_checkpoint(session: Any, *, signer: str = "curator") -> "CheckpointRef":
    """The newest checkpoint kept in the ledger; refused (exit 1) when none was made (to anyone
    but a curator, who alone may sign one, saying a curator signs it)."""
    from sampleloans.errors import RuleViolation
    from sampleloans.services.statement import newest_kept_note

    note = newest_kept_note(session)
    if note is None:
        sign = "'sampleloans checkpoint --key FILE'"
        make = {
            "curator": f"run {sign} first, or give --checkpoint FILE",
            "researcher": (
                f"a curator signs one ({sign}), or give --checkpoint FILE (one the lender sent you)"
            ),
        }.get(signer, f"a curator signs one ({sign}), or give --checkpoint FILE")
        raise RuleViolation(
            f"checkpoint: none kept yet; a statement is built on a signed checkpoint: {make}"
        )
    return checkpoint_ref(note, "checkpoint")


def build(
    ctx: typer.Context,
    *,
    institution: str | None,
    pi: str | None,
    checkpoint_file: Path | None,
    generated_at: datetime,
    dated_by_hand: bool = False,
) -> tuple[list["Statement"], str | None]:
    """The statements a request covers, each built on the checkpoint (one read transaction),
    and what they leave out, come after it; a date typed (`dated_by_hand`) may not precede
    what the checkpoint covers."""
    from sampleloans.services import access
    from sampleloans.services.statement import (
        build_statements,
        events_not_shown,
        refuse_dated_before_checkpoint,
    )

    given = read_checkpoint_file(checkpoint_file) if checkpoint_file else None
    with reading(ctx) as (session, service_ctx):
        # who acts is settled before anything else
        role = str(access.reader(session, service_ctx).role)
        checkpoint = given or newest_checkpoint(session, signer=role)
        if dated_by_hand:
            refuse_dated_before_checkpoint(session, checkpoint, generated_at)
        statements = build_statements(
            session,
            service_ctx,
            checkpoint,
            institution=institution,
            pi=pi,
            generated_at=generated_at,
        )
        return statements, events_not_shown(session, statements)


def statement(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="The folder to write one PDF per PI into (made, mode 0700, if missing; its "
            "parent must exist).",
        ),
    ],
    institution: Annotated[
        str | None,
        typer.Option(
            "--institution", metavar="SHORT", help="Every PI of this institution's open loans."
        ),
    ] = None,
    pi: Annotated[
        str | None,
        typer.Option(
            "--pi",
            metavar="EMAIL",
            help="One PI, by e-mail (a researcher who names neither option: themselves).",
        ),
    ] = None,
    checkpoint: CheckpointOption = None,
    generated_at: Annotated[
        str | None,
        typer.Option(
            "--generated-at",
            metavar="DATETIME",
            help="Generation time printed on the statements (ISO 8601); default now.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing statement files.")
    ] = False,
    sign: SignOption = False,
    signer_p12: SignerP12Option = None,
    signer_key: SignerKeyOption = None,
    signer_cert: SignerCertOption = None,
    signer_passphrase_file: PassphraseFileOption = None,
) -> None:
    """Statements to PIs: holdings, due dates, obligations, events.

    To principal investigators (PIs); the events come with proofs.

    One PDF per PI (`statement-NAME-at-DOMAIN.pdf`, in e-mail order) in --out, built on the
    newest signed checkpoint (or --checkpoint FILE); each event it lists carries an RFC 6962
    inclusion proof in the embedded file statement-proofs.json. A researcher who names neither
    --institution nor --pi gets their own statement.

    \b
    Example: sampleloans --as curator@naoc.example report statement --institution OU --out st/
    """
    from sampleloans.commands.signer import load_credentials, warn_if_exposed
    from sampleloans.dates import parse_datetime
    from sampleloans.fileio import check_output_folder
    from sampleloans.services.statement import file_name

    with errors_to_exit_codes():
        signing_time = now()
        when = parse_datetime(generated_at, "--generated-at") if generated_at else signing_time
        check_output_folder(out)  # made below, once there is a statement to write
        signing = sign_request(
            ctx, sign, signer_p12, signer_key, signer_cert, signer_passphrase_file
        )
        credentials = load_credentials(signing, signing_time)  # a bad key fails before work
        ledger = db_path(ctx)
        statements, not_shown = build(
            ctx,
            institution=institution,
            pi=pi,
            checkpoint_file=checkpoint,
            generated_at=when,
            dated_by_hand=generated_at is not None,
        )
        targets = _Targets(
            [out / file_name(s.request.pi) for s in statements],
            force=force,
            ledger=ledger,
            inputs=_files_read(signing, checkpoint),
        )
        if out.is_dir():
            targets.refuse_any_unwritable()  # before the signing work
        if statements:
            pdfs = [signed_pdf(made, credentials, signing_time) for made in statements]
            targets.write_all(out, pdfs)
    _print_written(targets.paths, statements, credentials)
    if not_shown is not None:  # the files are whole; the reader should know what they lack
        console(stderr=True).print(
            f"Note: {not_shown}: make the statements again on it.", markup=False
        )
    warn_if_exposed(signing)


@dataclass(frozen=True)
class _Targets:
    """The statement files to write, and what writing them must never replace."""

    paths: list[Path]
    force: bool
    ledger: Path | None  # the ledger and its -wal/-shm/-journal, under any name
    inputs: list[tuple[str, Path]]  # the files the command reads, named by their option

    def refuse_any_unwritable(self) -> None:
        """Every file is refused before any is written."""
        from sampleloans.fileio import check_output

        for target in self.paths:
            check_output(target, force=self.force, ledger=self.ledger, inputs=self.inputs)

    def write_all(self, folder: Path, pdfs: list[bytes]) -> None:
        """Every statement (0600) into `folder`, all or none: a kill between two statements used
        to leave the first, and the rerun refused it as existing."""
        from sampleloans.fileio import write_folder_atomic

        named = [(path.name, data) for path, data in zip(self.paths, pdfs, strict=True)]
        write_folder_atomic(folder, named, force=self.force, ledger=self.ledger, inputs=self.inputs)


def _files_read(signing: "SignRequest", checkpoint: Path | None) -> list[tuple[str, Path]]:
    """The signing files and the --checkpoint file: no statement may be written over them."""
    from sampleloans.commands.signer import signing_inputs

    reads = signing_inputs(signing)
    if checkpoint is not None:
        reads.append(("the checkpoint --checkpoint", checkpoint))
    return reads


def _print_written(targets: list[Path], statements: list["Statement"], credentials: Any) -> None:
    """A line per statement written: to whom, how many events, which checkpoint, its digest."""
    out_console = console()
    if not statements:
        out_console.print("No statement: no open loan in that scope.", markup=False)
    for target, made in zip(targets, statements, strict=True):
        out_console.print(
            f"Wrote {path_shown(target)}: statement to {made.request.pi}, "
            f"{counted(len(made.body.events), 'event')} "
            f"proved in the checkpoint of {counted(made.body.checkpoint.tree_size, 'event')} "
            f"(head {made.head_seq}:{made.head_hash[:12]}…), digest {made.digest[:16]}"
            + (f"; signed by {credentials.signer_name}." if credentials else "."),
            markup=False,
        )


def signed_pdf(made: "Statement", credentials: Any, signing_time: datetime) -> bytes:
    """A statement's PDF, signed (PAdES, an incremental update) when credentials are given."""
    from sampleloans.reports.statement import render

    data = render(made)
    if credentials is None:
        return data
    from sampleloans.reports.signing import sign_pdf

    return sign_pdf(
        data,
        credentials,
        signing_time,
        reason=f"{made.title}, {made.request.pi}; checkpoint {made.body.checkpoint.tree_size}:"
        f"{made.body.checkpoint.root_hash[:16]}",
    )


# --- verify-document of a statement -----------------------------------------------------------


def embedded_proofs(data: bytes) -> dict[str, Any]:
    """The proofs file embedded in a statement PDF (InvalidInput when there is none)."""
    from sampleloans.reports.statement import PROOFS_FILE

    return embedded_json(data, PROOFS_FILE)


def embedded_json(data: bytes, name: str) -> dict[str, Any]:
    """The JSON object a PDF embeds as file `name` (InvalidInput when there is not one)."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    from sampleloans.errors import RuleViolation

    # only asked of a file whose report metadata was read: a missing or damaged embedded file
    # means the report was altered (exit 1, as a changed byte is), not that it is no report
    altered = "the file was altered, or was not written by 'sampleloans report'"
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        blobs = attachments.get(name) or []
    except (PyPdfError, ValueError, KeyError, OSError):
        blobs = []
    if len(blobs) != 1:
        raise RuleViolation(f"FILE: it must embed exactly one {name}: {altered}")
    try:
        proofs = json.loads(blobs[0])
    except (ValueError, RecursionError):
        raise RuleViolation(f"FILE: its {name} is not JSON: {altered}") from None
    if not isinstance(proofs, dict):
        raise RuleViolation(f"FILE: its {name} is not a JSON object: {altered}")
    return proofs


def verify_offline(
    file: Path, data: bytes, meta: dict[str, Any], public_key: Path, trust_root: Any
) -> None:
    """Check a statement with the lender's public key alone: the checkpoint's signature, each
    event's hash from its fields, and each inclusion proof against the signed root; and the
    PDF's own signature when it is signed (against --trust-root when given)."""
    from sampleloans.commands.signer import print_offline_verdict
    from sampleloans.services.statement import verify_proofs

    out = console()
    with errors_to_exit_codes():
        key_text = read_public_key_text(public_key)
        proofs = embedded_proofs(data)
        scope = str(meta.get("scope", ""))
        report = verify_proofs(
            proofs, key_text, digest=str(meta.get("digest", "")), pi=scope.removeprefix("pi:")
        )
    # whose statement, first: the proofs say which events, the statement says for whom
    out.print(f"{path_shown(file)}: statement to {scope.removeprefix('pi:')}", markup=False)
    # the proofs hold for the events they carry; only a PAdES signature covers the page text
    print_offline_verdict(
        out,
        file,
        report,
        data,
        trust_root,
        unsigned_note="its printed pages are not covered by these checks (a statement made "
        "with --sign is)",
        verdict="every event listed is in the ledger the lender signed",
    )


def read_public_key_text(path: Path) -> str:
    """The text of a `--public-key` file, refused in one line naming the option and the file
    when it holds no public key (as `verify --public-key` names them)."""
    from sampleloans.services.checkpoints import read_verifier

    text = _read_text(path, "--public-key")
    read_verifier(path)  # a checkpoint or a private key given for the key: named here
    return text


def _read_text(path: Path, option: str) -> str:
    from sampleloans.errors import InvalidInput
    from sampleloans.fileio import read_input_bytes

    try:
        return read_input_bytes(path, option).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{option}: {path} is not a text key file") from None


def statement_version(meta: dict[str, Any]) -> int:
    """The page layout a statement file says it was printed in (metadata "v"); another value
    was put there afterwards (exit 1, as for a report)."""
    from sampleloans.commands.reports import AlteredDocument
    from sampleloans.reports.statement import METADATA_VERSIONS

    version = meta.get("v")
    # bool is an int in Python, but `true` is no version number
    if type(version) is not int or version not in METADATA_VERSIONS:
        accepted = ", ".join(str(number) for number in METADATA_VERSIONS)
        raise AlteredDocument(
            f"v: {str(version)[:12]!r} is not a statement layout (accepted: {accepted}); "
            "the document was altered"
        )
    return version


def verify_with_ledger(
    ctx: typer.Context, file: Path, data: bytes, meta: dict[str, Any], trust_root: Any
) -> None:
    """Check a statement against the ledger: rebuilt on its checkpoint, same digest, same bytes
    (a signed file: its unsigned rendering is a prefix)."""
    from sampleloans.commands.signer import check_document_signature
    from sampleloans.readmodels.statement import INVENTORY_SENT_BACK_VERSION, SENT_BACK_VERSION
    from sampleloans.services.queries import judged_before_sent_back
    from sampleloans.services.statement import build_statements

    out = console()
    problems: list[str] = []
    with errors_to_exit_codes():
        claim = _statement_claim(data, meta)
        # a file of a layout before the sent-back rule is judged as it was then
        before = claim.version < SENT_BACK_VERSION
        inventory_before = claim.version < INVENTORY_SENT_BACK_VERSION
        with (
            reading(ctx) as (session, service_ctx),
            judged_before_sent_back(before, inventory_before),
        ):
            (rebuilt,) = build_statements(
                session,
                service_ctx,
                claim.checkpoint,
                pi=claim.pi,
                generated_at=claim.generated,
                typed=False,
            )
        out.print(
            f"{path_shown(file)}: statement to {claim.pi}, built on the checkpoint of "
            f"{counted(claim.checkpoint.tree_size, 'event')} "
            f"(head {rebuilt.head_seq}:{rebuilt.head_hash[:12]}…)",
            markup=False,
        )
        out.print(
            f"ok    the checkpoint is one this ledger made and keeps, and its root is this "
            f"ledger's root over its first {counted(claim.checkpoint.tree_size, 'event')}",
            markup=False,
        )
        signed = check_document_signature(out, problems, data, trust_root, now())
        _compare_with_rebuilt(out, problems, data, meta, rebuilt, claim.version, signed=signed)
    for problem in problems:
        out.print(f"FAIL  {problem}", markup=False)
    if problems:
        out.print(
            f"{path_shown(file)}: does NOT match the ledger ({counted(len(problems), 'problem')})",
            markup=False,
        )
        raise typer.Exit(1)
    out.print(f"{path_shown(file)}: verified against the ledger", markup=False)


@dataclass(frozen=True)
class _StatementClaim:
    """What a statement's metadata and embedded proofs say it is."""

    pi: str  # the e-mail of its scope pi:EMAIL
    version: int  # its layout version
    generated: datetime
    checkpoint: "CheckpointRef"  # the checkpoint it is built on


def _statement_claim(data: bytes, meta: dict[str, Any]) -> _StatementClaim:
    """The statement's scope, layout, generation time and checkpoint (a bad one: exit 2)."""
    from sampleloans.dates import parse_datetime
    from sampleloans.errors import InvalidInput

    scope = str(meta.get("scope", ""))
    if not scope.startswith("pi:"):
        raise InvalidInput(f"scope: {scope[:60]!r} is not pi:EMAIL")
    version = statement_version(meta)
    generated = parse_datetime(str(meta.get("generated_at", "")), "generated_at")
    checkpoint = checkpoint_ref(str(embedded_proofs(data).get("checkpoint", "")), "checkpoint")
    return _StatementClaim(scope[3:], version, generated, checkpoint)


def _compare_with_rebuilt(
    out: Any,
    problems: list[str],
    data: bytes,
    meta: dict[str, Any],
    rebuilt: "Statement",
    version: int,
    *,
    signed: bool,
) -> None:
    """The document's digest against the rebuilt statement's, then its bytes against a fresh
    rendering (a signed file: the part before its signature, whose check runs apart; an
    unsigned one whole, so nothing appended passes); a mismatch joins `problems`."""
    from sampleloans.readmodels.statement import in_version
    from sampleloans.reports.statement import render

    rebuilt = in_version(rebuilt, version)  # digested in the words of the file's layout
    if rebuilt.digest != meta.get("digest"):
        problems.append(
            f"content: the ledger gives digest {rebuilt.digest[:16]} but the document says "
            f"{str(meta.get('digest'))[:16]}: its content is not what the ledger recorded"
        )
        return
    fresh = render(rebuilt, version)
    if signed and data.startswith(fresh):
        out.print(f"ok    content digest {rebuilt.digest[:16]} matches the ledger", markup=False)
        out.print(
            "ok    up to its signature, the file is byte-identical to a fresh rendering",
            markup=False,
        )
    elif data != fresh:
        problems.append(
            "file: the PDF differs from a fresh rendering of the same statement: the file "
            "was modified after it was written"
        )
    else:
        out.print(f"ok    content digest {rebuilt.digest[:16]} matches the ledger", markup=False)
        out.print("ok    the file is byte-identical to a fresh rendering", markup=False)
