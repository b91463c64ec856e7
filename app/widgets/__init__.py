"""Reusable widgets: the item thumbnail grid and the item detail."""

from app.widgets.item_detail import ItemDetailView
from app.widgets.item_grid import Background, CatalogHandle, ItemGrid, ItemGridModel

__all__ = ["Background", "CatalogHandle", "ItemDetailView", "ItemGrid", "ItemGridModel"]
