"""Model files written by earlier releases keep loading, with the same predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sk_hier import load

from .conftest import f32_tol

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("strategy", ["gmp", "resatt"])
def test_format_1_files_load_and_predict_the_same(strategy):
    model = load(DATA / f"tagger_{strategy}_format1.skops")
    expected = np.load(DATA / f"tagger_{strategy}_format1_expected.npz", allow_pickle=False)
    # Same weights, same float32 arithmetic: only kernel rounding may differ.
    np.testing.assert_allclose(model.predict_proba(expected["X"]), expected["proba"], **f32_tol())
    assert model.target_type_ == "multilabel"
    assert model.predict_labels(expected["X"][:1])[0] is not None
