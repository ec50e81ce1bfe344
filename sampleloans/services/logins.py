"""People who log in to a PostgreSQL ledger (issue 14): the opt-in hardening and the login
behind each command (`sampleloans/pgsecurity.py` holds the SQL).

`pgsecurity` is imported where a PostgreSQL ledger is asked about it: every command asks who
acts (`identity`), and on SQLite the answer needs none of its SQL (a cold read pays ~5 ms of CPU
to load it)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, col, select

from sampleloans import db
from sampleloans.errors import InvalidInput, PermissionDenied, StorageError
from sampleloans.ledger.envelope import Context
from sampleloans.models import EventSubject, Person
from sampleloans.services.common import require_role


@dataclass(frozen=True)
class PersonLogin:
    """A registered person's login role as `db secure` left it."""

    email: str
    has_password: bool
    """Run again, or a role of another ledger on the server: it keeps the password it has (a
    new one would change it for every ledger there)."""
    active: bool
    """False: the ledger records them as deactivated, so the role may not log in (to any
    database of the server: a role is the server's)."""


def secure(engine: Engine, ctx: Context) -> list[PersonLogin]:
    """Install the login hardening (one transaction), on behalf of a curator named by the DBA
    who runs it; each registered person's login role as it left it."""
    from sampleloans import pgsecurity  # (see the module's docstring)

    with db.transaction(engine) as session:
        require_role(session, ctx, "curator", action="secure the database")
        if not db.is_postgres(engine):
            raise InvalidInput(
                "db secure: only for a PostgreSQL ledger (--db postgresql://…); a SQLite "
                "ledger is protected by its file's permissions"
            )
        connection = session.connection()
        state = pgsecurity.login_state(connection)
        if not state.superuser:  # said before the server's own "permission denied for …"
            raise StorageError(
                f"db secure: the login {state.login} is not a superuser; the DBA runs it, "
                "connected as a superuser, with --as a curator; nothing was changed"
            )
        return [PersonLogin(*login) for login in pgsecurity.secure(connection)]


def is_secured(session: Session) -> bool:
    """Whether the session's ledger is a PostgreSQL one with the login hardening."""
    connection = session.connection()
    if not db.is_postgres(connection):
        return False
    from sampleloans import pgsecurity  # (see the module's docstring)

    return pgsecurity.is_secured(connection)


def identity(session: Session, declared: str | None) -> tuple[str | None, datetime | None]:
    """Who acts and the server's clock, in one round trip on PostgreSQL: on a secured ledger
    the login itself (`--as` may be left out, and is refused, exit 4, when it names someone
    else) at the server's time (the actor trigger refuses any other); elsewhere what `--as`
    declared, and None (the client's clock)."""
    connection = session.connection()
    if not db.is_postgres(connection):
        return declared, None
    from sampleloans import pgsecurity  # (see the module's docstring)

    state = pgsecurity.login_state(connection)
    if not state.secured:
        return declared, None
    db.connection_state(connection).secured = True  # the unit reads the head through a function
    if declared is not None and state.superuser:
        # the DBA may read (verify) on a person's behalf; the actor trigger still refuses
        # any event they write under another name, and a superuser could lift any check
        return declared, state.clock
    if declared is not None and declared != state.login:
        # named as the CLI names the option: the person may come from SAMPLELOANS_USER (the
        # README's single-user setup), and "--as" alone sent them looking for an option
        raise PermissionDenied(
            f"--as (SAMPLELOANS_USER): {declared} is not the login of this connection "
            f"({state.login}); on a secured PostgreSQL ledger you act as the login you connect "
            "with: leave both out, or name that login"
        )
    return state.login, state.clock


def login_exists(session: Session, email: str) -> bool:
    """Whether the server already has a login role for this e-mail (roles are cluster-wide:
    the person's login in another ledger on the same server), on a secured ledger."""
    if not is_secured(session):
        return False
    found = session.connection().execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :email"), {"email": email.strip().lower()}
    )
    return found.first() is not None


def sync_login(session: Session, email: str) -> bool:
    """Give a person their LOGIN role in their group, or revoke the login of a deactivated
    one, on a secured ledger, in the transaction of the event that changed them. Whether the
    ledger is secured (and so whether anything was done)."""
    from sampleloans import pgsecurity  # (see the module's docstring)

    if not is_secured(session):
        return False
    person = session.get(Person, email.strip().lower())
    if person is None:
        return False
    pgsecurity.set_login(session.connection(), person.email, person.role, active=person.active)
    return True


