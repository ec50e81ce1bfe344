"""End to end: samples, institutions, people and agreements commands through the CLI."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, UOC_PI, Run, fingerprint
from tests.factories import issued_loan, signed_agreement

OU_SAMPLE = "CE5C0200YJFM00112"
PARENT = "CE5C0400YJFM00505"
REGISTER = [
    "samples", "register", "CE5Z0200YJFM00999", "--mission", "CE-5", "--mass", "100 mg",
    "--origin", "drill", "--depth", "28-30", "--material", "regolith", "--form", "powder",
    "--purpose", "research", "--location", "NAOC N2 cabinet A",
]  # fmt: skip
AGREEMENT = [
    "agreements", "add", "AG-9", "--institution", "OU", "--term", "5 years",
    "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months",
]  # fmt: skip

pytestmark = pytest.mark.usefixtures("cli_env", "engine")


def invoke(runner: CliRunner, actor: str, *args: str) -> Result:
    """Run the CLI as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def as_json(runner: CliRunner, actor: str, *args: str) -> Any:
    """Run a read command with --json and parse its output."""
    result = invoke(runner, actor, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def refused(runner: CliRunner, db_path: Path, actor: str, args: list[str], code: int) -> str:
    """Run a command that must be refused; nothing may be written. Returns stderr."""
    before = fingerprint(db_path)
    result = invoke(runner, actor, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert fingerprint(db_path) == before
    return result.stderr


# --- samples ----------------------------------------------------------------------------------


def test_samples_register_then_show(runner: CliRunner) -> None:
    result = invoke(runner, CURATOR, *REGISTER, "--record", "real", "--at", "2025-03-01")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        r"Registered CE5Z0200YJFM00999 \(100\.000 mg\) in the NAOC vault; event \d+\.\n",
        result.stdout,
    )
    data = as_json(runner, COMPLIANCE, "samples", "show", "CE5Z0200YJFM00999")
    assert data["depth_top_mm"] == 280 and data["depth_bottom_mm"] == 300
    assert data["initial_ug"] == data["vault_ug"] == 100_000
    assert data["record"] == "real" and data["custodian"] == "NAOC"
    assert data["registered_at"] == "2025-03-01T00:00:00Z"
    assert data["child_codes"] == [] and data["parent_code"] is None


def test_samples_register_refusals(runner: CliRunner, db_path: Path) -> None:
    err = refused(runner, db_path, OU_PI, REGISTER, 4)
    assert err == (f"Error: {OU_PI} is a researcher; only curators may register samples\n")
    bad_depth = [*REGISTER]
    bad_depth[bad_depth.index("--depth") + 1] = "deep"
    err = refused(runner, db_path, CURATOR, bad_depth, 2)
    assert (
        err == "Error: --depth: 'deep' is not a depth interval; give TOP-BOTTOM in cm, e.g. 28-30\n"
    )
    args = [*REGISTER]
    args[args.index("--mass") + 1] = "20"
    assert refused(runner, db_path, CURATOR, args, 2).startswith("Error: --mass: '20' ")
    args = ["samples", "register", PARENT, *REGISTER[3:]]
    args[args.index("--origin") + 1] = "scoop"
    del args[args.index("--depth") : args.index("--depth") + 2]
    err = refused(runner, db_path, CURATOR, args, 1)
    assert err == (
        f"Error: CODE: sample {PARENT} is already registered; codes are unique and immutable\n"
    )
    args = [*REGISTER]
    args[args.index("--mass") + 1] = "1732 g"  # more than Chang'e-5 brought back
    err = refused(runner, db_path, CURATOR, args, 2)
    assert err == (
        "Error: --mass: 1,732.000 g is more than CE-5 returned in all (1,731.000 g); "
        "check the unit\n"
    )


def test_samples_split_and_tree(runner: CliRunner) -> None:
    result = invoke(
        runner, CURATOR, "samples", "split", PARENT,
        "--child", "-01=20mg", "--child", f"{PARENT}-02=5 mg", "--loss", "0.1mg",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        rf"Split {PARENT} into {PARENT}-01 \(20\.000 mg\), {PARENT}-02 \(5\.000 mg\); "
        r"loss 100 µg; event \d+\.\n",
        result.stdout,
    )
    parent = as_json(runner, CURATOR, "samples", "show", PARENT)
    assert parent["child_codes"] == [f"{PARENT}-01", f"{PARENT}-02"]
    assert (parent["vault_ug"], parent["split_ug"], parent["lost_ug"]) == (224_900, 25_000, 100)
    tree = as_json(runner, CURATOR, "samples", "tree", f"{PARENT}-02")
    assert tree["code"] == PARENT
    assert [(c["code"], c["initial_ug"]) for c in tree["children"]] == [
        (f"{PARENT}-01", 20_000),
        (f"{PARENT}-02", 5_000),
    ]
    text = invoke(runner, CURATOR, "samples", "tree", PARENT).stdout
    line = f"{PARENT}  250.000 mg; vault 224.900 mg, on loan 0 µg, lost 100 µg; vault at NAOC"
    assert line in text
    assert f"└── {PARENT}-02  5.000 mg; vault 5.000 mg" in text
    show = invoke(runner, CURATOR, "samples", "show", PARENT).stdout
    assert "250.000 mg initial = 224.900 mg vault + 0 µg on loan + 25.000 mg split" in show


def test_samples_split_refusals(runner: CliRunner, db_path: Path) -> None:
    err = refused(runner, db_path, CURATOR, ["samples", "split", PARENT, "--child", "-01=1g"], 1)
    assert err == (
        f"Error: split of {PARENT}: children and loss add up to 1.000 g but only "
        "250.000 mg is in the vault; masses must balance\n"
    )
    err = refused(runner, db_path, CURATOR, ["samples", "split", PARENT, "--child", "-01"], 2)
    assert err == "Error: --child: '-01' is not SUFFIX=MASS; e.g. --child -01=20mg\n"
    err = refused(runner, db_path, COMPLIANCE, ["samples", "split", PARENT, "--child", "-1=1mg"], 4)
    assert err.endswith("only curators may split samples\n")


def test_samples_list(runner: CliRunner, run: Run) -> None:
    rows = as_json(runner, CURATOR, "samples", "list")
    codes = [r["code"] for r in rows]
    assert codes == sorted(codes) and PARENT in codes and OU_SAMPLE in codes
    signed_agreement(run)
    issued_loan(run)
    on_loan = as_json(runner, COMPLIANCE, "samples", "list", "--state", "on-loan")
    assert [(r["code"], r["custody_state"], r["loan_number"]) for r in on_loan] == [
        (OU_SAMPLE, "issued", "L-1")
    ]
    assert as_json(runner, CURATOR, "samples", "list", "--mission", "CE-6") == []
    assert [r["code"] for r in as_json(runner, OU_PI, "samples", "list")] == [OU_SAMPLE]
    assert as_json(runner, UOC_PI, "samples", "list") == []
    table = invoke(runner, CURATOR, "samples", "list").stdout
    masses = r"+20\.000 mg │ +0 µg │ +20\.000 mg"  # flush right
    assert re.search(rf"{OU_SAMPLE} +│ CE-5 +│ regolith +│ {masses}", table)
    result = invoke(runner, CURATOR, "samples", "list", "--state", "gone")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --state: 'gone' is not one of vault, on-loan, issued")


def test_samples_read_access(runner: CliRunner, run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    assert as_json(runner, OU_PI, "samples", "show", OU_SAMPLE)["loan_number"] == "L-1"
    for command in ("show", "tree"):
        result = invoke(runner, UOC_PI, "samples", command, OU_SAMPLE)
        assert result.exit_code == 2
        assert result.stderr == (
            f"Error: CODE '{OU_SAMPLE}': no such sample among the records you may read; "
            "see 'sampleloans samples list'\n"
        )
    result = invoke(runner, CURATOR, "samples", "show", "NOPE")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: CODE 'NOPE': no such sample; see 'sampleloans samples list'\n",
    )
    result = runner.invoke(app, ["samples", "list"])
    assert result.exit_code == 4 and result.stderr.startswith("Error: no acting person")


# --- institutions -----------------------------------------------------------------------------


def test_institutions_add_list_show(runner: CliRunner, db_path: Path) -> None:
    args = ["institutions", "add", "KIT", "--name", "Karlsruhe [b]IT", "--country", "Germany"]
    args += ["--city", "Karlsruhe", "--kind", "borrower"]
    result = invoke(runner, CURATOR, *args)
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"Added institution KIT \(borrower\); event \d+\.\n", result.stdout)
    assert refused(runner, db_path, CURATOR, args, 1) == (
        "Error: SHORT: institution KIT already exists; see 'institutions show'\n"
    )
    assert refused(runner, db_path, OU_PI, args, 4).endswith("only curators may add institutions\n")
    bad = [*args[:-1], "museum"]
    bad[2] = "KIT2"
    assert refused(runner, db_path, CURATOR, bad, 2) == (
        "Error: --kind: 'museum' is not one of lender, curator, borrower, recipient\n"
    )
    rows = as_json(runner, COMPLIANCE, "institutions", "list", "--kind", "borrower")
    names = [r["short_name"] for r in rows]
    assert names == sorted(names) and "KIT" in names and "NAOC" not in names
    kit = as_json(runner, CURATOR, "institutions", "show", "KIT")
    assert kit == {
        "short_name": "KIT", "name": "Karlsruhe [b]IT", "country": "Germany",
        "city": "Karlsruhe", "kind": "borrower", "person_count": 0, "agreement_count": 0,
        "loan_count": 0,
    }  # fmt: skip
    text = invoke(runner, CURATOR, "institutions", "show", "KIT").stdout
    assert "Karlsruhe [b]IT" in text and "Karlsruhe, Germany" in text


