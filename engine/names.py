"""The one check for names that become file or folder names (datasets, runs, indexes, exports)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePath

from engine.errors import CrossfoldError

MAX_NAME_LENGTH = 100
_ALLOWED = re.compile(r"[A-Za-z0-9._-]+")


class InvalidName(CrossfoldError, ValueError):
    """A name that would not stay one plain file or folder name inside the workspace."""


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name, or None when it can."""
    if not value:
        return "it is empty"
    if "\x00" in value:
        return "it contains a NUL character"
    if "/" in value or "\\" in value:
        return "it contains a path separator"
    if value in (".", "..") or ".." in value:
        return "it contains '..'"
    if value.startswith("."):
        return "it starts with a dot"
    if value.startswith("-"):
        return "it starts with '-' (a command line would read it as an option)"
    if len(value) > MAX_NAME_LENGTH:
        return f"it is {len(value)} characters long (at most {MAX_NAME_LENGTH})"
    if not _ALLOWED.fullmatch(value):
        bad = sorted({c for c in value if not _ALLOWED.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad[:5])
        return f"it contains {shown} (use letters, digits, '.', '_' and '-')"
    return None


def check_name(kind: str, value: str) -> str:
    """``value`` unchanged when it is a safe name; :class:`InvalidName` naming ``kind`` otherwise."""
    problem = name_problem(value)
    if problem is not None:
        raise InvalidName(f"{kind} name {value!r} is not allowed: {problem}")
    return value


def default_run_name(dataset: str, loss: str, at: datetime | None = None) -> str:
    """``<dataset>-<loss>-<UTC time>``: a training run's name when none is given (``trainer train`` and the app's
    form)."""
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{dataset or 'run'}-{loss}-{stamp}"


def default_pretrained_run_name(dataset: str, model: str, pretrained: str) -> str:
    """``<dataset>-<model>-<tag or file stem>``, folded to the characters a run name allows (a zero-shot run's
    default name, :mod:`engine.train.zero_shot`)."""
    source = PurePath(pretrained).stem if ("/" in pretrained or "\\" in pretrained or "." in pretrained) else pretrained
    return folded_name(f"{dataset}-{model.removeprefix('hf-hub:')}-{source}", "pretrained")


def folded_name(raw: str, fallback: str) -> str:
    """``raw`` folded to a name that passes :func:`name_problem`: each run of other characters becomes '-', the ends
    trimmed, at most :data:`MAX_NAME_LENGTH` characters; ``fallback`` when nothing is left (a default name made from
    a folder's or a model's name)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-._")[:MAX_NAME_LENGTH]
    name = re.sub(r"\.{2,}", ".", name)
    return name or fallback
