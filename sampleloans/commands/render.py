"""Turning results into rich renderables: tables, lines, colours. No business rules here."""

import csv
import io
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.table import Table
from rich.text import Text

from sampleloans.commands.listing import Fact
from sampleloans.dates import format_datetime, format_table_time, to_iso
from sampleloans.text import counted
from sampleloans.units import format_mass

if TYPE_CHECKING:
    from rich.console import RenderableType


def when_cell(occurred_at: Any, recorded_at: Any, backdated: bool) -> str:
    """A table's cell of when something happened, and when it was recorded where that was
    after the fact (on its own line, so the column stays narrow); the heading says UTC."""
    text = format_table_time(occurred_at)
    return f"{text}\n(recorded {format_table_time(recorded_at)})" if backdated else text


def extensions_words(granted: int, allowed: int, agreement_ended: str) -> str:
    """'1 of 2 allowed', and why none is left now where the agreement ended ('(none now:
    agreement AG-…: expired …)'): `status` and `loans show` say it alike."""
    why = f" (none now: {agreement_ended})" if agreement_ended else ""
    return f"{granted} of {allowed} allowed{why}"


def time_cell(value: Any) -> str:
    """A table's time cell ('2025-04-24 10:00', the heading says UTC), or '—' when unset."""
    return format_table_time(value) if value else "—"


def step_line(step: Any) -> Text:
    """One demo step: time, who, what; a refusal shows the error a curator would see."""
    line = Text()
    line.append(format_datetime(step.at), style="dim")
    line.append("  ")
    if step.refusal:
        line.append(f"{step.text}\n", style="bold")
        line.append(f"    refused → Error: {step.refusal}", style="red")
    else:
        line.append(step.text)
    return line


def verify_lines(result: Any) -> list[Text]:
    """The verdict of verify, then every problem on its own line."""
    if result.ok:
        return [
            Text(
                f"verify: OK — {counted(result.events, 'event')}, chain intact, replay matches the "
                f"projections, all invariants hold, {result.storage}; head {result.head}",
                style="green",
            )
        ]
    lines = [
        Text(
            f"verify: {counted(len(result.problems), 'problem')} found; "
            + (f"head {result.head}" if result.head else "no event could be read"),
            style="bold red",
        )
    ]
    lines += [Text(f"  [{p.area}] {p.message}", style="red") for p in result.problems]
    return lines


def demo_summary_table(rows: list[Any], head: str) -> Table:
    """Per institution: loans and the mass issued, consumed, returned and still held."""
    table = Table(title="Chang'e-5 international round — summary", caption=f"ledger head {head}")
    table.add_column("institution", no_wrap=True)
    table.add_column("loans", justify="right")
    table.add_column("standing")
    for heading in ("issued", "consumed", "returned", "held"):
        table.add_column(heading, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            f"{row.institution} ({row.country})",
            str(row.loans),
            Text(row.status, style="red" if "overdue" in row.status else ""),
            format_mass(row.issued_ug),
            format_mass(row.consumed_ug),
            format_mass(row.returned_ug),
            format_mass(row.held_ug),
        )
    total = [
        sum(getattr(r, name) for r in rows)
        for name in ("issued_ug", "consumed_ug", "returned_ug", "held_ug")
    ]
    table.add_row(
        "total", str(sum(r.loans for r in rows)), "", *(format_mass(t) for t in total), style="bold"
    )
    return table


def cell_text(cell: Any) -> str:
    """The plain text of one table cell (a str or a rich Text)."""
    from sampleloans.text import visible

    return visible(cell.plain if isinstance(cell, Text) else str(cell))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula in a CSV cell (OWASP, "CSV injection")."""
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
"""A negative whole number (days left once late) is a number to a spreadsheet, not a formula."""


class StyledFact(Text):
    """A `Fact` whose words are styled (a red cross) or are user text never read as markup."""

    def __init__(self, text: str, *csv: str, style: str | Style = "") -> None:
        """The words `text`, in `style`, read in CSV as the cells `csv`."""
        super().__init__(text, style=style)
        self.csv = csv


def mass_fact(mass_ug: int) -> Fact:
    """A mass: `20.000 mg` in a table, whole micrograms in CSV, `20000`."""
    return Fact(format_mass(mass_ug), str(mass_ug))


NOTHING = Fact("—", "")
"""A table's dash for nothing, an empty CSV cell."""


