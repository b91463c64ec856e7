"""The one rule for names that become file or folder names."""

from __future__ import annotations

import pytest

from engine.names import InvalidName, check_name, name_problem


@pytest.mark.parametrize("value", ["run-1", "flickr8k_vit.b32", "_scratch", "A" * 100])
def test_plain_names_pass(value: str) -> None:
    assert name_problem(value) is None and check_name("run", value) == value


@pytest.mark.parametrize(("value", "why"), [
    ("", "empty"), ("a/b", "path separator"), ("a..b", "'..'"), (".hidden", "dot"),
    ("-rf", "option"), ("x" * 101, "101 characters"), ("a b", "' '"),
])
def test_names_that_would_not_stay_one_plain_folder_say_why(value: str, why: str) -> None:
    assert why in (name_problem(value) or "")
    with pytest.raises(InvalidName, match="run name"):
        check_name("run", value)
