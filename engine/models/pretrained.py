"""What ``--pretrained`` names, resolved to a local weights file before open_clip reads it.

``pretrained`` takes one of:

* an open_clip tag of the model (``laion2b_s34b_b79k``, ``openai``, ...; ``open_clip.list_pretrained()``). The file
  is the one open_clip downloads for the tag (its HF-hub repo and file name, the ``.safetensors`` alternative
  first), looked up in the HuggingFace cache (``HF_HOME`` / ``HF_HUB_CACHE``, or ``cache_dir``) first. When it is
  not there and ``HF_HUB_OFFLINE`` is not set, the hub is asked about it with a bounded wait
  (:data:`HUB_TIMEOUT_ENV`, default :data:`DEFAULT_HUB_TIMEOUT` s, in a worker thread: a machine without a route
  to the hub never hangs) and the file is downloaded only once the hub has answered. The tag's preprocessing
  (mean, std, interpolation, resize mode) comes with it. A tag trained with QuickGELU on a model whose config
  lacks it selects open_clip's ``<model>-quickgelu`` config, as open_clip's docs advise.
* ``hf-hub:org/repo`` (as the model name, or as ``pretrained``): the repo's ``open_clip_config.json`` (model and
  preprocessing config) and its weights, fetched the same way; open_clip then builds it from the cached folder.
* a local file in any layout open_clip reads: a bare ``state_dict``, an open_clip training checkpoint
  (``{"epoch", "state_dict", ...}``, ``module.`` prefixes from DDP), ``.safetensors``, and Crossfold's weights
  files and training checkpoints (which also carry the view pool and the preprocessing they were trained with).

Every file is read with ``torch.load(weights_only=True)``; a file that needs more is refused with one line.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import open_clip

from engine.errors import CrossfoldError
from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip
from engine.models.names import looks_like_path
from engine.models.weights_fit import unreadable_message

log = logging.getLogger(__name__)

HF_HUB_PREFIX = "hf-hub:"
#: Seconds allowed for the hub to answer whether a file exists (each request, and the whole probe).
HUB_TIMEOUT_ENV = "CROSSFOLD_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 8.0
#: open_clip's file names in an ``hf-hub:`` repo (``open_clip.constants``).
HF_CONFIG_NAME = "open_clip_config.json"
HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"
#: The preprocessing keys a tag or a checkpoint brings (open_clip's ``PreprocessCfg`` names).
PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")

T = TypeVar("T")


class PretrainedError(CrossfoldError):
    pass


@dataclass(frozen=True)
class Pretrained:
    """Resolved weights: ``kind`` is ``none``, ``tag``, ``hf-hub`` or ``file``.

    ``model_name`` is what to give open_clip (``ViT-B-32-quickgelu`` for an ``openai`` tag of ``ViT-B-32``;
    ``local-dir:<cached repo folder>`` for ``hf-hub:``), ``path`` the local weights file, ``preprocess`` the
    preprocessing the weights were trained with (``mean``, ``std``, ``interpolation``, ``resize_mode``; empty:
    open_clip's defaults), ``checkpoint`` a Crossfold file's extra keys (``view_pool``/``pool``, ``pooling``).
    """

    kind: str
    model_name: str
    source: str | None = None
    path: str | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)


# ---- the HF cache -------------------------------------------------------------------------------------------------


def hub_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The folder HF downloads go to: ``cache_dir``, else ``HF_HUB_CACHE`` (``$HF_HOME/hub``)."""
    if cache_dir:
        return str(cache_dir)
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode()) or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES",
                                                                                                  "TRUE")


def hub_timeout() -> float:
    try:
        return max(0.5, float(os.environ.get(HUB_TIMEOUT_ENV, DEFAULT_HUB_TIMEOUT)))
    except ValueError:
        return DEFAULT_HUB_TIMEOUT


