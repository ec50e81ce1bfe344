"""`sampleloans notify`: e-mail each PI their statement and each late PI their institution's
overdue notice, through the configured SMTP server (or into `--outbox DIR` as `.eml` files, a
dry run), at most once per recipient, document and checkpoint."""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.commands.common import (
    console,
    db_path,
    errors_to_exit_codes,
    lock_timeout_ms,
    now,
    open_engine,
    reading,
    writing,
)
from sampleloans.commands.signer import (
    PassphraseFileOption,
    SignerCertOption,
    SignerKeyOption,
    SignerP12Option,
    SignOption,
    sign_request,
)
from sampleloans.commands.statement import CheckpointOption
from sampleloans.text import counted, one_line, path_shown

if TYPE_CHECKING:
    from email.message import EmailMessage

    from sampleloans.mail import MessageRefused, SmtpSettings
    from sampleloans.services.notify import SendKey

OUTBOX_SENDER = "sampleloans@localhost"  # the From of a dry run with no sender configured
DOCUMENT_WORDS = {"overdue": "overdue notice"}  # a message's kind, named as a document


@dataclass(frozen=True)
class Outgoing:
    """One message to deliver, and what its delivery is recorded under."""

    key: "SendKey"
    digest: str
    message: "EmailMessage"
    falls_due: datetime | None = None  # a notice: when the last obligation it lists fell due

    @property
    def file_name(self) -> str:
        """Its `.eml` name in an outbox: kind, scope and recipient, made safe."""
        from sampleloans.text import distinct_stem, file_safe, is_file_safe

        recipient, kind, scope, _checkpoint = self.key
        subject = _subject(scope)
        local, _, domain = recipient.partition("@")
        # reads back only if nothing was replaced and the '-' after the subject is its end
        # (the domain holds no '_', so the last '_' stands for the '@')
        exact = is_file_safe(local) and (subject == recipient or is_file_safe(subject))
        name = f"{kind}-{local}_{domain}"
        if subject != recipient:
            exact = exact and "-" not in subject
            name = f"{kind}-{file_safe(subject)}-{local}_{domain}"
        identity = "\n".join((kind, scope, recipient))
        return distinct_stem(file_safe(name), identity, exact=exact) + ".eml"


def _subject(scope: str) -> str:
    """Whom a message's scope names: `institution:OU` (or, for a notice sent again once a
    later obligation fell due, `institution:OU@TIME`) is OU; a statement's, its PI."""
    kind, _, subject = scope.partition(":")
    return subject.partition("@")[0] if kind == "institution" else subject


def _statement_message(
    statement: Any, sender: str, sent_at: datetime, credentials: Any = None
) -> Outgoing:
    """A PI's statement as an e-mail to the PI (signed when credentials are given)."""
    from sampleloans.commands.statement import signed_pdf
    from sampleloans.mail import Attachment, compose
    from sampleloans.reports.common import when
    from sampleloans.reports.statement import owed as owed_now
    from sampleloans.services.notify import message_id
    from sampleloans.services.statement import file_name

    body = statement.body
    # what the attached statement lists (a loan with nothing left owes its settlement report)
    owed = [f"  - loan {o.loan}: {o.what}, {o.standing}" for o in owed_now(statement)]
    text = "\n".join(
        [
            f"Dear {body.pi.name},",
            "",
            f"attached is your statement of the lunar samples lent to you by {body.lender.name}, "
            "built on the ledger's signed checkpoint of "
            f"{counted(body.checkpoint.tree_size, 'event')}.",
            "",
            _total_line(statement),
            "What you owe:" if owed else "Nothing is owed at the date of this statement.",
            *owed,
            "",
            "Every event listed carries a proof that it is in the ledger the lender signed; check "
            "them with the lender's public key alone:",
            f"  sampleloans verify-document {file_name(statement.request.pi)} --public-key KEY.pub",
            "",
            f"Generated {when(statement.generated_at)}.",
        ]
    )
    checkpoint = statement.checkpoint_id
    message = compose(
        sender=sender,
        recipient=statement.request.pi,
        subject=f"Statement of your lunar sample loans (ledger checkpoint "
        f"{body.checkpoint.tree_size})",
        text=text + "\n",
        attachment=Attachment(
            file_name(statement.request.pi),
            "application/pdf",
            signed_pdf(statement, credentials, sent_at),
        ),
        sent_at=sent_at,
        message_id=message_id("statement", statement.digest, statement.request.pi),
    )
    key = (statement.request.pi, "statement", statement.request.scope, checkpoint)
    return Outgoing(key, statement.digest, message)


