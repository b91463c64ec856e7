"""Reading source files: JSON documents, and text line by line, decoding each line on its own.

A missing or unreadable source raises ImportFailed naming it. A text line that is not UTF-8 is
reported with its line number and skipped; the rest of the file goes on. :func:`csv_rows` parses
each physical line on its own with the ``csv`` module (quoted fields may hold commas and quotes): a quote
left open at the end of a line is followed a few lines on; when it closes into one complete row, that row (a
quoted field with line breaks, legal CSV) is kept, else the quote is reported there and the next line is read
as the next record, so one stray quote cannot swallow the rest of the file into one field.
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from engine.data.importers.checks import MAX_CAPTION_CHARS
from engine.data.importers.report import ImportReport
from engine.data.importers.source import ImportFailed

_BOM = b"\xef\xbb\xbf"


def require_file(path: Path) -> None:
    """ImportFailed (naming it) unless ``path`` is an existing file."""
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if path.is_dir():
        raise ImportFailed(f"{path}: is a folder, expected a file")


def open_source(path: Path):  # noqa: ANN201 - a binary file object
    """Open a source file for reading; ImportFailed (naming it) when it cannot be."""
    require_file(path)
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def load_json(path: Path, what: str) -> object:
    """The parsed JSON document at ``path``; ImportFailed when it is not JSON at all."""
    with open_source(path) as f:
        data = f.read()
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{path}: not a {what}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{path}: not a {what}: not UTF-8 text (byte {exc.start})") from exc
    except RecursionError:
        raise ImportFailed(f"{path}: not a {what}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ImportFailed(f"{path}: not a {what}: unreadable JSON value ({str(exc).split(':')[0]})") from exc


def decoded_lines(path: Path, report: ImportReport, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of every UTF-8 line of ``path``; other lines are reported."""
    with open_source(path) as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                report.skip(path, f"line {lineno}", f"not valid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            yield lineno, (text if keepends else text.rstrip("\r\n"))


_SPAN_LINES = 50  # how far a quote left open is followed to see whether it closes as a multi-line field
_STILL_OPEN = "unexpected end of data"  # the csv module's (strict) error for a quoted field not closed yet


def _fields(line: str, delimiter: str) -> list[str]:
    """The fields of one physical line (``csv.Error`` when the csv module rejects it)."""
    return next(csv.reader([line], delimiter=delimiter), [])


class _Lines:
    """Numbered lines with push-back: lines read ahead after a stray quote are read again."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self._lines = lines
        self._back: deque[tuple[int, str]] = deque()

    def next(self) -> tuple[int, str] | None:
        return self._back.popleft() if self._back else next(self._lines, None)

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        self._back.extendleft(reversed(lines))


def _multi_line_row(first: str, lines: _Lines, delimiter: str, needed: int) -> tuple[int, list[str]] | None:
    """The last line and the fields of the well-formed multi-line row the quote left open on ``first`` starts,
    or None.

    Reads ahead at most :data:`_SPAN_LINES` lines / ``2 * MAX_CAPTION_CHARS`` characters; when the
    quote does not close into one strict, complete row (a stray quote), the lines read ahead are
    pushed back, to be read as rows of their own.
    """
    ahead: list[tuple[int, str]] = []
    size = len(first)
    while len(ahead) < _SPAN_LINES and size <= 2 * MAX_CAPTION_CHARS:
        nxt = lines.next()
        if nxt is None:
            break
        ahead.append(nxt)
        size += len(nxt[1])
        try:
            rows = list(csv.reader([first, *(t for _, t in ahead)], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            if str(exc) == _STILL_OPEN:  # the quoted field goes on past this line: read one more
                continue
            break  # e.g. text right after a closing quote: the open quote was a stray one
        if len(rows) == 1 and len(rows[0]) >= needed:  # the quote closed into one complete row
            return nxt[0], rows[0]
        break
    lines.push_back(ahead)
    return None


def csv_rows(
    path: Path, report: ImportReport, delimiter: str, required: tuple[str, ...], what: str,
    columns: tuple[str, ...] | None = None,
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows (line number, column -> value) of a CSV/TSV file, one row a line.

    ImportFailed when the file is empty or its header lacks a ``required`` column. ``columns``: the file has no
    header row (Cap3D's ``uid,caption``): these are its columns, its first line is a row, and a row with more
    fields than them is reported and skipped too. A quoted field with line
    breaks that closes into one complete row is kept (its row is numbered by its first line; the breaks stay in
    the field: a caption reader turns them into spaces, ``check_caption(text, line_breaks=True)``). A row with too
    few fields to hold the required columns, a quote left open that does not close so, or one the csv module
    rejects, is reported and skipped; the next line is read as the next row.
    """
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise ImportFailed(f"{path}: the separator must be one character, not {delimiter!r}")
    lines = _Lines(decoded_lines(path, report, keepends=True))
    first = lines.next()
    if first is None:
        raise ImportFailed(f"{path}: empty file, expected a {what} with a header row")
    if columns is not None:
        header = list(columns)
        lines.push_back([first])
    else:
        try:
            header = [h.strip() for h in _fields(first[1], delimiter)]
        except csv.Error as exc:
            raise ImportFailed(f"{path}: not a {what}: {exc}") from exc
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(repr(h[:40]) for h in header[:8]) + (", ..." if len(header) > 8 else "")
        hint = "" if len(header) > 1 else "; is the separator right?"
        raise ImportFailed(
            f"{path}: not a {what}: no column {', '.join(repr(m) for m in missing)} (columns: {shown}){hint}"
        )
    needed = 1 + max(header.index(c) for c in required) if required else 0

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        while (nxt := lines.next()) is not None:
            lineno, text = nxt
            try:
                fields = _fields(text, delimiter)
            except csv.Error as exc:
                report.skip(path, f"line {lineno}", f"unreadable CSV row: {exc}")
                continue
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line
            if any("\n" in f or "\r" in f for f in fields):
                spanned = _multi_line_row(text, lines, delimiter, needed)
                if spanned is None:
                    report.skip(path, f"line {lineno}", "unclosed quote: a quoted field runs past the end "
                                                        "of the line; the next line is read as the next record")
                    continue
                fields = spanned[1]  # a quoted field with line breaks (legal CSV): the row is kept
            if len(fields) < needed or (columns is not None and len(fields) > len(columns)):
                report.skip(path, f"line {lineno}", f"expected {len(header)} fields, found {len(fields)}")
                continue
            yield lineno, dict(zip(header, fields, strict=False))

    return header, rows()
