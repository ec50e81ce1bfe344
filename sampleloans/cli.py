"""The command line's composition root: global options and one sub-app per noun.

Every command lives in `sampleloans/commands/`; this file only wires them together. The
command modules are imported only when their command runs (or help lists them), so that one
command's start-up does not pay for every other command's imports and Click objects.
"""

import functools
import gc
import importlib
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer._click.exceptions import (  # Typer's own Click
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperArgument, TyperGroup, TyperOption

from sampleloans.commands.common import State, StdoutGuard
from sampleloans.errors import StdoutUnwritable
from sampleloans.fileio import quiet_reraised_interrupts
from sampleloans.gcpause import pause_for_startup
from sampleloans.interrupts import run_reporting_interrupts, start_run, watch_for_ctrl_c
from sampleloans.text import one_line, trim_key

# Name → (module in sampleloans.commands, attribute): a function is a command, a Typer a
# sub-app. Order is the order of `--help` (Typer lists commands first, then sub-apps).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("ledger", "init"),
    "demo": ("ledger", "demo"),
    "verify": ("ledger", "verify"),
    "import": ("bulk", "import_file"),
    "balance": ("compliance", "balance"),
    "overdue": ("compliance", "overdue"),
    "status": ("compliance", "status"),
    "verify-document": ("reports", "verify_document"),
    "notify": ("notify", "notify"),
    "backup": ("maintenance", "backup"),
    "restore": ("maintenance", "restore"),
    "export": ("export", "export"),
    "verify-bag": ("export", "verify_bag"),
    "checkpoint": ("checkpoints", "checkpoint_app"),
    "samples": ("samples", "app"),
    "institutions": ("institutions", "app"),
    "people": ("people", "app"),
    "agreements": ("agreements", "app"),
    "loans": ("loans", "app"),
    "incidents": ("incidents", "app"),
    "custody": ("custody", "app"),
    "report": ("reports", "app"),
    "keys": ("keys", "app"),
    "db": ("database", "app"),
}


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands, each built from its module on first access, in COMMANDS order."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self._built: dict[str, Any] = dict(built)
        self._names = [*COMMANDS, *(n for n in built if n not in COMMANDS)]

    def __getitem__(self, name: str) -> Any:
        """The Click command or group called `name`, built now if not yet built."""
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        """Add or replace a command."""
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        """Remove a command."""
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        """Command names in help order, without building any command."""
        return iter(list(self._names))

    def __len__(self) -> int:
        """How many commands the group has."""
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        """Whether the group has a command called `name`, without building it."""
        return name in self._names