def test_institutions_counts_and_access(runner: CliRunner, run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    ou = as_json(runner, OU_PI, "institutions", "show", "OU")
    assert (ou["person_count"], ou["agreement_count"], ou["loan_count"]) == (1, 1, 1)
    assert [r["short_name"] for r in as_json(runner, OU_PI, "institutions", "list")] == ["OU"]
    result = invoke(runner, OU_PI, "institutions", "show", "UoC")
    assert result.exit_code == 2
    assert "SHORT 'UoC': no such institution among the records you may read" in result.stderr


# --- people -----------------------------------------------------------------------------------


def test_people_add_list_show(runner: CliRunner, db_path: Path) -> None:
    args = ["people", "add", "New@Open.example", "--name", "Ada", "--institution", "OU"]
    result = invoke(runner, CURATOR, *args, "--role", "researcher")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        r"Added new@open\.example \(researcher at OU\); event \d+\.\n", result.stdout
    )
    err = refused(runner, db_path, CURATOR, [*args, "--role", "researcher"], 1)
    assert err == "Error: EMAIL: person new@open.example already exists; see 'people show'\n"
    other = ["people", "add", "other@open.example", "--name", "Bo", "--institution"]
    err = refused(runner, db_path, CURATOR, [*other, "XX", "--role", "researcher"], 2)
    assert err == (
        "Error: --institution 'XX': no such institution; see 'sampleloans institutions list'\n"
    )
    # a short name typed in another case names the recorded one (`ou` for `OU`)
    err = refused(runner, db_path, CURATOR, [*other, "ou", "--role", "researcher"], 2)
    assert err == (
        "Error: --institution 'ou': no such institution; did you mean OU? (short names are exact)\n"
    )
    listed = invoke(runner, CURATOR, "loans", "list", "--institution", "ou")
    assert listed.exit_code == 2 and "did you mean OU?" in listed.stderr
    err = refused(runner, db_path, CURATOR, [*other, "OU", "--role", "boss"], 2)
    assert err == "Error: --role: 'boss' is not one of curator, compliance-officer, researcher\n"
    ou = as_json(runner, CURATOR, "people", "list", "--institution", "OU")
    assert [p["email"] for p in ou] == [OU_PI, "new@open.example"]
    staff = as_json(runner, CURATOR, "people", "list", "--role", "compliance-officer")
    assert staff == [
        {"email": COMPLIANCE, "institution": "NAOC", "name": staff[0]["name"],
         "role": "compliance-officer", "active": True}
    ]  # fmt: skip
    assert as_json(runner, OU_PI, "people", "show", "new@open.example")["name"] == "Ada"
    assert len(as_json(runner, OU_PI, "people", "list")) == 2
    text = invoke(runner, CURATOR, "people", "list").stdout
    assert re.search(r"compliance@naoc\.example +│ .+ │ NAOC +│ compliance officer", text)


