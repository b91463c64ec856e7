"""Which exceptions are the user's input problems (printed as one line) rather than bugs."""

from __future__ import annotations

from engine.errors import CrossfoldError


def user_errors() -> tuple[type[BaseException], ...]:
    return (CrossfoldError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError)
