"""Issue 15 items 2 and 3 through the CLI: keys, signed checkpoints, verify --checkpoint,
consistency proofs checked offline, verify --since; and every bad input as one clear line."""

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict
from sampleloans.ledger import chain
from sampleloans.ledger import checkpoint as notes
from sampleloans.services import checkpoints, maintenance
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import VerifyResult
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, ctx_for, fingerprint

AS = ["--as", CURATOR]


def add_lab(engine: Engine, name: str) -> None:
    """One more event (an institution), as the curator."""
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(), short_name=name, name="Lab", country="CN", city="B",
            institution_kind="borrower",
        )  # fmt: skip


def ledger_file(engine: Engine) -> Path:
    """The SQLite file the engine writes."""
    path = db.sqlite_path(str(engine.url))
    assert path is not None, engine.url
    return path


def ok(result: Result) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)


def one_error_line(result: Result, code: int, *needles: str) -> None:
    """Exit `code`, one `Error: …` line on stderr naming `needles`, no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def keys(tmp_path: Path, runner: CliRunner, cli_env: dict[str, str]) -> tuple[Path, Path]:
    private = tmp_path / "keys" / "cp.key"
    private.parent.mkdir()
    ok(runner.invoke(app, ["keys", "generate", "--out", str(private), "--name", "naoc.example"]))
    return private, Path(f"{private}.pub")


def make_cp(runner: CliRunner, key: Path, out: Path) -> str:
    result = runner.invoke(app, [*AS, "checkpoint", "--key", str(key), "--out", str(out)])
    ok(result)
    return out.read_text(encoding="utf-8")


def test_keys_generate_writes_0600_prints_fingerprint_never_the_key(
    tmp_path: Path, runner: CliRunner, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "lender.key"
    result = runner.invoke(app, ["keys", "generate", "--out", str(out), "--name", "naoc.example"])
    ok(result)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # PRIVATE+KEY+NAME+KEYID+BASE64: base64 may hold "+" itself, so split from the left
    secret = out.read_text().strip().split("+", 4)[4]
    assert len(secret) > 40
    assert secret not in result.stdout and secret not in result.stderr
    verifier = notes.parse_verifier_key(Path(f"{out}.pub").read_text())
    assert verifier.fingerprint() in result.stdout
    assert notes.parse_signer_key(out.read_text()).verifier() == verifier
    before = out.read_bytes()
    again = runner.invoke(app, ["keys", "generate", "--out", str(out)])
    one_error_line(again, 3, "exists")
    assert out.read_bytes() == before
    bad = runner.invoke(
        app, ["keys", "generate", "--out", str(tmp_path / "b.key"), "--name", "a b"]
    )
    one_error_line(bad, 2, "key name")
    assert not (tmp_path / "b.key").exists() and not (tmp_path / "b.key.pub").exists()


def test_checkpoint_is_made_kept_and_verified(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    note = make_cp(runner, private, tmp_path / "cp.txt")
    text, signatures = notes.split_note(note)
    cp = notes.parse_checkpoint(text)
    with sqlite3.connect(ledger_file(engine)) as connection:
        size, hash_hex = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        hashes = [
            bytes.fromhex(h)
            for (h,) in connection.execute("SELECT hash FROM ledger_event ORDER BY seq")
        ]
    from sampleloans.ledger import merkle

    assert cp.size == size and cp.extension("head") == f"{size}:{hash_hex}"
    assert cp.root == merkle.root_of(hashes)
    state = cp.extension("state")
    assert state is not None and state.startswith("sha256:")
    assert cp.extension("time") == "2025-04-01T09:00:00Z"
    assert signatures[0][0] == "naoc.example"
    result = runner.invoke(
        app, [*AS, "verify", "--checkpoint", str(tmp_path / "cp.txt"), "--public-key", str(public)]
    )
    ok(result)
    assert "the ledger extends the checkpoint signed by naoc.example" in result.stdout
    listed = runner.invoke(app, ["--as", COMPLIANCE, "checkpoint", "list", "--json"])
    ok(listed)
    [row] = json.loads(listed.stdout)
    assert row["event_count"] == size and row["public_key"] == public.read_text().strip()
    assert row["note"] == (tmp_path / "cp.txt").read_text()
    secret = private.read_text().strip().split("+", 4)[4]
    assert secret not in Path(ledger_file(engine)).read_bytes().decode("latin-1")


def test_checkpoint_table_is_append_only_and_verify_knows_its_triggers(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    make_cp(runner, keys[0], tmp_path / "cp.txt")
    path = ledger_file(engine)
    with sqlite3.connect(path) as connection:
        for statement in ("UPDATE checkpoint SET tree_size = 1", "DELETE FROM checkpoint"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(statement)
    ok(runner.invoke(app, [*AS, "verify"]))
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TRIGGER checkpoint_no_delete")
    result = runner.invoke(app, [*AS, "verify"])
    assert result.exit_code == 1 and "checkpoint_no_delete is missing" in result.stdout


def test_a_rollback_after_a_checkpoint_is_caught_without_an_anchor(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    old_copy = tmp_path / "old.db"
    maintenance.backup(engine, ctx_for(), old_copy)
    add_lab(engine, "LabA")
    add_lab(engine, "LabB")
    make_cp(runner, keys[0], tmp_path / "cp.txt")
    ok(runner.invoke(app, [*AS, "restore", str(old_copy), "--force", "--older"]))
    ok(runner.invoke(app, [*AS, "verify"]))  # the old copy is a sound ledger by itself
    result = runner.invoke(
        app, [*AS, "verify", "--checkpoint", str(tmp_path / "cp.txt"), "--public-key", str(keys[1])]
    )
    assert result.exit_code == 1
    assert "[checkpoint]" in result.stdout and "events were removed" in result.stdout


def _rewrite_from(path: Path, seq: int) -> None:
    """Change event `seq` and recompute every later hash: a chain consistent with itself."""
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TRIGGER ledger_event_no_update")
        connection.execute("UPDATE ledger_event SET reason = 'rewritten' WHERE seq = ?", (seq,))
        rows = connection.execute(
            "SELECT seq, kind, payload, occurred_at, recorded_at, actor, os_user, corrects_seq, "
            "reason, prev_hash FROM ledger_event WHERE seq >= ? ORDER BY seq",
            (seq,),
        ).fetchall()
        prev = rows[0][9]
        for row in rows:
            body = chain.event_body(
                seq=row[0], kind=row[1], payload=row[2], occurred_at=row[3], recorded_at=row[4],
                actor=row[5], os_user=row[6], corrects_seq=row[7], reason=row[8],
            )  # fmt: skip
            new_hash = chain.link_hash(prev, body)
            connection.execute(
                "UPDATE ledger_event SET prev_hash = ?, hash = ? WHERE seq = ?",
                (prev, new_hash, row[0]),
            )
            prev = new_hash
        connection.execute(db.APPEND_ONLY_TRIGGERS[0])


def test_a_recomputed_chain_is_caught_by_the_checkpoint(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    make_cp(runner, keys[0], tmp_path / "cp.txt")
    _rewrite_from(ledger_file(engine), 3)
    plain = runner.invoke(app, [*AS, "verify"])
    assert "[chain]" not in plain.stdout  # the chain is consistent with itself
    result = runner.invoke(
        app, [*AS, "verify", "--checkpoint", str(tmp_path / "cp.txt"), "--public-key", str(keys[1])]
    )
    assert result.exit_code == 1
    assert "not the checkpoint's head" in result.stdout
    assert "differs from the signed root" in result.stdout


def test_wrong_key_other_ledger_truncated_and_resigned_checkpoints(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    note = make_cp(runner, keys[0], tmp_path / "cp.txt")
    args = [*AS, "verify", "--checkpoint"]
    other = tmp_path / "other.key"
    ok(runner.invoke(app, ["keys", "generate", "--out", str(other), "--name", "naoc.example"]))
    wrong = runner.invoke(app, [*args, str(tmp_path / "cp.txt"), "--public-key", f"{other}.pub"])
    one_error_line(wrong, 1, "not signed by key naoc.example+")
    text, _ = notes.split_note(note)
    cp = notes.parse_checkpoint(text)
    foreign = notes.Checkpoint("sampleloans/ledger/another", cp.size, cp.root, cp.extensions)
    (tmp_path / "foreign.txt").write_text(
        notes.sign_checkpoint(foreign, checkpoints.read_signer(keys[0]))
    )
    result = runner.invoke(
        app, [*args, str(tmp_path / "foreign.txt"), "--public-key", str(keys[1])]
    )
    one_error_line(result, 1, "not of this ledger")
    (tmp_path / "cut.txt").write_text(note[: len(note) // 2])
    result = runner.invoke(app, [*args, str(tmp_path / "cut.txt"), "--public-key", str(keys[1])])
    one_error_line(result, 2, "checkpoint")
    forged = notes.Checkpoint(cp.origin, cp.size + 5, cp.root, cp.extensions)
    (tmp_path / "forged.txt").write_text(
        notes.sign_checkpoint(forged, checkpoints.read_signer(other))
    )
    result = runner.invoke(app, [*args, str(tmp_path / "forged.txt"), "--public-key", str(keys[1])])
    one_error_line(result, 1, "not signed by key")
    edited = note.replace(f"\n{cp.size}\n", f"\n{cp.size - 1}\n", 1)
    (tmp_path / "edited.txt").write_text(edited)
    result = runner.invoke(app, [*args, str(tmp_path / "edited.txt"), "--public-key", str(keys[1])])
    one_error_line(result, 1, "does not verify")
    result = runner.invoke(app, [*args, str(tmp_path / "cp.txt"), "--public-key", str(keys[0])])
    one_error_line(result, 2, "private key")
    assert keys[0].read_text().strip().split("+", 4)[4] not in result.stderr
    result = runner.invoke(app, [*args, str(tmp_path / "cp.txt")])
    one_error_line(result, 2, "--public-key")


def test_consistency_proof_is_checked_offline(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    old = tmp_path / "old.txt"
    new = tmp_path / "new.txt"
    make_cp(runner, keys[0], old)
    add_lab(engine, "LabA")
    add_lab(engine, "LabB")
    add_lab(engine, "LabC")
    make_cp(runner, keys[0], new)
    proof = tmp_path / "proof.json"
    ok(runner.invoke(app, [*AS, "checkpoint", "prove", str(old), str(new), "--out", str(proof)]))
    offline = ["--db", str(tmp_path / "no-ledger-here.db"), "checkpoint", "check-consistency"]
    result = runner.invoke(
        app, [*offline, str(old), str(new), str(proof), "--public-key", str(keys[1])]
    )
    ok(result)
    assert "extends OLD (" in result.stdout
    document = json.loads(proof.read_text())
    document["proof"][0] = document["proof"][1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = runner.invoke(
        app, [*offline, str(old), str(new), str(bad), "--public-key", str(keys[1])]
    )
    one_error_line(result, 1, "does not show")
    result = runner.invoke(
        app, [*offline, str(new), str(old), str(proof), "--public-key", str(keys[1])]
    )
    one_error_line(result, 2, "older checkpoint first")
    (tmp_path / "junk.json").write_text("{}")
    result = runner.invoke(
        app,
        [*offline, str(old), str(new), str(tmp_path / "junk.json"), "--public-key", str(keys[1])],
    )
    one_error_line(result, 2, "PROOF")


def test_verify_since_checks_only_new_events_and_says_what_it_skipped(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    cp_file = tmp_path / "cp.txt"
    make_cp(runner, keys[0], cp_file)
    size = notes.parse_checkpoint(notes.split_note(cp_file.read_text())[0]).size
    add_lab(engine, "LabA")
    add_lab(engine, "LabB")
    result = runner.invoke(app, [*AS, "verify", "--since", str(cp_file), "--json"])
    ok(result)
    report = json.loads(result.stdout)
    assert (
        report["ok"] and report["new_event_count"] == 2 and report["checkpoint_event_count"] == size
    )
    assert any(f"events 1–{size}" in line for line in report["not_checked"])
    assert any("replay" in line for line in report["not_checked"])
    text_out = runner.invoke(
        app, [*AS, "verify", "--since", str(cp_file), "--public-key", str(keys[1])]
    )
    ok(text_out)
    assert "not re-checked (a full 'verify' does)" in text_out.stdout
    path = ledger_file(engine)
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TRIGGER ledger_event_no_update")
        connection.execute(
            "UPDATE ledger_event SET actor = 'x@naoc.example' WHERE seq = ?", (size + 2,)
        )
        connection.execute(db.APPEND_ONLY_TRIGGERS[0])
    result = runner.invoke(app, [*AS, "verify", "--since", str(cp_file)])
    assert (
        result.exit_code == 1
        and f"event {size + 2} (institution.added) does not match its hash" in result.stdout
    )


def test_verify_since_refuses_a_checkpoint_this_ledger_did_not_keep(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    note = make_cp(runner, keys[0], tmp_path / "cp.txt")
    text, _ = notes.split_note(note)
    other = notes.sign_checkpoint(notes.parse_checkpoint(text), checkpoints.read_signer(keys[0]))
    (tmp_path / "again.txt").write_text(other.replace("time ", "time 1"))  # not the kept note
    result = runner.invoke(app, [*AS, "verify", "--since", str(tmp_path / "again.txt")])
    one_error_line(result, 1, "not a checkpoint this ledger made and kept")


def test_checkpoint_is_refused_over_a_ledger_that_fails_verify(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    path = ledger_file(engine)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE sample SET material_type = 'cheese'")
    before = fingerprint(path)
    out = tmp_path / "cp.txt"
    result = runner.invoke(app, [*AS, "checkpoint", "--key", str(keys[0]), "--out", str(out)])
    one_error_line(result, 1, "no checkpoint was made")
    assert not out.exists() and fingerprint(path) == before


def test_a_log_never_signs_a_checkpoint_inconsistent_with_a_kept_one(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    make_cp(runner, keys[0], tmp_path / "cp.txt")
    _rewrite_from(ledger_file(engine), 3)

    def passes(e: Engine) -> VerifyResult:  # a verify blind to the rewrite (replay unchanged)
        with e.connect() as connection:
            last = connection.exec_driver_sql("SELECT max(seq) FROM ledger_event").scalar()
        return VerifyResult(head_seq=int(last or 0))

    signer = checkpoints.read_signer(keys[0])
    with pytest.raises(Conflict, match="no longer extends checkpoint 1"):
        checkpoints.make_checkpoint(engine, ctx_for(), signer, verify_first=passes)


@pytest.mark.parametrize(
    ("who", "args"),
    [
        (OU_PI, ["verify", "--since", "cp.txt"]),
        (COMPLIANCE, ["checkpoint", "--key", "KEY"]),
        (OU_PI, ["checkpoint", "list"]),
    ],
)
def test_roles(
    engine: Engine,
    tmp_path: Path,
    runner: CliRunner,
    keys: tuple[Path, Path],
    who: str,
    args: list[str],
) -> None:
    make_cp(runner, keys[0], tmp_path / "cp.txt")
    args = [str(tmp_path / a) if a == "cp.txt" else str(keys[0]) if a == "KEY" else a for a in args]
    result = runner.invoke(app, ["--as", who, *args])
    one_error_line(result, 4)


def test_json_keys_are_in_the_vocabulary(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    from tests.test_i11_json import format_problem, type_name, vocabulary, walk

    cp_file = tmp_path / "cp.txt"
    make_cp(runner, keys[0], cp_file)
    add_lab(engine, "LabA")
    vocab, problems = vocabulary(), []
    for args in (["checkpoint", "list"], ["verify", "--since", str(cp_file)]):
        result = runner.invoke(app, [*AS, *args, "--json"])
        ok(result)
        for path, key, value in walk(json.loads(result.stdout)):
            if key not in vocab:
                problems.append(f"{path}.{key}: not in docs/json.md")
                continue
            types, fmt, _emitted = vocab[key]
            if type_name(value) not in types:
                problems.append(f"{path}.{key}: {type_name(value)} not in {types}")
            elif (problem := format_problem(key, fmt, value)) is not None:
                problems.append(problem)
    assert problems == []


def test_stand_alone_verifier_checks_the_checkpoint_and_its_signature(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    import subprocess
    import sys

    tool = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"
    cp_file = tmp_path / "cp.txt"
    old_copy = tmp_path / "old.db"
    maintenance.backup(engine, ctx_for(), old_copy)
    add_lab(engine, "LabA")
    make_cp(runner, keys[0], cp_file)
    add_lab(engine, "LabB")  # the ledger goes on after the checkpoint: still consistent
    ledger = str(ledger_file(engine))
    args = ["--checkpoint", str(cp_file), "--public-key", str(keys[1])]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(tool), *extra], capture_output=True, text=True, timeout=120
        )

    good = run(ledger, *args)
    assert good.returncode == 0, good.stdout + good.stderr
    other = tmp_path / "other.key"
    ok(runner.invoke(app, ["keys", "generate", "--out", str(other), "--name", "naoc.example"]))
    wrong_key = run(ledger, "--checkpoint", str(cp_file), "--public-key", f"{other}.pub")
    assert wrong_key.returncode == 1 and "not signed by naoc.example" in wrong_key.stdout
    rolled_back = run(str(old_copy), *args)
    assert rolled_back.returncode == 1 and "the ledger has" in rolled_back.stdout
    forged = cp_file.read_text().replace("\nhead ", "\nhead 1", 1)
    (tmp_path / "forged.txt").write_text(forged)
    tampered = run(
        ledger, "--checkpoint", str(tmp_path / "forged.txt"), "--public-key", str(keys[1])
    )
    assert tampered.returncode == 1 and "signature does not verify" in tampered.stdout


def test_inclusion_proofs_of_events_check_against_the_signed_root(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    from sampleloans.ledger import merkle

    note = make_cp(runner, keys[0], tmp_path / "cp.txt")
    add_lab(engine, "LabA")  # events after the checkpoint do not change its proofs
    verifier = notes.parse_verifier_key(keys[1].read_text())
    cp = notes.verify_checkpoint(note, verifier)
    with engine.connect() as connection:
        kept = checkpoints.latest_checkpoint(connection)
        assert kept is not None and kept.note == note
        hashes: dict[int, str] = dict(
            connection.exec_driver_sql("SELECT seq, hash FROM ledger_event").all()
        )
        for seq in (1, 2, cp.size // 2, cp.size):
            proof = checkpoints.inclusion_proof(connection, seq, cp.size)
            leaf = merkle.leaf_hash(bytes.fromhex(hashes[seq]))
            assert merkle.verify_inclusion(seq - 1, cp.size, leaf, proof, cp.root)
            other = merkle.leaf_hash(bytes.fromhex(hashes[seq + 1]))
            assert not merkle.verify_inclusion(seq - 1, cp.size, other, proof, cp.root)


def test_verify_since_catches_a_kept_frontier_changed_behind_its_back(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    cp_file = tmp_path / "cp.txt"
    make_cp(runner, keys[0], cp_file)
    path = ledger_file(engine)
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TRIGGER checkpoint_no_update")
        frontier = json.loads(connection.execute("SELECT frontier FROM checkpoint").fetchone()[0])
        frontier[-1] = frontier[0]
        connection.execute("UPDATE checkpoint SET frontier = ?", (json.dumps(frontier),))
    result = runner.invoke(
        app, [*AS, "verify", "--since", str(cp_file), "--public-key", str(keys[1])]
    )
    assert result.exit_code == 1
    assert "the kept Merkle frontier is not the signed one" in result.stdout
    full = runner.invoke(app, [*AS, "verify"])
    assert full.exit_code == 1 and "checkpoint_no_update is missing" in full.stdout


def test_the_key_never_signs_a_history_contradicting_what_it_signed_before(
    engine: Engine, tmp_path: Path, runner: CliRunner, keys: tuple[Path, Path]
) -> None:
    old_copy = tmp_path / "old.db"
    maintenance.backup(engine, ctx_for(), old_copy)
    add_lab(engine, "LabA")
    make_cp(runner, keys[0], tmp_path / "cp1.txt")
    memory = Path(f"{keys[0]}.signed")
    assert stat.S_IMODE(memory.stat().st_mode) == 0o600
    # roll the whole file back (its checkpoint table too), then write another history
    ok(runner.invoke(app, [*AS, "restore", str(old_copy), "--force", "--older"]))
    add_lab(engine, "LabB")
    path = ledger_file(engine)
    before = fingerprint(path)
    out = tmp_path / "cp2.txt"
    result = runner.invoke(app, [*AS, "checkpoint", "--key", str(keys[0]), "--out", str(out)])
    one_error_line(result, 1, "this key last signed a checkpoint of this ledger", "no checkpoint")
    assert not out.exists() and fingerprint(path) == before
    memory.write_text("{not json")
    result = runner.invoke(app, [*AS, "checkpoint", "--key", str(keys[0]), "--out", str(out)])
    one_error_line(result, 2, "damaged")
