"""The option or argument, as typed, that a service's field name stands for in a message.

The services name a refused value by its field in words (`depth: …`, `storage location: …`),
as `import` then renames to its file's column (services/bulk.py). On the command line the user
typed an option (`--depth`, `--location`) or an argument (`CODE`): `Error:` lines name that.
A field is renamed only to an option or argument the running command has, so one table serves
every command (`mass` is `--mass` for `samples register`, and stays `mass` where no `--mass`
was typed).
"""

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

OPTION_OF_FIELD: dict[str, tuple[str, ...]] = {
    "agreement number": ("NUMBER", "--agreement"),
    "child code": ("--child",),
    "child mass": ("--child",),
    "code": ("CODE",),
    "curator e-mail": ("--curator-email",),
    "curator name": ("--curator-name",),
    "depth": ("--depth",),
    "email": ("EMAIL",),
    "loan number": ("NUMBER", "--loan"),
    "material type": ("--material",),
    "mission": ("--mission", "CODE"),
    "physical form": ("--form",),
    "purpose class": ("--purpose",),
    "sample": ("--sample", "CODE"),
    "seal number": ("--seal",),
    "short name": ("SHORT", "--institution"),
    "storage location": ("--location",),
    "transfer type": ("--transfer-type",),
}
"""Field words → the options or arguments they may stand for, most specific first; a field not
listed is tried as `--FIELD` (`reason` → `--reason`, `mass lost` → `--mass-lost`)."""


_TYPED: ContextVar[frozenset[str]] = ContextVar("typed", default=frozenset())
"""The option strings and argument names of the command this run is about to invoke."""


def running(command: Any) -> None:
    """Note the (Click) command this run invokes: its options and arguments as typed."""
    names: set[str] = set()
    for param in getattr(command, "params", ()):
        if param.param_type_name == "option":
            names.update(param.opts)
        elif param.param_type_name == "argument":
            names.add(param.metavar or param.name.upper())
    _TYPED.set(frozenset(names))


def _candidates(field: str) -> Iterable[str]:
    """What `field` may have been typed as, most specific first."""
    yield from OPTION_OF_FIELD.get(field, ())
    yield "--" + field.replace(" ", "-")


def as_typed(message: str) -> str:
    """`message` with its leading `FIELD: ` renamed to the option or argument of the running
    command it stands for; unchanged when it names none (or no command is running)."""
    field, sep, rest = message.partition(": ")
    if not sep or field.startswith("-") or len(field) > 40:
        return message
    typed = _TYPED.get()
    for candidate in _candidates(field):
        if candidate in typed:
            return f"{candidate}: {rest}"
    return message
