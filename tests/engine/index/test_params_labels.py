from __future__ import annotations

import numpy as np
import pytest

from engine.index.labels import INDEX_MODALITIES, LABEL_KIND, as_labels, check_modality, to_ids
from engine.index.params import IndexParams


def test_params_round_trip_through_the_row_json_and_validate() -> None:
    p = IndexParams(M=24, ef_construction=150, ef=300)
    row_params = {**p.to_dict(), "file_size": 10, "file_sha256": "x"}
    assert IndexParams.from_dict(row_params, space="ip") == p
    assert IndexParams.from_dict({}) == IndexParams()
    with pytest.raises(ValueError, match="space"):
        IndexParams(space="l2")
    with pytest.raises(ValueError, match="M"):
        IndexParams(M=1)


def test_search_ef_covers_k_times_fold() -> None:
    p = IndexParams(ef=64)
    assert p.search_ef(10) == 64
    assert p.search_ef(10, fold=20) == 200


def test_labels_are_unique_non_negative_integers() -> None:
    out = as_labels([3, 1, 2], n=3)
    assert out.dtype == np.uint64 and out.tolist() == [3, 1, 2]
    assert to_ids(out).dtype == np.int64
    for bad, msg in (([1, 1], "unique"), ([-1, 2], "non-negative"), ([1.5, 2.0], "integer")):
        with pytest.raises(ValueError, match=msg):
            as_labels(bad)
    with pytest.raises(ValueError, match="2 labels for 3"):
        as_labels([1, 2], n=3)


def test_modalities_and_label_kinds() -> None:
    assert INDEX_MODALITIES == ("text", "image", "shape")
    assert LABEL_KIND["shape"] == "item" and LABEL_KIND["text"] == LABEL_KIND["image"] == "observation"
    with pytest.raises(ValueError):
        check_modality("view")
