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

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from functools import partial
from operator import attrgetter, methodcaller
from types import UnionType
from typing import Any, get_args

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


_SIMPLE = (str, int, bool, float, type(None))
"""Value types that are already JSON values in the one vocabulary (under a plain key)."""


def _json_value(kind: str, value: Any) -> Any:
    """One value of a view under a key of this kind ('word', 'period', 'time' or '')."""
    cls = type(value)
    if cls is datetime:
        value = _utc_time(value)
    elif cls is tuple and all(type(item) is str for item in value):
        value = list(value)
    elif cls not in _SIMPLE:
        value = to_json(value)
    if kind == "word":
        value = _word(value)
    elif kind == "period":
        value = _period(value)
    elif kind == "time" and isinstance(value, str):
        value = _time_text(value)
    return value


def _declared_simple(annotation: Any) -> bool:
    """Whether a field's declared type admits only simple JSON values (str, int, …, None)."""
    if annotation in _SIMPLE:
        return True
    if isinstance(annotation, UnionType):
        return all(arg in _SIMPLE for arg in get_args(annotation))
    return False  # anything else, a string annotation included: looked at value by value


_to_words = methodcaller("replace", "_", "-")
"""`_word` of a plain str, in C."""


def _time_or_none(value: Any) -> Any:
    """`_json_value('time', value)` with a shortcut for a datetime in UTC (`_utc_time`'s
    text, inline: two calls a row on lists of 150,000 rows)."""
    if type(value) is datetime and value.tzinfo is UTC:
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
        )
    return _json_value("time", value)


def _fix_for(kind: str, annotation: Any) -> Callable[[Any], Any]:
    """What a field's value goes through, from its kind and declared type: the general
    `_json_value`, or for the common declarations a cheaper function that gives the same."""
    if kind == "word" and annotation is str:
        return _to_words
    if kind == "time" and annotation in (datetime, datetime | None):
        return _time_or_none
    if not kind and annotation == tuple[str, ...]:
        return list
    return partial(_json_value, kind)


def row_converter(view_type: type, names: dict[str, str] | None = None) -> Any:
    """`renamed(view, names)` for one kind of view, its key plan worked out once: the same
    dicts, several times faster, for lists that stream many rows.

    The values are read in one C call and zipped into the dict; only the fields that may need
    a change (a word, a period, a time, or a declared type that is not a plain JSON value) go
    through `_json_value`, one call each."""
    view_fields = fields(view_type)
    keys = []
    fixes: dict[str, Callable[[Any], Any]] = {}  # by key: of two fields under one key, the last
    for f in view_fields:
        key = _key(f.name)
        kind = "word" if key in WORD_KEYS else "period" if key in PERIOD_KEYS else ""
        if not kind and (key.endswith("_at") or key == "as_of"):
            kind = "time"
        key = (names or {}).get(key, key)
        keys.append(key)
        fixes.pop(key, None)
        if kind or not _declared_simple(f.type):
            fixes[key] = _fix_for(kind, f.type)
    plan = tuple(keys)
    fix_plan = tuple(fixes.items())
    read = attrgetter(*(f.name for f in view_fields))
    field_names = {f.name for f in view_fields}
    renames = tuple(
        (f.name, key) for f, key in zip(view_fields, plan, strict=True) if f.name != key
    )
    # renaming in place is safe only when no two fields share a key and no new key is a field's
    if len(view_fields) == 1 or len(set(plan)) < len(plan) or field_names & {k for _, k in renames}:

        def convert_general(view: Any) -> dict[str, Any]:
            """Key by key, in field order (a later field wins a shared key)."""
            out = dict(zip(plan, read(view) if len(plan) > 1 else (read(view),), strict=True))
            for key, fix in fix_plan:
                out[key] = fix(out[key])
            return out

        return convert_general
    renames = tuple(
        (f.name, key) for f, key in zip(view_fields, plan, strict=True) if f.name != key
    )
    count = len(plan)

    def convert(view: Any) -> dict[str, Any]:
        """One view as a JSON object, its fields renamed and converted."""
        # the instance's own dict (a copy, in C) when it holds exactly the fields
        own = getattr(view, "__dict__", None)
        if own is not None and len(own) == count:
            out = own.copy()
            for name, key in renames:
                out[key] = out.pop(name)
        else:
            out = dict(zip(plan, read(view), strict=True))
        for key, fix in fix_plan:
            out[key] = fix(out[key])
        return out

    return convert
