"""What machine a benchmark ran on: CPU model and cores, load, GPU, library versions.

    .venv/bin/python bench/machine.py            # prints one line, then the JSON

``machine(device)`` returns a JSON-ready dict; ``describe(info)`` one line for a table's header. (``render.py``
and ``multisk.py`` carry their own copies of ``cpu_model``; new benchmarks import this module.)
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine(device: str = "cpu") -> dict[str, Any]:
    import numpy as np
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": device,
        "gpu": None,
    }
    try:
        import open_clip

        info["open_clip"] = open_clip.__version__
    except Exception:  # noqa: BLE001 - informational only
        pass
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
            gpu_count=torch.cuda.device_count(),
        )
    return info


def describe(info: dict[str, Any]) -> str:
    parts = [f"{info['cpu']}, {info['usable_cores']} cores, torch {info['torch']} ({info['torch_threads']} threads)"]
    if info.get("gpu"):
        parts.append(f"GPU {info['gpu']} ({info.get('gpu_memory_gib')} GiB, CUDA {info.get('cuda')})")
    if info.get("load_average_1min") is not None:
        parts.append(f"load {info['load_average_1min']}")
    return "; ".join(parts)


if __name__ == "__main__":
    import sys

    info = machine(sys.argv[1] if len(sys.argv) > 1 else "cpu")
    print("machine:", describe(info))
    print(json.dumps(info, indent=2))


def print_json(result: dict[str, Any], path: Path | None = None) -> None:
    """Print a benchmark's JSON, and write it to ``path`` too when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
