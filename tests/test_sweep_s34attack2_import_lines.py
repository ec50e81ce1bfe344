"""Stop 34, attack 2: `import` (and `restore --events`) of an events export edited by hand.

Before: an event whose seq jumps, repeats or goes back was `events between seq 1 and 107 repeat
a seq or break the ledger's constraints` (exit 1, no line named); a `prev_hash` that is not the
hash before it was found only by the whole replay (`fails verify`, exit 1); `-0` read as 0 (`seq
is 0, not of its type`, or for `corrects_seq` a hash that did not match, exit 1); `1e3` and `1.0`
named no field; a byte-order mark before the header made the export a history, refused as `no
database` (exit 3). Each is now one line naming the line and the field, exit 2, nothing written.
Held, and checked here: a key given twice, a NUL, a BOM on a later line. A line longer than 16 MiB
is refused before it is read whole (`test_sweep_s18attack_long_lines.py`); CR LF line ends are
read as the same events (same hashes, same head)."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sampleloans.errors import InvalidInput
from sampleloans.services.events_file import read_export
from tests.i15_statement_helpers import CURATOR, env_for, invoke

Lines = list[bytes]


def _with_event(index: int, **fields: object) -> Callable[[Lines], Lines]:
    """Replace fields of the event on line `index` + 1 (line 1 is the header)."""

    def edit(lines: Lines) -> Lines:
        record = json.loads(lines[index])
        record.update(fields)
        edited = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        return [*lines[:index], edited, *lines[index + 1 :]]

    return edit


def _raw(index: int, old: bytes, new: bytes) -> Callable[[Lines], Lines]:
    """Replace bytes in the line `index` (0: the header) as they are written."""

    def edit(lines: Lines) -> Lines:
        assert old in lines[index]
        return [*lines[:index], lines[index].replace(old, new, 1), *lines[index + 1 :]]

    return edit


def _repeat(index: int) -> Callable[[Lines], Lines]:
    return lambda lines: [*lines[: index + 1], lines[index], *lines[index + 1 :]]


NUMBER = "not a number as an export writes it (an integer in digits alone: no fraction, exponent "
RUN = "an export's events run 1, 2, 3, … with no seq skipped, repeated or going back"
CASES: dict[str, tuple[Callable[[Lines], Lines], str]] = {
    "seq jumps": (
        _with_event(6, seq=9),
        "line 7: seq is 9, where 6 follows seq 5 on the line before: " + RUN,
    ),
    "seq repeats": (
        _repeat(6),
        "line 8: seq is 6, where 7 follows seq 6 on the line before: " + RUN,
    ),
    "seq goes back": (
        _with_event(6, seq=3),
        "line 7: seq is 3, where 6 follows seq 5 on the line before",
    ),
    "first seq not 1": (_with_event(1, seq=2), "line 2: seq is 2, where 1 follows the header"),
    "prev_hash": (
        _with_event(6, prev_hash="0" * 64),
        "line 7: prev_hash 0000000000000000… is not the hash of seq 5 on the line before: an "
        "event before it was changed, removed or reordered",
    ),
    "first prev_hash": (
        _with_event(1, prev_hash="1" * 64),
        "line 2: prev_hash 1111111111111111… is not the genesis value of the header's ledger_id",
    ),
    "seq 1e0": (_raw(6, b'"seq":6}', b'"seq":6e0}'), "line 7: seq is 6e0, " + NUMBER),
    "seq 6.0": (_raw(6, b'"seq":6}', b'"seq":6.0}'), "line 7: seq is 6.0, " + NUMBER),
    "seq -0": (_raw(1, b'"seq":1}', b'"seq":-0}'), "line 2: seq is -0, " + NUMBER),
    "corrects_seq -0": (
        _raw(1, b'"corrects_seq":null', b'"corrects_seq":-0'),
        "line 2: corrects_seq is -0, " + NUMBER,
    ),
    "a key twice": (
        _raw(6, b'"seq":6}', b'"seq":6,"seq":6}'),
        "line 7: not valid JSON (a key appears twice)",
    ),
    "a NUL": (
        _raw(6, b'"kind"', b'"ki\x00nd"'),
        "line 7: not valid JSON (Invalid control character",
    ),
    "a BOM on a later line": (
        lambda lines: [*lines[:6], b"\xef\xbb\xbf" + lines[6], *lines[7:]],
        "line 7: not valid JSON (Unexpected UTF-8 BOM",
    ),
    "a BOM before the header": (
        lambda lines: [b"\xef\xbb\xbf" + lines[0], *lines[1:]],
        "line 1: it starts with a byte-order mark (U+FEFF) that an editor added; an export has "
        "none: save it without one and import it again",
    ),
}
"""Each edit of an export, and the refusal after `FILE `."""


@pytest.fixture(scope="module")
def exported(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Lines:
    """The demo's events export, as lines without their newline."""
    out = tmp_path_factory.mktemp("export") / "events.jsonl"
    made = invoke(env_for(demo), "export", "--events", str(out))
    assert made.exit_code == 0, made.stderr
    return out.read_bytes().split(b"\n")[:-1]


def _file(exported: Lines, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name.replace(' ', '-')}.jsonl"
    path.write_bytes(b"\n".join(CASES[name][0](exported)) + b"\n")
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_edited_export_is_one_line_naming_line_and_field_cli(
    exported: Lines, tmp_path: Path, name: str
) -> None:
    source = _file(exported, tmp_path, name)
    target = tmp_path / "new.db"
    env = {**env_for(target), "SAMPLELOANS_USER": CURATOR}
    result = invoke(env, "import", str(source))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"Error: {source} {CASES[name][1]}")
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no ledger, no temp


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_edited_export_is_refused_naming_line_and_field_service(
    exported: Lines, tmp_path: Path, name: str
) -> None:
    source = _file(exported, tmp_path, name)
    with pytest.raises(InvalidInput) as refused:
        list(read_export(source)[1])
    assert str(refused.value).startswith(f"{source} {CASES[name][1]}")


def test_crlf_line_ends_read_as_the_same_events(exported: Lines, tmp_path: Path) -> None:
    """An export saved with CR LF holds the same events: they read alike (and so hash alike)."""
    plain, crlf = tmp_path / "lf.jsonl", tmp_path / "crlf.jsonl"
    plain.write_bytes(b"\n".join(exported) + b"\n")
    crlf.write_bytes(b"\r\n".join(exported) + b"\r\n")
    assert list(read_export(crlf)[1]) == list(read_export(plain)[1])
