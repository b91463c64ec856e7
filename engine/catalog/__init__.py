"""The workspace catalogue: one SQLite file, SQLAlchemy 2.0 models, one repository object."""

from engine.catalog.damage import CatalogDamaged, CatalogUnavailable
from engine.catalog.models import (
    DATASET_KINDS,
    MODALITIES,
    RUN_KINDS,
    SPLITS,
    Base,
    Dataset,
    IndexRow,
    Item,
    Observation,
    Run,
)
from engine.catalog.records import AddResult, DatasetSummary, ItemRecord
from engine.catalog.repository import Catalog, CatalogError
from engine.catalog.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError

__all__ = [
    "DATASET_KINDS", "MODALITIES", "RUN_KINDS", "SPLITS", "Base", "Dataset", "IndexRow", "Item", "Observation", "Run",
    "AddResult", "DatasetSummary", "ItemRecord", "Catalog", "CatalogError", "MIGRATIONS", "SCHEMA_VERSION",
    "SchemaError", "CatalogDamaged", "CatalogUnavailable",
]
