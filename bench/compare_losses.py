"""The four losses (clip, mxm, gcl, sspc) on the demo datasets, same budget, several seeds: one table of TEST metrics.

    .venv/bin/python bench/compare_losses.py                                    # fresh temp workspace, 200 steps, seeds 0 1 2
    .venv/bin/python bench/compare_losses.py --workspace /tmp/wcmp              # resumable: finished runs are reused
    .venv/bin/python bench/compare_losses.py --steps 5 --seeds 0 --datasets shapes-demo   # smoke test

Every run is the shipped config ``engine/resources/configs/{dataset}-{loss}.yaml`` (model cf-vit-tiny-64, batch 32,
200 steps, lr 1e-3, V/C views/captions per item as the file says) with only ``max_steps`` (``--steps``) and the
seed changed, trained in this process with ``engine.train.loop.train`` one after the other (the machine has
few cores), named ``cmp-{dataset}-{loss}-s{seed}`` (plus ``-{tag}`` with ``--tag``). A run that already finished
in the workspace with the same settings is not trained again (its test metrics are read back), an interrupted
one is resumed from its latest checkpoint, so an interrupted comparison just starts again with the same command.
``--set KEY=VALUE`` overrides any config field for every run (e.g. ``--set lr=3e-4 --tag lr3e-4``): the
analysis variants run through the same script; a finished run whose saved config differs is an error, not
silently reused (choose a ``--tag``).

Metrics are on the TEST split (``metrics["test"]`` of the run: the weights at the last step), mean ± std
(sample std, n-1) over seeds, in percent. Shapes: text->shape RR@1/RR@5/NDCG@5, shape->text R@1 and the fused
text->(shape+text) R@1 (shape = views mean-pooled per item; RR@k = R@k: a query is a hit when any ground
truth is in the top k). Scenes: text->image R@1/R@5, image->text R@1, fused text->(image+text) R@1 and
(image+text)->text R@1. A second table gives each loss minus clip, paired by seed. JSON (``--json``, default
``bench/results/compare_losses.json``): machine, settings, every run's full test (and val) metrics, the tables.

``--pretrained TAG|FILE`` (with ``--set model=NAME`` when the weights are not of the configs' model) starts every
run from those weights (run names get ``-pt`` unless ``--tag`` is given) and adds a ``zero-shot`` row: the weights
as they are (a run of kind ``pretrained``, ``cmp-{dataset}-zero-shot``), evaluated on the same TEST split. A
third table then gives each loss minus zero-shot: what fine-tuning with that loss adds to the weights.

    .venv/bin/python bench/compare_losses.py --pretrained weights.pt --set model=cf-vit-tiny-64 --set lr=1e-4
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine  # noqa: E402

from engine.losses.names import LOSS_NAMES as LOSSES  # noqa: E402
from engine.models.names import TRAINING_CONFIGS_DIR  # noqa: E402

DATASETS = ("shapes-demo", "scenes-demo")
CONFIGS = TRAINING_CONFIGS_DIR

#: (metric key in metrics["test"], column header)
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "shapes-demo": [
        ("text_to_shape_RR@1", "T→S RR@1"),
        ("text_to_shape_RR@5", "T→S RR@5"),
        ("text_to_shape_NDCG@5", "T→S NDCG@5"),
        ("shape_to_text_R@1", "S→T R@1"),
        ("text_to_shape_text_R@1", "T→(S+T) R@1"),
    ],
    "scenes-demo": [
        ("text_to_image_R@1", "T→I R@1"),
        ("text_to_image_R@5", "T→I R@5"),
        ("image_to_text_R@1", "I→T R@1"),
        ("text_to_image_text_R@1", "T→(I+T) R@1"),
        ("image_text_to_text_R@1", "(I+T)→T R@1"),
    ],
}

#: config fields that name or locate a run rather than define what it trains
_IDENTITY = {"name", "resume", "seed", "device", "workers", "threads"}  # threads: fixed by --deterministic


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", default=None,
                   help="workspace with (or to receive) the demo datasets; default: a fresh temp dir")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default: the config's, 200)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--losses", nargs="+", choices=LOSSES, default=list(LOSSES))
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field for every run (YAML value), e.g. lr=3e-4; repeatable")
    p.add_argument("--tag", default="", help="suffix of the run names (use it with --set)")
    p.add_argument("--pretrained", default=None, metavar="TAG|FILE",
                   help="fine-tune every loss from these weights and add their zero-shot row")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--deterministic", action="store_true",
                   help="train each run with --deterministic: two runs of this command give identical tables")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "compare_losses.json"), metavar="PATH")
    p.add_argument("--progress-every", type=int, default=50, metavar="N", help="print the loss every N steps")
    return p.parse_args(argv)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        parsed = yaml.safe_load(value)
        if key.startswith("loss_options."):
            out.setdefault("loss_options", {})[key.split(".", 1)[1]] = parsed
        else:
            out[key] = parsed
    return out


def ensure_demo_data(workspace: Path, datasets: list[str]) -> None:
    from engine.workspace import Workspace

    catalog = Workspace.open(workspace).catalog()
    missing = [d for d in datasets if catalog.dataset(d) is None]
    if not missing:
        return
    print(f"generating the demo datasets in {workspace} (missing: {', '.join(missing)}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "trainer", "demo-data", "--workspace", str(workspace)], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)


def run_config(dataset: str, loss: str, seed: int, args: argparse.Namespace, overrides: dict[str, Any]):  # noqa: ANN201
    from engine.run.config import load_config_file, resolve_config

    file_values = load_config_file(CONFIGS / f"{dataset}-{loss}.yaml")
    name = f"cmp-{dataset}-{loss}-s{seed}" + (f"-{args.tag}" if args.tag else "")
    flags: dict[str, Any] = {"seed": seed, "name": name, "device": args.device}
    if args.deterministic:
        flags["deterministic"] = True
    if args.steps is not None:
        flags["max_steps"] = args.steps
    for key, value in overrides.items():
        if key == "loss_options":
            flags["loss_options"] = value
        else:
            flags[key] = value
    return resolve_config(file_values, flags)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _IDENTITY}


def _run_seconds(run_dir: Path) -> float | None:
    """Wall time of a finished run from its event log (first start to done)."""
    from engine.run.events import Done, Started, parse_line
    from engine.run.folder import RunFolder

    start = end = None
    try:
        for line in RunFolder(run_dir).events.read_text().splitlines():
            ev = parse_line(line)
            if isinstance(ev, Started) and start is None:
                start = ev.time
            elif isinstance(ev, Done):
                end = ev.time
    except OSError:
        return None
    return None if start is None or end is None else end - start


def finished_metrics(catalog: Any, workspace: Any, config: Any) -> dict[str, Any] | None:
    """The metrics of a run finished earlier with this config; None when it has to be (re)trained."""
    run = catalog.run(config.name)
    if run is None or run.status != "done" or not (run.metrics or {}).get("test"):
        return None
    from engine.run.folder import RunFolder

    saved = RunFolder.of(workspace, config.name).config
    if saved.is_file():
        old = _comparable(yaml.safe_load(saved.read_text()) or {})
        new = _comparable(config.as_dict())
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if diff:
            raise SystemExit(
                f"run {config.name!r} already finished in this workspace with other settings ({', '.join(diff)}); "
                "use another --tag or --workspace"
            )
    return dict(run.metrics)


def train_one(config: Any, workspace: Any, every: int) -> tuple[dict[str, Any], float]:
    from engine.run.events import Progress, RunEvent
    from engine.run.folder import RunFolder
    from engine.train.loop import train

    latest = RunFolder.of(workspace, config.name).latest_checkpoint()
    if latest is not None:
        config.resume = "latest"
        print(f"    resuming {config.name} from {latest.name}", flush=True)
    t0 = time.perf_counter()

    def on_event(ev: RunEvent) -> None:
        if isinstance(ev, Progress) and (ev.step % every == 0 or ev.step == ev.total):
            nan = float("nan")
            print(f"    step {ev.step:>4}/{ev.total}  loss {nan if ev.loss is None else ev.loss:.4f}  "
                  f"logit_scale {nan if ev.logit_scale is None else ev.logit_scale:.1f}  "
                  f"{ev.samples_per_second or 0:.0f} samples/s  ({time.perf_counter() - t0:.0f} s)", flush=True)

    result = train(config, workspace, events_stdout=False, on_event=on_event)
    if result.status != "done":
        raise RuntimeError(f"run {config.name} ended {result.status} at step {result.step}")
    return dict(result.metrics), time.perf_counter() - t0


def aggregate(values: list[float]) -> dict[str, Any]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0, "values": values}
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "std": std, "n": len(vals), "values": values}


ZERO_SHOT = "zero-shot"


def zero_shot_metrics(workspace: Any, catalog: Any, dataset: str, model: str, pretrained: str, tag: str,
                      device: str) -> dict[str, Any]:
    """TEST metrics of the pretrained weights as they are (a run of kind ``pretrained``; reused when it exists)."""
    from engine.data.images import model_image_size
    from engine.data.rendering import views_at_size
    from engine.evaluate.split import evaluate_split
    from engine.run.restore import restore_run
    from engine.train.zero_shot import create_pretrained_run

    name = f"cmp-{dataset}-{ZERO_SHOT}" + (f"-{tag}" if tag else "")
    made = create_pretrained_run(workspace, catalog, model, pretrained, dataset, name=name, device=device)
    restored = restore_run(catalog, made.name, "best", device)
    view_map = views_at_size(catalog, workspace, dataset, model_image_size(restored.encoder))
    test = evaluate_split(restored.encoder, catalog, dataset, "test", restored.preprocess, restored.tokenizer,
                          restored.device, view_map=view_map)
    catalog.merge_run_metrics(made.name, {"test": test})
    return {"name": made.name, "test": test}


def build_tables(runs: list[dict[str, Any]], datasets: list[str], losses: list[str],
                 seeds: list[int], baseline: str = "clip") -> tuple[dict, dict]:
    by_key = {(r["dataset"], r["loss"], r["seed"]): r for r in runs if r.get("test")}
    table: dict[str, dict[str, dict[str, Any]]] = {}
    delta: dict[str, dict[str, dict[str, Any]]] = {}
    for ds in datasets:
        table[ds], delta[ds] = {}, {}
        for loss in losses:
            table[ds][loss] = {}
            delta[ds][loss] = {}
            for key, _ in COLUMNS[ds]:
                vals = [by_key[(ds, loss, s)]["test"].get(key) for s in seeds if (ds, loss, s) in by_key]
                table[ds][loss][key] = aggregate(vals)
                if loss != baseline:
                    paired = [
                        by_key[(ds, loss, s)]["test"][key] - by_key[(ds, baseline, s)]["test"][key]
                        for s in seeds if (ds, loss, s) in by_key and (ds, baseline, s) in by_key
                    ]
                    delta[ds][loss][key] = aggregate(paired)
    return table, delta


def _cell(agg: dict[str, Any], signed: bool = False) -> str:
    if agg["mean"] is None:
        return "—"
    mean, std = 100 * agg["mean"], 100 * agg["std"]
    return f"{mean:+.1f} ± {std:.1f}" if signed else f"{mean:.1f} ± {std:.1f}"


def format_table(table: dict, ds: str, losses: list[str], signed: bool = False) -> str:
    headers = ["loss"] + [h for _, h in COLUMNS[ds]]
    rows = []
    for loss in losses:
        if loss not in table[ds] or not table[ds][loss]:
            continue
        rows.append([loss] + [_cell(table[ds][loss][k], signed) for k, _ in COLUMNS[ds]])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def open_workspace(args: argparse.Namespace) -> tuple[Path, Any, Any]:
    """``--workspace`` (default a fresh temp dir) with the demo datasets: its path, ``Workspace`` and catalogue."""
    from engine.workspace import Workspace

    ws_path = Path(args.workspace) if args.workspace else Path(tempfile.mkdtemp(prefix="crossfold-cmp-"))
    ws_path.mkdir(parents=True, exist_ok=True)
    ensure_demo_data(ws_path, args.datasets)
    workspace = Workspace.open(ws_path)
    return ws_path, workspace, workspace.catalog()


def train_record(config: Any, workspace: Any, record: dict[str, Any], progress_every: int,
                 prefix: str) -> dict[str, Any] | None:
    """Train one run of the plan; its metrics, or None when it failed (``record`` says how)."""
    print(f"{prefix} {config.name}: training ({config.max_steps} steps, V={config.views_per_item}, "
          f"C={config.captions_per_item}, lr={config.lr})", flush=True)
    try:
        metrics, seconds = train_one(config, workspace, progress_every)
    except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others
        print(f"    FAILED: {type(exc).__name__}: {exc}", flush=True)
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        return None
    record.update(status="trained", seconds=seconds)
    return metrics


def run_plan(plan: list[tuple[str, str, int]], args: argparse.Namespace, overrides: dict[str, Any], workspace: Any,
             catalog: Any, t_all: float) -> list[dict[str, Any]]:
    """Every run of the plan, one after the other: reused when it finished with the same settings, else trained
    (or resumed). One record per run."""
    from engine.run.folder import RunFolder

    runs: list[dict[str, Any]] = []
    trained = 0
    for i, (ds, loss, seed) in enumerate(plan, 1):
        config = run_config(ds, loss, seed, args, overrides)
        record: dict[str, Any] = {"name": config.name, "dataset": ds, "loss": loss, "seed": seed,
                                  "config": config.as_dict()}
        metrics = finished_metrics(catalog, workspace, config)
        if metrics is not None:
            record.update(status="reused", seconds=_run_seconds(RunFolder.of(workspace, config.name).path))
            print(f"[{i}/{len(plan)}] {config.name}: already done, reusing its metrics", flush=True)
        else:
            metrics = train_record(config, workspace, record, args.progress_every, f"[{i}/{len(plan)}]")
            if metrics is None:
                runs.append(record)
                continue
            trained += 1
            elapsed = time.perf_counter() - t_all
            left = len(plan) - i
            print(f"    done in {record['seconds']:.0f} s; ~{left * elapsed / trained / 60:.0f} min left at this pace",
                  flush=True)
        test = metrics.get("test", {})
        record.update(test=test, val=metrics.get("val", {}), best_step=metrics.get("best_step"))
        short = "  ".join(f"{h} {100 * test[k]:.1f}" for k, h in COLUMNS[ds] if k in test)
        print(f"    test: {short}", flush=True)
        runs.append(record)
    return runs


def add_zero_shot(args: argparse.Namespace, overrides: dict[str, Any], workspace: Any, catalog: Any,
                  runs: list[dict[str, Any]]) -> None:
    """``--pretrained``: the weights as they are, evaluated per dataset; one ``zero-shot`` record per seed."""
    model = overrides.get("model") or run_config(args.datasets[0], args.losses[0], 0, args, overrides).model
    for ds in args.datasets:
        zs = zero_shot_metrics(workspace, catalog, ds, model, args.pretrained, args.tag, args.device)
        short = "  ".join(f"{h} {100 * zs['test'][k]:.1f}" for k, h in COLUMNS[ds] if k in zs["test"])
        print(f"{zs['name']}: zero-shot test: {short}", flush=True)
        runs += [{"name": zs["name"], "dataset": ds, "loss": ZERO_SHOT, "seed": seed, "status": "zero-shot",
                  "test": zs["test"], "config": {"max_steps": 0, "model": model}} for seed in args.seeds]


def print_tables(args: argparse.Namespace, info: dict[str, Any], overrides: dict[str, Any],
                 runs: list[dict[str, Any]], losses: list[str], tables: dict[str, dict]) -> list[str]:
    """The metrics table per dataset, the differences to clip (and to zero-shot); the names of failed runs."""
    print()
    print(f"machine: {describe(info)}")
    steps = sorted({r['config']['max_steps'] for r in runs if r["loss"] != ZERO_SHOT})
    print(f"TEST metrics (%), mean ± std over seeds {' '.join(map(str, args.seeds))}; {'/'.join(map(str, steps))} "
          f"steps per run; model {runs[0]['config']['model'] if runs else '?'}" + (f"; overrides {overrides}" if overrides else ""))
    for ds in args.datasets:
        print(f"\n{ds}")
        print(format_table(tables["table"], ds, losses))
    if "clip" in losses and len(losses) > 1:
        for ds in args.datasets:
            print(f"\n{ds}: difference to clip (percentage points, paired by seed)")
            print(format_table(tables["difference_to_clip"], ds, [x for x in losses if x != "clip"], signed=True))
    if tables["difference_to_zero_shot"]:
        for ds in args.datasets:
            print(f"\n{ds}: difference to zero-shot {args.pretrained} (percentage points: what fine-tuning adds)")
            print(format_table(tables["difference_to_zero_shot"], ds, [x for x in losses if x != ZERO_SHOT],
                               signed=True))
    failed = [r["name"] for r in runs if r["status"] == "failed"]
    if failed:
        print(f"\nFAILED runs: {', '.join(failed)}")
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = parse_overrides(args.overrides)
    if args.pretrained:
        overrides["pretrained"] = args.pretrained
        args.tag = args.tag or "pt"
    if overrides and not args.tag:
        print("note: --set without --tag: the runs get the default names", flush=True)
    ws_path, workspace, catalog = open_workspace(args)

    plan = [(ds, loss, seed) for seed in args.seeds for ds in args.datasets for loss in args.losses]
    info = machine(args.device)
    print(f"machine: {describe(info)}")
    print(f"workspace: {ws_path}; {len(plan)} runs (datasets {' '.join(args.datasets)}, losses "
          f"{' '.join(args.losses)}, seeds {' '.join(map(str, args.seeds))}, steps {args.steps or 'config'})",
          flush=True)

    t_all = time.perf_counter()
    runs = run_plan(plan, args, overrides, workspace, catalog, t_all)
    losses = list(args.losses)
    delta_zero_shot: dict = {}
    if args.pretrained:
        add_zero_shot(args, overrides, workspace, catalog, runs)
        losses = [ZERO_SHOT, *losses]
        _, delta_zero_shot = build_tables(runs, args.datasets, losses, args.seeds, baseline=ZERO_SHOT)
    table, delta = build_tables(runs, args.datasets, losses, args.seeds)
    tables = {"table": table, "difference_to_clip": delta, "difference_to_zero_shot": delta_zero_shot}
    failed = print_tables(args, info, overrides, runs, losses, tables)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "compare_losses",
        "machine": info,
        "settings": {"workspace": str(ws_path), "steps": args.steps, "seeds": args.seeds, "losses": args.losses,
                     "datasets": args.datasets, "overrides": overrides, "tag": args.tag,
                     "deterministic": args.deterministic,
                     "pretrained": args.pretrained,
                     "columns": {ds: dict(COLUMNS[ds]) for ds in args.datasets}},
        "wall_s": time.perf_counter() - t_all,
        **tables,
        "runs": runs,
    }
    out.write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nwrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
