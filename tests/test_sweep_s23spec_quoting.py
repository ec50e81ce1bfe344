"""A refused e-mail address is quoted as typed: `people add 'Joe Smith@X.example'` was answered
with 'joe smith@x.example', a text the user never typed (it was lower-cased before it was
checked), and so was a bad `SAMPLELOANS_SMTP_FROM` ('A <a@b.example>' read 'a <a@b.example>')."""

from pathlib import Path

from tests.conftest import CURATOR
from tests.i15_statement_helpers import env_for, invoke


def test_people_add_quotes_the_address_as_typed(ledger: Path) -> None:
    args = ("people", "add", "Joe Smith@X.example", "--name", "Joe Smith")
    result = invoke(env_for(ledger, CURATOR), *args, "--institution", "OU", "--role", "researcher")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: EMAIL: 'Joe Smith@X.example' is not an e-mail address"
    ), result.stderr


def test_a_bad_sender_is_quoted_as_set(ledger: Path, tmp_path: Path) -> None:
    env = {**env_for(ledger, CURATOR), "SAMPLELOANS_SMTP_FROM": "Lender <Loans@NAOC.example>"}
    result = invoke(env, "notify", "--outbox", str(tmp_path / "ob"))
    assert result.exit_code == 3
    assert "'Lender <Loans@NAOC.example>' is not an e-mail address" in result.stderr
    assert not (tmp_path / "ob").exists()
