"""How each front end spells a field the services name in words.

A service refuses a value with a message that starts with the field in plain words
(`storage location: 130 characters; …`, `time: … is in the future`), because the same rule runs
for the command line and for `import`. The person reading the message typed something else:
the command line's option (`--location`, `--at`), or the catalogue's column and the history's
key (`storage_location`, `occurred_at`). Each front end renames the field here, so that every
message names the field as it was typed. A leaf module: it imports nothing of ours.
"""

import re
from collections.abc import Callable, Collection

# the field a message starts with: lower-case words, then ': ' (never an option or a record
# name such as 'loan L-1', which holds capitals, digits or dashes)
_LEADING_FIELD = re.compile(r"([a-z][a-z]*(?: [a-z][a-z-]*)*): ")

OPTION_OF_FIELD: dict[str, tuple[str, ...]] = {
    "time": ("--at",),
    "storage location": ("--location",),
    "material type": ("--material",),
    "physical form": ("--form",),
    "purpose class": ("--purpose",),
    "seal number": ("--seal",),
    "children": ("--child",),
    "child code": ("--child",),
    "child mass": ("--child",),
    "samples": ("--sample",),
    "sample": ("--sample", "code"),
    "mission": ("--mission", "code"),
    "curator e-mail": ("--curator-email",),
    "short name": ("short_name", "--institution"),
    "agreement number": ("number", "--agreement"),
    "loan number": ("number", "--loan"),
}
"""A field whose option is not `--` and its words joined by dashes, or which is an argument
(named by its parameter, shown by its metavar: `SHORT`, `NUMBER`)."""

KEY_OF_FIELD: dict[str, tuple[str, ...]] = {
    "time": ("occurred_at",),
    "max mass": ("max_total_mass_ug",),
    "purpose": ("purpose_class", "allowed_purposes"),
    "period": ("period", "loan_period"),
    "codes": ("items",),
}
"""A field whose key in an imported file is not its words joined by underscores (the first
the record holds)."""


def leading_field(message: str) -> tuple[str, str] | None:
    """The field words a message starts with and the rest of it, or None."""
    match = _LEADING_FIELD.match(message)
    if match is None:
        return None
    return match.group(1), message[match.end() :]


def rename_field(message: str, spell: Callable[[str], str | None]) -> str:
    """The message with its leading field spelled as `spell` gives it (unchanged when None)."""
    found = leading_field(message)
    if found is None:
        return message
    words, rest = found
    spelled = spell(words)
    return message if spelled is None else f"{spelled}: {rest}"


def option_candidates(words: str) -> tuple[str, ...]:
    """The options (or argument parameter names) a command line may give a field as."""
    dashed = "--" + words.replace(" ", "-")
    return (*OPTION_OF_FIELD.get(words, ()), dashed, words.replace(" ", "_"))


def key_of_field(words: str, keys: Collection[str]) -> str | None:
    """The key of an imported record a field is given as, if the record has that key."""
    joined = words.replace(" ", "_").replace("-", "_")
    # a mass is kept in whole micrograms under its words and `_ug` (`mass_ug`, `loss_ug`)
    candidates = KEY_OF_FIELD.get(words, (joined, f"{joined}_ug"))
    return next((key for key in candidates if key in keys), None)
