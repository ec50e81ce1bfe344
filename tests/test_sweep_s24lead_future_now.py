"""Sweep s24 (lead), found by the review: a future time option refused on the system clock
printed now with its microseconds (`now is 2026-12-01T23:17:53.158591Z`), while the
clock-ahead refusal prints whole seconds. Every "is in the future" line says now to the second.
"""

import os
import re
from pathlib import Path

import pytest

from tests.i15_statement_helpers import invoke, make_demo

WHOLE_SECOND_NOW = re.compile(r"is in the future \(now is \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("future") / "d")


def system_clock_env(ledger: Path) -> dict[str, str]:
    """The ledger, the curator, and no SAMPLELOANS_NOW: the system clock has microseconds."""
    return {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": "curator@naoc.example"}


@pytest.mark.parametrize(
    "args",
    [
        ("custody", "history", "--loan", "L-2025-IPGP", "--as-of", "2099-01-01"),
        ("samples", "move", "CE5C0000YJBP005", "--location", "Vault B", "--at", "2099-01-01"),
    ],
    ids=["read --as-of", "write --at"],
)
def test_a_future_moment_is_refused_with_now_to_the_second(
    demo: Path, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMPLELOANS_NOW", raising=False)
    assert "SAMPLELOANS_NOW" not in os.environ
    refused = invoke(system_clock_env(demo), *args)
    assert refused.exit_code == 1, refused.stdout
    assert WHOLE_SECOND_NOW.search(refused.stderr), refused.stderr
