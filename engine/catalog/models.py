"""SQLAlchemy 2.0 models of the catalogue (docs/ARCHITECTURE.md, "The one way data flows": Catalogue).

Observation modalities: ``text`` (a caption), ``image`` (an image of an image-text item) and
``view`` (one rendered or pre-rendered view of a shape; ``view_index`` orders them). A shape's
``shape`` embedding is made from its ``view`` observations.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from engine.catalog.json_column import LenientJSON
from engine.stored_paths import from_stored, to_stored

DATASET_KINDS = ("shape-text", "image-text")
MODALITIES = ("text", "image", "view")
SPLITS = ("train", "val", "test")
#: ``train``: a training run; ``pretrained``: pretrained weights used as they are (a zero-shot run, no training).
RUN_KINDS = ("train", "pretrained")
PRETRAINED_RUN = RUN_KINDS[1]


def utcnow() -> datetime:
    return datetime.now(UTC)


#: The root each engine's paths are stored relative to (its dialect -> the workspace root), set by
#: :func:`bind_root` when the catalogue opens. An engine without one stores and reads paths as they are.
_ROOTS: weakref.WeakKeyDictionary[Dialect, Path] = weakref.WeakKeyDictionary()


def bind_root(dialect: Dialect, root: Path) -> None:
    _ROOTS[dialect] = root


def root_of(dialect: Dialect) -> Path | None:
    return _ROOTS.get(dialect)


class WorkspacePath(TypeDecorator[str]):
    """A path column: stored relative to the workspace when inside it (:mod:`engine.stored_paths`), read back
    absolute against the workspace as it is now, so every reader sees absolute paths and nothing else converts."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        root = _ROOTS.get(dialect)
        return to_stored(value, root) if value is not None and root is not None else value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        root = _ROOTS.get(dialect)
        return from_stored(value, root) if value is not None and root is not None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: LenientJSON}  # a damaged value reads as {}


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    source_format: Mapped[str] = mapped_column(String(40))
    root: Mapped[str] = mapped_column(WorkspacePath, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)

    items: Mapped[list[Item]] = relationship(back_populates="dataset", cascade="all, delete-orphan")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("dataset_id", "key", name="uq_item_key"),
        Index("ix_items_dataset", "dataset_id"),  # a dataset's items in id order (schema version 3)
        Index("ix_items_dataset_split", "dataset_id", "split"),
        Index("ix_items_dataset_category", "dataset_id", "category"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(400))
    split: Mapped[str] = mapped_column(String(10), default="train")
    category: Mapped[str] = mapped_column(String(100), default="")
    asset_path: Mapped[str] = mapped_column(WorkspacePath, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)

    dataset: Mapped[Dataset] = relationship(back_populates="items")
    observations: Mapped[list[Observation]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="Observation.id"
    )


class Observation(Base):
    __tablename__ = "observations"
    __table_args__ = (Index("ix_obs_item_modality", "item_id", "modality"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(Text, default=None)
    path: Mapped[str | None] = mapped_column(WorkspacePath, default=None)
    view_index: Mapped[int | None] = mapped_column(Integer, default=None)

    item: Mapped[Item] = relationship(back_populates="observations")


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    loss: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="train", server_default="train")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="created")
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    run_dir: Mapped[str] = mapped_column(WorkspacePath, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IndexRow(Base):
    __tablename__ = "indexes"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(WorkspacePath)
    count: Mapped[int] = mapped_column(Integer, default=0)
    dim: Mapped[int] = mapped_column(Integer, default=0)
    space: Mapped[str] = mapped_column(String(10), default="ip")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint_sha256: Mapped[str] = mapped_column(String(64), default="")
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
