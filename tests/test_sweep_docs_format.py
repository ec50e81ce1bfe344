"""Sweep "a newcomer who trusts the documentation": the state digest computed from the format.

`docs/ledger-format.md` section 6 said the checkpoint's state digest covers "every table but
`ledger_event`, `ledger_meta` and `checkpoint`"; computed that way, from the document alone, it
never matched a checkpoint's `state` line, because `alembic_version` and `notification_sent`
(written by no event) are left out too. The document now names them, and this test computes
the digest from what the document says and compares it with a real checkpoint.
"""

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_copy

FORMAT = (Path(__file__).resolve().parents[1] / "docs" / "ledger-format.md").read_text("utf-8")


def excluded_tables() -> set[str]:
    """The tables section 6 says are not projections (every backticked name in its
    parenthesis)."""
    section = FORMAT.split("## 6. The state digest", 1)[1]
    found = re.search(r"The projections \(every table but (.*?)\) are", section, re.S)
    assert found is not None, "section 6 no longer says which tables are left out"
    return set(re.findall(r"`([a-z_]+)`", found.group(1)))


def canonical(value: object) -> str:
    """Section 2's text of a row value (text, integers and null: all a SQLite row holds here)."""
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str), value
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
    escapes["\r"] = "\\r"
    text = "".join(escapes.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in value)
    return f'"{text}"'


def state_digest_by_the_document(ledger: Path) -> str:
    """Section 6: each projection table in name order, its name and a newline, then each row in
    primary-key order as the canonical JSON array of its values and a newline."""
    digest = hashlib.sha256()
    with sqlite3.connect(ledger) as connection:
        names = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for (table,) in sorted(names):
            if table in excluded_tables():
                continue
            columns = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
            key = [c[1] for c in sorted(columns, key=lambda c: c[5]) if c[5] > 0]
            assert key, f"{table} has no primary key to order by"
            order = ", ".join(f'"{name}"' for name in key)
            digest.update(f"{table}\n".encode())
            for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):
                digest.update(("[" + ",".join(map(canonical, row)) + "]\n").encode())
    return digest.hexdigest()


def test_the_documented_exclusions_are_tables_a_ledger_has() -> None:
    """A guard: the parse finds the names, and the three the document always named."""
    assert {"ledger_event", "ledger_meta", "checkpoint"} <= excluded_tables()


def test_a_checkpoints_state_digest_is_what_the_format_says(tmp_path: Path) -> None:
    """The `state` line of a checkpoint of the demo ledger equals the digest computed from
    section 6 alone."""
    runner = CliRunner()
    demo_copy(tmp_path / "d")
    ledger = tmp_path / "d" / "ledger.db"
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": CURATOR}
    key = str(tmp_path / "key")
    assert runner.invoke(app, ["keys", "generate", "--out", key], env=env).exit_code == 0
    made = runner.invoke(app, ["checkpoint", "--key", key], env=env)
    assert made.exit_code == 0, made.stderr
    (state,) = [line for line in made.stdout.splitlines() if line.startswith("state sha256:")]
    assert state == f"state sha256:{state_digest_by_the_document(ledger)}"


def test_the_domain_documents_lineage_equation_has_every_term_balance_prints(
    tmp_path: Path,
) -> None:
    """`docs/domain.md` wrote a lineage's equation without the mass given away for good
    (transferred), which `balance --sample` counts; every term balance prints is now there."""
    runner = CliRunner()
    demo_copy(tmp_path / "d")
    env = {"SAMPLELOANS_DB": str(tmp_path / "d" / "ledger.db"), "SAMPLELOANS_USER": CURATOR}
    shown = runner.invoke(app, ["balance", "--sample", "CE5C0100YJFM00201"], env=env)
    (equation,) = [line for line in shown.stdout.splitlines() if line.startswith("initial = ")]
    terms = equation.split(":")[0].removeprefix("initial = ").split(" + ")
    assert terms == ["vault", "on loan", "split", "consumed", "lost", "transferred"]
    domain = (Path(__file__).resolve().parents[1] / "docs" / "domain.md").read_text("utf-8")
    found = re.search(r"Per sample lineage: initial mass = (.*?)[,.]", " ".join(domain.split()))
    assert found is not None, "docs/domain.md no longer states a lineage's equation"
    for term in terms:
        assert term in found.group(1), f"docs/domain.md: the lineage equation lacks {term!r}"


def test_trust_md_converts_the_checkpoint_root_to_what_a_report_prints(tmp_path: Path) -> None:
    """A report prints its checkpoint's root in hexadecimal, the checkpoint file holds it in
    base64; trust.md gave a reader no way to compare the two. Its one-liner, run as printed on
    the checkpoint file, prints the root the report's first page shows."""
    trust = (Path(__file__).resolve().parents[1] / "docs" / "trust.md").read_text("utf-8")
    [program] = re.findall(r'^python3 -c "(.+)" cp\.txt$', trust, flags=re.MULTILINE)
    runner = CliRunner()
    demo_copy(tmp_path / "d")
    env = {"SAMPLELOANS_DB": str(tmp_path / "d" / "ledger.db"), "SAMPLELOANS_USER": CURATOR}
    key, cp, pdf = tmp_path / "key", tmp_path / "cp.txt", tmp_path / "custody.pdf"
    assert runner.invoke(app, ["keys", "generate", "--out", str(key)], env=env).exit_code == 0
    made = runner.invoke(app, ["checkpoint", "--key", str(key), "--out", str(cp)], env=env)
    assert made.exit_code == 0, made.stderr
    report = ["report", "custody", "--loan", "L-2025-OU", "--out", str(pdf)]
    assert runner.invoke(app, report, env=env).exit_code == 0
    done = subprocess.run(
        [sys.executable, "-c", program, str(cp)], capture_output=True, text=True, check=True
    )
    root_hex = done.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", root_hex)
    page = "".join(PdfReader(pdf).pages[0].extract_text().split())
    assert f"Checkpointroot{root_hex}" in page


def test_the_worked_example_printed_in_the_format_is_the_vectors() -> None:
    """Section 7 prints a genesis input and the head of the three example events; both are the
    test vectors' (a reader checks an implementation against the page as well as the file)."""
    vectors = json.loads(
        (Path(__file__).resolve().parent / "vectors" / "ledger-vectors.json").read_text("utf-8")
    )
    section = " ".join(FORMAT.split("## 7. Worked examples", 1)[1].split())
    printed_head = re.search(r"ends at head `(\d+:[0-9a-f]{64})`", section)
    printed_id = re.search(r"the genesis of ledger `([0-9a-f-]{36})`", section)
    assert printed_head is not None and printed_id is not None, "section 7 changed its wording"
    assert printed_head.group(1) == vectors["head"]
    assert printed_id.group(1) == vectors["genesis"]["ledger_id"]
    genesis = hashlib.sha256(f"sampleloans-genesis-v1:{printed_id.group(1)}".encode()).hexdigest()
    assert genesis == vectors["genesis"]["hash"]
