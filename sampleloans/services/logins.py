"""People who log in to a PostgreSQL ledger (issue 14): the opt-in hardening and the login
behind each command (`sampleloans/pgsecurity.py` holds the SQL)."""

from datetime import UTC, datetime

from sqlalchemy import Engine, text
from sqlmodel import Session

from sampleloans import db, pgsecurity
from sampleloans.errors import InvalidInput, PermissionDenied
from sampleloans.ledger.envelope import Context
from sampleloans.models import Person
from sampleloans.services.common import require_role


def secure(engine: Engine, ctx: Context) -> list[str]:
    """Install the login hardening (one transaction), on behalf of a curator named by the DBA
    who runs it; the e-mails given a login role."""
    with db.transaction(engine) as session:
        require_role(session, ctx, "curator", action="secure the database")
        if not db.is_postgres(engine):
            raise InvalidInput(
                "db secure: only for a PostgreSQL ledger (--db postgresql://…); a SQLite "
                "ledger is protected by its file's permissions"
            )
        return pgsecurity.secure(session.connection())


def secured_login(session: Session) -> str | None:
    """The login of a secured PostgreSQL ledger's session, or None (SQLite, not secured)."""
    connection = session.connection()
    if not db.is_postgres(connection) or not pgsecurity.is_secured(connection):
        return None
    return pgsecurity.session_login(connection)


def acting_login(session: Session, declared: str | None) -> str | None:
    """Who acts: on a secured ledger the login itself (`--as` may be left out, and is refused,
    exit 4, when it names someone else); elsewhere what `--as` declared."""
    login = secured_login(session)
    if login is None:
        return declared
    if declared is not None and pgsecurity.is_superuser(session.connection()):
        # the DBA may read (verify) on a person's behalf; the actor trigger still refuses
        # any event they write under another name, and a superuser could lift any check
        return declared
    if declared is not None and declared != login:
        raise PermissionDenied(
            f"--as: {declared} is not the login of this connection ({login}); on a secured "
            "PostgreSQL ledger you act as the login you connect with"
        )
    return login


def server_clock(session: Session) -> datetime | None:
    """The database server's clock on a secured ledger (events are recorded at its time, and
    the actor trigger refuses any other), or None where the client's clock is used."""
    if secured_login(session) is None:
        return None
    value = session.connection().execute(text("SELECT statement_timestamp()")).scalar()
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def sync_login(session: Session, email: str) -> bool:
    """Give a person their LOGIN role in their group, or revoke the login of a deactivated
    one, on a secured ledger, in the transaction of the event that changed them. Whether the
    ledger is secured (and so whether anything was done)."""
    if secured_login(session) is None:
        return False
    person = session.get(Person, email.strip().lower())
    if person is None:
        return False
    pgsecurity.set_login(session.connection(), person.email, person.role, active=person.active)
    return True


def login_sql(email: str, role: str) -> str:
    """The SQL a DBA runs to let a person log in."""
    role = role.strip().lower().replace("-", "_")
    if role not in pgsecurity.GROUP_ROLES:
        raise InvalidInput(f"--role: {role!r} is not curator, compliance-officer or researcher")
    return pgsecurity.login_sql(email, role)