def tag_files(model_name: str, tag: str) -> tuple[str, list[str]] | None:
    """``(repo_id, candidate file names)`` open_clip downloads for a tag (safetensors alternative first), or None
    when the tag has no HF-hub entry."""
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    hub = (cfg or {}).get("hf_hub", "")
    if not hub:
        return None
    repo_id, filename = os.path.split(hub)  # as open_clip's download_pretrained: "org/repo/" means its default file
    filename = filename or HF_WEIGHTS_NAME
    candidates = []
    if filename == HF_WEIGHTS_NAME:
        candidates.append(HF_SAFE_WEIGHTS_NAME)
    elif filename.endswith((".bin", ".pth")):
        candidates.append(filename[:-4] + ".safetensors")
    candidates.append(filename)
    return repo_id, candidates


def cached_file(repo_id: str, filenames: list[str], cache_dir: str | None = None) -> str | None:
    """The first of ``filenames`` of ``repo_id`` already in the HF cache, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def tag_cached(model_name: str, tag: str, cache_dir: str | None = None) -> bool:
    files = tag_files(model_name, tag)
    return files is not None and cached_file(files[0], files[1], cache_dir) is not None


def _bounded(fn: Callable[[], T], timeout: float) -> T:
    """``fn()`` in a daemon thread, waiting at most ``timeout`` s (TimeoutError then; the thread is abandoned)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="crossfold-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def fetch_file(repo_id: str, filenames: list[str], what: str, cache_dir: str | None = None) -> str:
    """The first of ``filenames`` of ``repo_id``: from the HF cache, else downloaded after a bounded probe.

    :class:`PretrainedError` (one line: ``what``, the cache folder looked in, how to pass a file instead) when it is
    neither cached nor reachable."""
    found = cached_file(repo_id, filenames, cache_dir)
    if found is not None:
        return found
    folder = hub_cache_dir(cache_dir)
    advice = "download it on a connected machine into that cache, or pass a local file: --pretrained PATH.pt"
    if hub_offline():
        raise PretrainedError(f"{what} is not in the HuggingFace cache ({folder}) and HF_HUB_OFFLINE is set; {advice}")
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    timeout = hub_timeout()
    for name in filenames:
        url = hf_hub_url(repo_id, name)
        try:
            _bounded(lambda url=url: get_hf_file_metadata(url, timeout=timeout), timeout + 2)
        except EntryNotFoundError:
            continue
        except RepositoryNotFoundError:
            raise PretrainedError(f"{what}: the hub has no repository {repo_id!r}; {advice}") from None
        except Exception as exc:  # noqa: BLE001 - DNS, refused, timed out, proxy: all mean "unreachable"
            reason = first_line(exc, 120)
            raise PretrainedError(f"{what} is not in the HuggingFace cache ({folder}) and the hub cannot be reached "
                                  f"({reason}); {advice}") from None
        log.info("downloading %s/%s into %s", repo_id, name, folder)
        try:
            return hf_hub_download(repo_id, name, cache_dir=cache_dir, library_name="open_clip",
                                   library_version=open_clip.__version__)
        except Exception as exc:  # noqa: BLE001
            raise PretrainedError(f"{what}: download of {repo_id}/{name} failed ({first_line(exc, 120)}); "
                                  f"{advice}") from None
    raise PretrainedError(f"{what}: the hub repository {repo_id} has none of {', '.join(filenames)}; {advice}")


# ---- local files --------------------------------------------------------------------------------------------------


