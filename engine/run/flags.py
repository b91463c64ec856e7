"""``trainer train`` flags from :class:`~engine.run.config.TrainConfig`'s fields, and back.

One schema, three uses: :func:`add_config_arguments` gives the CLI its flags (help, choices, metavar and
mutually exclusive groups from each field's metadata), :func:`flag_values` reads them back as config values,
and :func:`config_to_flags` writes the flags that reproduce a config (the app launches and resumes runs with
them). ``config_to_flags`` then parsing gives the same :class:`TrainConfig`, for every field.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.run.config import EXPLICIT_NONE, Range, TrainConfig, config_fields

#: What an optional number is given as on the command line to mean "none".
NONE_WORD = "none"


def _base_type(annotation: str) -> str:
    return annotation.replace(" | None", "").strip()


def _optional(annotation: str) -> bool:
    return "None" in annotation


def _number(kind: type, optional: bool, bounds: Range | None = None) -> Any:
    """A flag's ``type=``: the number, refused as it is parsed when it is not one or out of ``bounds`` (the
    field's range, the one :meth:`TrainConfig.validate` checks)."""

    def parse(text: str) -> Any:
        if optional and text.strip().lower() == NONE_WORD:
            return EXPLICIT_NONE
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        problem = bounds.problem(value) if bounds is not None else None
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = kind.__name__
    parse.range = bounds  # type: ignore[attr-defined]
    return parse


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object")
    return value


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag for every :class:`TrainConfig` field (``--batch-size`` for ``batch_size``), defaulting to None so
    only what the user gave overrides the config file."""
    groups: dict[str, Any] = {}
    for f in config_fields():
        meta, kind = f.metadata, _base_type(str(f.type))
        target: Any = parser
        if meta.get("exclusive"):
            if meta["exclusive"] not in groups:
                groups[meta["exclusive"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["exclusive"]]
        flag = f"--{f.name.replace('_', '-')}"
        kwargs: dict[str, Any] = {"default": None, "help": meta.get("help") or None, "dest": f.name}
        if kind == "bool":
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        if kind in ("int", "float"):
            kwargs["type"] = _number(int if kind == "int" else float, _optional(str(f.type)), meta.get("range"))
        elif kind.startswith("dict"):
            kwargs["type"] = _json_object
        target.add_argument(flag, **kwargs)


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config values among parsed arguments: None where a flag was not given, :data:`EXPLICIT_NONE` where an
    optional number was given as ``none``."""
    return {f.name: getattr(args, f.name, None) for f in config_fields()}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


#: Fields that name a run rather than configure it: left out of the flags that reproduce a config.
RUN_IDENTITY = ("name", "resume")


def config_to_flags(config: TrainConfig | Mapping[str, Any], exclude: Iterable[str] = RUN_IDENTITY) -> list[str]:
    """Flags that reproduce ``config`` (a :class:`TrainConfig` or its saved dict), in field order: each value that
    differs from the field's default (a None where the default is a value as ``none``; ``--no-X`` for a boolean
    whose default is true). Parsing them gives ``config`` again."""
    values = config.as_dict() if isinstance(config, TrainConfig) else dict(config)
    skip = set(exclude)
    flags: list[str] = []
    for f in config_fields():
        if f.name in skip or f.name not in values:
            continue
        value, default, flag = values[f.name], _default(f), f"--{f.name.replace('_', '-')}"
        if value == default or (value is None and default is None):
            continue
        kind = _base_type(str(f.type))
        if kind == "bool":
            flags.append(flag if value else f"--no-{flag[2:]}")
        elif kind.startswith("dict"):
            flags += [flag, json.dumps(value)]
        elif value is None:
            flags += [flag, NONE_WORD]
        else:
            flags += [flag, repr(float(value)) if kind == "float" else str(value)]
    return flags


def resume_args(name: str, config: TrainConfig | Mapping[str, Any]) -> list[str]:
    """``trainer`` arguments that resume run ``name`` from its latest checkpoint with its saved config."""
    return ["train", *config_to_flags(config), "--name", name, "--resume", "latest"]