def _total_line(statement: Any) -> str:
    """The mass lent, in the attached statement's words ('Total held: 59.500 mg (20.000 mg of
    it on its way back), on 1 open loan.'): never "you hold" for what is not held yet."""
    from sampleloans.reports.common import mass
    from sampleloans.reports.statement import total_words

    loans = counted(len(statement.body.loans), "open loan")
    if not any(loan.issued_at for loan in statement.body.loans):
        # the statement says the same under "What you hold": nothing was lent yet
        return f"Nothing has been issued to you yet: {loans}, awaiting approval or issue."
    label, note = total_words(statement)
    said = f"{mass(statement.body.held_ug)} ({note})" if note else mass(statement.body.held_ug)
    return f"{label}: {said}, on {loans}."


def _addressed(count: int) -> str:
    """Whom an overdue notice greets: 'principal investigator', or '…investigators' when it
    names several."""
    return "principal investigator" if count == 1 else "principal investigators"


def _notice_messages(
    report: Any, recipients: tuple[str, ...], checkpoint: str, sender: str, sent_at: datetime
) -> list[Outgoing]:
    """An institution's overdue notice as one e-mail to each of its late PIs."""
    from sampleloans.dates import day_count
    from sampleloans.mail import Attachment, compose
    from sampleloans.readmodels.report import words_in
    from sampleloans.reports import render
    from sampleloans.reports.common import day, party_lines, when
    from sampleloans.services.notify import message_id
    from sampleloans.text import file_safe

    body = report.body
    short = report.request.institution
    lines = [
        f"  - loan {line.loan}: {line.what} was due {when(line.due_at)}, "
        f"{day_count(line.days_late)} late"
        for line in body.lines
    ]
    # the actions ask for an extension "under the extension clause of the agreement terms
    # quoted in this notice": the message quotes those terms, below them
    terms = [f"  - {name}: {text}" for name, text in party_lines(body.clauses, report.layout)]
    text = "\n".join(
        [
            f"To the {_addressed(len(body.addressees))} of {body.institution.name},",
            "",
            "the following obligations are past due:",
            *lines,
            "",
            *(words_in(action, report.layout) for action in body.actions),
            "",
            *(["The agreement terms this notice rests on:", *terms, ""] if terms else []),
            f"Please respond by {day(body.respond_by)}. The notice is attached.",
        ]
    )
    subject = f"Overdue: lunar sample loans of {short}, respond by {day(body.respond_by)}"
    pdf = Attachment(f"overdue-notice-{file_safe(short)}.pdf", "application/pdf", render(report))
    return [
        Outgoing(
            (recipient, "overdue", report.request.scope, checkpoint),
            report.digest,
            compose(
                sender=sender,
                recipient=recipient,
                subject=subject,
                text=text + "\n",
                attachment=pdf,
                sent_at=sent_at,
                message_id=message_id("overdue", report.digest, recipient),
            ),
            max((line.due_at for line in body.lines), default=None),
        )
        for recipient in recipients
    ]


def _plan(
    ctx: typer.Context,
    institution: str | None,
    checkpoint_file: Path | None,
    sender: str,
    sent_at: datetime,
    credentials: Any = None,
) -> tuple[list[Outgoing], dict["SendKey", datetime], str, str | None]:
    """Every message due (statements, overdue notices), what was already sent, the checkpoint,
    and what the statements leave out, come after it (the notices are read at the head)."""
    from sampleloans.commands.statement import newest_checkpoint, read_checkpoint_file
    from sampleloans.services.notify import overdue_targets, require_curator, sent_keys
    from sampleloans.services.reporting import build_report, make_request
    from sampleloans.services.statement import build_statements, events_not_shown

    given = read_checkpoint_file(checkpoint_file) if checkpoint_file else None
    with reading(ctx) as (session, service_ctx):
        require_curator(session, service_ctx)
        checkpoint = given or newest_checkpoint(session)
        checkpoint_id = f"{checkpoint.tree_size}:{checkpoint.root_hash}"
        statements = build_statements(
            session,
            service_ctx,
            checkpoint,
            institution=institution,
            everyone=not institution,
            generated_at=sent_at,
        )
        outgoing = [_statement_message(s, sender, sent_at, credentials) for s in statements]
        for target in overdue_targets(session, service_ctx, institution):
            request = make_request("overdue", institution=target.institution)
            report = build_report(session, service_ctx, request, generated_at=sent_at)
            outgoing += _notice_messages(report, target.recipients, checkpoint_id, sender, sent_at)
        done = sent_keys(session)
        not_shown = events_not_shown(session, statements)
    return [_keyed(item, done) for item in outgoing], done, checkpoint_id, not_shown


