"""Reading source files: JSON documents, and text line by line, decoding each line on its own.

A missing or unreadable source raises ImportFailed naming it. A text line that is not UTF-8 is
reported with its line number and skipped; the rest of the file goes on. :func:`csv_rows` feeds
the decoded lines to the ``csv`` module (so quoted fields may hold commas and newlines) and
numbers each row by the physical line it starts on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

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


class _LineFeed:
    """Iterator of decoded lines for ``csv.reader`` that remembers where the current row began."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self._lines = lines
        self.row_start: int | None = None

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        lineno, text = next(self._lines)
        if self.row_start is None:
            self.row_start = lineno
        return text


def csv_rows(
    path: Path, report: ImportReport, delimiter: str, required: tuple[str, ...], what: str
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows (starting line, column -> value) of a CSV/TSV file.

    ImportFailed when the file is empty or its header lacks a ``required`` column. A row with too
    few fields to hold the required columns, or one the csv module rejects, is reported and skipped.
    """
    if len(delimiter) != 1:
        raise ImportFailed(f"{path}: the separator must be one character, not {delimiter!r}")
    feed = _LineFeed(decoded_lines(path, report, keepends=True))
    reader = csv.reader(feed, delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFailed(f"{path}: empty file, expected a {what} with a header row") from None
    except csv.Error as exc:
        raise ImportFailed(f"{path}: not a {what}: {exc}") from exc
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
        hint = "" if len(header) > 1 else "; is the separator right?"
        raise ImportFailed(
            f"{path}: not a {what}: no column {', '.join(repr(m) for m in missing)} (columns: {shown}){hint}"
        )
    feed.row_start = None
    needed = 1 + max(header.index(c) for c in required) if required else 0

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                start, feed.row_start = feed.row_start, None
                report.skip(path, f"line {start}", f"unreadable CSV row: {exc}")
                continue
            start, feed.row_start = feed.row_start, None
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line
            if len(fields) < needed:
                report.skip(path, f"line {start}", f"expected {len(header)} fields, found {len(fields)}")
                continue
            yield int(start or 0), dict(zip(header, fields, strict=False))

    return header, rows()
