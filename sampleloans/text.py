"""Text that people type: one line of visible characters, names in one script per word, and
plain e-mail addresses.

Every service that takes a name, an e-mail or free text validates it here, so the single
commands and `import` refuse the same things. A leaf module: it imports nothing of ours but the
errors, so anything may use it.
"""

import hashlib
import re
import string
import unicodedata

from sampleloans.errors import InvalidInput

MAX_TEXT = 500

# Cc control, Cf format (zero-width and bidi marks), Cs surrogates, Co private use, Cn
# unassigned, and the line and paragraph separators (Zl, Zp): none of them belongs in a ledger
# record, and each can hide or reorder what a reader sees on a terminal or in a report.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# Characters that are letters or symbols to Unicode but draw nothing: the Hangul fillers and
# the Khmer inherent vowels (Default_Ignorable_Code_Point outside the categories above), the
# combining grapheme joiner, and the blank Braille pattern. Each makes a required reason or
# description that reads empty, or a name that looks like another's, so each is refused too.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")

# Scripts whose letters look alike (Latin a, Cyrillic а, Greek α …): a word that mixes them is
# almost always a look-alike substitution, so that two names or addresses that read the same
# can name two different records.
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")

_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*", re.ASCII)
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_EMAIL_HINT = "give a plain address like name@example.org"


def describe_char(char: str) -> str:
    """A character as `'x' (U+0078 LATIN SMALL LETTER X)`, readable whatever it is."""
    return f"{char!r} (U+{ord(char):04X} {char_name(char)})"


def char_name(char: str) -> str:
    """A character's Unicode name; a control character (which has none) is called one."""
    if unicodedata.category(char) == "Cc":
        return "CONTROL CHARACTER"
    return unicodedata.name(char, "unnamed character")


def ascii_lower(text: str) -> str:
    """`text` with its ASCII capitals in lower case and every other character as it is: the
    `lower()` SQLite makes, and PostgreSQL in `models.byte_lower`, so a value typed and a value
    stored compare alike in Python and SQL, whatever the language (Turkish `I` is `i`)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def trim_key(value: str) -> str:
    """A typed key (a code, a number, a short name, an e-mail) without the blanks around it:
    ASCII spaces, tabs and line ends and other space separators (a pasted no-break space), as
    `clean_text` trims; a control or line separator at an end is kept, to be refused or not
    found where it is read, and a space inside ('O U') is part of what was typed."""
    start, end = 0, len(value)
    while start < end and _is_blank(value[start]):
        start += 1
    while end > start and _is_blank(value[end - 1]):
        end -= 1
    return value[start:end]


def _is_blank(char: str) -> bool:
    """Whether a character is trimmed from a key's ends (`trim_key`)."""
    return char in " \t\r\n" or unicodedata.category(char) == "Zs"


def clean_text(value: object, field: str, *, max_len: int = MAX_TEXT) -> str:
    """A non-empty single line of visible text, trimmed; control and format characters refused."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: give text, not {_json_type(value)}")
    # only ASCII blanks are trimmed before the check: a line separator at either end is refused,
    # not silently dropped; other Unicode spaces at the ends (a pasted no-break space) are trimmed
    cleaned = value.strip(" \t\r\n")
    if len(cleaned) > max_len:
        raise InvalidInput(f"{field}: {len(cleaned)} characters; at most {max_len} are accepted")
    if not (cleaned.isascii() and cleaned.isprintable()):  # else no character to look at
        _refuse_hidden(cleaned, field)
        cleaned = cleaned.strip()
        if cleaned and not any(_draws(c) for c in cleaned):
            raise InvalidInput(
                f"{field}: has no visible character (only marks or variation selectors); "
                "type the text itself"
            )
    if not cleaned:
        raise InvalidInput(f"{field}: must not be empty")
    return cleaned


def _refuse_hidden(text: str, field: str) -> None:
    """Refuse a control, format or invisible character, naming the first."""
    bad = next(
        (c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES or c in _INVISIBLE),
        None,
    )
    if bad is None:
        return
    kind = "invisible" if bad in _INVISIBLE else "control or format"
    raise InvalidInput(
        f"{field}: contains the {kind} character {describe_char(bad)}; use visible text on one line"
    )


def _draws(char: str) -> bool:
    """Whether a character shows on its own: not a space, nor a mark that only modifies the
    character before it (a combining accent, a variation selector)."""
    return not char.isspace() and not unicodedata.category(char).startswith("M")


def clean_name(value: object, field: str, *, max_len: int = MAX_TEXT) -> str:
    """A name (of a person, institution, place): clean text whose every word is in one script."""
    name = clean_text(value, field, max_len=max_len)
    for word in re.findall(r"[^\W\d_]+", name):
        scripts: dict[str, str] = {}
        for char in word:
            script = _script(char)
            if script is not None:
                scripts.setdefault(script, char)
        if len(scripts) > 1:
            (first, _), (second, odd) = list(scripts.items())[:2]
            raise InvalidInput(
                f"{field}: the word {word!r} mixes {first.title()} and {second.title()} letters "
                f"({describe_char(odd)}); type each word in one script"
            )
    return name


def clean_email(value: object, field: str = "email") -> str:
    """A plain ASCII e-mail address (addr-spec: dot-atom local part @ a DNS name), lower-cased."""
    typed = clean_text(value, field, max_len=254)
    email = typed.lower()
    # a refusal quotes the address as typed, not as it would have been kept
    quoted = repr(typed) if len(typed) <= 60 else repr(typed[:60] + "…")
    odd = next((c for c in email if not c.isascii()), None)
    if odd is not None:
        raise InvalidInput(
            f"{field}: {quoted} contains {describe_char(odd)}; e-mail addresses are plain ASCII "
            "(write an international domain in its xn-- form)"
        )
    local, at, domain = email.rpartition("@")
    if not at or not _valid_local(local) or not _valid_domain(domain):
        raise InvalidInput(f"{field}: {quoted} is not an e-mail address; {_EMAIL_HINT}")
    return email


def _valid_local(local: str) -> bool:
    return len(local) <= 64 and _LOCAL_PART.fullmatch(local) is not None


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return (
        len(domain) <= 253
        and len(labels) >= 2
        and all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def _script(char: str) -> str | None:
    """The confusable script a letter belongs to (by its Unicode name), else None."""
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return first if first in _CONFUSABLE_SCRIPTS else None


def _json_type(value: object) -> str:
    """What a non-text value is, in the words a JSON or CSV author uses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a number"