class LazyGroup(TyperGroup):
    """The root group: Typer's group whose commands are built on demand."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.commands)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Refuse an argument that is not text before any command sees it (exit 2)."""
        for position, arg in enumerate(args):
            before = args[position - 1] if position else ""
            named = before.startswith("-") and not arg.startswith("-")
            _refuse_undecodable(arg, before if named else f"argument {position + 1}")
            given = _blank_value_of(before, arg)
            param = None if given is None else self._value_option(ctx, args, given)
            if param is not None:
                # a required option cannot be left out: the hint must work when followed
                hint = (
                    "it is required: give a value"
                    if param.required
                    else f"give a value, or leave {given} out"
                )
                sys.stderr.write(f"Error: {given}: must not be empty; {hint}\n")
                raise typer.Exit(2)
        self._refuse_both_sides(args)
        self._refuse_given_twice(args)
        with _one_line_usage_errors():
            return super().parse_args(ctx, args)

    def _refuse_both_sides(self, args: list[str]) -> None:
        """Refuse both sides of one on/off flag (`--destructive --non-destructive`): Click
        would keep the last, silently, and a record would say what one of them denies."""
        words = args[: args.index("--")] if "--" in args else args
        for param in self._command_of(args).params:
            sides = (getattr(param, "opts", ()), getattr(param, "secondary_opts", ()))
            if not sides[1]:
                continue
            typed = [next((w for w in words if w in side), None) for side in sides]
            if typed[0] is not None and typed[1] is not None:
                sys.stderr.write(f"Error: {typed[0]} and {typed[1]}: give one of them, not both\n")
                raise typer.Exit(2)

    def _refuse_given_twice(self, args: list[str]) -> None:
        """Refuse an option that takes one value given twice (`--limit 1 --limit 2`): Click
        would keep the last, silently, and a repeat is more often a slip for another option."""
        words = args[: args.index("--")] if "--" in args else args
        start = self._command_start(words)
        for params, part in (
            (self.params, words[:start]),
            (self._command_of(args).params, words[start:]),
        ):
            self._refuse_repeat_among(params, part)

    def _command_start(self, words: list[str]) -> int:
        """Where the words of the (sub)command begin: after the last word naming a command."""
        command: Any = self
        start = 0
        for position, word in enumerate(words):
            commands = getattr(command, "commands", None)
            if commands is not None and not word.startswith("-") and word in commands:
                command = commands[word]
                start = position + 1
        return start

    @staticmethod
    def _refuse_repeat_among(params: list[Any], words: list[str]) -> None:
        """Refuse the first single-valued option of `params` typed twice among `words`, in any
        of the forms Click takes (`--opt v`, `--opt=v`, `-o v`, `-ov`, `-fo v` after a flag,
        and a long and a short name of the same option mixed)."""
        options = {
            opt: param
            for param in params
            if param.param_type_name == "option"
            for opt in (*param.opts, *getattr(param, "secondary_opts", ()))
        }
        seen: dict[str, tuple[str, str]] = {}
        position = 0
        while position < len(words):
            typed, param, value = _option_in(options, words[position])
            position += 1
            if param is None or param.is_flag or param.count:
                continue
            if value is None:  # the value is the next word, even one that starts with '-'
                if position == len(words):
                    return  # no value: Click says so
                value = words[position]
                position += 1
            if param.multiple:
                continue
            if param.name in seen:
                first, was = seen[param.name]
                as_first = "" if first == typed else f"as {first} "
                sys.stderr.write(
                    f"Error: {typed}: given twice ({as_first}{was!r}, then {value!r}); "
                    "give it once\n"
                )
                raise typer.Exit(2)
            seen[param.name] = (typed, value)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a reader that stopped reading ends it quietly (exit 0). Our own
        errors raised once a command's transaction is over (a stored period or mass an edited
        table holds, met while the view is drawn) are the same one line as inside it."""
        from sampleloans.commands.common import errors_to_exit_codes, quiet_broken_pipe

        placed = _global_options_placed()
        with quiet_broken_pipe(), _one_line_usage_errors(), placed, errors_to_exit_codes():
            return super().invoke(ctx)

    def _command_of(self, args: list[str]) -> Any:
        """The (sub)command the words of `args` name: this group when they name none."""
        command: Any = self
        for arg in args:
            commands = getattr(command, "commands", None)
            if commands is None or arg.startswith("-") or arg not in commands:
                continue
            command = commands[arg]
        return command

    def _value_option(self, ctx: Any, args: list[str], option: str) -> Any:
        """The parameter `option` names in the command `args` name, if it takes a value (not a
        flag such as --json, after which a blank word is a stray argument that Click
        reports); else None."""
        command = self._command_of(args)
        params = [*command.params, *(self.params if command is not self else [])]
        for param in params:
            if option in getattr(param, "opts", ()) or option in getattr(
                param, "secondary_opts", ()
            ):
                return None if param.is_flag or param.count else param
        return None  # not an option of this command: Click says so


def _option_in(options: Mapping[str, Any], word: str) -> tuple[str, Any, str | None]:
    """The option `word` names as Click reads it (typed name, parameter or None, the value it
    carries or None when the value is the next word): `--opt=v`, `--opt`, `-ov`, `-o`, and a
    short option after short flags in one word (`-fo v`, `-fov`)."""
    if word.startswith("--"):
        typed, equals, inline = word.partition("=")
        return typed, options.get(typed), inline if equals else None
    if not word.startswith("-") or len(word) < 2:
        return word, None, None
    for at in range(1, len(word)):
        typed = f"-{word[at]}"
        param = options.get(typed)
        if param is None:
            return typed, None, None  # not an option here (a negative number): Click decides
        if not (param.is_flag or param.count):
            return typed, param, word[at + 1 :] or None
    return word, None, None  # flags only


GLOBAL_OPTIONS = {"--db": "PATH", "--as": "EMAIL", "--version": ""}
"""The root's options and the value each takes: they go before the command."""


