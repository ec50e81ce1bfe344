"""The write guard on PostgreSQL (sweep s20, integrity): a superuser who disables the triggers,
cuts the last events off or edits the head, and enables them again. The next write reads the
guard row in the writers' lock's own pipeline and refuses, exit 3, nothing written."""

from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR

VAULT_SAMPLE = "CE5C0400YJFM00901"


def superuser(url: str, *statements: str) -> Any:
    """Run statements as the database's superuser, in one transaction; the last one's rows."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = None
        for statement in statements:
            cursor = connection.execute(statement)
            rows = cursor.fetchall() if cursor.description else None
        return rows


def move(url: str) -> tuple[int, str]:
    """A curator's `samples move` on the PostgreSQL ledger; exit code and stderr."""
    result = CliRunner().invoke(
        app,
        ["--db", url, "--as", CURATOR, "samples", "move", VAULT_SAMPLE, "--location", "N2 C"],
        env={"SAMPLELOANS_NOW": "2026-06-01T00:00:00Z"},
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stderr


def last_seq(url: str) -> int:
    """The ledger's last seq."""
    return int(superuser(url, "SELECT max(seq) FROM ledger_event")[0][0])


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            "DELETE FROM ledger_event WHERE seq > {cut}",
            "names event {head} but the ledger ends at event {cut}",
        ),
        (
            "UPDATE ledger_event SET reason = 'edited' WHERE seq = {head}",
            "event {head} (the last) does not match its stored hash",
        ),
    ],
)
def test_a_write_refuses_a_ledger_changed_under_disabled_triggers(
    demo_url: str, edit: str, said: str
) -> None:
    """Cut or edited: exit 3, one line, the head unchanged."""
    head = last_seq(demo_url)
    cut = head - 2
    superuser(
        demo_url,
        "ALTER TABLE ledger_event DISABLE TRIGGER ALL",
        edit.format(cut=cut, head=head),
        "ALTER TABLE ledger_event ENABLE TRIGGER ALL",
    )
    before = last_seq(demo_url)
    code, err = move(demo_url)
    assert code == 3, err
    assert "the ledger was changed outside sampleloans" in err
    assert said.format(cut=cut, head=head) in err, err
    assert last_seq(demo_url) == before


def test_a_clean_postgres_ledger_is_written(demo_url: str) -> None:
    """The guard passes an untouched ledger."""
    head = last_seq(demo_url)
    code, err = move(demo_url)
    assert code == 0, err
    assert last_seq(demo_url) == head + 1
