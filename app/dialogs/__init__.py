"""Dialogs of the app."""

from app.dialogs.import_dialog import ImportDialog

__all__ = ["ImportDialog"]
