"""Which exceptions are the user's input problems (printed as one line) rather than bugs."""

from __future__ import annotations

from pathlib import Path

from engine.disk import machine_error
from engine.errors import CrossfoldError


def user_errors() -> tuple[type[BaseException], ...]:
    return (CrossfoldError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError)


def machine_fault(exc: BaseException, workspace: str | None) -> OSError | None:
    """The one-line error of a full or read-only disk under the command's workspace (``--workspace``, else the
    default), None when ``exc`` is not one (:func:`engine.disk.fault_of`)."""
    from engine.workspace import resolve_workspace

    root = resolve_workspace(workspace)
    where = Path(getattr(exc, "filename", None) or root)
    return machine_error(exc, where, root)
