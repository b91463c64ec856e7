"""Our mesh shader program for pyrender, read from ``shaders/mesh.vert`` and ``shaders/mesh.frag``.

pyrender's own PBR fragment shader dominates the cost of a view on a software rasteriser (Mesa llvmpipe): it
loops over arrays of light structs with shadow samplers for every fragment. Our mesh shader does what these
renders need (base colour x vertex colour x texture, two-sided Lambert plus a little Blinn-Phong for every
directional light, ambient) and is about five times faster.

Names and uniforms follow pyrender's mesh.vert/mesh.frag so that its renderer can drive them; NAME_LOC / HAS_* /
MAX_* are pyrender's defines, substituted before compilation (:func:`preprocess`). The sources ship as package
data (``pyproject.toml``: ``[tool.setuptools.package-data]``) and are read with :mod:`importlib.resources`.
"""

from __future__ import annotations

import functools
import os
import re
from importlib import resources
from typing import Any

SHADERS = ("mesh.vert", "mesh.frag")


@functools.cache
def shader_source(name: str) -> str:
    """The text of one of our shaders (``mesh.vert`` or ``mesh.frag``), as shipped in ``shaders/``."""
    if name not in SHADERS:
        raise KeyError(name)
    return resources.files("engine.render").joinpath("shaders", name).read_text(encoding="utf-8")


def preprocess(text: str, defines: dict[str, Any]) -> str:
    """pyrender's shader preprocessing: #ifdef/#ifndef on the defines, then textual substitution."""
    text = re.sub(
        r"#ifdef\s+([A-Za-z_]\w*)\s*$",
        lambda m: "#if 1" if m.group(1) in defines else "#if 0",
        text,
        flags=re.MULTILINE,
    )
    text = re.sub(
        r"#ifndef\s+([A-Za-z_]\w*)\s*$",
        lambda m: "#if 0" if m.group(1) in defines else "#if 1",
        text,
        flags=re.MULTILINE,
    )
    for name, value in defines.items():
        text = text.replace(name, str(value))
    return text


@functools.cache
def fast_program_cache_class() -> type:
    """A pyrender ShaderProgramCache that serves our mesh shaders (built lazily: imports pyrender)."""
    import OpenGL.contextdata
    from pyrender.shader_program import ShaderProgram, ShaderProgramCache

    class SourceShaderProgram(ShaderProgram):
        def _load(self, shader_filename: str) -> str:
            return preprocess(shader_source(os.path.basename(shader_filename)), self.defines)

    class FastProgramCache(ShaderProgramCache):
        def get_program(self, vertex_shader: str, fragment_shader: str, geometry_shader: str | None = None,
                        defines: dict[str, Any] | None = None) -> ShaderProgram:
            if (vertex_shader, fragment_shader, geometry_shader) != ("mesh.vert", "mesh.frag", None):
                return super().get_program(vertex_shader, fragment_shader, geometry_shader, defines)
            defines = dict(defines or {})
            key = (OpenGL.contextdata.getContext(), "crossfold-mesh", *sorted(defines.items()))
            if key not in self._program_cache:
                self._program_cache[key] = SourceShaderProgram("mesh.vert", "mesh.frag", None, defines)
            return self._program_cache[key]

    return FastProgramCache
