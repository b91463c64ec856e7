"""Issue 23's rank goal on a ``trainer demo`` run: the default CPU inference path keeps ``demo-scenes-gcl``'s ranks
(top-10 overlap with fp32 >= 0.95 both ways, every R@k within 0.5 point). The run is made as ``trainer demo``
makes it (its 1,000 scene images with 5,000 captions, its config, model and 400 steps: ~2 minutes on 2 cores) and
encoded on both paths over every split; the shapes run (600 shapes, 8 rendered views each) is measured by
``bench/cpu_inference.py --demo-workspace`` only (its rendering and training would double the time)."""

from __future__ import annotations

from pathlib import Path

from engine.data.demo import SCENES_DATASET, generate_demo
from engine.evaluate.agreement import run_agreement
from engine.models.inference import FAST_CPU, InferencePath, choose, fast_cpu_unavailable
from engine.train.loop import train
from engine.workspace import Workspace
from trainer.commands.demo import DEMO_RUNS, demo_run_config

DEMO_SCENES = 1000  # trainer demo's --scenes default


def test_the_default_cpu_path_keeps_the_scenes_demo_runs_ranks(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    catalog = ws.catalog()
    generate_demo(ws, catalog, shapes=0, scenes=DEMO_SCENES)
    name, config_file = next((n, f) for n, f in DEMO_RUNS if "scenes" in n)
    config = demo_run_config(name, config_file, device="cpu")
    assert config.dataset == SCENES_DATASET and config.max_steps == 400
    train(config, ws)

    path = choose("cpu")
    assert path is FAST_CPU or fast_cpu_unavailable() is not None  # exact only on a CPU that runs int8 on 7 bits
    agreement = run_agreement(catalog, name, path)
    assert agreement.items == DEMO_SCENES and set(agreement.overlap) == {"text->image", "image->text"}
    assert agreement.recall_deltas and any(k.startswith("image_text_to_text") for k in agreement.recall_deltas)
    assert agreement.min_overlap >= 0.95, agreement
    assert agreement.max_recall_delta_points <= 0.5, agreement
    assert agreement.path == (FAST_CPU.value if path is FAST_CPU else InferencePath.EXACT.value)