@contextmanager
def _global_options_placed() -> Iterator[None]:
    """Say where a global option goes when it was typed after the command: Click's "No such
    option: --as (Possible options: --at)" pointed the user at another option, one that
    back-dates the record."""
    try:
        yield
    except NoSuchOption as refused:
        if refused.option_name not in GLOBAL_OPTIONS:
            raise
        name, ctx = refused.option_name, refused.ctx
        assert ctx is not None  # the parser of a command raised it
        root = ctx.find_root().command_path  # 'sampleloans', or 'python -m sampleloans'
        command = ctx.command_path[len(root) :].strip()
        value = GLOBAL_OPTIONS[name]
        typed = f"{root} {name} {value} {command} …" if value else f"{root} {name}"
        # ctx=None: one line, that needs no "--help" hint
        raise UsageError(
            f"{name} is a global option: give it before the command ('{typed}')", ctx=None
        ) from None


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """Say a command line Click cannot parse in one line, as every other refusal is (README
    "Exit codes"): the option or argument as typed, what is wrong, where help is. Click put its
    usage line and a "Try … --help" line above the error, three lines and a blank one."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # a group typed alone: its help is the answer
    except UsageError as refused:
        # what was typed is shown escaped: a control or newline in it would repaint the
        # terminal or split the line (README: every `Error:` line)
        raise UsageError(one_line(_one_line(refused)), ctx=None) from None


_NEGATIVE_NUMBER = re.compile(r"-[0-9]")
"""What Click takes for an option where an argument was meant: every number a command takes as
an argument (an event's seq, a checkpoint's id) is a whole number from 1 up."""


def _one_line(refused: UsageError) -> str:
    """A usage error's words, led by the option or argument as typed (ctx=None: one line)."""
    ctx = refused.ctx
    hint = f" (try '{ctx.command_path} --help')" if ctx is not None else ""
    message = refused.message.rstrip(".")
    if isinstance(refused, NoSuchOption):
        if _NEGATIVE_NUMBER.fullmatch(refused.option_name):  # `custody correct -5`: a typo'd SEQ
            # Click names the first two characters of `-12` alone: say what it read them as
            negative = "a number typed with '-' is read as an option"
            no_such = f"no such option ({negative}; no number this command takes is negative)"
            return f"{refused.option_name}: {no_such}{hint}"
        near = sorted(refused.possibilities or ())
        guess = f"; did you mean {_either(near)}?" if near else ""
        return f"{refused.option_name}: no such option{guess}{hint}"
    if isinstance(refused, MissingParameter):
        field = _typed(refused)
        both = " / " in field  # an on/off pair: say which to choose
        wanted = "give one of them" if both else "this command requires it"
        return f"{field}: missing; {wanted}{hint}"
    if isinstance(refused, BadParameter):
        field = _typed(refused)
        return f"{field}: {message}" if field else message
    if isinstance(refused, BadOptionUsage) and "requires" in message:
        return f"{refused.option_name}: give it a value{hint}"
    extra = "Got unexpected extra argument(s) ("
    if message.startswith(extra):
        return f"{message.removeprefix(extra).rstrip(')')}: unexpected extra argument{hint}"
    if message.startswith("No such command"):
        name = message.removeprefix("No such command ").split(". Did you mean")[0]
        return f"{name}: no such command{_did_you_mean(message)}{hint}"
    return f"{message}{hint}" if refused.ctx is not None else message


def _typed(refused: BadParameter) -> str:
    """The option(s) or argument a bad parameter names, as typed: `--limit`, `NUMBER`,
    `--seal-intact / --seal-broken` (Click quotes them)."""
    hint = refused.param_hint
    if hint is None and refused.param is not None:
        hint = refused.param.get_error_hint()
    if hint is None:
        return ""
    hints = [hint] if isinstance(hint, str) else list(hint)
    return " / ".join(h.replace("'", "") for h in hints)


def _either(words: list[str]) -> str:
    """`--at`, `--at or --seal`, `--at, --sample or --seal`."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _did_you_mean(message: str) -> str:
    """Typer's suggestion of a near command ('; did you mean 'list'?'), if it made one."""
    _, said, near = message.partition(". Did you mean ")
    return f"; did you mean {near.rstrip('?')}?" if said else ""


def _blank_value_of(before: str, arg: str) -> str | None:
    """The option given an empty or blank value (`--loan ''`, `--since=`), if `arg` is one:
    no option takes one, and reading it as "not given" would answer another question (the
    whole collection's balance for `balance --loan ''`)."""
    option, equals, value = arg.partition("=")
    if arg.startswith("--") and equals and not value.strip():
        return option
    if before.startswith("--") and before != "--" and "=" not in before and not arg.strip():
        return before
    return None


def _refuse_undecodable(value: str, field: str) -> None:
    """Refuse bytes that are not UTF-8 (Python keeps them as lone surrogates in argv and the
    environment): no record, file name or filter may hold them, and SQL drivers cannot send
    them."""
    bad = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
    if bad is None:
        return
    shown = value.encode("utf-8", "surrogateescape")[:80].decode("ascii", "backslashreplace")
    sys.stderr.write(
        f"Error: {field}: '{shown}' holds bytes that are not UTF-8 text; type it in UTF-8\n"
    )
    raise typer.Exit(2)


