"""The import contract (docs/ARCHITECTURE.md, "Layers"). Its rules live in pyproject.toml (import-linter's layers and
forbidden contracts, checked by ``lint-imports`` in ``make test``); these tests check that the contract holds, that it
catches an import against it, and what a static check cannot see: a real interpreter importing every engine and
trainer module loads no Qt, and the commands run many times a day start without torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOY_RUN, copy_workspace

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def test_the_import_contract_holds() -> None:
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def _copy_of_the_code(tmp_path: Path) -> Path:
    for name in ("engine", "trainer", "app"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(("module", "line", "broken"), [
    # the catalogue importing a use-case: an upward import inside engine/
    ("engine/catalog/models.py", "from engine.search import Searcher", "engine.catalog is not allowed to import"),
    # an import hidden in a function counts too
    ("engine/losses/base.py", "def f():\n    import engine.train.loop", "engine.losses is not allowed to import"),
    ("engine/fmt.py", "import PySide6", "engine is not allowed to import PySide6"),
    ("app/window.py", "from trainer.cli import main", "app is not allowed to import trainer"),
    ("app/window.py", "import torch", "app is not allowed to import torch"),
])
def test_the_contract_catches_an_import_against_it(tmp_path: Path, module: str, line: str, broken: str) -> None:
    root = _copy_of_the_code(tmp_path)
    with (root / module).open("a") as f:
        f.write(f"\n\n{line}\n")
    out = lint_imports(root)
    assert out.returncode == 1
    assert broken in out.stdout


def test_importing_every_engine_and_trainer_module_loads_no_qt() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import engine, trainer\n"
        "for pkg in (engine, trainer):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('PySide6', 'shiboken6', 'app')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


TORCH_FREE = "print(sorted(n for n in sys.modules if n.split('.')[0] in ('torch', 'open_clip', 'torchvision')))\n"


def test_trainer_datasets_list_and_show_load_no_torch(tmp_path: Path) -> None:
    """Listing datasets happens many times a day: the CLI's start-up must not pay for torch or open_clip."""
    code = (
        "import sys\n"
        "from engine.catalog import Catalog, ItemRecord\n"
        "from trainer.cli import main\n"
        f"ws = {str(tmp_path / 'ws')!r}\n"
        "c = Catalog(ws + '/catalog.sqlite')\n"
        "ds = c.create_dataset('tiny', 'image-text', 'csv')\n"
        "c.add_records(ds.id, [ItemRecord('a', 'train', '', '', {}, ['a cat'], ['a.jpg'], [])])\n"
        "c.close()\n"
        "assert main(['datasets', 'list', '--json', '--workspace', ws]) == 0\n"
        "assert main(['datasets', 'show', 'tiny', '--json', '--workspace', ws]) == 0\n"
        + TORCH_FREE
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_trainer_runs_and_doctor_load_no_torch(trained_toy: Path, tmp_path: Path) -> None:
    """``runs list|show`` and ``doctor`` read a workspace with a trained run and its indexes without torch."""
    ws = copy_workspace(trained_toy, tmp_path / "ws")
    code = (
        "import sys\n"
        "from trainer.cli import main\n"
        f"ws = {str(ws.root)!r}\n"
        "assert main(['runs', 'list', '--json', '--workspace', ws]) == 0\n"
        f"assert main(['runs', 'show', {TOY_RUN!r}, '--json', '--workspace', ws]) == 0\n"
        "assert main(['doctor', '--json', '--workspace', ws]) == 0\n"
        + TORCH_FREE
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert TOY_RUN in out.stdout  # the run was read, not an empty workspace
    assert out.stdout.strip().splitlines()[-1] == "[]"
