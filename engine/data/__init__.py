"""Data in and out of the catalogue: one importer per real format (``engine.data.importers``), the
deterministic item-level split (``engine.data.splits``), and the demo generators and torch datasets
that read the catalogue."""