def _keyed(item: Outgoing, done: dict["SendKey", datetime]) -> Outgoing:
    """An overdue notice keyed anew when one went for this checkpoint before an obligation it
    now lists fell due (late by time alone: no event, so no new checkpoint): its scope then
    names when that obligation fell due (`institution:OU@2027-04-02T08:00:00Z`), so it is sent
    once more, and again only when a later obligation falls due."""
    from dataclasses import replace

    from sampleloans.dates import to_iso
    from sampleloans.services.notify import listed_when_sent

    sent = done.get(item.key)
    if sent is None or item.falls_due is None or listed_when_sent(item.falls_due, sent):
        return item
    recipient, kind, scope, checkpoint = item.key
    return replace(item, key=(recipient, kind, f"{scope}@{to_iso(item.falls_due)}", checkpoint))


def notify(
    ctx: typer.Context,
    institution: Annotated[
        str | None,
        typer.Option(
            "--institution", metavar="SHORT", help="Only this institution's PIs; default every one."
        ),
    ] = None,
    checkpoint: CheckpointOption = None,
    outbox: Annotated[
        Path | None,
        typer.Option(
            "--outbox",
            metavar="DIR",
            help="Dry run: write each message as a .eml file into this folder (made, mode 0700, "
            "if missing); nothing is sent or recorded.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing .eml files in --outbox.")
    ] = False,
    smtp_host: Annotated[
        str | None,
        typer.Option(
            "--smtp-host", metavar="HOST", envvar="SAMPLELOANS_SMTP_HOST", help="SMTP server host."
        ),
    ] = None,
    smtp_port: Annotated[
        str | None,
        typer.Option(
            "--smtp-port", metavar="PORT", envvar="SAMPLELOANS_SMTP_PORT", help="SMTP port (25)."
        ),
    ] = None,
    smtp_from: Annotated[
        str | None,
        typer.Option(
            "--smtp-from", metavar="EMAIL", envvar="SAMPLELOANS_SMTP_FROM", help="Sender address."
        ),
    ] = None,
    smtp_starttls: Annotated[
        str | None,
        typer.Option(
            "--smtp-starttls",
            metavar="0|1",
            envvar="SAMPLELOANS_SMTP_STARTTLS",
            help="1 to use STARTTLS (0).",
        ),
    ] = None,
    smtp_user: Annotated[
        str | None,
        typer.Option(
            "--smtp-user",
            metavar="USER",
            envvar="SAMPLELOANS_SMTP_USER",
            help="Login name; the password only from SAMPLELOANS_SMTP_PASSWORD.",
        ),
    ] = None,
    sign: SignOption = False,
    signer_p12: SignerP12Option = None,
    signer_key: SignerKeyOption = None,
    signer_cert: SignerCertOption = None,
    signer_passphrase_file: PassphraseFileOption = None,
) -> None:
    """E-mail PIs their statements and overdue notices.

    Statements to PIs and overdue notices to late PIs, once per checkpoint.

    Each PI with an open loan gets their statement (built on the newest signed checkpoint, or
    --checkpoint FILE); each PI with a return or inventory past due gets their institution's
    overdue notice. A message already sent for the same recipient, document and checkpoint is
    not sent again, except a notice listing an obligation that fell due after it was sent.
    --sign signs each statement (PAdES) like 'report statement --sign'.
    Curators only.

    The server comes from SAMPLELOANS_SMTP_HOST, _PORT, _FROM, _STARTTLS, _USER and _PASSWORD
    (or the options); --outbox DIR is a dry run that writes .eml files.

    \b
    Example: sampleloans --as curator@naoc.example notify --outbox outbox/
    """
    from sampleloans.commands.signer import load_credentials, warn_if_exposed

    out = console()
    dry_run = outbox is not None
    _require_curator_and_record(ctx, dry_run=dry_run)
    with errors_to_exit_codes():
        server = _SmtpOptions(
            smtp_host, smtp_port, smtp_from, smtp_starttls, smtp_user, _sender_field(ctx)
        )
        settings = _server_settings(server, outbox)
        sent_at = now()
        signing = sign_request(
            ctx, sign, signer_p12, signer_key, signer_cert, signer_passphrase_file
        )
        credentials = load_credentials(signing, sent_at)  # a bad key fails before any work
        sender = settings.sender if settings else _outbox_sender(smtp_from)
        outgoing, done, checkpoint_id, not_shown = _plan(
            ctx, institution, checkpoint, sender, sent_at, credentials
        )
        pending = [o for o in outgoing if o.key not in done]
        delivered = len(pending)
        refusals: list[tuple[Outgoing, MessageRefused]] = []
        if outbox is not None:
            _write_outbox(out, outbox, pending, ledger=db_path(ctx), force=force)
        elif pending:
            assert settings is not None
            delivered, refusals = _send_all(ctx, out, settings, pending, sent_at)
    before = len(outgoing) - delivered - len(refusals)
    _print_totals(out, delivered, before, len(refusals), checkpoint_id, dry_run=dry_run)
    if not_shown is not None:  # what the statements sent lack; the next checkpoint sends them
        console(stderr=True).print(
            f"Note: {not_shown}: sign one, then run notify again (it sends the statements again).",
            markup=False,
        )
    warn_if_exposed(signing)
    if refusals:
        _report_refusals(refusals)


