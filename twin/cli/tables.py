"""Tables and numbers as ``twin`` prints them for people (the reports are in
:mod:`twin.cli.render`).

Tables fit the console (80 columns when output is piped, unless ``COLUMNS`` says otherwise)
without ever cutting or wrapping a cell: :func:`show_table` prints one table when it fits,
otherwise drops optional columns, then splits the columns over several tables that repeat the
key columns, and as a last resort lists the rows vertically (one ``header: value`` line per
cell). Long headers become short labels with a legend. Numbers are rounded for reading: a mean
with its confidence half-width shows both to the same decimals, two significant digits of the
half-width (``0.0723 ± 0.0031``, ``1,834 ± 45``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin.cli.common import out

__all__ = [
    "Column",
    "show_table",
    "show_pairs",
    "num",
    "pm",
    "pct",
    "hours",
    "deviations_text",
    "interval_cell",
    "short_labels",
    "wrap_list",
]


# --------------------------------------------------------------------------- numbers
def num(x: float | None) -> str:
    """A number for reading: thousands separators from 1,000, one decimal from 10, else three
    significant digits; ``-`` for None/NaN."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 10 or ax == 0:
        return f"{x:.1f}"
    return f"{x:.3g}"


def pm(mean: float | None, half_width: float | None) -> str:
    """``mean ± half-width`` rounded to two significant digits of the half-width."""
    if mean is None:
        return "-"
    if half_width is None or not math.isfinite(half_width):
        return num(mean)
    if half_width == 0:
        return f"{num(mean)} ± 0"
    decimals = min(6, max(0, 1 - math.floor(math.log10(abs(half_width)))))
    return f"{mean:,.{decimals}f} ± {half_width:,.{decimals}f}"


def pct(x: float | None, digits: int = 1) -> str:
    """A share (0..1) as a percentage without the sign (the header says %)."""
    return "-" if x is None else f"{100 * x:.{digits}f}"


def hours(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def interval_cell(i: Mapping[str, Any] | None, diff: bool = False) -> str:
    if not i:
        return "-"
    text = pm(i.get("mean"), i.get("half_width"))
    low, high = i.get("low"), i.get("high")
    if diff and low is not None and high is not None and (low > 0 or high < 0):
        return f"[bold]{text} *[/]"
    return text


def deviations_text(dev: Mapping[str, Any]) -> str:
    """``3 (hold time 2, dirty hold 1)`` instead of a Python dict."""
    by = dev.get("by_type") or {}
    parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(by.items()))
    return f"{dev.get('total', 0)}" + (f" ({parts})" if parts else "")


# --------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "right"
    optional: bool = False  # dropped first when the table does not fit
    style: str | None = None


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]], header: bool = True) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, show_header=header)
    for c in columns:
        # no_wrap: a cell is never broken over lines (a table is only printed when it fits)
        table.add_column(escape(c.header), justify=c.justify, no_wrap=True, style=c.style)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table


def _fits(console: Console, table: Table) -> bool:
    """Whether the table's natural width (measured without the console's limit, which
    clamps it) is within the console."""
    wide = console.options.update(max_width=1_000_000)
    return console.measure(table, options=wide).maximum <= console.width


def show_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    keys: int = 1,
    caption: str | None = None,
    layout: str = "split",
    console: Console | None = None,
    header: bool = True,
) -> None:
    """Print rows under ``columns`` so that no cell is ever cut or wrapped.

    The first ``keys`` columns identify a row. If the table is too wide for the console,
    optional columns go first; then, with ``layout="split"``, the other columns are spread over
    several tables that each repeat the key columns; with ``layout="vertical"`` (or when even
    one column beside the keys does not fit) every row is listed as ``header: value`` lines.
    Cells may hold Rich markup; headers and keys are shown as they are.
    """
    con = console or out
    if title:
        con.print(f"[bold]{escape(title)}[/]", highlight=False)
    cols = all_cols = list(columns)
    data = all_data = [list(r) for r in rows]
    table = _table(cols, data, header)
    if not _fits(con, table):
        keep = [i for i, c in enumerate(cols) if not c.optional or i < keys]
        cols = [cols[i] for i in keep]
        data = [[r[i] for i in keep] for r in data]
        table = _table(cols, data, header)
    if _fits(con, table):
        con.print(table, highlight=False)
    elif layout == "split" and _split(con, cols, data, keys):
        pass
    else:
        _vertical(con, all_cols, all_data, keys)
    for note in (caption or "").split("; "):  # one line per note: a legend entry stays whole
        if note:
            con.print(f"[dim]{escape(note)}[/]", highlight=False)