def time_fact(value: Any) -> Fact:
    """A time: `2025-04-24 10:00` in a table (the heading says UTC), ISO 8601 UTC in CSV,
    `2025-04-24T10:00:00Z`, whole seconds as every view shows a time (the ledger keeps
    microseconds); `—` in a table and an empty CSV cell when unset."""
    return Fact(format_table_time(value), csv_time(value)) if value else NOTHING


def csv_time(value: Any) -> str:
    """A time's CSV cell: whole-second ISO 8601 UTC, `2025-04-24T10:00:00Z`, as `--json` has it."""
    return to_iso(value.replace(microsecond=0))


def state_facts(state: str, frozen: bool) -> list[str]:
    """A custody state's CSV cells: its words and whether an open incident freezes it (`yes`/`no`),
    where a table says `held (frozen)` in one cell."""
    from sampleloans.text import words

    return [words(state), "yes" if frozen else "no"]


def state_fact(state: str, frozen: bool) -> StyledFact:
    """A custody state: `held (frozen)` in a table (as every view says it), two CSV cells."""
    from sampleloans.readmodels.items import state_words

    return StyledFact(state_words(state, frozen), *state_facts(state, frozen))


def check_fact(ok: bool) -> StyledFact:
    """Whether something holds: a green tick or a bold red cross in a table, `yes`/`no` in CSV."""
    if ok:
        return StyledFact("✓", "yes", style="green")
    return StyledFact("✗", "no", style="bold red")


def csv_cells(cell: Any) -> list[str]:
    """The CSV cells of one table cell: a `Fact`'s own, else its text; each made safe from
    being run as a formula (`csv_cell`)."""
    facts = getattr(cell, "csv", None)
    if facts is None:
        return [csv_cell(cell)]
    return [csv_cell(fact) for fact in facts]


def csv_headings(heading: Any) -> list[str]:
    """The CSV headings of one table heading: a `Fact`'s own (`issued (µg)`), else its text."""
    facts = getattr(heading, "csv", None)
    return [cell_text(heading)] if facts is None else list(facts)


def csv_row(cells: Iterable[Any]) -> list[str]:
    """A table row as CSV cells, one fact a cell."""
    return [text for cell in cells for text in csv_cells(cell)]


def csv_cell(cell: Any) -> str:
    """A cell's text for CSV: one a spreadsheet would run as a formula (`=HYPERLINK(…)` typed
    as an institution's name or a sample's location) gets a leading apostrophe, which
    spreadsheets show as text; `--json` keeps every value as recorded."""
    text = cell_text(cell)
    if _WHOLE_NUMBER.fullmatch(text):
        return text
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def table_csv(*tables: Table) -> str:
    """Tables as CSV (RFC 4180: CRLF, quoted where needed), one fact a cell: each table's
    headings, then its rows; several tables are separated by one empty line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for index, table in enumerate(tables):
        if index:
            out.write("\r\n")
        writer.writerow(text for column in table.columns for text in csv_headings(column.header))
        cells = [list(column.cells) for column in table.columns]
        for row in zip(*cells, strict=True):
            writer.writerow(csv_row(row))
    return out.getvalue()


MASS = re.compile(r"(?<![\w.])\d[\d.,]* (?:µg|ug|mg|g)(?!\w)")
"""A mass as `format_mass` writes it (`59.500 mg`, `0 µg`): its number and unit are one word
to wrap, never a line apart."""
TIMESTAMP = re.compile(r"(?<![\w-])\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?(?: UTC)?(?!\w)")
"""A time as `format_table_time` and `format_datetime` write it (`2026-05-05 08:00`, with
` UTC` in running text): its date and clock are one word to wrap, never a line apart."""
UNBROKEN = re.compile(f"{MASS.pattern}|{TIMESTAMP.pattern}")
"""What a table never breaks inside: a mass with its unit, a time with its date."""
_GLUE = "\x00"  # stands for a space inside a mass or a time while measuring and wrapping


def _glued(text: str) -> str:
    """`text` with the spaces inside each mass and each time replaced by a non-space,
    character for character (offsets stay those of `text`)."""
    return UNBROKEN.sub(lambda found: found.group().replace(" ", _GLUE), text)


def _longest_unbroken(texts: list[str]) -> int:
    """The length of the longest word holding a mass or a time (with what clings to it, a
    bracket or a comma) in some texts; 0 if none."""
    return max(
        (len(word) for text in texts for word in _glued(text).split() if _GLUE in word),
        default=0,
    )


def _longest_word(texts: list[str], *, masses_whole: bool = False) -> int:
    """The length of the longest space-separated word in some texts (1 if none); with
    `masses_whole`, a mass with its unit and a time with its date are one word."""
    glue = _glued if masses_whole else str
    return max((len(word) for text in texts for word in glue(text).split()), default=1)


def _line_spans(text: str, width: int) -> list[tuple[int, int]]:
    """Where `text` wraps at `width`: (start, end) of each line, broken greedily between words
    and at its own line breaks, never inside a mass or a time; a word longer than `width`
    stays whole on its line (the column folds it)."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in _glued(text).split("\n"):
        start = end = None
        for word in re.finditer(r"[^ ]+", line):
            if start is None:
                start, end = word.start(), word.end()
            elif word.end() - start > width:
                spans.append((offset + start, offset + (end or start)))
                start, end = word.start(), word.end()
            else:
                end = word.end()
        spans.append((offset + (start or 0), offset + (end or 0)))
        offset += len(line) + 1
    return spans