def test_people_access(runner: CliRunner) -> None:
    result = invoke(runner, OU_PI, "people", "show", CURATOR)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: EMAIL '{CURATOR}': no such person among the records you may read; "
        "see 'sampleloans people list'\n"
    )
    result = invoke(runner, OU_PI, "people", "list", "--institution", "UoC")
    assert result.exit_code == 2
    assert "--institution 'UoC': no such institution among the" in result.stderr


# --- agreements -------------------------------------------------------------------------------


def test_agreements_lifecycle(runner: CliRunner) -> None:
    result = invoke(runner, CURATOR, *AGREEMENT, "--destructive", "--max-extensions", "1")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        r"Drafted agreement AG-9 with OU \(pending until signed\); event \d+\.\n", result.stdout
    )
    pending = as_json(runner, CURATOR, "agreements", "show", "AG-9")
    assert (pending["status"], pending["in_force"], pending["term"]) == (
        "pending",
        False,
        "5 years",
    )
    assert pending["max_loan_period"] == "12 months" and pending["max_total_mass_ug"] == 1_000_000
    assert pending["destructive_use_allowed"] and not pending["onward_transfer_allowed"]
    result = invoke(runner, CURATOR, "agreements", "sign", "AG-9", "--signed-by", "LESEC and OU")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        r"Signed agreement AG-9; in force until 2030-04-01 09:00 UTC; event \d+\.\n", result.stdout
    )
    signed = as_json(runner, OU_PI, "agreements", "show", "AG-9")
    assert signed["in_force"] and signed["signed_at"] == "2025-04-01T09:00:00Z"
    assert signed["expires_at"] == "2030-04-01T09:00:00Z" and signed["issued_ug"] == 0
    text = invoke(runner, CURATOR, "agreements", "show", "AG-9").stdout
    for words in ("5 years", "0 µg of 1.000 g", "at most 1, each up to 6 months", "every 1 year"):
        assert words in text
    result = invoke(runner, CURATOR, "agreements", "terminate", "AG-9", "--reason", "breach")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"Agreement AG-9 terminated; event \d+\.\n", result.stdout)
    ended = as_json(runner, CURATOR, "agreements", "list", "--status", "terminated")
    assert [(a["number"], a["end_reason"], a["in_force"]) for a in ended] == [
        ("AG-9", "breach", False)
    ]