def _split(con: Console, cols: list[Column], data: list[list[str]], keys: int) -> bool:
    """Chunks of columns beside the key columns, each chunk as wide as fits."""
    key_cols, rest = cols[:keys], list(range(keys, len(cols)))
    chunks: list[list[int]] = []
    cur: list[int] = []
    for i in rest:
        trial = [*cur, i]
        t = _table(
            [*key_cols, *(cols[j] for j in trial)],
            [[*r[:keys], *(r[j] for j in trial)] for r in data],
        )
        if _fits(con, t):
            cur = trial
            continue
        if not cur:
            return False  # one column beside the keys is already too wide
        chunks.append(cur)
        cur = [i]
        t = _table([*key_cols, cols[i]], [[*r[:keys], r[i]] for r in data])
        if not _fits(con, t):
            return False
    if cur:
        chunks.append(cur)
    for k, chunk in enumerate(chunks):
        if k:
            con.print()
        con.print(
            _table(
                [*key_cols, *(cols[j] for j in chunk)],
                [[*r[:keys], *(r[j] for j in chunk)] for r in data],
            ),
            highlight=False,
        )
    return True


def _plain(cell: str) -> str:
    from rich.text import Text

    return Text.from_markup(cell).plain


def _vertical(con: Console, cols: list[Column], data: list[list[str]], keys: int) -> None:
    """Each row as a block: its keys and short cells (``header value``) on the first line,
    longer cells on lines of their own (``header: value``, broken between list items)."""
    for r, row in enumerate(data):
        if r:
            con.print()
        line = "  ".join(f"[bold]{c}[/]" for c in row[:keys])
        width = len("  ".join(_plain(c) for c in row[:keys]))
        rest = []
        for c, cell in zip(cols[keys:], row[keys:], strict=True):
            text = f"{escape(c.header)} {cell}" if c.header else cell
            n = len(_plain(text)) + 3
            if len(_plain(cell)) <= 24 and ", " not in cell and width + n <= con.width:
                line += f"   {text}"
                width += n
            else:
                rest.append((c, cell))
        con.print(line, highlight=False, soft_wrap=True)
        for c, cell in rest:
            label = f"{escape(c.header)}: " if c.header else ""
            first = f"  {label}"
            for k, part in enumerate(wrap_list(cell, con.width - len(_plain(first)))):
                lead = first if k == 0 else " " * len(_plain(first))
                con.print(lead + part, highlight=False, soft_wrap=True)


def wrap_list(text: str, width: int) -> list[str]:
    """A comma-separated value (``a=1, b=2, ...``) broken after commas to fit ``width``: the
    items stay whole (an item longer than the width gets a line of its own)."""
    items = text.split(", ")
    lines: list[str] = []
    cur = ""
    for k, item in enumerate(items):
        piece = item + ("," if k < len(items) - 1 else "")
        if cur and len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    lines.append(cur)
    return lines


def show_pairs(title: str | None, pairs: Sequence[tuple[str, str]]) -> None:
    """``name  value`` lines, the values aligned; a value too long for the line breaks between
    its comma-separated items, never inside one."""
    if title:
        out.print(f"[bold]{escape(title)}[/]", highlight=False)
    if not pairs:
        return
    name_w = max(len(k) for k, _ in pairs)
    room = out.width - name_w - 2
    for k, v in pairs:
        if room >= 24:
            lines = wrap_list(v, room)
            out.print(
                f"{escape(k.ljust(name_w))}  {escape(lines[0])}", highlight=False, soft_wrap=True
            )
            for line in lines[1:]:
                out.print(" " * (name_w + 2) + escape(line), highlight=False, soft_wrap=True)
        else:  # a very narrow console: the name on its own line
            out.print(escape(k), highlight=False, soft_wrap=True)
            for line in wrap_list(v, out.width - 2):
                out.print(f"  {escape(line)}", highlight=False, soft_wrap=True)


def short_labels(names: Sequence[str], limit: int = 22) -> tuple[list[str], list[str]]:
    """Headers for ``names``: the names themselves, or ``V1``, ``V2`` ... with a legend when
    one is longer than ``limit`` characters."""
    if all(len(n) <= limit for n in names):
        return list(names), []
    labels = [f"V{k + 1}" for k in range(len(names))]
    return labels, [f"{lab} = {n}" for lab, n in zip(labels, names, strict=True)]
