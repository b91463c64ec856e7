"""The wheel works outside the checkout: built with ``pip wheel``, installed (no editable link) into a fresh venv
and run from another folder, ``trainer`` finds its shipped model configs, trains the default model one step on
demo data, indexes and searches.

Cheap by design: the venv reuses this environment's dependencies through a ``.pth`` line (nothing downloaded or
installed but the wheel itself; a folder named in a ``.pth`` has its own ``.pth`` files ignored, so the checkout's
editable link stays out), and the data is a handful of demo scenes (images: no rendering).
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from engine.models.names import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its ``bin``."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), str(ROOT)], check=True, capture_output=True, text=True)
    wheel = next((tmp / "dist").glob("crossfold-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert f"engine/resources/model_configs/{DEFAULT_MODEL}.json" in names
    assert "engine/resources/configs/finetune-mxm.yaml" in names and "engine/render/shaders/mesh.vert" in names
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    purelib = Path(subprocess.run([str(env_dir / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    ours = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (purelib / "_deps.pth").write_text("\n".join(ours) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, text=True)
    return env_dir / "bin"


def _trainer(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    done = subprocess.run([str(bin_dir / "trainer"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.slow
def test_installed_wheel_trains_indexes_and_searches_from_another_folder(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "python"), "-c", "import engine; print(engine.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert not where.startswith(str(ROOT)) and "site-packages" in where  # the installed copy, not the checkout
    models = json.loads(_trainer(installed, tmp_path, "models", "--json").stdout)
    assert DEFAULT_MODEL in {m["name"] for m in models["models"] if m["shipped"]}
    ws = str(tmp_path / "ws")
    _trainer(installed, tmp_path, "demo-data", "--shapes", "0", "--scenes", "16", "--size", "64", "--workspace", ws)
    _trainer(installed, tmp_path, "train", "--dataset", "scenes-demo", "--name", "one-step", "--max-steps", "1",
             "--batch-size", "4", "--workers", "0", "--device", "cpu", "--workspace", ws)
    _trainer(installed, tmp_path, "index", "--run", "one-step", "--device", "cpu", "--workspace", ws)
    found = json.loads(_trainer(installed, tmp_path, "search", "--run", "one-step", "--text", "a red circle",
                                "--target", "images", "--k", "3", "--json", "--workspace", ws).stdout)
    assert found["hits"]