def test_agreements_expire(runner: CliRunner, run: Run) -> None:
    signed_agreement(run)
    result = invoke(runner, CURATOR, "agreements", "expire", "AG-OU", "--reason", "term ended")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"Agreement AG-OU expired; event \d+\.\n", result.stdout)
    assert as_json(runner, CURATOR, "agreements", "show", "AG-OU")["status"] == "expired"


def test_agreements_refusals(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    bad_term = [*AGREEMENT]
    bad_term[bad_term.index("--term") + 1] = "forever"
    err = refused(runner, db_path, CURATOR, bad_term, 2)
    assert err.startswith("Error: --term: 'forever' is not a period;")
    lender = [*AGREEMENT]
    lender[lender.index("--institution") + 1] = "NAOC"
    err = refused(runner, db_path, CURATOR, lender, 2)
    assert err == "Error: --institution: NAOC is a curator; agreements are with borrowers\n"
    assert refused(runner, db_path, OU_PI, AGREEMENT, 4).endswith(
        "only curators may create agreements\n"
    )
    err = refused(runner, db_path, CURATOR, ["agreements", "sign", "AG-OU", "--signed-by", "x"], 1)
    assert err == "Error: agreement AG-OU is signed; only pending ones can be signed\n"
    err = refused(runner, db_path, CURATOR, ["agreements", "expire", "AG-X", "--reason", "x"], 2)
    assert err == "Error: NUMBER 'AG-X': no such agreement; see 'sampleloans agreements list'\n"


def test_agreements_list_and_access(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "UoC")
    signed_agreement(run)
    issued_loan(run)
    rows = as_json(runner, COMPLIANCE, "agreements", "list")
    assert [(a["number"], a["issued_ug"], a["loan_count"]) for a in rows] == [
        ("AG-OU", 20_000, 1),
        ("AG-UoC", 0, 0),
    ]
    assert [a["number"] for a in as_json(runner, OU_PI, "agreements", "list")] == ["AG-OU"]
    uoc = as_json(runner, CURATOR, "agreements", "list", "--institution", "UoC")
    assert [a["number"] for a in uoc] == ["AG-UoC"]
    table = invoke(runner, CURATOR, "agreements", "list").stdout
    assert re.search(r"AG-OU +│ OU +│ signed +│ yes +│ +20\.000 mg │ +1\.000 g │ +1 │", table)
    result = invoke(runner, OU_PI, "agreements", "show", "AG-UoC")
    assert result.exit_code == 2
    assert "NUMBER 'AG-UoC': no such agreement among the" in result.stderr
    result = invoke(runner, OU_PI, "agreements", "list", "--institution", "UoC")
    assert result.exit_code == 2
    assert "--institution 'UoC': no such institution among the" in result.stderr


def test_help_does_not_import_sqlalchemy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom sampleloans.cli import app\n"
        "CliRunner().invoke(app, ['samples', '--help'])\nprint('sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