def first_line(exc: BaseException, width: int = 200) -> str:
    """The first non-blank line of an error's message (its type's name when it has none), at most ``width`` long."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:width]


def read_weights(path: str | os.PathLike[str]) -> Any:
    """A weights file loaded on CPU with ``weights_only=True`` (memory-mapped when possible); safetensors through
    safetensors. :class:`PretrainedError` naming the file when it cannot be read as weights."""
    return read_weights_mapped(path)[0]


def read_weights_mapped(path: str | os.PathLike[str]) -> tuple[Any, bool]:
    """:func:`read_weights`, and whether its tensors lie in a private memory map of the file (a torch zip file)."""
    p = Path(path)
    if p.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            return load_file(str(p), device="cpu"), False
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise PretrainedError(f"{p}: not a readable .safetensors file ({first_line(exc, 100)})") from None
    import torch

    try:
        try:
            return torch.load(p, map_location="cpu", weights_only=True, mmap=True), True
        except RuntimeError as exc:
            if "mmap" not in str(exc) and "zip" not in str(exc).lower():
                raise
            return torch.load(p, map_location="cpu", weights_only=True), False  # a legacy (non-zip) file: unmapped
    except FileNotFoundError:
        raise PretrainedError(f"{p}: weights file not found") from None
    except IsADirectoryError:
        raise PretrainedError(f"{p}: is a folder, not a weights file") from None
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower():  # not a refused class: bytes that are no pickle at all
            raise PretrainedError(f"{p}: not a PyTorch weights file (unreadable pickle)") from None
        raise PretrainedError(unreadable_message(p, exc)) from None  # the one wording, never `weights_only=False`
    except Exception as exc:  # noqa: BLE001 - torch's unpickler fails on bytes that are no pickle in any way it likes
        empty = p.is_file() and p.stat().st_size == 0
        told = isinstance(exc, (RuntimeError, OSError, ValueError, EOFError))  # others say nothing to a person
        detail = first_line(exc, 100) if told else "unreadable"
        reason = "an empty file" if empty else f"not a PyTorch weights file ({detail})"
        raise PretrainedError(f"{p}: {reason}") from None


def state_dict_of(checkpoint: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model's state dict in any layout: ``{"state_dict": ...}`` or bare, ``module.`` prefixes removed."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) for k in state):
        raise PretrainedError(f"{path}: holds no state dict (expected a dict of tensors, or one under 'state_dict')")
    if next(iter(state)).startswith("module."):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def check_state(model_name: str, state: dict[str, Any], path: str | os.PathLike[str], mapped: bool = False) -> None:
    """:class:`PretrainedError` naming the file when its weights cannot be ``model_name``'s: a tensor of a shape the
    model cannot take (a positional embedding may differ in length only: open_clip resizes it; keys are left to
    open_clip, which renames older layouts), or a NaN or infinite weight. ``mapped``: the tensors lie in a private
    memory map of the file (:func:`read_weights_mapped`); each one's pages are dropped once read."""
    import torch

    from engine.memory import drop_file_pages
    from engine.models.weights_check import model_shapes, shape_problems

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # open_clip warns on the root logger that the model has no weights: it has none yet
    try:
        own = model_shapes(model_name)
    except RuntimeError:  # not a model open_clip can build: building it says so in one line
        own = {}
    finally:
        root.setLevel(level)
    shared = {k: v for k, v in state.items() if k in own}
    # keys are left to open_clip (it renames older layouts) unless most of the model's are not there at all: then
    # the file is another model's, and its missing keys say so best
    problems = (shape_problems(own, state) if own and len(shared) < len(own) / 2
                else shape_problems({k: own[k] for k in shared}, shared))
    if problems:
        raise PretrainedError(f"{path}: its weights do not fit model {model_name} ({'; '.join(problems)})")
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise PretrainedError(f"{path}: holds NaN or infinite weights (e.g. {key}); they cannot encode anything")
        if mapped and isinstance(value, torch.Tensor):
            drop_file_pages(value.untyped_storage().data_ptr(), value.untyped_storage().nbytes(), path)


def file_extras(checkpoint: Any) -> dict[str, Any]:
    """What a Crossfold file carries besides the CLIP weights: ``view_pool`` (weights file) or ``pool`` (training
    checkpoint), ``pooling``, ``model_name``/``model``, ``preprocess_cfg``."""
    if not isinstance(checkpoint, dict):
        return {}
    return {k: checkpoint[k] for k in ("view_pool", "pool", "pooling", "model_name", "model", "preprocess_cfg")
            if k in checkpoint}


# ---- resolution ---------------------------------------------------------------------------------------------------


