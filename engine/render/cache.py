"""On-disk cache of rendered views keyed by (mesh file sha256, view spec key).

Layout: ``<root>/<sha[:2]>/<sha>-<speckey>/view_00.png ...``. An entry is written into a temporary
sibling directory and renamed into place in one step, so an entry directory that exists is complete:
a crash leaves at most a ``.tmp-*`` directory, which lookups ignore and :meth:`purge_temp` removes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from engine.render.mesh import MeshError
from engine.render.spec import ViewSpec

VIEW_NAME = "view_{:02d}.png"
TEMP_PREFIX = ".tmp-"
PNG_COMPRESS_LEVEL = 1  # small renders: fast to write, a few percent larger than level 6
_HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class RenderCache:
    """Rendered views of mesh files under ``root``; safe to share between processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._digests: dict[tuple[str, int, int], str] = {}

    # ---- keys -----------------------------------------------------------------------------
    def digest(self, mesh_path: Path) -> str:
        """sha256 of the file's bytes (remembered while its size and mtime stay the same)."""
        path = Path(mesh_path)
        try:
            st = path.stat()
            memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
            if memo_key not in self._digests:
                self._digests[memo_key] = file_sha256(path)
        except FileNotFoundError as exc:
            raise MeshError(path, "file not found") from exc
        except OSError as exc:
            raise MeshError(path, f"cannot be read: {exc.strerror or exc}") from exc
        return self._digests[memo_key]

    def entry_dir(self, digest: str, spec: ViewSpec) -> Path:
        return self.root / digest[:2] / f"{digest}-{spec.key()}"

    @staticmethod
    def view_paths(entry: Path, spec: ViewSpec) -> list[Path]:
        return [entry / VIEW_NAME.format(i) for i in range(spec.views)]

    # ---- reading --------------------------------------------------------------------------
    def lookup(self, mesh_path: Path, spec: ViewSpec) -> list[Path] | None:
        """The cached view files of this mesh and spec, or None if they are not (all) there."""
        try:
            digest = self.digest(mesh_path)
        except MeshError:
            return None
        return self.lookup_digest(digest, spec)

    def lookup_digest(self, digest: str, spec: ViewSpec) -> list[Path] | None:
        paths = self.view_paths(self.entry_dir(digest, spec), spec)
        return paths if all(p.is_file() for p in paths) else None

    def views_for(self, mesh_path: Path, spec: ViewSpec) -> list[Path]:
        """The cached views, rendering and storing them first if needed (MeshError if unrenderable)."""
        from engine.render.renderer import render_views  # loads pyrender only when rendering

        digest = self.digest(mesh_path)
        found = self.lookup_digest(digest, spec)
        if found is not None:
            return found
        return self.store(digest, spec, render_views(Path(mesh_path), spec))

    # ---- writing --------------------------------------------------------------------------
    def store(self, digest: str, spec: ViewSpec, images: Sequence[np.ndarray]) -> list[Path]:
        """Write the views of one entry atomically and return their paths."""
        if len(images) != spec.views:
            raise ValueError(f"expected {spec.views} views for spec {spec.key()}, got {len(images)}")
        entry = self.entry_dir(digest, spec)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{entry.name}-", dir=entry.parent))
        try:
            for path, image in zip(self.view_paths(tmp, spec), images, strict=True):
                Image.fromarray(image).save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            os.chmod(tmp, 0o755)  # mkdtemp makes it private
            try:
                os.replace(tmp, entry)
            except OSError:
                # Another process stored the same entry first (the rename onto a non-empty directory
                # fails): theirs is as good as ours.
                if self.lookup_digest(digest, spec) is None:
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.view_paths(entry, spec)

    def purge_temp(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary directories left by crashed writers; return how many were removed."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for tmp in self.root.glob(f"*/{TEMP_PREFIX}*"):
            try:
                if tmp.is_dir() and tmp.stat().st_mtime < cutoff:
                    shutil.rmtree(tmp)
                    removed += 1
            except OSError:
                continue
        return removed