_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_safe(value: str) -> str:
    """`value` with each character a file name should not hold (all but ASCII letters, digits
    and `. _ -`) replaced by `_`."""
    return _FILE_UNSAFE.sub("_", value)


def is_file_safe(value: str) -> bool:
    """Whether `file_safe` keeps `value` as it is."""
    return _FILE_UNSAFE.search(value) is None


STEM_MAX_CHARS = 240
"""The longest stem `distinct_stem` gives (ASCII, as `file_safe` leaves it): with an extension
it stays under the 255 bytes a file name may have. An e-mail address may be 254 characters,
and `statement-…-at-….pdf` made of one was a name no file system takes."""


def distinct_stem(stem: str, identity: str, *, exact: bool) -> str:
    """`stem` when it names `identity` alone (`exact`), else `stem_` and 12 hex digits of the
    identity's SHA-256: `file_safe` maps `x+y@` and `x_y@` to one name, and a file written for
    one person must never replace another's. A stem too long for a file name is cut, and then
    never names its identity alone."""
    if exact and len(stem) <= STEM_MAX_CHARS:
        return stem
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
    return f"{stem[: STEM_MAX_CHARS - len(digest) - 1]}_{digest}"


# What a terminal obeys rather than shows: C0 and C1 controls but tab and line feed (an escape
# sequence clears the screen, colours or links text), and the bidi marks that reorder a line.
_TERMINAL_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def visible(text: str) -> str:
    """`text` with every terminal control shown as its escape (`\\x1b`), never obeyed:
    what a command prints comes from the ledger, which someone may have edited in the file."""
    if text.isascii() and text.isprintable():
        return text
    return _TERMINAL_CONTROLS.sub(lambda found: ascii(found.group())[1:-1], text)


_LINE_BREAKS = re.compile("[\t\n\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` for a one-line message (an `Error:` line): terminal controls escaped as
    `visible` does, and so a newline, a tab and a Unicode line break (`\\n`, `\\t`, `\\u2028`):
    a path or a name holding one stays unambiguous (shown as a space, 'a\\nb' and 'a b' read
    the same)."""
    return _LINE_BREAKS.sub(lambda found: ascii(found.group())[1:-1], visible(text))


def words(state: str) -> str:
    """A status or custody state as words for messages ('return_in_transit' → 'return in
    transit'); internal names never reach a person."""
    return state.replace("_", " ")


def events_span(first: int, last: int) -> str:
    """'event 108' or 'events 108–110': a run of events, one named alone."""
    return f"event {first}" if first == last else f"events {first}–{last}"


def counted(count: int, noun: str) -> str:
    """A count with its noun in agreement: '1 extension', '2 extensions', '0 extensions';
    '2 hashes' (a noun ending in s, x, z, ch or sh takes -es)."""
    if count == 1:
        return f"{count} {noun}"
    plural = "es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s"
    return f"{count} {noun}{plural}"


def path_shown(path: object) -> str:
    """A file or folder name as a message shows it: on one line, its controls escaped
    (`one_line`), so that a name holding a newline cannot print a line of its own, e.g. a
    forged 'verified against the ledger' under a report that failed."""
    return one_line(str(path))
