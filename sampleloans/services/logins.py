"""People who log in to a PostgreSQL ledger (issue 14): the opt-in hardening and the login
behind each command (`sampleloans/pgsecurity.py` holds the SQL)."""

from sqlalchemy import Engine
from sqlmodel import Session

from sampleloans import db, pgsecurity
from sampleloans.errors import InvalidInput, PermissionDenied


def secure(engine: Engine) -> list[str]:
    """Install the login hardening (one transaction); the e-mails given a login role."""
    if not db.is_postgres(engine):
        raise InvalidInput(
            "db secure: only for a PostgreSQL ledger (--db postgresql://…); a SQLite ledger "
            "is protected by its file's permissions"
        )
    with db.transaction(engine) as session:
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
    if declared is not None and declared != login:
        raise PermissionDenied(
            f"--as: {declared} is not the login of this connection ({login}); on a secured "
            "PostgreSQL ledger you act as the login you connect with"
        )
    return login


def sync_login(session: Session, email: str, role: str, *, active: bool) -> None:
    """Give a person their LOGIN role and group (or revoke the login) on a secured ledger, in
    the same transaction as the event that registers or deactivates them."""
    if secured_login(session) is not None:
        pgsecurity.set_login(session.connection(), email, role, active=active)


def login_sql(email: str, role: str) -> str:
    """The SQL a DBA runs to let a person log in."""
    if role not in pgsecurity.GROUP_ROLES:
        raise InvalidInput(f"--role: {role!r} is not curator, compliance-officer or researcher")
    return pgsecurity.login_sql(email, role)
