"""Model names and precisions, known without importing torch or open_clip (the app's form and the CLI's
parser need them in milliseconds).

One source for each: :data:`PRECISIONS` (open_clip's ``--precision`` names), :data:`DEFAULT_MODEL`, the folder of
the configs we ship (:data:`CONFIG_DIR`, plus ``CROSSFOLD_MODEL_CONFIGS``) and :func:`model_names`, ours first.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: open_clip's precision names (its ``--precision`` choices), fp32 first.
PRECISIONS = ("fp32", "amp", "amp_bf16", "amp_bfloat16", "bf16", "fp16", "pure_bf16", "pure_fp16")
#: What Crossfold ships and reads at run time, inside the package (so an installed wheel has it, whatever the
#: working folder): open_clip model configs and training configs (package data: pyproject.toml).
RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"
#: The folder of model configs shipped with Crossfold.
CONFIG_DIR = RESOURCES_DIR / "model_configs"
#: The folder of training configs shipped with Crossfold (``trainer train --config``, ``trainer demo``).
TRAINING_CONFIGS_DIR = RESOURCES_DIR / "configs"
#: Extra config folders or files, separated by ``os.pathsep``.
CONFIG_PATH_ENV = "CROSSFOLD_MODEL_CONFIGS"
#: The model used when none is named: it learns shape, not only colour, in minutes on a laptop CPU
#: (engine/losses/README.md).
DEFAULT_MODEL = "cf-rn-tiny-64"
#: File name endings of weights files (what ``--pretrained`` treats as a path even when it has no folder).
WEIGHTS_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".npz")


def looks_like_path(value: str) -> bool:
    """``--pretrained value`` names a file rather than a tag (a folder part, a weights suffix, ``./`` or ``~``)."""
    return os.sep in value or "/" in value or value.lower().endswith(WEIGHTS_SUFFIXES) or value.startswith((".", "~"))


def config_paths() -> list[Path]:
    """Our config folder, then every folder or ``.json`` file named in ``CROSSFOLD_MODEL_CONFIGS``."""
    paths = [CONFIG_DIR]
    extra = os.environ.get(CONFIG_PATH_ENV, "")
    paths.extend(Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip())
    return paths


def shipped_model_names() -> list[str]:
    """Names of the configs shipped in ``engine/resources/model_configs`` (sorted)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def model_names() -> list[str]:
    """Every model name: ours (shipped and ``CROSSFOLD_MODEL_CONFIGS``'s, the default first), then open_clip's
    architectures; read from the config files, without importing open_clip."""
    names: set[str] = set()
    for path in config_paths():
        if path.is_dir():
            names.update(p.stem for p in path.glob("*.json"))
        elif path.suffix == ".json" and path.exists():
            names.add(path.stem)
    ours = sorted(names, key=lambda n: (n != DEFAULT_MODEL, n))
    others: set[str] = set()
    spec = importlib.util.find_spec("open_clip")
    for location in (spec.submodule_search_locations or []) if spec else []:
        others.update(p.stem for p in (Path(location) / "model_configs").glob("*.json"))
    return ours + sorted(others - set(ours), key=str.lower)
