"""Which device and autocast a run uses (open_clip's precision names); ``auto``: CUDA, then MPS, then the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from engine.run.config import ConfigError


def cuda_available() -> bool:
    return torch.cuda.is_available()


def pick_device(preference: str, local_rank: int = 0, *, mps: bool = False) -> torch.device:
    """``auto``: CUDA, then (with ``mps``: inference; training keeps to CUDA or the CPU) Apple's MPS, then the CPU."""
    if preference == "cpu":
        return torch.device("cpu")
    if preference.startswith("cuda") or preference == "auto":
        if torch.cuda.is_available():
            index = int(preference.split(":")[1]) if ":" in preference else local_rank
            return torch.device("cuda", index)
        if preference != "auto":
            raise ConfigError("--device cuda asked for, but no CUDA GPU is available (use --device cpu)")
    if preference == "mps" or (preference == "auto" and mps):  # Apple silicon, after CUDA
        if mps_available():
            return torch.device("mps")
        if preference == "mps":
            raise ConfigError("--device mps asked for, but no Apple GPU (MPS) is available (use --device cpu)")
    return torch.device("cpu")


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def autocast_for(precision: str, device: torch.device) -> Callable[[], AbstractContextManager]:
    """bf16/fp16 autocast on CUDA; plain fp32 on the CPU (whatever was asked)."""
    if device.type != "cuda":
        return contextlib.nullcontext
    if precision in ("amp_bf16", "amp_bfloat16"):
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    if precision == "amp":
        return lambda: torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext


def effective_precision(precision: str, device: torch.device) -> str:
    return precision if device.type == "cuda" else "fp32"


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "Apple GPU (MPS)" if device.type == "mps" else "CPU"
