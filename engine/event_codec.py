"""Typed events as JSON objects: the base class of every event kind the engine writes, and its codec.

An event kind is a frozen, keyword-only dataclass with a class-level ``kind`` (the ``"event"`` key on disk).
:meth:`Event.to_record` gives the JSON object (``{"event": kind, **fields}``, in field order; an optional field,
one whose default is ``None``, is left out while it is ``None``). :func:`decode` turns a JSON object back into the
event of its kind, or ``None`` when the kind is unknown or a field has the wrong type (a required one missing):
readers skip such lines and count them, never crash. Unknown keys are ignored, so writers may add fields.
A field may also be a list (``list[X]``) or a small frozen dataclass of such fields (a record inside the event,
written as a JSON object and checked field by field as the event is).
The kinds themselves: :mod:`engine.run.events` (a run's ``events.jsonl``) and :mod:`engine.job_events`
(``trainer ... --events -`` on stdout); the protocol is described in docs/EVENTS.md.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

E = TypeVar("E", bound="Event")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """One event; subclasses name their ``kind`` and declare their fields."""

    kind: ClassVar[str] = ""

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"event": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            record[f.name] = _plain(value) if isinstance(value, list) else value
        return record

    @classmethod
    def from_record(cls: type[E], record: Mapping[str, Any]) -> E | None:
        """The event of this kind in ``record`` (its ``"event"`` key is not checked), ``None`` if malformed."""
        ok, event = _build(cls, record)
        return event if ok else None


def _build(cls: type, record: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(True, cls(**fields of record))`` when every field has its type (a required one present), else
    ``(False, None)``; keys that are not fields are ignored."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in record:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                return False, None
            continue
        ok, value = _conform(record[f.name], hints[f.name])
        if not ok:
            return False, None
        values[f.name] = value
    return True, cls(**values)


def _plain(value: Any) -> Any:
    """A field's value as JSON types: a record (a dataclass) inside a list becomes an object."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def decode(record: Any, kinds: Mapping[str, type[Event]]) -> Event | None:
    """The event in ``record`` (a decoded JSON value) if it is an object of one of ``kinds``, else ``None``."""
    if not isinstance(record, dict):
        return None
    cls = kinds.get(record.get("event"))  # type: ignore[arg-type]
    if cls is None:
        return None
    try:
        return cls.from_record(record)
    except RecursionError:  # a field nested deeper than any event's: not one of ours
        return None


def loads(line: str | bytes) -> Any:
    """The JSON value of one line, or ``None`` when it does not decode: not JSON, not UTF-8, or nested too deep
    to decode (``json`` raises RecursionError, not ValueError, for that)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def kinds_of(*classes: type[Event]) -> dict[str, type[Event]]:
    return {cls.kind: cls for cls in classes}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _conform(value: Any, hint: Any) -> tuple[bool, Any]:
    """``(True, value)`` when ``value`` (from JSON) has type ``hint`` (an int is a float too), else ``(False, _)``."""
    if hint is Any:
        return True, value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return type(None) in args, None
        for arg in args:
            if arg is not type(None):
                ok, out = _conform(value, arg)
                if ok:
                    return True, out
        return False, None
    if isinstance(value, bool):
        return hint is bool, value
    if hint is float:
        return isinstance(value, (int, float)), float(value) if isinstance(value, (int, float)) else None
    if hint in (int, str):
        return isinstance(value, hint), value
    if origin is list or hint is list:
        return _conform_list(value, args[0] if args else Any)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value) if isinstance(value, dict) else (False, None)
    if origin is dict or hint is dict:
        return _conform_dict(value, args[1] if len(args) == 2 else Any)
    return False, None


def _conform_list(value: Any, item: Any) -> tuple[bool, Any]:
    if not isinstance(value, list):
        return False, None
    out = []
    for v in value:
        ok, conformed = _conform(v, item)
        if not ok:
            return False, None
        out.append(conformed)
    return True, out


def _conform_dict(value: Any, item: Any) -> tuple[bool, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return False, None
    out = {}
    for k, v in value.items():
        ok, out[k] = _conform(v, item)
        if not ok:
            return False, None
    return True, out
