"""`sampleloans report …` and `verify-document`: PDF custody, return, overdue and inventory reports.

Each report command: parse → build the read model in one read transaction
(services.reporting) → render PDF bytes (reports/) → write atomically (fileio). reportlab and
pypdf are imported only inside these commands.
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sampleloans.commands.common import console, db_path, errors_to_exit_codes, now, reading

app = typer.Typer(
    help="PDF reports: custody, return, overdue notice, inventory statement.", no_args_is_help=True
)

OutOption = Annotated[Path, typer.Option("--out", help="The PDF file to write.")]
GeneratedOption = Annotated[
    str | None,
    typer.Option(
        "--generated-at",
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
LoanOption = Annotated[str | None, typer.Option("--loan", help="A loan number.")]
InstitutionOption = Annotated[
    str | None, typer.Option("--institution", help="An institution's short name.")
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
    **scope: Any,
) -> None:
    """Build, render and write one report."""
    from sampleloans.fileio import check_output, write_atomic
    from sampleloans.reports import render
    from sampleloans.services.reporting import build_report, make_request

    with errors_to_exit_codes():
        as_of = _parse_time(scope.pop("as_of", None), "--as-of")
        when = _parse_time(generated_at, "--generated-at") or now()
        request = make_request(kind, as_of=as_of, **scope)
        ledger = db_path(ctx)  # never written over, under any name (link, symlink, ..)
        check_output(out, force=force, ledger=ledger)  # before the work of building the report
        with reading(ctx) as (session, service_ctx):
            report = build_report(session, service_ctx, request, generated_at=when)
        data = render(report)
        write_atomic(out, data, force=force, ledger=ledger)
    console().print(
        f"Wrote {out}: {report.title.lower()}, {report.scope_label}; ledger head "
        f"{report.head_seq}:{report.head_hash[:12]}…, digest {report.digest[:16]}.",
        markup=False,
    )


@app.command("custody")
def custody(
    ctx: typer.Context,
    out: OutOption,
    loan: LoanOption = None,
    sample: Annotated[
        str | None, typer.Option("--sample", help="A sample code (its whole split lineage).")
    ] = None,
    institution: InstitutionOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The ledger as it stood then (ISO 8601).")
    ] = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
) -> None:
    """Chain-of-custody report of a loan, a sample lineage or an institution.

    Example: sampleloans --as compliance@naoc.example report custody --loan L-2025-UoC
    --out custody.pdf
    """
    _make(
        ctx,
        "custody",
        out,
        force,
        generated_at,
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
) -> None:
    """Return report of a loan (digital NASA Form F-75): per-sample mass accounting.

    Example: sampleloans report return --loan L-2025-IPGP --out return.pdf
    """
    _make(ctx, "return", out, force, generated_at, loan=loan)


@app.command("overdue")
def overdue(
    ctx: typer.Context,
    out: OutOption,
    institution: InstitutionOption = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
) -> None:
    """Notice to an institution of loans and inventories past due (days late at --generated-at).

    Example: sampleloans report overdue --institution Osaka --out notice.pdf
    """
    _make(ctx, "overdue", out, force, generated_at, institution=institution)


@app.command("inventory")
def inventory(
    ctx: typer.Context,
    out: OutOption,
    loan: LoanOption = None,
    generated_at: GeneratedOption = None,
    force: ForceOption = False,
) -> None:
    """Inventory statement of a loan: what the ledger says the PI holds, to be attested.

    Example: sampleloans report inventory --loan L-2025-OU --out inventory.pdf
    """
    _make(ctx, "inventory", out, force, generated_at, loan=loan)


def read_document(path: Path) -> tuple[bytes, dict[str, Any]]:
    """A report file's bytes and the metadata it carries (Keywords JSON)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from sampleloans.errors import InvalidInput, StorageError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StorageError(f"FILE: cannot read {path}: {exc.strerror}") from None
    try:
        import io

        info = PdfReader(io.BytesIO(data)).metadata or {}
        meta = json.loads(str(info.get("/Keywords", "")))
    except (PdfReadError, ValueError, OSError) as exc:
        raise InvalidInput(
            f"FILE: {path} is not a sampleloans report (no readable report metadata: {exc})"
        ) from None
    if not isinstance(meta, dict) or meta.get("app") != "sampleloans":
        raise InvalidInput(f"FILE: {path} is not a sampleloans report (no report metadata)")
    return data, meta