def _outbox_sender(smtp_from: str | None) -> str:
    """A dry run's From: the configured address, checked as for sending, or a placeholder."""
    from sampleloans.mail import sender_address

    return sender_address(smtp_from) if smtp_from else OUTBOX_SENDER


@dataclass(frozen=True)
class _SmtpOptions:
    """The SMTP server's options as typed (or from the environment), not yet checked."""

    host: str | None
    port: str | None
    sender: str | None
    starttls: str | None
    user: str | None
    sender_field: str  # where `sender` was set, named if the server refuses it


def _sender_field(ctx: typer.Context) -> str:
    """Where the sender address came from: `--smtp-from` when typed, else its variable."""
    # by name: typer 0.12 uses click's ParameterSource, later ones a vendored copy of it
    typed = getattr(ctx.get_parameter_source("smtp_from"), "name", None) == "COMMANDLINE"
    return "--smtp-from" if typed else "SAMPLELOANS_SMTP_FROM"


def _require_curator_and_record(ctx: typer.Context, *, dry_run: bool) -> None:
    """Only a curator notifies; a real sending needs the table that records what was sent."""
    from sampleloans.services.notify import require_curator, require_send_record

    with reading(ctx) as (session, service_ctx):
        require_curator(session, service_ctx)  # who acts is settled before the configuration
        if not dry_run:  # what is sent must be recorded, or it would be sent again
            require_send_record(session)


def _server_settings(server: _SmtpOptions, outbox: Path | None) -> "SmtpSettings | None":
    """The checked SMTP settings; None for a dry run into --outbox (a folder that exists, or
    one whose parent does: it is made once there is a message to write)."""
    from sampleloans.fileio import check_output_folder
    from sampleloans.mail import smtp_settings

    if outbox is None:
        return smtp_settings(
            server.host,
            server.port,
            server.sender,
            starttls=server.starttls,
            user=server.user,
            password=os.environ.get("SAMPLELOANS_SMTP_PASSWORD"),
            sender_field=server.sender_field,
        )
    check_output_folder(outbox, "--outbox")
    return None


def _print_totals(
    out: Any, pending: int, skipped: int, refused: int, checkpoint_id: str, *, dry_run: bool
) -> None:
    """The closing line: how many were (or would be) sent, how many were sent before, and how
    many the server refused (when any)."""
    cp = checkpoint_id.split(":")[0]
    verb = "would send" if dry_run else "sent"
    refusals = f", {refused} refused" if refused else ""
    out.print(
        f"notify: {pending} {verb}, {skipped} already sent{refusals} for the checkpoint of "
        f"{counted(int(cp), 'event')}.",
        markup=False,
    )


