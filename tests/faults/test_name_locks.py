"""Issue 21 §3: two jobs, one name. An import, a run and an index build hold their name (``flock``) while they
write; the second exits 2 with one line naming the live process and writes nothing; a killed holder leaves no
stale lock (the OS drops it with the process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from PIL import Image

from engine.catalog import Catalog
from engine.locks import holding
from engine.run.folder import RunFolder
from engine.workspace import Workspace
from tests.cli_runner import CHILD_ENV, ROOT, run_trainer
from tests.engine.train.conftest import make_toy_workspace

#: A real process holding a lock until its stdin closes: no torch, no trainer, a tenth of a second to start.
_HOLDER = ("import sys; from pathlib import Path; from engine.locks import holding; "
           "cm = holding(Path(sys.argv[1]), 'dataset ' + repr(sys.argv[2]), 'importing into it: trainer import'); "
           "cm.__enter__(); print('held', flush=True); sys.stdin.read()")


def test_a_second_import_of_a_name_is_refused_naming_the_live_one_and_a_killed_one_leaves_no_lock(
        tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.new("RGB", (16, 16), (40 * i, 0, 0)).save(photos / f"p{i}.png")
    lock = ws.name_lock("dataset", "dup")
    first = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock), "dup"], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **CHILD_ENV})
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "held"
        second = run_trainer("import", "folder", photos, "--name", "dup", ws=ws.root)
        assert second.returncode == 2, second.stdout + second.stderr
        line = second.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert f"process {first.pid}" in line and "dataset 'dup' is in use" in line and "importing" in line
        assert Catalog(ws.catalog_path, root=ws.root).dataset("dup") is None  # wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)  # killed holding the lock
        first.wait()
    third = run_trainer("import", "folder", photos, "--name", "dup", ws=ws.root)
    assert third.returncode == 0, third.stderr  # no stale lock
    assert ws.catalog().summary("dup").items == 2


def test_a_second_train_of_a_name_is_refused_and_the_run_form_says_so(tmp_path: Path) -> None:
    from app.run_form_checks import check_launch, config_defaults

    ws = make_toy_workspace(tmp_path / "ws", n_items=12)
    folder = RunFolder.of(ws, "same")
    with folder.holding("training it: trainer train --name same"):  # the first run, live in this process
        second = run_trainer("train", "--dataset", "toy-shapes", "--model", "cf-rn-tiny-64", "--max-steps", "1",
                             "--batch-size", "4", "--workers", "0", "--device", "cpu", "--name", "same", ws=ws.root)
        values = {**config_defaults(), "dataset": "toy-shapes", "batch_size": 4, "name": "same"}
        problems = check_launch(ws.catalog(), ws, values)
    assert second.returncode == 2, second.stdout + second.stderr
    line = second.stderr.strip()
    assert "\n" not in line and f"run 'same' is in use by process {os.getpid()} (training it" in line
    assert sorted(p.name for p in folder.path.iterdir()) == [".lock"]  # no config, no events, no checkpoints
    assert ws.catalog().run("same") is None
    assert [(p.field, f"process {os.getpid()}" in p) for p in problems] == [("name", True)]


def test_an_index_build_holds_its_name(tmp_path: Path) -> None:
    ws = make_toy_workspace(tmp_path / "ws", n_items=4)
    with holding(ws.name_lock("index", "r1"), "index name 'r1'", "building the indexes: trainer index --run r1"):
        second = run_trainer("index", "--run", "r1", "--device", "cpu", ws=ws.root)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"index name 'r1' is in use by process {os.getpid()}" in second.stderr
    assert not ws.indexes.exists()
