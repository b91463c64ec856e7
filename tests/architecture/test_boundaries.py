"""The layers' import contract (docs/ARCHITECTURE.md): ``engine`` and ``trainer`` never import Qt or ``app``;
``engine`` never imports ``trainer``. Checked on the source (every import statement, also inside functions) and on a
real interpreter (importing every engine and trainer module loads no Qt)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QT = ("PySide6", "shiboken6", "PyQt5", "PyQt6")
FORBIDDEN = {
    "engine": (*QT, "app", "trainer"),
    "trainer": (*QT, "app"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(package: str) -> None:
    assert violations(package) == []


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from PySide6.QtCore import QObject\n    import importlib\n"
                      "    importlib.import_module('app.window')\n")
    assert [m for _, m in imported_modules(sample)] == ["PySide6.QtCore", "importlib", "app.window"]


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
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('torch', 'open_clip', 'torchvision')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
