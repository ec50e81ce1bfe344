"""`keys generate` and `checkpoint`: signing keys and signed checkpoints of the ledger."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from sampleloans.commands.common import (
    JsonOption,
    console,
    engine_context,
    errors_to_exit_codes,
    print_json,
    print_table,
    whole_number,
)
from sampleloans.text import counted, path_shown

if TYPE_CHECKING:  # the service loads only when a command runs (--help stays light)
    from sampleloans.services.checkpoints import Consistent

keys_app = typer.Typer(help="Signing keys for checkpoints (Ed25519).", no_args_is_help=True)
checkpoint_app = typer.Typer(invoke_without_command=True)  # help: the callback's docstring

Force = Annotated[bool, typer.Option("--force", help="Replace existing files.")]


@keys_app.command("generate")
def generate(
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="The private key file to write (0600).")
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="NAME", help="The key's name in signatures (no spaces or '+')."
        ),
    ] = "sampleloans",
    force: Force = False,
) -> None:
    """Make an Ed25519 key pair: FILE and FILE.pub.

    FILE is the private key (0600), FILE.pub the public one.

    Prints the public key's fingerprint. The private key is never printed nor stored in the
    ledger.

    \b
    Example: sampleloans keys generate --out ~/checkpoint.key --name naoc.example/ledger
    """
    from sampleloans.services.checkpoints import generate_keys

    with errors_to_exit_codes():
        files = generate_keys(out, name=name, force=force)
    out_console = console()
    out_console.print(
        f"Wrote private key {path_shown(files.private_path)} (0600: keep it secret; it is never "
        "stored in "
        f"the ledger) and public key {path_shown(files.public_path)}.",
        markup=False,
    )
    out_console.print(
        f"Key {files.verifier.name}+{files.verifier.key_id.hex()}, fingerprint "
        f"{files.verifier.fingerprint()}",
        markup=False,
    )
    if files.old_record is not None:
        out_console.print(
            f"The replaced key's record of the checkpoints it signed was moved to "
            f"{path_shown(files.old_record)}.",
            markup=False,
        )


@checkpoint_app.callback()
def checkpoint(
    ctx: typer.Context,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            metavar="FILE",
            help="The private key file (from 'keys generate') to sign with.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Also write the signed checkpoint to FILE."),
    ] = None,
    force: Force = False,
) -> None:
    """Verify the whole ledger, then sign and keep a checkpoint.

    The checkpoint is of the ledger's head.

    The checkpoint (a C2SP signed note: origin, tree size, RFC 6962 Merkle root, and head,
    state digest and time lines) is kept in the ledger's append-only checkpoint table and
    printed (or written to --out). Refused (exit 1) if verify finds a problem or the ledger no
    longer extends an earlier checkpoint: one kept in the ledger, or the last one this key
    signed for it, recorded beside the key in KEY.signed (so a rolled-back ledger file cannot
    make the key sign a history that contradicts what it signed before). Curators only.

    \b
    Example: sampleloans checkpoint --key ~/checkpoint.key --out cp-212.txt
    """
    if ctx.invoked_subcommand is not None:
        if key is not None or out is not None:
            _usage("--key and --out go with 'checkpoint' alone, not with a subcommand")
        return
    if key is None:
        _usage("--key FILE is needed to sign a checkpoint (make one with 'keys generate')")
    from sampleloans.services.checkpoints import (
        key_inputs,
        make_checkpoint,
        memory_path,
        read_signer,
    )

    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)
        signer = read_signer(key)
        made = make_checkpoint(
            engine,
            service_ctx,
            signer,
            out=out,
            force=force,
            memory=memory_path(key),
            inputs=key_inputs(key),
        )
    if out is None:
        typer.echo(made.note, nl=False)
    console(stderr=out is None).print(
        f"Checkpoint {made.id}: {counted(made.checkpoint.size, 'event')}, "
        f"{made.checkpoint.extension('head')}, signed by {signer.name}"
        + (f"; written to {out}" if out else ""),
        markup=False,
    )


def _usage(message: str) -> NoReturn:
    """One usage error line and exit 2."""
    from sampleloans.text import one_line

    typer.echo(f"Error: {one_line(message)}", err=True)
    raise typer.Exit(2)


@checkpoint_app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the kept checkpoints, oldest first.

    JSON keys: id, event_count, head, state_digest, created_at, public_key, note (the signed
    checkpoint, as written). Curators and compliance
    officers.

    \b
    Example: sampleloans checkpoint list
    """
    from rich.table import Table

    from sampleloans.dates import format_table_time, parse_datetime
    from sampleloans.services.checkpoints import list_checkpoints

    with errors_to_exit_codes():
        kept = list_checkpoints(*engine_context(ctx))  # secured: the login acts
    if kept is None:  # a ledger from before revision 0004: nothing kept, and where to go
        kept = []
        console(stderr=True).print(
            "Note: this ledger's schema has no checkpoint table yet; a curator runs "
            "'sampleloans db upgrade' to add it.",
            markup=False,
        )
    if as_json:
        print_json(
            [
                {
                    "id": k.id,
                    "event_count": k.tree_size,
                    "head": k.head,
                    "state_digest": k.state,
                    "created_at": k.created_at,
                    "public_key": k.public_key,
                    "note": k.note,
                }
                for k in kept
            ]
        )
        return
    table = Table(title=f"Checkpoints ({len(kept):,})")
    for heading in ("id", "events", "head / state", "made (UTC)", "key"):
        table.add_column(
            heading,
            justify="right" if heading in ("id", "events") else "left",
            no_wrap=heading in ("id", "events", "key"),
        )
    for k in kept:
        # the whole head and state, one a line, to compare with `verify --print-head` or give
        # to `verify --anchor` (a hash folds where the terminal is narrow, never cut)
        table.add_row(
            str(k.id), str(k.tree_size), f"{k.head}\n{k.state}",
            format_table_time(parse_datetime(k.created_at, "created_at")),
            # NAME+KEYID names the key; a cut through its base64 named nothing
            "+".join(k.public_key.split("+", 2)[:2]),
        )  # fmt: skip
    print_table(
        table,
        empty="No checkpoint is kept yet; a curator makes one with "
        "'sampleloans checkpoint --key FILE'.",
    )