def verify_document(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A PDF written by 'sampleloans report'.")],
) -> None:
    """Check a report against the ledger: head still there, content and file unchanged, current.

    Exit 0 when all hold; 1 when the ledger no longer has the printed head, the content or the
    file differ from what the ledger says at that head, or later events change the report.

    Example: sampleloans --as compliance@naoc.example verify-document custody.pdf
    """
    from sampleloans.errors import InvalidInput
    from sampleloans.reports import render
    from sampleloans.services.reporting import (
        build_report,
        check_access,
        hash_at,
        make_request,
        rebuild_at,
    )
    from sampleloans.services.verify import parse_anchor

    out = console()
    problems: list[str] = []
    with errors_to_exit_codes():
        data, meta = read_document(file)
        try:
            seq, hash_hex = parse_anchor(str(meta["head"]))
            scope_name, _, scope_value = str(meta["scope"]).partition(":")
            generated_at = _parse_time(str(meta["generated_at"]), "generated_at")
            as_of = _parse_time(meta.get("as_of"), "as_of")
            request = make_request(str(meta["kind"]), as_of=as_of, **{scope_name: scope_value})
            digest = str(meta["digest"])
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"FILE: {file} has incomplete report metadata ({exc})") from None
        out.print(
            f"{file}: {meta['kind']} report, {meta['scope']}, ledger head {seq}:{hash_hex[:12]}…",
            markup=False,
        )
        with reading(ctx) as (session, service_ctx):
            # who may read this report is settled before anything about the ledger is printed
            check_access(session, service_ctx, request)
            found = hash_at(session, seq)
            from sampleloans.ledger.store import head

            head_seq, _head_hash = head(session)
            if found is None:
                problems.append(
                    f"head: the ledger ends at event {head_seq} but this report was built on "
                    f"event {seq}: events were removed (a rollback to an older copy or a "
                    "truncation)"
                )
            elif found != hash_hex:
                problems.append(
                    f"head: event {seq} has hash {found[:16]}… but the report says "
                    f"{hash_hex[:16]}…: the ledger was rewritten or replaced"
                )
            else:
                out.print(f"ok    head {seq} is in the ledger with the same hash", markup=False)
                if seq == head_seq and as_of is None:
                    then = build_report(session, service_ctx, request, generated_at=generated_at)
                else:
                    then = rebuild_at(session, service_ctx, request, seq, generated_at)
                _compare(out, problems, then, digest, data, render, seq)
                current = build_report(session, service_ctx, request, generated_at=generated_at)
                if current.digest != then.digest:
                    problems.append(
                        f"current: events after {seq} (the ledger is at {head_seq}) change this "
                        "report's content; it is out of date: issue a new one"
                    )
                else:
                    out.print(
                        f"ok    no later event (ledger at {head_seq}) changes its content",
                        markup=False,
                    )
    for problem in problems:
        out.print(f"FAIL  {problem}", markup=False)
    if problems:
        out.print(f"{file}: does NOT match the ledger ({len(problems)} problem(s))", markup=False)
        raise typer.Exit(1)
    out.print(f"{file}: verified against the ledger", markup=False)


def _compare(
    out: Any, problems: list[str], then: Any, digest: str, data: bytes, render: Any, seq: int
) -> None:
    """Compare the rebuilt report's digest and a fresh rendering with the document."""
    if then.digest != digest:
        problems.append(
            f"content: the ledger at event {seq} gives digest {then.digest[:16]} but the "
            f"document says {digest[:16]}: its content is not what the ledger recorded"
        )
        return
    out.print(f"ok    content digest {digest[:16]} matches the ledger at event {seq}", markup=False)
    if render(then) != data:
        problems.append(
            "file: the PDF differs from a fresh rendering of the same report: the file was "
            "modified after it was written"
        )
    else:
        out.print("ok    the file is byte-identical to a fresh rendering", markup=False)