def _masses_kept_whole(cell: Any, width: int) -> Any:
    """A cell holding a mass or a time, wrapped at `width` by us between words so that no mass
    is cut from its unit nor a time from its date (rich would break at any space); its styles
    kept. Other cells unchanged."""
    if not isinstance(cell, str | Text):
        return cell
    plain = cell.plain if isinstance(cell, Text) else cell
    if not UNBROKEN.search(plain) or all(len(line) <= width for line in plain.split("\n")):
        return cell
    spans = _line_spans(plain, width)
    if isinstance(cell, Text):
        return Text("\n").join(cell[start:end] for start, end in spans)
    return "\n".join(cell[start:end] for start, end in spans)


def _longest_line(texts: list[str]) -> int:
    """The length of the longest line in some texts (1 if none)."""
    return max((len(line) for text in texts for line in text.splitlines()), default=1)


def _share_out(floors: list[int], wants: list[int], room: int) -> list[int]:
    """Widths from `floors` up towards `wants` until `room` is used, one character at a time
    to the column that lacks least: as many columns as possible are completed, and the widest
    (free text, which wraps well) takes what is left."""
    widths = list(floors)
    for _ in range(max(0, room - sum(widths))):
        lacking = [(want - w, k) for k, (w, want) in enumerate(zip(widths, wants, strict=True))]
        open_ = [pair for pair in lacking if pair[0] > 0]
        if not open_:
            break
        widths[min(open_)[1]] += 1
    return widths