@checkpoint_app.command("show")
def show(
    ctx: typer.Context,
    checkpoint_id: Annotated[
        int,
        typer.Argument(
            metavar="ID",
            parser=whole_number,
            help="The checkpoint's id, as 'checkpoint list' shows it.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the signed checkpoint to FILE."),
    ] = None,
    force: Force = False,
) -> None:
    """Print a kept checkpoint as it was signed.

    With --out it is written to that file (0600) instead.

    The way to the file of a checkpoint already kept: one whose 'checkpoint --out' run was
    interrupted or could not write its file (running 'checkpoint' again signs the next one).
    Curators and compliance officers.

    \b
    Example: sampleloans checkpoint show 3 --out cp-212.txt
    """
    from sampleloans.services.checkpoints import kept_checkpoint, write_kept_checkpoint

    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)  # secured: the login acts
        if out is None:
            kept = kept_checkpoint(engine, service_ctx, checkpoint_id)
        else:
            kept = write_kept_checkpoint(engine, service_ctx, checkpoint_id, out, force=force)
    if out is None:
        typer.echo(kept.note, nl=False)
        return
    console().print(
        f"Wrote checkpoint {kept.id} ({counted(kept.tree_size, 'event')}, {kept.head}) to "
        f"{path_shown(out)}.",
        markup=False,
    )


@checkpoint_app.command("prove")
def prove(
    ctx: typer.Context,
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The older checkpoint file.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The newer checkpoint file.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="The proof file to write.")],
    force: Force = False,
) -> None:
    """Prove that checkpoint NEW extends checkpoint OLD.

    Writes an RFC 6962 consistency proof.

    Anyone can check it without the ledger: 'checkpoint check-consistency OLD NEW PROOF
    --public-key KEY.pub'. Curators and compliance officers.

    \b
    Example: sampleloans checkpoint prove cp-107.txt cp-212.txt --out 107-212.proof.json
    """
    from sampleloans.services.checkpoints import prove_consistency

    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)  # secured: the login acts
        document = prove_consistency(engine, service_ctx, old, new, out, force=force)
    console().print(
        f"Wrote the consistency proof from size {document['old_size']} to "
        f"{document['new_size']} ({counted(len(document['proof']), 'hash')}) to {path_shown(out)}.",
        markup=False,
    )


@checkpoint_app.command("check-consistency")
def check_consistency(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The older checkpoint file.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The newer checkpoint file.")],
    proof: Annotated[
        Path, typer.Argument(metavar="PROOF", help="The proof from 'checkpoint prove'.")
    ],
    public_key: Annotated[
        list[Path],
        typer.Option(
            "--public-key",
            metavar="KEY.pub",
            help="The lender's public key (the .pub file); give it twice, the old key and the "
            "new, when the lender replaced its key between OLD and NEW.",
        ),
    ],
) -> None:
    """Check, with no ledger, that checkpoint NEW extends OLD.

    Each must be signed by a key given: one key, or the old and the new one across a key
    rotation.

    Exit 0 consistent; 1 not (a rewritten log, another key, another ledger); 2 bad input.

    \b
    Example: sampleloans checkpoint check-consistency cp-107.txt cp-212.txt 107-212.proof.json \\
      --public-key naoc.pub
    """
    from sampleloans.services.checkpoints import check_consistency as run_check

    with errors_to_exit_codes():
        done = run_check(old, new, proof, public_key)
    console().print(
        f"consistent: NEW ({counted(done.new.size, 'event')}) extends OLD "
        f"({counted(done.old.size, 'event')}) of {done.old.origin}; {_signed_by(done)}",
        markup=False,
    )


def _signed_by(done: "Consistent") -> str:
    """Which key given signed each checkpoint: one, or the old and the new across a rotation."""
    if done.old_key == done.new_key:
        return "both signed by the key given"
    old_key = f"{done.old_key.name}+{done.old_key.key_id.hex()}"
    new_key = f"{done.new_key.name}+{done.new_key.key_id.hex()}"
    return f"OLD signed by {old_key}, NEW by {new_key}, keys given"
