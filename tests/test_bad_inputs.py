"""A catalogue of bad inputs: each must fail with a clear ValueError/TypeError that
names the problem (and, where there is one, the fix); nothing is half-written."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sk_hier import HierarchicalTagger, Hierarchy, encode_targets
from sk_hier.cli import main
from sk_hier.embeddings import LogMelEmbedder

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
FAST = dict(hidden_dims=(8,), max_epochs=2, early_stopping=False, random_state=0)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4)).astype(np.float32)
    Y = (rng.random((20, 3)) > 0.5).astype(int)
    return X, Y


def fit(X, Y, **kw):
    return HierarchicalTagger(TREE, **{**FAST, **kw}).fit(X, Y)


# -- estimator: X ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_X, match",
    [
        (lambda X: np.where(X > 1, np.nan, X), "contains NaN"),
        (lambda X: np.where(X > 1, np.inf, X), "infinity"),
        (lambda X: X[:0], "0 sample"),
        (lambda X: X[:, 0], "Expected a 2-dimensional container|2D array"),
        (
            lambda X: np.array([["a"] * 4] * 20, dtype=object),
            "could not convert|Unable to convert",
        ),
        (lambda X: X[:, :0], "0 feature"),
    ],
    ids=["nan", "inf", "empty", "1d", "object-strings", "no-features"],
)
def test_bad_X_at_fit(xy, make_X, match):
    X, Y = xy
    with pytest.raises(ValueError, match=match):
        fit(make_X(X), Y)


def test_wrong_width_at_predict(xy):
    X, Y = xy
    with pytest.raises(
        ValueError, match="X has 3 features, but HierarchicalTagger is expecting 4"
    ):
        fit(X, Y).predict(X[:, :3])


def test_nan_at_predict(xy):
    X, Y = xy
    tagger = fit(X, Y)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        tagger.predict_proba(X)


# -- estimator: Y ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_Y, match",
    [
        (lambda Y: Y[:-1], "X has 20 samples but Y has 19"),
        (lambda Y: [["violin", "oboe"]] * 20, "Unknown label 'oboe'"),
        (lambda Y: np.c_[np.zeros((20, 2)), np.ones((20, 3))], "breaks the hierarchy.*propagate"),
        (lambda Y: Y * 2, "must hold 0, 1, or NaN"),
        (lambda Y: np.ones((20, 4)), "4 columns.*3 leaves and 5 labels"),
        (lambda Y: [["strings/trumpet"]] * 20, "does not match the hierarchy"),
        (lambda Y: None, "requires y to be passed"),
    ],
    ids=["length", "unknown-label", "inconsistent", "non-binary", "width", "bad-path", "none"],
)
def test_bad_Y(xy, make_Y, match):
    X, Y = xy
    with pytest.raises(ValueError, match=match):
        fit(X, make_Y(Y))


def test_all_unknown_column_is_a_warning_not_an_error(xy):
    X, Y = xy
    Y = Y.astype(float)
    Y[:, 2] = np.nan  # trumpet never known, as in a cross-validation fold of partial data
    with pytest.warns(UserWarning, match="no known value.*trumpet"):
        fit(X, Y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"strategy": "deep"}, "Unknown strategy 'deep'; valid options: 'flat'"),
        ({"pooling": "mean"}, "Unknown pooling"),
        ({"lr": -1}, "lr must be positive"),
        ({"hidden_dims": (0,)}, "hidden_dims must be positive"),
        ({"threshold": [0.5, 0.5]}, None),
    ],
)
def test_bad_parameters(xy, params, match):
    X, Y = xy
    if match is None:  # a wrong-length threshold is caught at predict time
        with pytest.raises(ValueError, match="one value per label"):
            fit(X, Y, **params).predict(X)
        return
    with pytest.raises(ValueError, match=match):
        fit(X, Y, **params)


# -- hierarchy -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tree, match",
    [
        ({}, "empty"),
        ([("a", "b"), ("b", "c"), ("c", "a")], "cycle: "),
        ({"strings": ["bass"], "guitar": ["bass"]}, "two parents.*prefix"),
        ([("a", None), (3, "a")], "must be strings"),
    ],
    ids=["empty", "cycle", "duplicate-leaf", "non-string"],
)
def test_bad_hierarchy(tree, match):
    with pytest.raises(ValueError, match=match):
        Hierarchy(tree)


def test_targets_without_any_label_name():
    with pytest.raises(ValueError, match="Cannot infer the labels"):
        encode_targets([[], []])


# -- audio -----------------------------------------------------------------------------
def _write(path, content: bytes):
    path.write_bytes(content)
    return str(path)


def _wav(path, data, sr=22050):
    sf.write(path, data, sr)
    return str(path)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: str(d / "missing.wav"), "missing.wav.*(not found|does not exist|missing)"),
        (lambda d: _wav(d / "silent.wav", np.zeros(22050)), "silent"),
        (lambda d: _write(d / "empty.wav", b""), "empty.wav"),
        (lambda d: _write(d / "junk.wav", b"RIFF0000WAVEjunk" * 10), "junk.wav"),
        (lambda d: _write(d / "notes.txt", b"hello"), "notes.txt"),
    ],
    ids=["missing", "silent", "empty", "corrupt", "non-audio"],
)
def test_bad_audio_names_the_file(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(ValueError, match=match):
        LogMelEmbedder().fit_transform([path])


def test_skip_mode_reports_and_keeps_the_rest(tmp_path):
    good = _wav(tmp_path / "good.wav", 0.1 * np.sin(np.arange(22050) / 10))
    bad = _wav(tmp_path / "silent.wav", np.zeros(22050))
    emb = LogMelEmbedder(on_error="skip")
    with pytest.warns(UserWarning):
        X = emb.fit_transform([good, bad])
    assert X.shape[0] == 1 and list(emb.kept_indices_) == [0]
    assert emb.skipped_[0][0].endswith("silent.wav")


def test_odd_sample_rate_is_resampled_not_rejected(tmp_path):
    odd = _wav(tmp_path / "odd.wav", 0.1 * np.sin(np.arange(7919) / 5), sr=7919)
    assert LogMelEmbedder().fit_transform([odd]).shape[0] == 1


# -- command line ----------------------------------------------------------------------
def test_cli_bad_flag_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["render", "--n-clips", "many"])
    assert exc.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_cli_folder_without_audio(tmp_path, capsys):
    code = main(["embed", str(tmp_path), "--embedder", "logmel", "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and str(tmp_path) in err
    assert not (tmp_path / "x.npz").exists()


def test_cli_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(
        [
            "render",
            "--n-clips",
            "1",
            "--seed",
            "0",
            "--duration",
            "1",
            "--out",
            str(blocker / "sub"),
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "sub" in err


# -- random shapes and dtypes ----------------------------------------------------------
dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_, np.float16])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=hnp.arrays(
        dtypes,
        st.tuples(st.integers(0, 6), st.integers(0, 4)) | st.tuples(st.integers(0, 6)),
        elements={"allow_nan": True, "allow_infinity": True},
    ),
    Y=hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 6), st.integers(0, 6)),
        elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, np.nan]),
    ),
)
def test_fit_predict_fail_only_with_clear_errors(X, Y):
    try:
        tagger = HierarchicalTagger(TREE, **{**FAST, "max_epochs": 1}).fit(X, Y)
    except (ValueError, TypeError) as exc:
        assert str(exc), "errors must carry a message"
        return
    proba = tagger.predict_proba(X)
    assert proba.shape == (len(X), 5) and np.isfinite(proba).all()
