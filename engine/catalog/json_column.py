"""The type of the catalogue's JSON columns: a value that does not decode (a damaged page, a cut file) reads as
``{}`` instead of raising, so listing and showing keep working; ``trainer doctor`` finds such rows
(:mod:`engine.doctor.json_columns`) and its repair mends them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
_warned = False


class LenientJSON(TypeDecorator[Any]):
    """SQLAlchemy's JSON, read leniently: undecodable text is ``{}`` (and a warning in the log)."""

    impl = JSON
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        process = super().result_processor(dialect, coltype)

        def lenient(value: Any) -> Any:
            try:
                return process(value) if process is not None else value
            except (ValueError, TypeError, RecursionError):
                global _warned
                if not _warned:  # once a process: the doctor names the rows
                    _warned = True
                    log.warning("a catalogue value does not decode, read as empty: run 'trainer doctor'")
                return {}

        return lenient
