"""X that does not sit in memory: numpy memmaps and zarr arrays, read batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.validation import validate_data

from sk_hier import HierarchicalTagger
from sk_hier._net import ArrayDataset, BatchIterator, _LazyRows

from .conftest import FAST

zarr = pytest.importorskip("zarr")

# Dropout on, early stopping (a validation split) on, several shuffled batches per
# epoch: the batches must be the same whatever X is stored in.
PARAMS = dict(FAST, max_epochs=4, batch_size=64, dropout=0.2, early_stopping=True)


def _memmap(path, X, mode="r"):
    np.save(path, X)
    return np.load(path, mmap_mode=mode)


def _zarr(path, X, chunks=50):
    z = zarr.create_array(
        store=str(path), shape=X.shape, chunks=(chunks, X.shape[1]), dtype=X.dtype
    )
    z[:] = X
    return zarr.open_array(str(path), mode="r")


@pytest.fixture
def reference(data, tree):
    X, Y, _ = data
    X = X.astype(np.float32)
    tagger = HierarchicalTagger(tree, **PARAMS).fit(X, Y)
    return X, Y, tagger.predict_proba(X)


def test_float32_memmap_is_validated_without_a_copy(tmp_path, data):
    X = data[0].astype(np.float32)
    for mode in ("r", "r+"):
        mm = _memmap(tmp_path / f"x_{mode}.npy", X, mode)
        checked = HierarchicalTagger()._check_X(mm, reset=True)
        assert np.shares_memory(checked, mm)
        assert checked.flags.writeable == (mode == "r+")
    # The same holds for sklearn's validate_data itself on a read-only memmap.
    assert np.shares_memory(validate_data(HierarchicalTagger(), mm, dtype=np.float32), mm)


@pytest.mark.parametrize("mode", ["r", "r+"])
def test_memmap_fit_matches_in_memory(tmp_path, tree, reference, mode):
    X, Y, expected = reference
    mm = _memmap(tmp_path / "x.npy", X, mode)
    tagger = HierarchicalTagger(tree, **PARAMS).fit(mm, Y)
    np.testing.assert_array_equal(tagger.predict_proba(mm), expected)
    np.testing.assert_array_equal(tagger.predict(mm), tagger.predict(X))


def test_float64_memmap_is_read_lazily(tmp_path, tree, reference):
    X, Y, expected = reference
    mm = _memmap(tmp_path / "x64.npy", X.astype(np.float64))
    checked = HierarchicalTagger()._check_X(mm, reset=True)
    assert isinstance(checked, _LazyRows) and checked.array is mm
    tagger = HierarchicalTagger(tree, **PARAMS).fit(mm, Y)
    np.testing.assert_array_equal(tagger.predict_proba(mm), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zarr_fit_matches_in_memory(tmp_path, tree, reference, dtype):
    X, Y, expected = reference
    z = _zarr(tmp_path / "x.zarr", X.astype(dtype))
    tagger = HierarchicalTagger(tree, **PARAMS).fit(z, Y)
    assert tagger.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(tagger.predict_proba(z), expected)
    # The other input kinds still go to the same fitted model.
    np.testing.assert_array_equal(tagger.predict_proba(X), expected)
    assert tagger.attention_maps(z).shape == tagger.attention_maps(X).shape


def test_zarr_batches_read_only_the_rows_asked_for(tmp_path):
    X = np.arange(60, dtype=np.float32).reshape(20, 3)
    ds = ArrayDataset(_zarr(tmp_path / "x.zarr", X, chunks=4), np.arange(20))
    assert isinstance(ds.X, _LazyRows) and len(ds) == 20
    idx = np.array([17, 2, 9, 3])
    xb, yb = ds.take(idx)
    np.testing.assert_array_equal(xb.numpy(), X[idx])  # batch order is kept
    np.testing.assert_array_equal(yb.numpy(), idx)
    batches = list(BatchIterator(ds, batch_size=8, shuffle=True, seed=0))
    seen = np.concatenate([yb.numpy() for _, yb in batches]).astype(int)
    np.testing.assert_array_equal(np.concatenate([xb.numpy() for xb, _ in batches]), X[seen])
    assert sorted(seen) == list(range(20))


@pytest.mark.parametrize("kind", ["memmap", "memmap64", "zarr"])
@pytest.mark.parametrize(
    ("bad", "match"), [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")]
)
def test_non_finite_values_are_caught(tmp_path, data, tree, kind, bad, match):
    X, Y, _ = data
    X = X.astype(np.float64 if kind == "memmap64" else np.float32)
    X[-3, 5] = bad  # in the last block, far from the first row
    store = {
        "memmap": lambda: _memmap(tmp_path / "x.npy", X),
        "memmap64": lambda: _memmap(tmp_path / "x.npy", X),
        "zarr": lambda: _zarr(tmp_path / "x.zarr", X),
    }[kind]()
    with pytest.raises(ValueError, match=match):
        HierarchicalTagger(tree, **PARAMS).fit(store, Y)
    fitted = HierarchicalTagger(tree, **dict(PARAMS, max_epochs=1)).fit(X[:-3], Y[:-3])
    with pytest.raises(ValueError, match=match):
        fitted.predict(store)


def test_lazy_input_is_checked_like_an_array(tmp_path, data, tree):
    X, Y, _ = data
    fitted = HierarchicalTagger(tree, **dict(PARAMS, max_epochs=1)).fit(X, Y)
    with pytest.raises(
        ValueError, match="X has 8 features, but HierarchicalTagger is expecting 16"
    ):
        fitted.predict(_zarr(tmp_path / "narrow.zarr", X[:, :8].astype(np.float32)))
    with pytest.raises(ValueError, match="0 sample"):
        fitted.predict(_zarr(tmp_path / "empty.zarr", np.zeros((0, 16), np.float32)))
    flat = zarr.create_array(store=str(tmp_path / "flat.zarr"), shape=(16,), dtype="float32")
    with pytest.raises(ValueError, match="2D array"):
        fitted.predict(flat)