def _share_in_proportion(floors: list[int], wants: list[int], room: int) -> list[int]:
    """Widths from `floors` towards `wants`, the room left shared in proportion to what each
    column lacks (a long free-text column gets most of it)."""
    lacking = [max(0, want - floor) for floor, want in zip(floors, wants, strict=True)]
    spare = max(0, room - sum(floors))
    if sum(lacking) <= spare:
        return [max(floor, want) for floor, want in zip(floors, wants, strict=True)]
    total = sum(lacking)
    return [floor + spare * lack // total for floor, lack in zip(floors, lacking, strict=True)]


# tables of mass terms (balance, the state of custody history --as-of) have ten columns or
# more: on a narrow terminal their headers are shortened (with a legend under the table) so
# that every column keeps room for its figures
MASS_TERM_ABBREVIATIONS = {
    "custody state": "state",
    "split to children": "split",
    "consumed": "cons",
    "returned": "ret",
    "transferred": "xfer",
}


def _surely_fits(table: Table, width: int) -> bool:
    """True when a bound on the table's natural width, from its cells' plain text, is within
    `width`: rich's own measurement walks every cell's renderables and costs as much as drawing
    the table, which a table that plainly fits need not pay for."""
    if table.width is not None or table.min_width is not None:
        return False
    _, right, _, left = table.padding
    bound = len(table.columns) + 1  # the vertical borders
    for column in table.columns:
        if column.width is not None or column.min_width is not None:
            return False
        cells = [column.header, *column.cells]
        if not all(isinstance(cell, str | Text) for cell in cells):
            return False  # a nested renderable has no plain text to bound it by
        texts = [cell_text(cell) for cell in cells]
        if any("\t" in text for text in texts):
            return False  # rich expands a tab to the next stop
        # a cell's text is never narrower than what rich draws (markup and emoji codes shrink)
        bound += _widest_line(texts) + left + right
        if bound > width:
            return False
    return True


def _widest_line(texts: list[str]) -> int:
    """The terminal cells taken by the widest line of some texts (0 if none)."""
    from rich.cells import cell_len

    return max((cell_len(line) for text in texts for line in text.splitlines()), default=0)


def _measured_width(table: Table) -> int:
    """The width rich would draw the table at on an unbounded terminal."""
    from rich.console import Console
    from rich.measure import Measurement

    wide = Console(width=10_000)
    return Measurement.get(wide, wide.options, table).maximum


def fit_to_width(table: Table, width: int, abbreviations: dict[str, str] | None = None) -> Table:
    """A table that keeps every column on a narrow terminal: never dropped, never cut.

    Rich squeezes a table wider than the terminal by shrinking its wrappable columns, down to
    nothing (a column then silently disappears) and cutting no-wrap cells with '…'. When the
    table does not fit: headers listed in `abbreviations` get their short form (a legend is
    added as the caption); padding is tightened; each column gets a fixed width of at least its
    longest header word, then every column its longest word where there is room, the rest
    shared out; cells wrap between words and fold a word only when it is longer than its column.
    """
    if _surely_fits(table, width) or _measured_width(table) <= width:
        return table
    legend = []
    for column in table.columns:
        short = (abbreviations or {}).get(cell_text(column.header))
        if short:
            legend.append(f"{short} = {cell_text(column.header)}")
            column.header = short
    if legend:
        caption = "; ".join(legend)
        table.caption = f"{table.caption}; {caption}" if table.caption else caption
    texts = [[cell_text(c.header), *(cell_text(cell) for cell in c.cells)] for c in table.columns]
    headers = [_longest_word(t[:1]) for t in texts]
    words = [max(h, _longest_word(t)) for h, t in zip(headers, texts, strict=True)]
    masses = [
        max(w, _longest_word(t, masses_whole=True)) for w, t in zip(words, texts, strict=True)
    ]
    lines = [max(m, _longest_line(t)) for m, t in zip(masses, texts, strict=True)]
    room = width - (len(table.columns) + 1)  # the vertical borders
    if sum(masses) + 2 * len(table.columns) <= room:  # a mass whole before padding
        room -= 2 * len(table.columns)  # room for the usual padding too
    else:
        table.padding = (0, 0)  # one character per column between borders, not three
        table.pad_edge = False
    # whole words first (as many columns as room allows), then whole lines
    # the first column names the row (a sample code, a loan number): keep it whole if it can be
    floors = [min(words[0], room // 3), *headers[1:]]

    # Longest words before whole lines: a word folded inside itself reads as another value
    # ('17.60' over '0 mg', 'L-20' over '25-UoC', '2026-05-05' over '08:00'). Every mass and
    # time gets its width first where all fit, then a no-wrap column (a code, a loan number) its
    # longest word, then every other column; then every mass and time whole where room allows;
    # then a no-wrap column its whole lines, then every column towards its whole lines. Free
    # text (an e-mail, a note) wraps or folds and still reads as itself.
    def wanted(no_wrap: list[int], others: list[int]) -> list[int]:
        """Per column: `no_wrap`'s width for a no-wrap column, `others`' for the rest."""
        return [
            a if c.no_wrap else b for c, a, b in zip(table.columns, no_wrap, others, strict=True)
        ]

    def unbroken_from(floors: list[int]) -> list[int]:
        """Per column: its floor, or its longest mass or time if that is wider."""
        return [max(f, _longest_unbroken(t)) for f, t in zip(floors, texts, strict=True)]

    # where every mass and time fits whole beside every code (a no-wrap column's longest word)
    # they come first; where they cannot all, each number and code keeps its characters whole
    # first ('100.000' over 'mg' still reads as itself, '100.' over '000 mg' does not), then
    # the masses and times take what is left
    first = [max(a, b) for a, b in zip(unbroken_from(floors), wanted(words, floors), strict=True)]
    widths = first if sum(first) <= room else _share_out(floors, wanted(words, floors), room)
    widths = _share_out(widths, words, room)
    widths = _share_out(widths, masses, room)  # then each mass with its unit, where room allows
    widths = _share_out(widths, wanted(lines, masses), room)
    widths = _share_in_proportion(widths, lines, room)
    # fewer lines a row never at the cost of a word the shares above kept whole (a sample
    # code folded over two lines reads as two values, an e-mail 'anand@open.exam' over 'ple'),
    # nor of a column they drew whole (an event's name, 'Agreement signed', reads best on one)
    readable = [
        kept
        if kept >= whole
        else max(h, _longest_unbroken(t), min(FOLD_MIN_CHARS, w), min(kept, w))
        for h, t, w, kept, whole in zip(headers, texts, words, widths, lines, strict=True)
    ]
    widths = _fewer_lines(texts, widths, readable, lines, room)
    for column, fixed in zip(table.columns, widths, strict=True):
        column.width = max(1, fixed)  # a column never vanishes, whatever the terminal
        column.no_wrap = False
        column.overflow = "fold"
        # rich's Column keeps its cells in `_cells` and offers no way to replace one
        column._cells = [_masses_kept_whole(cell, column.width) for cell in column._cells]
    return table


def _lines_at(text: str, width: int) -> int:
    """How many lines a cell takes in a column `width` wide: wrapped between words as
    `_line_spans` wraps it, a word longer than the column folded."""
    return sum(max(1, -(-(end - start) // width)) for start, end in _line_spans(text, width))


def _tallest_row(texts: list[list[str]], widths: list[int]) -> int:
    """The most lines any row (the header's included) takes at these column widths."""
    rows = zip(*texts, strict=True)
    return max(max(_lines_at(cell, w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def _narrowest_within(texts: list[str], floor: int, whole: int, lines: int) -> int:
    """The narrowest width from `floor` up to `whole` at which every cell of a column takes
    at most `lines` lines (`whole`, its longest line, if none narrower does)."""
    for width in range(floor, whole):
        if all(_lines_at(text, width) <= lines for text in texts):
            return width
    return max(floor, whole)


def _fewer_lines(
    texts: list[list[str]], widths: list[int], floors: list[int], wholes: list[int], room: int
) -> list[int]:
    """`widths`, or other widths within `room` at which no row takes as many lines: rows of a
    list read best as few lines each (sharing room by what each column lacks could wrap the
    held mass and the due time over three lines each where both fit in two). Each column keeps
    its `floors` (header words, masses and times whole, no word folded into short pieces)."""
    tallest = _tallest_row(texts, widths)
    for lines in range(1, tallest):
        need = [
            _narrowest_within(t, f, w, lines) for t, f, w in zip(texts, floors, wholes, strict=True)
        ]
        if sum(need) <= room:  # the room left completes as many columns as it can
            return _share_out(need, wholes, room)
    return widths


def keeps_numbers_whole(table: Table) -> bool:
    """True when every mass with its unit and every time in a table's cells fits on one line of
    its column (a column with no fixed width is drawn at its cells' natural width)."""
    return all(
        column.width is None
        or column.width >= _longest_unbroken([cell_text(cell) for cell in column.cells])
        for column in table.columns
    )


FOLD_MIN_CHARS = 12
"""A word may be folded across lines only in pieces this long: 'anand@open.e' over 'xample'
still reads as an e-mail, 'an' over 'an' over 'd@' does not, nor 'receive' over 'd'."""


FOLD_LAST_MIN_CHARS = 6
"""The last piece of a folded word is at least this long: 'anand@open.e' over 'xample' still
reads as one e-mail; 'pi@brown.examp' over 'le', or a sample code's last two digits alone on
a line, reads as two values."""


def keeps_words_readable(table: Table) -> bool:
    """True when no fixed-width column of a table breaks a word into pieces shorter than the
    word or than `FOLD_MIN_CHARS`, whichever is shorter, nor leaves a last piece shorter than
    `FOLD_LAST_MIN_CHARS`."""
    for column in table.columns:
        if column.width is None:
            continue
        texts = [cell_text(c) for c in column.cells]
        if column.width < min(FOLD_MIN_CHARS, _longest_word(texts)):
            return False
        if _shortest_last_piece(texts, column.width) < FOLD_LAST_MIN_CHARS:
            return False
    return True


def _shortest_last_piece(texts: list[str], width: int) -> int:
    """The shortest last piece of any word that a column `width` wide folds (a large number
    when it folds none): the characters left over after its whole lines."""
    leftovers = [
        len(word) % width
        for text in texts
        for word in text.split()
        if len(word) > width and len(word) % width
    ]
    return min(leftovers, default=FOLD_LAST_MIN_CHARS)


SHORT_VALUE_CHARS = 40
"""A value this long or shorter (a name with its institution, 'Li Na (demo curator) (NAOC)')
is short: half a line of an 80-column terminal. Free text longer than this may stack."""
STACKED_LINES_MAX = 3
"""The most lines a short value may be stacked into by a squeezed column; one taller reads as
a column of fragments ('Brown' over 'principal' over 'investigator' over '(demo)')."""


def keeps_short_values_low(table: Table, cells: list[list[Any]]) -> bool:
    """True when no short value among `cells` (each column's, before fitting wrapped them) is
    stacked more than `STACKED_LINES_MAX` lines high in its fixed-width column of `table`."""
    for column, own in zip(table.columns, cells, strict=True):
        if column.width is None:
            continue
        for cell in own:
            text = cell_text(cell)
            if len(text) <= SHORT_VALUE_CHARS and _lines_at(text, column.width) > STACKED_LINES_MAX:
                return False
    return True


def fitted(
    table: Table, width: int, abbreviations: dict[str, str] | None = None
) -> "RenderableType":
    """A table as `fit_to_width` draws it where every mass and time stays whole in it, no
    word is folded into short pieces and no short value is stacked more than three lines high;
    where it cannot be, the same rows one field per line (`as_records`): a number is never
    drawn with its unit, or a date with its time, a line apart, nor a status or an e-mail two
    letters a line, nor a name one word a line."""
    headings = [cell_text(column.header) for column in table.columns]
    caption = table.caption
    cells = [list(column.cells) for column in table.columns]  # before fitting wraps them
    table = fit_to_width(table, width, abbreviations)
    if (
        keeps_numbers_whole(table)
        and keeps_words_readable(table)
        and keeps_short_values_low(table, cells)
    ):
        return table
    table.caption = caption  # the full headings are spelt out: no legend of short ones
    for column, own in zip(table.columns, cells, strict=True):
        column._cells = own  # rich's Column offers no way to replace its cells
    return as_records(table, headings if table.show_header else None, width)


def _as_text(cell: Any) -> Text:
    """One table cell as rich Text: a str is read as markup, as a table cell is."""
    if isinstance(cell, Text):
        return cell
    return Text.from_markup(str(cell)) if cell is not None else Text("")


def _wrapped(cell: Text, width: int) -> list[Text]:
    """A cell's lines at `width`, broken between words, never inside a mass or a time; a word
    longer than `width` (a long e-mail) is folded."""
    lines: list[Text] = []
    for start, end in _line_spans(cell.plain, width):
        line = cell[start:end]
        lines.extend(line[k : k + width] for k in range(0, max(1, len(line)), width))
    return lines


def record_text(headings: list[str], cells: list[str], width: int) -> str:
    """One row of a streamed list one field per line (as `as_records` draws it), plain text
    with its line breaks, for a list too long for a rich table on a terminal too narrow for
    its plain table."""
    label_width = max(len(heading) for heading in headings)
    value_width = max(12, _longest_unbroken(cells), width - label_width - 2)
    lines = [
        ((heading if n == 0 else "").ljust(label_width + 2) + value.plain).rstrip()
        for heading, cell in zip(headings, cells, strict=True)
        for n, value in enumerate(_wrapped(Text(cell), value_width))
    ]
    return "\n".join(lines) + "\n"


def as_records(table: Table, headings: list[str] | None, width: int) -> "RenderableType":
    """A table's rows one field per line, each under its heading's name and an empty line
    between rows (`psql`'s expanded display); with no headings (a `show` view's field and
    value), each row's first cell names it. For a terminal too narrow for the table."""
    from rich.console import Group

    rows = [list(row) for row in zip(*(column.cells for column in table.columns), strict=True)]
    if headings is None:
        labels = [[cell_text(row[0])] * (len(row) - 1) for row in rows]
        rows = [row[1:] for row in rows]
    else:
        labels = [headings] * len(rows)
    label_width = max((len(label) for row in labels for label in row), default=0)
    # a mass or a time is never broken, even where it pushes its line past the terminal's edge
    longest = _longest_unbroken([cell_text(cell) for row in rows for cell in row])
    value_width = max(12, longest, width - label_width - 2)
    lines: list[Any] = [] if table.title is None else [_as_text(table.title)]
    for k, (row, names) in enumerate(zip(rows, labels, strict=True)):
        if k and headings is not None:
            lines.append(Text(""))
        for name, cell in zip(names, row, strict=True):
            for n, value in enumerate(_wrapped(_as_text(cell), value_width)):
                label = (name if n == 0 else "").ljust(label_width + 2)
                lines.append(Text(label, style="bold" if n == 0 else "") + value)
    if table.caption is not None:
        lines.append(_as_text(table.caption))
    return Group(*lines)
