"""Sweep of issue 15 as an outsider following docs/trust.md literally.

The fingerprint one-liner of trust.md step 0 split the key line on every `+`; the base64 of a
key holds a `+` about half the time, and then the command stopped with a traceback instead of
printing the fingerprint `keys generate` printed.
"""

import re
import subprocess
import sys
from pathlib import Path

from tests.i15_statement_helpers import invoke

ROOT = Path(__file__).resolve().parent.parent
TRUST = (ROOT / "docs" / "trust.md").read_text("utf-8")


def fingerprint_command() -> str:
    """The python3 -c program of trust.md step 0, exactly as printed."""
    [program] = re.findall(r'^python3 -c "(.+)" KEY\.pub$', TRUST, flags=re.MULTILINE)
    return program


def test_the_printed_fingerprint_command_agrees_with_keys_generate(tmp_path: Path) -> None:
    program = fingerprint_command()
    with_plus = 0
    for number in range(12):  # enough keys that some base64 holds a '+' (each: ~1 in 2)
        key = tmp_path / f"k{number}"
        made = invoke({}, "keys", "generate", "--out", str(key), "--name", "naoc.example/ledger")
        assert made.exit_code == 0, made.stderr
        [printed] = re.findall(r"fingerprint (SHA256:[0-9a-f]{64})", made.stdout)
        public = key.with_name(key.name + ".pub")
        with_plus += "+" in public.read_text().split("+", 2)[2]
        done = subprocess.run(
            [sys.executable, "-c", program, str(public)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == printed
    assert with_plus > 0, "no key of the sample had a '+' in its base64; the test proved nothing"


def test_trust_md_names_the_bag_head_tag_the_bag_carries() -> None:
    from sampleloans.services.bag import HEAD_TAG

    tags = set(re.findall(r"`([A-Z][A-Za-z]+-Head)`", TRUST))
    assert tags == {HEAD_TAG}


def test_the_format_says_where_a_ledger_file_keeps_what_the_verifier_reads() -> None:
    """ledger-format.md did not name the tables a ledger file keeps its events and its id in,
    which the stand-alone verifier "written from the document alone" had to know."""
    document = (ROOT / "docs" / "ledger-format.md").read_text("utf-8")
    section_1 = document.split("## 1. Events", 1)[1].split("## 2.", 1)[0]
    tool = (ROOT / "tools" / "verify_ledger.py").read_text("utf-8")
    read = set(re.findall(r"(?:FROM|WHERE)\s+(\w+)", tool)) | set(re.findall(r"'(\w+)'", tool))
    assert {"ledger_event", "ledger_meta", "key", "ledger_id"} <= read
    for name in ("ledger_event", "ledger_meta", "key", "value", "ledger_id"):
        assert f"`{name}`" in section_1, name
