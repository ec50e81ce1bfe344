"""Issue 15's closing evidence, as docs/trust.md tells a borrower or an auditor to check: every
command in a real process, the lender's side with the ledger and the borrower's side without it.

(a) the test vectors and the stand-alone verifier agree with `verify` on the demo head;
(b) a checkpoint, then a rollback to an older copy, caught without an anchor;
(c) a signed report accepted by `pdfsig` and `verify-document` with no ledger, refused after a
    one-byte change;
(d) a statement's (and a report's) inclusion proofs checked with the public key alone, by
    `verify-document` and by docs/trust.md's own standard-library script;
(e) a statement e-mailed and received by a real SMTP server on loopback (aiosmtpd);
(f) the bag validated (bagit, the verifier) and restored to the same head.

Run with `-s` to see the transcript of what each step printed.
"""

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mail import Inbox, served, smtp_settings

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "verify_ledger.py"
TRUST_MD = (ROOT / "docs" / "trust.md").read_text("utf-8")
VECTORS = json.loads((ROOT / "tests" / "vectors" / "ledger-vectors.json").read_text("utf-8"))
NOW = "2026-06-15T09:00:00Z"
CURATOR = "curator@naoc.example"
OSAKA_PI = "terada@osaka-u.example"


def tool_needed(name: str) -> str:
    """A poppler tool; skipped (with the reason) when missing, except under CI."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} (Debian poppler-utils) is missing under CI")
        pytest.skip(f"{name} not installed (apt-get install poppler-utils)")
    return found


class Walk:
    """Runs commands in real processes and keeps a transcript."""

    def __init__(self, home: Path, ledger: Path) -> None:
        self.home = home
        self.lender = {
            **os.environ,
            "SAMPLELOANS_DB": str(ledger),
            "SAMPLELOANS_USER": CURATOR,
            "SAMPLELOANS_NOW": NOW,
            "COLUMNS": "120",
            "NO_COLOR": "1",
        }
        # the borrower holds no ledger: --db names nothing, and no acting person
        self.borrower = {
            k: v for k, v in self.lender.items() if k not in ("SAMPLELOANS_USER", "SAMPLELOANS_DB")
        }
        self.borrower["SAMPLELOANS_DB"] = str(home / "no-ledger-here.db")

    def run(self, *args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
        done = subprocess.run(
            list(args), env=env or self.lender, cwd=self.home, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        shown = " ".join(Path(a).name if a.startswith("/") else a for a in args)
        print(f"$ {shown}  [exit {done.returncode}]\n{done.stdout}{done.stderr}")
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done.stdout

    def sl(self, *args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
        return self.run(sys.executable, "-m", "sampleloans", *args, env=env, code=code)


def load_tool() -> Any:
    spec = importlib.util.spec_from_file_location("verify_ledger_walk", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_proofs_script(folder: Path) -> Path:
    """docs/trust.md's check_proofs.py, exactly as printed there."""
    text = (ROOT / "docs" / "trust.md").read_text("utf-8")
    [code] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    script = folder / "check_proofs.py"
    script.write_text(code, "utf-8")
    return script


def flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def test_a_borrower_and_an_auditor_check_everything_without_the_ledger(tmp_path: Path) -> None:
    pdfsig, pdfdetach = tool_needed("pdfsig"), tool_needed("pdfdetach")

    walk = Walk(tmp_path, tmp_path / "demo" / "ledger.db")
    sl, run = walk.sl, walk.run
    # --- the lender -------------------------------------------------------------------------
    sl("demo", "--dir", str(tmp_path / "demo"))
    ledger = tmp_path / "demo" / "ledger.db"
    older = tmp_path / "older.db"
    with sqlite3.connect(ledger) as src, sqlite3.connect(older) as dst:
        src.backup(dst)  # an older copy, kept by someone, for the rollback of (b)
    older.chmod(0o600)
    sl("institutions", "add", "WALK", "--name", "Lab Walk", "--country", "CN", "--city", "Beijing",
       "--kind", "borrower")  # fmt: skip
    key, pub = tmp_path / "cp.key", tmp_path / "cp.key.pub"
    sl("keys", "generate", "--out", str(key), "--name", "naoc.example/ledger")
    sl("keys", "lender-root", "--out", str(tmp_path / "lender"), "--name", "CNSA")
    sl(
        "keys",
        "signing-cert",
        "--root",
        str(tmp_path / "lender"),
        "--out",
        str(tmp_path / "signer"),
    )
    sign = ["--sign", "--signer-key", str(tmp_path / "signer" / "signing-key.pem"),
            "--signer-cert", str(tmp_path / "signer" / "signing-cert.pem")]  # fmt: skip
    root_cert = tmp_path / "lender" / "root-cert.pem"
    cp = tmp_path / "cp.txt"
    sl("checkpoint", "--key", str(key), "--out", str(cp))
    head = sl("verify", "--print-head").strip().splitlines()[-1]
    custody = tmp_path / "custody.pdf"
    sl("report", "custody", "--loan", "L-2025-Osaka", "--out", str(custody), *sign)
    (tmp_path / "st").mkdir()
    sl("report", "statement", "--pi", OSAKA_PI, "--out", str(tmp_path / "st"), *sign)
    statement = tmp_path / "st" / "statement-terada-at-osaka-u.example.pdf"
    sl("export", "--bag", str(tmp_path / "bag"), "--report", str(custody))

    # (a) the vectors by the stand-alone tool; the tool and `verify` agree on the head
    tool = load_tool()
    prev = VECTORS["genesis"]["hash"]
    for event in VECTORS["events"]:
        prev = tool.event_hash(prev, event)
        assert prev == event["hash"]
    assert VECTORS["head"] == f"{len(VECTORS['events'])}:{prev}"
    out = run(sys.executable, str(TOOL), str(ledger), "--checkpoint", str(cp), "--public-key",
              str(pub), "--json", env=walk.borrower)  # fmt: skip
    summary = json.loads(out)
    assert summary["ok"] and summary["head"] == head, (summary, head)

    # (b) the ledger rolled back to the older copy: sound by itself, caught by the checkpoint
    sl("--db", str(older), "verify")
    run(sys.executable, str(TOOL), str(older), "--checkpoint", str(cp), "--public-key", str(pub),
        env=walk.borrower, code=1)  # fmt: skip
    rolled = sl("--db", str(older), "verify", "--checkpoint", str(cp), "--public-key", str(pub),
                code=1)  # fmt: skip
    assert "removed" in rolled or "rollback" in rolled

    # (c) the signed report: pdfsig and verify-document with no ledger; one byte changed
    assert "Signature is Valid." in run(pdfsig, str(custody), env=walk.borrower)
    sl("verify-document", str(custody), "--trust-root", str(root_cert), env=walk.borrower)
    changed = tmp_path / "changed.pdf"
    data = custody.read_bytes()
    changed.write_bytes(flip(data, len(data) // 3))
    refused = run(pdfsig, str(changed), env=walk.borrower)  # pdfsig exits 0 either way
    assert "Signature is Valid." not in refused and "Digest Mismatch" in refused
    sl("verify-document", str(changed), "--trust-root", str(root_cert), env=walk.borrower, code=1)

    # (d) inclusion proofs with the public key alone: verify-document and trust.md's script
    script = check_proofs_script(tmp_path)
    for pdf, embedded in (
        (statement, "statement-proofs.json"),
        (custody, "report-checkpoint.json"),
    ):
        sl("verify-document", str(pdf), "--public-key", str(pub), env=walk.borrower)
        folder = tmp_path / f"detached-{pdf.stem}"
        folder.mkdir()
        run(pdfdetach, "-saveall", "-o", str(folder), str(pdf), env=walk.borrower)
        proofs = folder / embedded
        run(sys.executable, str(script), str(proofs), str(pub), str(TOOL), env=walk.borrower)
        document = json.loads(proofs.read_text("utf-8"))
        if "events" in document:  # one altered event field: refused
            document["events"][0]["event"]["actor"] = "someone@else.example"
        else:  # another head event: refused
            document["head"]["seq"] = 1
        proofs.write_text(json.dumps(document), "utf-8")
        run(sys.executable, str(script), str(proofs), str(pub), str(TOOL), env=walk.borrower,
            code=1)  # fmt: skip

    # (e) the statement e-mailed through a real SMTP server on loopback
    inbox = Inbox()
    with served(inbox) as controller:
        smtp = {**walk.lender, **smtp_settings(controller.port)}
        sl("notify", "--institution", "Osaka", "--checkpoint", str(cp), env=smtp)
    received = [message for _rcpt, message in inbox.messages]
    to_pi = [m for m in received if OSAKA_PI in str(m["To"])]
    assert to_pi, [str(m["To"]) for m in received]
    names = [part.get_filename() for m in to_pi for part in m.iter_attachments()]
    assert "statement-terada-at-osaka-u.example.pdf" in names, names
    print(f"received by the loopback SMTP server: {[str(m['Subject']) for m in received]}")

    # (f) the bag: bagit, the verifier inside it, verify-bag, restore to the same head
    bag = tmp_path / "bag"
    run(sys.executable, "-m", "bagit", "--validate", str(bag), env=walk.borrower)
    [bag_cp] = sorted((bag / "data" / "checkpoints").glob("*.txt"))
    [bag_key] = sorted((bag / "data" / "keys").glob("*.pub"))
    run(sys.executable, str(bag / "data" / "tools" / "verify_ledger.py"),
        str(bag / "data" / "events.jsonl"), "--checkpoint", str(bag_cp), "--public-key",
        str(bag_key), env=walk.borrower)  # fmt: skip
    sl("verify-bag", str(bag), env=walk.borrower)
    # the auditor holds no ledger and is nobody in it: the curator's e-mail comes from the events,
    # with trust.md's one-liner as printed
    events = bag / "data" / "events.jsonl"
    [program] = re.findall(r'^python3 -c "(.*)" bag/data/events.jsonl$', TRUST_MD, flags=re.M)
    curator = run(sys.executable, "-c", program, str(events), env=walk.borrower).strip()
    assert curator == CURATOR
    rebuilt = ["--db", str(tmp_path / "rebuilt.db"), "--as", curator]
    sl(*rebuilt, "restore", "--events", str(events), env=walk.borrower)
    printed = sl(*rebuilt, "verify", "--print-head", env=walk.borrower)
    assert printed.strip().splitlines()[-1] == head


def test_the_printed_check_proofs_script_is_the_shipped_one(tmp_path: Path) -> None:
    """docs/trust.md prints tools/check_proofs.py in full: the two never drift apart."""
    shipped = Path(__file__).resolve().parent.parent / "tools" / "check_proofs.py"
    assert check_proofs_script(tmp_path).read_text() == shipped.read_text()
