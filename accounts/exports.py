"""CSV for every export (ledger, usage report, `usage_report`): one writer, one escaping rule."""

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import TextIO

from django.http import StreamingHttpResponse

from .money import decimal_text

# A spreadsheet runs a text cell starting with one of these as a formula ("CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Scripts read `usage_report` line by line; "\n" is what it has always printed.
LINE_END = "\n"


def cell(value: object) -> object:
    """One cell: numbers and dates as they are, text with a leading ' if it could be a formula.

    Escaping goes by type, not by content, so a negative amount stays a number a spreadsheet can
    add up, while a username such as "-1+2" or a model id such as "=HYPERLINK(…)" stays text.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write the header, then one line per row, every cell through `cell`."""
    for line in csv_lines(header, rows):
        stream.write(line)


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The header and each row as one CSV line, ending in `LINE_END`."""
    # The csv module quotes only the characters of its line terminator: with "\n" alone a bare
    # "\r" inside a cell would go out unquoted and start a new row. So write "\r\n", which quotes
    # both, then swap the (always unquoted) terminator at the end of the line.
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(header)[:-2] + LINE_END
    for row in rows:
        yield writer.writerow([cell(value) for value in row])[:-2] + LINE_END


def csv_download(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    """A CSV attachment streamed as it is written (a ledger export can be long)."""
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
