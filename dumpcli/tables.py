"""Rich tables that keep their headers whole on an 80-column terminal."""

from __future__ import annotations

import textwrap

from rich.console import Console
from rich.table import Table


def keep_headers_whole(table: Table, console: Console) -> Table:
    """A table wider than the console: Rich narrows its columns until a one-word header is cut
    ("distri…"), and stops narrowing once the wrappable columns are equally wide. So, only then,
    each header is wrapped here, between its words, to the width its column needs anyway (its
    longest header word or its widest cell): "eval acc (start)" over "0.000" becomes three lines
    of at most 7 characters. A table that fits is left as it is."""
    unbounded = console.options.update_width(1 << 16)
    if console.measure(table, options=unbounded).maximum <= console.width:
        return table
    for column in table.columns:
        header = str(column.header)
        longest_word = max((len(word) for word in header.split()), default=0)
        widest_cell = max((console.measure(c, options=unbounded).maximum for c in column.cells), default=0)
        column.header = "\n".join(
            textwrap.wrap(header, max(longest_word, widest_cell), break_long_words=False)
        )
        column.min_width = max(column.min_width or 0, longest_word)
    return table