ANY_TEXT = "\u00b5\u2014\u4e2d\U0001f311"
"""Characters the program prints or a record may hold: µg, a dash, a name in Chinese, any
code point beyond the BMP (an encoding that takes these takes all text)."""


def _refuse_narrow_stdout() -> None:
    """Refuse, before anything is read or written, a standard output whose encoding cannot
    take every character (PYTHONIOENCODING=ascii or latin-1, a C locale without UTF-8 mode):
    a name or a mass unit would end the command in UnicodeEncodeError, after a write had
    committed what the traceback said failed, so that running it again recorded it twice."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        ANY_TEXT.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        pass
    else:
        return
    setting = _encoding_setting()
    sys.stderr.write(
        f"Error: {setting}: standard output's encoding is {encoding!r}, which cannot print "
        "every character this program prints (a mass in micrograms, a name in any script); "
        "set PYTHONIOENCODING=utf-8 (or unset it in a UTF-8 locale) and run the command "
        "again: nothing was done\n"
    )
    raise typer.Exit(2)


def _encoding_setting() -> str:
    """The setting that chose standard output's encoding, as the user can change it."""
    given = os.environ.get("PYTHONIOENCODING")
    if given:
        return f"PYTHONIOENCODING={given[:40]}"
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        if os.environ.get(name):
            return f"{name}={os.environ[name][:40]}"
    return "the locale"


def _build(name: str) -> Any:
    """Build one top-level command or sub-app exactly as `app.command`/`app.add_typer` would."""
    module_name, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(f"sampleloans.commands.{module_name}"), attribute)
    holder = typer.Typer(
        rich_markup_mode=app.rich_markup_mode,
        pretty_exceptions_short=app.pretty_exceptions_short,
        suggest_commands=app.suggest_commands,
    )
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    built = typer.main.get_group(holder).commands[name]
    _name_both_flags(built)
    _plain_arguments(built)
    _trim_keys(built)
    return built


class _FlagPair(TyperOption):
    """A required on/off flag (`--seal-intact/--seal-broken`) that names both of its spellings
    when it is missing: Click names only the first, and "Missing option '--seal-intact'" told
    a curator whose seal arrived broken to claim it intact."""

    def get_error_hint(self, ctx: Any = None) -> str:
        """Both spellings, as Click quotes one."""
        return " / ".join(f"'{flag}'" for flag in (*self.opts, *self.secondary_opts))


def _name_both_flags(command: Any) -> None:
    """Make every required flag pair of a command (and of its subcommands) a `_FlagPair`."""
    for sub in getattr(command, "commands", {}).values():
        _name_both_flags(sub)
    for param in command.params:
        if type(param) is TyperOption and param.required and param.secondary_opts:
            # Typer builds its own options and takes no option class: the class is swapped
            # (a subclass adding one method, no state of its own)
            param.__class__ = _FlagPair


class _PlainArgument(TyperArgument):
    """An argument shown as Click and the README write it: `NUMBER` (`[NUMBER]` when it may be
    left out, `CODE...` when repeatable) on the usage line, and its placeholder alone in the
    list of arguments. Typer wrote `{NUMBER}` and `NUMBER <str>`: braces a shell user reads as
    brace expansion, and a Python type in place of what to type."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        """The argument's placeholder for the usage line."""
        name = self.metavar or self.name.upper()
        shown = name if self.required else f"[{name}]"
        return [f"{shown}..." if self.nargs != 1 else shown]

    def display_type_rich(self, ctx: Any) -> str | None:
        """No Python type after the placeholder: the placeholder is the value's kind."""
        return None


def _plain_arguments(command: Any) -> None:
    """Make every argument of a command (and of its subcommands) a `_PlainArgument`."""
    for sub in getattr(command, "commands", {}).values():
        _plain_arguments(sub)
    for param in command.params:
        if type(param) is TyperArgument:
            # as for `_FlagPair`: Typer takes no argument class, so the class is swapped
            param.__class__ = _PlainArgument


KEY_METAVARS = frozenset(
    {
        "SHORT",  # an institution's short name
        "NUMBER",  # a loan's or agreement's number
        "CODE",  # a sample's code
        "PARENT",
        "CODE=MASS",
        "SUFFIX",  # a split child's code or suffix
        "SUFFIX=MASS",
        "EMAIL",  # a person's e-mail (compared in any case where it is read)
        "WHO",  # a hand-over person: a registered person's e-mail, or a name
        "SEAL",
        "MISSION",
        "MATERIAL",
        "LOCATION",
    }
)
"""The placeholders of the values that name a record, one typed or a new one: each such value
is trimmed of the blanks around it (`text.trim_key`) before the command reads it, on reads and
writes alike, so `--institution ' OU'` is OU wherever it is typed. `--as EMAIL` is trimmed
where the actor is read (`commands.common.actor`)."""