def head_seq(session: Session) -> int:
    """The ledger's last seq (0 when empty): where an import's events will start after."""
    from sampleloans.ledger.store import head

    return head(session)[0]


def sync_logins_since(session: Session, after_seq: int) -> int:
    """After an import: on a secured ledger, the login of every person an event after
    `after_seq` added, deactivated, reactivated or moved (as `people …` does for one); how
    many were synced."""
    if not is_secured(session):
        return 0
    emails = session.exec(
        select(EventSubject.subject_key)
        .where(EventSubject.subject_type == "person", col(EventSubject.seq) > after_seq)
        .distinct()
    ).all()
    # in code point order, as SQLite sorts: SELECT DISTINCT orders only by what it selects
    return sum(sync_login(session, str(email)) for email in sorted(emails))


def require_logins(session: Session, option: str) -> None:
    """Refuse `option` (`people add --print-sql`) where nobody logs in as themselves, before
    anything is written: its SQL would be for a login this ledger never uses (on SQLite) or
    for a group that does not exist yet (an unsecured PostgreSQL ledger, where `db secure`
    makes every person's login, this one's too)."""
    if not db.is_postgres(session.connection()):
        raise InvalidInput(
            f"{option}: this ledger is a SQLite file: nobody logs in to it (people act with "
            f"--as), so there is no login for a DBA to set up; leave {option} out"
        )
    if not is_secured(session):
        raise InvalidInput(
            f"{option}: this PostgreSQL ledger is not secured: nobody logs in as themselves "
            "(people act with --as); the DBA's 'db secure' makes every person's login, this "
            f"one's too, and prints what to run; leave {option} out"
        )


def login_sql(email: str, *, existed: bool) -> str:
    """What the DBA runs once `people add` has made a person's login on a secured ledger:
    psql's `\\password` line (it asks for the password, which is never printed nor typed on a
    command line), or, for a login the server had already (`existed`: roles are cluster-wide),
    a comment saying there is nothing to run (a new password would lock them out elsewhere)."""
    from sampleloans import pgsecurity  # (see the module's docstring)

    return pgsecurity.login_sql(email, existed=existed)


def events_hidden(connection: Connection) -> bool:
    """Whether row-level security hides events from this connection's login (a researcher on
    a secured PostgreSQL ledger); asked once per database connection."""
    if not db.is_postgres(connection):
        return False
    from sampleloans import pgsecurity  # (see the module's docstring)

    state = db.connection_state(connection)
    if state.events_hidden is None:
        asked = text(
            f"SELECT to_regproc('{pgsecurity.EVENT_HASHES}') IS NOT NULL "
            f"AND {pgsecurity.RESEARCHER_LOGIN}"
        )
        state.events_hidden = bool(connection.execute(asked).scalar())
    return state.events_hidden


def refuse_hidden_replay(session: Session, what: str, yourself: str = "") -> None:
    """Refuse (exit 4) what rebuilds the ledger as it stood before its head when this login
    cannot read every event it replays: on a secured PostgreSQL ledger row-level security
    shows a researcher only their loans' events, and a replay of the rest would fail
    (`yourself`: what they may run instead, if anything)."""
    if events_hidden(session.connection()):
        raise PermissionDenied(
            f"{what} rebuilds the ledger as it stood then by replaying its events, and your "
            "login sees only your loans' events (row-level security); a curator or compliance "
            f"officer can run it for you{yourself}"
        )


def hidden_item_samples(session: Session, loan_number: str) -> list[tuple[str | None, ...]]:
    """The unchanging facts (code, mission, origin, material, form, parent) of every item's
    sample of the login's loan `loan_number`, in code order, read through the ledger's function:
    row-level security hides a researcher's sample once it left their loan. Empty for a login
    the events are not hidden from (it reads the samples themselves)."""
    connection = session.connection()
    if not events_hidden(connection):
        return []
    from sampleloans import pgsecurity  # (see the module's docstring)

    rows = connection.execute(
        # code order as SQLite sorts (byte order), whatever the database's collation
        text(f'SELECT * FROM {pgsecurity.LOAN_ITEM_SAMPLES}(:loan) ORDER BY code COLLATE "C"'),
        {"loan": loan_number},
    ).all()
    return [tuple(row) for row in rows]
