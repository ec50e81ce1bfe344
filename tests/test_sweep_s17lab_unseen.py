"""Sweep s17-lab, as an attacker: OU's PI names UoC's records in every read command, in every
output format; the answer is word for word that for a record that does not exist (the key
aside), with the same exit code and nothing on stdout. (No defect found: a guard.)"""

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import OU_PI, demo_env

# (command with {key}, UoC's key, a key that exists nowhere)
PROBES = [
    ("loans show {k}", "L-2025-UoC", "L-2099-NONE"),
    ("samples show {k}", "CE5C0800YJFM00102-01", "CE5C9999YJFM00999"),
    ("samples show {k}", "CE5C0800YJFM00102", "CE5C9999YJFM00999"),  # its parent, in the vault
    ("samples tree {k}", "CE5C0800YJFM00102-01", "CE5C9999YJFM00999"),
    ("custody history --sample {k}", "CE5C0800YJFM00102-01", "CE5C9999YJFM00999"),
    ("custody history --loan {k}", "L-2025-UoC", "L-2099-NONE"),
    ("custody history --institution {k}", "UoC", "NONE"),
    ("balance --sample {k}", "CE5C0800YJFM00102-01", "CE5C9999YJFM00999"),
    ("balance --loan {k}", "L-2025-UoC", "L-2099-NONE"),
    ("overdue --institution {k}", "UoC", "NONE"),
    ("status --loan {k}", "L-2025-UoC", "L-2099-NONE"),
    ("status --institution {k}", "UoC", "NONE"),
    ("loans list --institution {k}", "UoC", "NONE"),
    ("loans list --pi {k}", "muenker@uni-koeln.example", "nobody@nowhere.example"),
    ("samples list --custodian {k}", "UoC", "NONE"),
    ("people show {k}", "muenker@uni-koeln.example", "nobody@nowhere.example"),
    ("people list --institution {k}", "UoC", "NONE"),
    ("institutions show {k}", "UoC", "NONE"),
    ("agreements show {k}", "AG-2025-UoC", "AG-2099-NONE"),
    ("agreements list --institution {k}", "UoC", "NONE"),
]
FORMATS = ["", "--json", "--jsonl", "--csv"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by OU's PI."""
    return demo_env(tmp_path_factory, OU_PI)


def _answer(env: dict[str, str], command: str, key: str, fmt: str) -> tuple[int, str, str]:
    args = command.format(k=key).split() + ([fmt] if fmt else [])
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.stdout, result.stderr.replace(key, "KEY")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("command", "theirs", "missing"), PROBES)
def test_another_institutions_record_is_answered_as_one_that_does_not_exist(
    env: dict[str, str], command: str, theirs: str, missing: str, fmt: str
) -> None:
    seen = _answer(env, command, theirs, fmt)
    absent = _answer(env, command, missing, fmt)
    assert seen == absent
    code, stdout, stderr = seen
    assert code == 2 and stdout == ""
    if "no such option" not in stderr:  # a format the command does not take is refused first
        assert "among the records you may read" in stderr


@pytest.mark.parametrize("material", ["basalt", "zzz"])
def test_a_material_only_others_have_is_refused_as_one_nobody_has_in_honest_words(
    env: dict[str, str], material: str
) -> None:
    """Basalt is on other institutions' samples, 'zzz' on none: the same refusal, saying 'any
    sample you may read' (before: 'not the material of any sample', untrue for basalt)."""
    result = CliRunner().invoke(app, ["samples", "list", "--material", material], env=env)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --material: {material!r} is not the material of any sample you may read; "
        "give one of regolith\n"
    )


def test_a_researcher_with_no_samples_is_not_told_there_are_none(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["--as", "pi@brown.example", "samples", "list", "--material", "basalt"], env=env
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --material: 'basalt' is not the material of any sample you may read; "
        "you may read none yet\n"
    )
