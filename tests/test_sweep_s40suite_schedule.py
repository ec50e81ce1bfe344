"""Sweep s40 "the suite's wall time": the workers start the longest test files first.

`--dist loadfile` hands each worker whole files; xdist's default order (`--loadscope-reorder`)
puts the files with the most tests first, and so the files of one long test (the state machine,
the random CLI sessions) were the last ones left, run on one worker while the other was idle.
addopts turns that off and `tests/conftest.py` sorts the files of `LONGEST_FIRST` to the front.
"""

import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.conftest import LONGEST_FIRST, pytest_collection_modifyitems

ROOT = Path(__file__).resolve().parent.parent


def test_addopts_keep_files_whole_and_xdists_reorder_off() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    addopts = config["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert addopts[addopts.index("--dist") + 1] == "loadfile"
    assert "--no-loadscope-reorder" in addopts


def test_every_longest_file_exists_once() -> None:
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    assert [name for name in LONGEST_FIRST if not (ROOT / "tests" / name).is_file()] == []


def test_the_longest_files_come_first_in_their_order_and_the_rest_keep_theirs() -> None:
    names = ["test_a.py", LONGEST_FIRST[2], "test_b.py", LONGEST_FIRST[0], "test_a.py"]
    items = [SimpleNamespace(path=ROOT / "tests" / name, n=n) for n, name in enumerate(names)]
    pytest_collection_modifyitems(cast(list[pytest.Item], items))
    assert [(item.path.name, item.n) for item in items] == [
        (LONGEST_FIRST[0], 3),
        (LONGEST_FIRST[2], 1),
        ("test_a.py", 0),
        ("test_b.py", 2),
        ("test_a.py", 4),
    ]