def _report_refusals(refusals: list[tuple[Outgoing, "MessageRefused"]]) -> None:
    """One `Error:` line per message whose sender was refused (naming the sender and where it
    was set: no recipient is at fault), and per refused recipient (its documents and the
    server's reply), then exit 3: nothing is recorded for them, so the next `notify` sends
    only those."""
    from sampleloans.mail import MessageRefused, SenderRefused

    by_recipient: dict[str, list[tuple[Outgoing, MessageRefused]]] = {}
    for item, refusal in refusals:
        if isinstance(refusal, SenderRefused):
            line = (  # the server's reply is its text, not ours: shown, never obeyed
                f"Error: {refusal}; the {_summary(item)} not sent, nothing recorded: "
                f"{refusal.advice()}"
            )
            sys.stderr.write(f"{one_line(line)}\n")
        else:
            by_recipient.setdefault(refusal.recipient, []).append((item, refusal))
    for recipient, refused in sorted(by_recipient.items()):
        documents = {DOCUMENT_WORDS.get(item.key[1], item.key[1]) for item, _r in refused}
        kinds = " and ".join(sorted(documents))
        replies = "; ".join(sorted({r.reply for _i, r in refused}))
        advice = "; ".join(sorted({r.advice() for _i, r in refused}))
        where = refused[0][1].where
        line = (  # the server's reply is its text, not ours: shown, never obeyed
            f"Error: {where} refused {recipient}: {replies}; its {kinds} not sent, nothing "
            f"recorded: {advice}"
        )
        sys.stderr.write(f"{one_line(line)}\n")
    raise typer.Exit(MessageRefused.exit_code)


def _write_outbox(
    out: Any, outbox: Path, pending: list[Outgoing], *, ledger: Path | None, force: bool
) -> None:
    """The dry run: each message as a .eml file in `outbox`, all or none (every target is
    refused, exit 3, before any is written; a kill leaves no part of the outbox)."""
    from sampleloans.fileio import write_folder_atomic

    if not pending:
        return
    files = [(o.file_name, o.message.as_bytes()) for o in pending]
    write_folder_atomic(outbox, files, force=force, option="--outbox", ledger=ledger)
    for item in pending:
        out.print(f"Wrote {path_shown(outbox / item.file_name)}: {_summary(item)}", markup=False)


def _send_all(
    ctx: typer.Context, out: Any, settings: Any, pending: list[Outgoing], sent_at: datetime
) -> tuple[int, list[tuple[Outgoing, "MessageRefused"]]]:
    """Send each message over one SMTP session under the notify lock (one `notify` run at a
    time per ledger), each checked, sent and recorded on its own, the writers' lock held only
    to record it (a failure part-way leaves the ones sent recorded, and they are not sent
    again; one a `notify` run before this one sent is skipped); how many were sent, and the
    messages the server refused (one refused mailbox does not hold back the others)."""
    from sampleloans.mail import MessageRefused, smtp_session
    from sampleloans.services.notify import sending_lock

    sent = 0
    refusals: list[tuple[Outgoing, MessageRefused]] = []
    engine = open_engine(ctx)
    with sending_lock(engine, timeout_ms=lock_timeout_ms()), smtp_session(settings) as smtp:
        for item in pending:
            done = _deliver(ctx, item, partial(smtp.send, item.message), settings.label, sent_at)
            if isinstance(done, MessageRefused):
                refusals.append((item, done))
            elif done:
                out.print(f"Sent {_summary(item)}", markup=False)
                sent += 1
    return sent, refusals


def _summary(item: Outgoing) -> str:
    """'statement to X', or 'overdue notice of OU to X', for an output line (in words: the
    key's `pi:X` and `institution:OU` are the sent-message record's)."""
    recipient, kind, scope, _checkpoint = item.key
    if kind == "overdue":
        return f"overdue notice of {_subject(scope)} to {recipient}"
    return f"{kind} to {recipient}"


def _deliver(
    ctx: typer.Context, item: Outgoing, send: Callable[[], None], via: str, sent_at: datetime
) -> "bool | MessageRefused":
    """Send and record one message unless already recorded, with no transaction open while
    the server takes it (the caller holds the notify lock); the server's refusal of this one
    message, which records nothing (the run goes on)."""
    from sampleloans.mail import MessageRefused
    from sampleloans.services.notify import Delivery, already_sent, record_sent

    with reading(ctx) as (session, _service_ctx):
        if already_sent(session, item.key):  # a notify before this one sent it since the plan
            return False
    try:
        send()
    except MessageRefused as refusal:  # nothing was recorded
        return refusal
    delivery = Delivery(item.key, item.digest, str(item.message["Message-ID"]), via)
    with writing(ctx) as (session, service_ctx):
        # False only after a run without the notify lock sent it too: this one sent it all the same
        record_sent(session, service_ctx, delivery, sent_at)
    return True
