"""The one JSON vocabulary of every `--json` output (documented key by key in docs/json.md).

Every command prints through `print_json`, which passes its data through `to_json` here, so
the rules hold for every command, including ones added later:

- a record's own identifier is `number` (loan, agreement), `code` (sample), `email` (person) or
  `short_name` (institution); a reference to another record is `<record>_<identifier>`
  (`loan_number`, `agreement_number`, `sample_code`, `pi_email`, `parent_code`), except an
  institution, which is named by its short name under `institution`;
- a count is `<thing>_count`; a mass is an integer `*_ug` (micrograms);
- a time is whole-second ISO 8601 UTC (`2025-04-24T08:00:00Z`);
- a period is said as a user types it (`12 months`, `1 year 6 months`), never `P12M`;
- a word from a fixed list (role, status, custody state, method, purpose, …) is spelled as the
  command line accepts it: `compliance-officer`, `hand-carried`, `return-in-transit`.
"""

from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

# Older names of a concept → its one name. Views keep their field names (reports use them);
# the JSON says each concept one way.
RENAMED_KEYS: dict[str, str] = {
    "pi": "pi_email",
    "agreement": "agreement_number",
    "sample": "sample_code",
    "loan": "loan_number",
    "initial_mass_ug": "initial_ug",
    "extensions_allowed": "max_extensions",
    "state": "custody_state",
}

# Keys whose values are words of a fixed list that a user also types.
WORD_KEYS = frozenset(
    {
        "role",
        "method",
        "status",
        "custody_state",
        "source",
        "purpose",
        "purpose_class",
        "allowed_purposes",
        "transfer_type",
        "what",
        "direction",
        "subject_type",
        "origin",
        "record",
    }
)

# Keys whose values are canonical ISO 8601 periods (P1Y6M) in the views.
PERIOD_KEYS = frozenset(
    {
        "term",
        "max_loan_period",
        "max_extension_period",
        "inventory_interval",
        "loan_period",
        "period",
    }
)


def json_time(moment: datetime | None) -> str | None:
    """A time as whole-second ISO 8601 UTC with a 'Z' (sub-second parts are dropped); None stays."""
    from sampleloans.dates import to_iso

    return None if moment is None else to_iso(moment.replace(microsecond=0))


def _time_text(text: str) -> str:
    """A stored ISO time string, cut to whole seconds (a view may hand over a string)."""
    if len(text) > 20 and text.endswith("Z") and text[19] == ".":
        return text[:19] + "Z"
    return text


def _word(value: Any) -> Any:
    """A fixed-list word in its command-line spelling (hyphens, not underscores)."""
    if isinstance(value, str):
        return value.replace("_", "-")
    if isinstance(value, list | tuple):
        return [_word(v) for v in value]
    return value


def _period(value: Any) -> Any:
    """A canonical period in words, as a user types it ('6 months')."""
    from sampleloans.units import format_period

    if isinstance(value, str) and value.startswith("P"):
        return format_period(value)
    return value


def _value(key: str, value: Any) -> Any:
    """The JSON form of one value under `key`."""
    value = to_json(value)
    if key in WORD_KEYS:
        return _word(value)
    if key in PERIOD_KEYS:
        return _period(value)
    if isinstance(value, str) and (key.endswith("_at") or key == "as_of"):
        return _time_text(value)
    return value


def to_json(value: Any) -> Any:
    """Views, dicts, lists and times as plain JSON values in the one vocabulary."""
    if isinstance(value, datetime):
        return json_time(value)
    if is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, dict):
        return {_key(k): _value(_key(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def _key(name: Any) -> Any:
    """A key in the one vocabulary of docs/json.md (`pi` → `pi_email`, …)."""
    return RENAMED_KEYS.get(name, name)


def renamed(data: Any, names: dict[str, str]) -> Any:
    """`data` (a view or a list of views) as JSON dicts with some keys renamed (e.g. a count)."""
    if isinstance(data, list | tuple):
        return [renamed(item, names) for item in data]
    plain = to_json(data)
    return {names.get(k, k): v for k, v in plain.items()}


def _utc_time(moment: datetime) -> str | None:
    """`json_time` with a shortcut for a time already in UTC (most of them)."""
    if moment.tzinfo is UTC:
        return (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
        )
    return json_time(moment)


def row_converter(view_type: type, names: dict[str, str] | None = None) -> Any:
    """`renamed(view, names)` for one kind of view, its key plan worked out once: the same
    dicts, several times faster, for lists that stream many rows."""
    plan = []
    for f in fields(view_type):
        key = _key(f.name)
        kind = "word" if key in WORD_KEYS else "period" if key in PERIOD_KEYS else ""
        if not kind and (key.endswith("_at") or key == "as_of"):
            kind = "time"
        plan.append((f.name, (names or {}).get(key, key), kind))
    simple = (str, int, bool, float, type(None))

    def convert(view: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key, kind in plan:
            value = getattr(view, name)
            cls = type(value)
            if cls is datetime:
                value = _utc_time(value)
            elif cls is tuple and all(type(item) is str for item in value):
                value = list(value)
            elif cls not in simple:
                value = to_json(value)
            if kind == "word":
                value = _word(value)
            elif kind == "period":
                value = _period(value)
            elif kind == "time" and isinstance(value, str):
                value = _time_text(value)
            out[key] = value
        return out

    return convert