SETTINGS = frozenset({"smtp_from"})
"""Parameters with a key's placeholder that name no record: a setting, read (from its option or
its variable) and refused with the other settings of its kind (`mail.py`: exit 3)."""


def _trim_keys(command: Any) -> None:
    """Make every key option and argument of a command (and of its subcommands) trim its
    value (`KEY_METAVARS`), before any callback of its own."""
    for sub in getattr(command, "commands", {}).values():
        _trim_keys(sub)
    for param in command.params:
        if param.metavar in KEY_METAVARS and param.name not in SETTINGS:
            param.callback = functools.partial(_trimmed_then, param.callback)


def _trimmed_then(then: Any, ctx: Any, param: Any, value: Any) -> Any:
    """A key's value (or each of a repeatable one's) trimmed, then given to `then`, the
    parameter's own callback, if it has one; a value that is nothing but blanks is refused
    (exit 2), as an option given one is before parsing (`_blank_value_of`)."""
    if isinstance(value, (tuple, list)):
        value = type(value)(_trimmed(item) for item in value)
    elif isinstance(value, str):
        value = _trimmed(value)
    return value if then is None else then(ctx, param, value)


def _trimmed(value: Any) -> Any:
    """One typed key trimmed (`text.trim_key`), or BadParameter when nothing is left."""
    if not isinstance(value, str):
        return value
    trimmed = trim_key(value)
    if not trimmed:
        raise BadParameter("must not be empty; give a value")
    return trimmed


HELP_MAX_COLUMNS = 120
"""The widest `--help` is drawn (a wider terminal gets lines of this width)."""

app = typer.Typer(
    name="sampleloans",
    help="The custody ledger for lunar samples lent to researchers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=LazyGroup,
    # help follows the terminal up to 120 columns (Click stops at 80): a command list's
    # one-line summaries are cut with "..." where they do not fit
    context_settings={"max_content_width": HELP_MAX_COLUMNS},
)


def _check_db(value: str | None) -> str | None:
    """Refuse a --db no file name or URL can hold (exit 2, as for any invalid option)."""
    if value is not None and "\x00" in value:
        raise typer.BadParameter("embedded null byte")
    return value


def _print_version(asked: bool) -> None:
    """`--version`: the release and the schema revision it writes, then exit."""
    if not asked:
        return
    from sampleloans import __version__
    from sampleloans.db import SCHEMA_HEAD

    # the code's own release, not the installed metadata (an editable install keeps the
    # version it was installed with): the release that writes this schema
    typer.echo(f"sampleloans {__version__} (schema {SCHEMA_HEAD})")
    raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="PATH",
            envvar="SAMPLELOANS_DB",
            help="Ledger database: a SQLite file, or postgresql://USER@HOST/DATABASE.",
            callback=_check_db,
        ),
    ] = None,
    acting: Annotated[
        str | None,
        typer.Option(
            "--as", metavar="EMAIL", envvar="SAMPLELOANS_USER", help="E-mail of the acting person."
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the release and its schema revision, then exit.",
        ),
    ] = False,
) -> None:
    """The custody ledger for lunar samples lent to researchers."""
    # from the environment these were never arguments: checked here the same way
    _refuse_undecodable(db or "", "--db (SAMPLELOANS_DB)")
    _refuse_undecodable(acting or "", "--as (SAMPLELOANS_USER)")
    _refuse_narrow_stdout()
    ctx.obj = State(db=db, actor=acting)
    start_run()  # this command's writes only, in the Ctrl-C and full-disk lines


def main() -> None:
    """Run the command line; a Ctrl-C is one line and exit 130 (the console script enters
    through `sampleloans.__main__.main`, which guards the imports before this too)."""
    # collection resumes once the command has opened its ledger (services/ledgerfile)
    pause_for_startup()
    quiet_reraised_interrupts()
    watch_for_ctrl_c()
    given = sys.stdout
    sys.stdout = StdoutGuard(given)  # a full disk under `> FILE` is one line, exit 3
    try:
        run_reporting_interrupts(app)
    except StdoutUnwritable as error:  # --help, --version: printed before any command runs
        sys.stderr.write(f"Error: {one_line(str(error))}\n")
        raise SystemExit(error.exit_code) from None
    finally:
        sys.stdout = given  # an in-process caller gets its own stream back
        # every object left is freed at exit anyway: frozen, the collector does not walk them
        # generation by generation first (about a tenth of a second of a command's CPU)
        gc.freeze()
