"""Sweep s43 renames on a secured PostgreSQL ledger: row-level security and the rename events.

`person.renamed` is indexed under the person and their institution, `institution.renamed` under
the institution, and a note on either under the same subjects. A researcher's own login reads
the renames of their institution and of themselves (as the other events about them), and none
of another institution's, of its people or of the lender's staff: not in `custody history`,
nor in psql on the events, the event-subject index or the notes. `verify`, `verify --since` a
checkpoint of the curator's, an events export restored on SQLite (same head) all take them.
"""

import json
from pathlib import Path

import psycopg
from typer.testing import Result

from tests.pg_secured import CURATOR, cli, own_login, secured_copy, secured_demo_template
from tests.pgcluster import PgServer

__all__ = ["secured_demo_template"]  # the module fixture, shared by name

OU_PI = "anand@open.example"
IPGP_PI = "moynier@ipgp.example"
RENAMES = [  # (command, key, new name): events 108–113
    ("people", OU_PI, "Mahesh A. Anand"),
    ("institutions", "OU", "The Open University (UK)"),
    ("people", IPGP_PI, "F. Moynier"),
    ("institutions", "IPGP", "IPG Paris"),
    ("institutions", "CNSA", "CNSA (China)"),
    ("people", CURATOR, "Li Na"),
]
OWN = {"anand": [108, 109], "moynier": [110, 111]}


def ok(url: str, *args: str) -> Result:
    """One CLI command on `url`; it must succeed."""
    done = cli(url, *args)
    assert done.exit_code == 0, done.output
    return done


def seqs(url: str, sql: str) -> list[int]:
    """The event numbers a login reads in psql (`sql` selects one seq column), in order."""
    with psycopg.connect(url) as connection:
        return sorted(int(seq) for (seq,) in connection.execute(sql).fetchall())


def test_a_researcher_reads_only_their_own_renames(
    pg_server: PgServer, secured_demo_template: str, tmp_path: Path
) -> None:
    with secured_copy(pg_server, secured_demo_template, "s43ren") as url:
        curator = own_login(pg_server, url, CURATOR, "curator-pw")
        key = tmp_path / "k.key"
        ok(curator, "keys", "generate", "--out", str(key))
        ok(curator, "checkpoint", "--key", str(key), "--out", str(tmp_path / "cp.txt"))
        for command, subject, name in RENAMES:
            ok(curator, command, "rename", subject, "--name", name, "--reason", "typo")
        ok(curator, "custody", "correct", "110", "--text", "as on the agreement")  # 114
        ok(curator, "custody", "correct", "109", "--text", "the UK")  # 115
        logins = {
            "anand": own_login(pg_server, url, OU_PI, "anand-pw"),
            "moynier": own_login(pg_server, url, IPGP_PI, "moynier-pw"),
        }
        for who, login in logins.items():
            notes = [115] if who == "anand" else [114]
            events = seqs(login, "SELECT seq FROM ledger_event WHERE seq > 107")
            assert events == OWN[who] + notes
            subjects = seqs(login, "SELECT DISTINCT seq FROM event_subject WHERE seq > 107")
            assert subjects == OWN[who] + notes
            assert seqs(login, "SELECT seq FROM note") == notes
            home = "OU" if who == "anand" else "IPGP"
            history = ok(login, "custody", "history", "--institution", home, "--json")
            listed = [e["seq"] for e in json.loads(history.stdout)["events"] if e["seq"] > 107]
            assert listed == OWN[who] + notes
        other = cli(logins["anand"], "custody", "history", "--institution", "IPGP")
        assert other.exit_code == 2 and "F. Moynier" not in other.output
        ok(curator, "verify")
        since = ok(curator, "verify", "--since", str(tmp_path / "cp.txt"))
        assert "events 108–115, the new events" in since.stdout
        export = tmp_path / "events.jsonl"
        ok(curator, "export", "--events", str(export))
        head = ok(curator, "verify", "--print-head").stdout
        rebuilt = tmp_path / "rebuilt.db"
        ok(str(rebuilt), "--as", CURATOR, "restore", "--events", str(export))
        assert ok(str(rebuilt), "--as", CURATOR, "verify", "--print-head").stdout == head
