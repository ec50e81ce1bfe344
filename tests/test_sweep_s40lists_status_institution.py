"""`status --loan L --institution X` never looked X up: an institution that does not exist was
answered `loan L-2025-OU belongs to OU, not Nope`, where every other command says
`Error: --institution 'Nope': no such institution; see …`. X is now looked up as `status
--institution X` looks it up (a researcher: among the records they may read), then compared."""

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, OU_PI, demo_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by its compliance officer (`--as` changes the reader)."""
    return demo_env(tmp_path_factory, COMPLIANCE)


def _status(env: dict[str, str], who: str, institution: str) -> tuple[int, str]:
    """Exit code and error line of `status --loan L-2025-OU --institution INSTITUTION`."""
    args = ["--as", who, "status", "--loan", "L-2025-OU", "--institution", institution]
    done = CliRunner().invoke(app, args, env=env)
    return done.exit_code, done.stderr.strip()


def test_staff_are_told_an_unknown_institution(env: dict[str, str]) -> None:
    """An institution that does not exist is named as such; another existing one, as not the
    loan's; the loan's own gives its status."""
    assert _status(env, COMPLIANCE, "Nope") == (
        2,
        "Error: --institution 'Nope': no such institution; see 'sampleloans institutions list'",
    )
    assert _status(env, COMPLIANCE, "Osaka") == (
        2,
        "Error: loan L-2025-OU belongs to OU, not Osaka",
    )
    assert _status(env, COMPLIANCE, "OU")[0] == 0


def test_a_researcher_hears_the_same_of_another_and_of_none(env: dict[str, str]) -> None:
    """For OU's PI, Osaka (another's) and Nope (none) are answered alike, naming nobody."""
    words = (
        "no such institution among the records you may read; see 'sampleloans institutions list'"
    )
    assert _status(env, OU_PI, "Osaka") == (2, f"Error: --institution 'Osaka': {words}")
    assert _status(env, OU_PI, "Nope") == (2, f"Error: --institution 'Nope': {words}")