def preprocess_of(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The preprocessing keys of a pretrained or preprocess config (tuples as lists are fine)."""
    return {k: cfg[k] for k in PREPROCESS_KEYS if cfg and cfg.get(k) is not None}


def resolve(model_name: str, pretrained: str | os.PathLike[str] | None, cache_dir: str | None = None) -> Pretrained:
    """Resolve ``pretrained`` for ``model_name`` to a local file (fetching a tag or repo as described above)."""
    value = "" if pretrained is None else str(pretrained).strip()
    if model_name.startswith(HF_HUB_PREFIX):
        if value and value != model_name:
            raise PretrainedError(f"--model {model_name} brings its own weights; leave --pretrained out")
        return _resolve_hub(model_name, cache_dir)
    if not value:
        return Pretrained("none", model_name)
    if value.startswith(HF_HUB_PREFIX):
        return _resolve_hub(value, cache_dir)
    cfg = open_clip.get_pretrained_cfg(model_name, value)
    if cfg:
        return _resolve_tag(model_name, value, cfg, cache_dir)
    path = Path(value).expanduser()
    if path.is_file():
        checkpoint, mapped = read_weights_mapped(path)
        extras = file_extras(checkpoint)
        # one line now, not open_clip's error later
        check_state(model_name, state_dict_of(checkpoint, path), path, mapped)
        del checkpoint
        return Pretrained("file", model_name, value, str(path), preprocess_of(extras.get("preprocess_cfg")), extras)
    if path.exists():
        raise PretrainedError(f"{path}: pretrained weights must be a file")
    if looks_like_path(value):
        raise PretrainedError(f"{path}: weights file not found")
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    known = f"its tags: {', '.join(tags)}" if tags else "open_clip has no pretrained tags for it"
    raise PretrainedError(f"{value!r} is neither a pretrained tag of {model_name} nor a file ({known}; "
                          "`trainer models` lists them)")


def _resolve_tag(model_name: str, tag: str, cfg: dict[str, Any], cache_dir: str | None) -> Pretrained:
    effective = model_name
    model_cfg = open_clip.get_model_config(model_name) or {}
    if cfg.get("quick_gelu") and not model_cfg.get("quick_gelu"):
        quick = f"{model_name}-quickgelu"
        if open_clip.get_model_config(quick) is not None:
            log.warning("%s was trained with QuickGELU: using open_clip's %s config", tag, quick)
            effective = quick
    files = tag_files(model_name, tag)
    if files is None:
        raise PretrainedError(f"pretrained tag {tag!r} of {model_name} has no HuggingFace hub entry; download "
                              f"{cfg.get('url', 'its weights')} and pass the file: --pretrained PATH")
    path = fetch_file(files[0], files[1], f"pretrained tag {tag!r} of {model_name} ({files[0]})", cache_dir)
    return Pretrained("tag", effective, tag, path, preprocess_of(cfg))


def _resolve_hub(name: str, cache_dir: str | None) -> Pretrained:
    repo_id = name.removeprefix(HF_HUB_PREFIX).strip("/")
    what = f"{name}"
    config_path = fetch_file(repo_id, [HF_CONFIG_NAME], what, cache_dir)
    weights = fetch_file(repo_id, [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME], what, cache_dir)
    import json

    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PretrainedError(f"{config_path}: not a readable open_clip config ({exc})") from None
    if "model_cfg" not in config:
        raise PretrainedError(f"{config_path}: not an open_clip config (no 'model_cfg')")
    folder = str(Path(weights).parent)
    if Path(config_path).parent != Path(weights).parent:  # both live in the same snapshot folder normally
        raise PretrainedError(f"{name}: config and weights are in different cache snapshots; clear {repo_id} from "
                              f"{hub_cache_dir(cache_dir)} and fetch it again")
    return Pretrained("hf-hub", f"local-dir:{folder}", name, weights, preprocess_of(config.get("preprocess_cfg")),
                      {"model_cfg": config["model_cfg"]})


# ---- listing ------------------------------------------------------------------------------------------------------


def list_models(cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Every model name with its open_clip tags and which tags are in the local cache (``trainer models``):
    Crossfold's shipped configs first, then open_clip's architectures."""
    from engine.models.configs import register_model_configs
    from engine.models.names import model_names, shipped_model_names

    register_model_configs()
    tags: dict[str, list[str]] = {}
    for name, tag in open_clip.list_pretrained():
        tags.setdefault(name, []).append(tag)
    shipped = set(shipped_model_names())
    out = []
    for name in model_names():
        known = tags.get(name, [])
        out.append({"name": name, "shipped": name in shipped, "pretrained": known,
                    "cached": [t for t in known if tag_cached(name, t, cache_dir)]})
    return out
