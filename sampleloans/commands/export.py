"""`export`: the ledger's events as JSON lines with their hashes (docs/ledger-format.md)."""

from pathlib import Path
from typing import Annotated

import typer

from sampleloans.commands.common import (
    console,
    engine_context,
    errors_to_exit_codes,
)
from sampleloans.text import counted, events_span, one_line, path_shown


def export(
    ctx: typer.Context,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", metavar="FILE", help="The JSON-lines file to write (0600, atomic)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    bag: Annotated[
        Path | None,
        typer.Option(
            "--bag",
            metavar="DIR",
            help="Instead: an archival BagIt bag in this new folder (events, checkpoints, public "
            "keys, reports, the format and the stand-alone verifier).",
        ),
    ] = None,
    report: Annotated[
        list[Path] | None,
        typer.Option(
            "--report",
            metavar="FILE.pdf",
            help="With --bag: a (signed) report PDF to include; repeat.",
        ),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint", metavar="FILE", help="With --bag: a checkpoint file to add; repeat."
        ),
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key", metavar="KEY.pub", help="With --bag: a public key file to add; repeat."
        ),
    ] = None,
) -> None:
    """Write every event, with its hashes, to a JSON-lines file.

    The format: docs/ledger-format.md.

    Line 1 is a header (format, version, ledger id); then one canonical JSON object per event in
    seq order. 'restore --events FILE' rebuilds the same ledger (same head) from it, and
    tools/verify_ledger.py checks it without sampleloans. Curators and compliance officers.

    \b
    Example: sampleloans export --events ledger-events.jsonl
    """
    from sampleloans.services.events_file import export_events

    if (events is None) == (bag is None):
        with errors_to_exit_codes():
            from sampleloans.errors import InvalidInput

            raise InvalidInput("export: give exactly one of --events FILE or --bag DIR")
    if bag is not None:
        _export_bag(ctx, bag, report or [], checkpoint or [], public_key or [])
        return
    assert events is not None
    if report or checkpoint or public_key:
        with errors_to_exit_codes():
            from sampleloans.errors import InvalidInput

            raise InvalidInput("--report, --checkpoint, --public-key: only with --bag")
    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)
        result = export_events(engine, service_ctx, events, force=force)
    console().print(
        f"Exported {counted(result.events, 'event')} to {path_shown(result.path)}; head "
        f"{result.head}.",
        markup=False,
    )


def _export_bag(
    ctx: typer.Context,
    bag: Path,
    reports: list[Path],
    checkpoints: list[Path],
    public_keys: list[Path],
) -> None:
    """`export --bag DIR`: write and validate the archival bag."""
    from sampleloans.services.bag import BagExtras, export_bag

    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)
        extras = BagExtras(tuple(reports), tuple(checkpoints), tuple(public_keys))
        result = export_bag(engine, service_ctx, bag, extras)
    console().print(
        f"Wrote bag {path_shown(result.path)}: {counted(result.events, 'event')} (head "
        f"{result.head}), "
        f"{counted(result.checkpoints, 'checkpoint')}, {counted(result.keys, 'public key')}, "
        f"{counted(result.reports, 'report')}, docs/ledger-format.md and tools/verify_ledger.py; "
        "validated (BagIt, sha256 and sha512).",
        markup=False,
    )


def verify_bag(
    bag: Annotated[Path, typer.Argument(metavar="DIR", help="A folder written by 'export --bag'.")],
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            metavar="KEY.pub",
            help="The lender's public key (KEY.pub) as you received it: every checkpoint must "
            "be signed by it. Repeat it for a key the lender replaced (each checkpoint signed "
            "by one of them). Without it, by a key the bag itself carries.",
        ),
    ] = None,
) -> None:
    """Validate an archival bag, with no ledger.

    Every checksum (BagIt), the events' hash chain, and each checkpoint's signature, origin and
    root against the events. No ledger and no acting person needed.

    Exit 0 when all hold; 1 when a file was changed, added or removed, or the events or a
    checkpoint do not check out (a broken or foreign signature too); 2 when the folder is not
    a bag or the key is not a public key.

    \b
    Example: sampleloans verify-bag archive-2026/ --public-key naoc.pub
    """
    from sampleloans.services.bag import verify_bag as check
    from sampleloans.services.checkpoints import read_verifier

    with errors_to_exit_codes():
        verifiers = [read_verifier(path) for path in public_key or []]
        result = check(bag, verifiers[0], also=verifiers[1:]) if verifiers else check(bag)
    out = console()
    for line in result.lines:
        out.print(f"ok    {one_line(line)}", markup=False)  # names from a bag someone made
    if result.reports:  # say what was not checked: a report's pages are its signature's job
        out.print(
            "note  reports/: each names one of these events as its head; its pages and "
            "signature are not checked here: check each with 'sampleloans verify-document FILE "
            "--trust-root root-cert.pem' (its signature) or '--public-key KEY.pub' (its "
            "checkpoint)",
            markup=False,
        )
    if not result.covered:
        out.print(
            f"{path_shown(bag)}: a valid bag, but it holds no signed checkpoint: nothing in it "
            "says the lender made it",
            markup=False,
        )
        return
    if result.covered < result.events:  # the chain has no key: anyone can extend it
        one_after = result.covered + 1 == result.events
        out.print(
            f"note  {events_span(result.covered + 1, result.events)} "
            f"{'comes' if one_after else 'come'} after the newest checkpoint, of "
            f"{counted(result.covered, 'event')}: no signature covers "
            f"{'it' if one_after else 'them'}; ask the lender for a checkpoint of "
            f"{counted(result.events, 'event')}",
            markup=False,
        )
    covered = f"events 1–{result.covered} are covered by checkpoints signed by"
    if verifiers:
        yours = "your keys" if len(verifiers) > 1 else "your key"
        out.print(f"{path_shown(bag)}: a valid bag; {covered} {yours}", markup=False)
    else:
        out.print(
            f"{path_shown(bag)}: a valid bag; {covered} keys it carries: compare each fingerprint "
            "above with the lender's published one, or pass --public-key",
            markup=False,
        )
