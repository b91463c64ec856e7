"""Every number a `trainer` flag takes has a range, checked as it is parsed (one line, exit 2); the training
options' ranges are the config schema's, read by the CLI rather than repeated."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from engine.run.config import config_fields
from trainer.cli import build_parser, main


def _numeric_flags() -> list[tuple[str, argparse.Action]]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for command, parser in sub.choices.items():
        for action in parser._actions:  # plain int/float, the schema's numbers (named int/float), ranged types
            if action.type in (int, float) or getattr(action.type, "__name__", "") in ("int", "float") \
                    or hasattr(action.type, "range"):
                found.append((command, action))
    return found


def test_every_numeric_flag_has_a_range() -> None:
    flags = _numeric_flags()
    assert len(flags) >= 30  # train's numbers and every other command's
    assert not [f"{c} {a.option_strings}" for c, a in flags if getattr(a.type, "range", None) is None]
    train = {a.dest for c, a in flags if c == "train"}
    numbers = {f.name for f in config_fields() if str(f.type).split(" ")[0] in ("int", "float")}
    assert numbers <= train
    for f in config_fields():
        if f.name in numbers:
            assert f.metadata["range"] is not None, f.name


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "d", "--max-steps", "1", "--seed", "9" * 23],
    ["train", "--dataset", "d", "--max-steps", "9" * 20],
    ["train", "--dataset", "d", "--max-steps", "1", "--lr", "inf"],
    ["render", "d", "--pack", "9" * 20],
    ["render", "d", "--size", "9" * 20],
    ["render", "d", "--elevation", "90"],
    ["pack", "d", "--size", "9" * 20],
    ["index", "--run", "r", "--ef-construction", "9" * 20],
    ["index", "--run", "r", "--ef", "9" * 20],
    ["demo", "--steps", "0"],
    ["demo-data", "--seed", "-1"],
    ["search", "--text", "x", "--k", "9" * 20],
])
def test_out_of_range_numbers_are_one_line_at_parsing(argv: list[str]) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main([*argv, "--workspace", "/nonexistent/never-opened"])
    assert done.value.code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "must be" in lines[0] and "Traceback" not in lines[0], err.getvalue()
