"""A catalogue of bad inputs: each must fail with a clear ValueError/TypeError that
names the problem (and, where there is one, the fix); nothing is half-written."""

from __future__ import annotations

import re
import warnings

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
        (lambda Y: Y[:-1], "X has 20 samples but y has 19"),
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
        ({"strategy": "deep"}, r"strategy must be one of \['flat'.*got 'deep'"),
        ({"pooling": "mean"}, r"pooling must be one of 'max'.*got 'mean'"),
        ({"lr": -1}, r"lr must be a finite number > 0; got -1"),
        ({"lr": np.inf}, r"lr must be a finite number > 0; got inf"),
        ({"lr": np.nan}, r"lr must be a finite number > 0; got nan"),
        ({"weight_decay": np.inf}, r"weight_decay must be a finite number >= 0; got inf"),
        ({"weight_decay": -1e-4}, r"weight_decay must be a finite number >= 0"),
        ({"level_weights": np.nan}, r"level_weights must be None or a finite number >= 0"),
        ({"level_weights": [1.0, np.nan]}, r"level_weights must be .*one per depth"),
        ({"level_weights": -0.5}, r"level_weights must be"),
        ({"hidden_dims": (0,)}, r"hidden_dims must be a positive int or a tuple"),
        ({"hidden_dims": (8.5,)}, r"hidden_dims must be .*got \(8.5,\)"),
        ({"hidden_dims": "wide"}, r"hidden_dims must be .*got 'wide'"),
        ({"dropout": 1.0}, r"dropout must be a finite number in \[0, 1\); got 1.0"),
        ({"dropout": -0.1}, r"dropout must be a finite number in \[0, 1\)"),
        ({"batch_size": 32.5}, r"batch_size must be an integer >= 1; got 32.5"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1; got 0"),
        ({"max_epochs": 0.5}, r"max_epochs must be an integer >= 1; got 0.5"),
        ({"max_epochs": 0}, r"max_epochs must be an integer >= 1"),
        ({"patience": 2.5}, r"patience must be an integer >= 1"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be a finite number in \[0, 1\)"),
        (
            {"verbose": "loud"},
            r"verbose must be an integer >= 0 or one of True, False; got 'loud'",
        ),
        ({"activation": "swish"}, r"activation must be one of 'relu'"),
        ({"normalization": "group"}, r"normalization must be one of None, 'batch', 'layer'"),
        ({"pos_weight": "auto"}, r"pos_weight must be one of None, 'balanced'"),
        ({"inconsistent": "ignore"}, r"inconsistent must be one of 'error', 'propagate'"),
        ({"attention_mask": "tree"}, r"attention_mask must be one of 'hierarchy', 'none'"),
        ({"parent_gate": "yes"}, r"parent_gate must be one of 'auto', True, False"),
        ({"enforce_consistency": "yes"}, r"enforce_consistency must be one of True, False"),
        ({"early_stopping": "no"}, r"early_stopping must be one of True, False"),
        ({"consistency_weight": -1}, r"consistency_weight must be a finite number >= 0"),
        ({"consistency_weight": np.inf}, r"consistency_weight must be a finite number >= 0"),
        ({"threshold": 1.5}, r"threshold must be a finite number in \[0, 1\) or|threshold must"),
        ({"threshold": [0.5, 2.0]}, r"threshold must be .*one per label"),
        ({"random_state": -1}, r"random_state must be None or an integer in \[0, 4294967295\]"),
        ({"random_state": "seed"}, r"random_state must be .*got 'seed'"),
        ({"device": "gpu"}, r"device='gpu' is not a torch device"),
    ],
    ids=lambda v: "-".join(f"{k}={v[k]}" for k in v) if isinstance(v, dict) else None,
)
def test_bad_parameters(xy, params, match):
    X, Y = xy
    with pytest.raises(ValueError, match=f"^HierarchicalTagger: |{match}") as exc:
        fit(X, Y, **params)
    assert re.search(match, str(exc.value)), str(exc.value)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_missing_accelerator_is_named_before_training(xy, device):
    import torch

    kind = device.split(":")[0]
    have = torch.cuda.is_available() if kind == "cuda" else torch.backends.mps.is_available()
    if have:
        pytest.skip(f"this machine has a {kind} device")
    X, Y = xy
    with pytest.raises(ValueError, match=f"no {kind.upper()} device on this machine.*cpu"):
        fit(X, Y, device=device)


def test_threshold_of_the_wrong_length_is_named_at_predict(xy):
    X, Y = xy
    with pytest.raises(ValueError, match="one value per label"):
        fit(X, Y, threshold=[0.5, 0.5]).predict(X)


# -- sample weights: one check, one message style, for every estimator ------------------
def _estimators():
    from sklearn.linear_model import LogisticRegression

    from sk_hier import PerLevelClassifier, TunedThresholds

    return {
        "tagger": HierarchicalTagger(TREE, **FAST),
        "baseline": PerLevelClassifier(LogisticRegression(), hierarchy=TREE),
        "thresholds": TunedThresholds(HierarchicalTagger(TREE, **FAST), cv=2),
    }


@pytest.mark.parametrize(
    "make_w, match",
    [
        (lambda n: -np.ones(n), r"sample_weight must be non-negative; got -1.0 at index 0"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], r"sample_weight must be finite; got inf"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], r"sample_weight must be finite; got nan"),
        (lambda n: np.ones(n - 1), r"sample_weight must have shape \(20,\)"),
        (lambda n: np.zeros(n), r"sample_weight are all zero"),
        (lambda n: ["heavy"] * n, r"sample_weight must be numbers"),
    ],
    ids=["negative", "inf", "nan", "shape", "zeros", "strings"],
)
@pytest.mark.parametrize("kind", ["tagger", "baseline", "thresholds"])
def test_bad_sample_weight(xy, make_w, match, kind):
    X, Y = xy
    with pytest.raises(ValueError, match=match):
        _estimators()[kind].fit(X, Y, sample_weight=make_w(len(X)))


@pytest.mark.parametrize("kind", ["tagger", "baseline", "thresholds"])
def test_score_honours_sample_weight(xy, kind):
    X, Y = xy
    model = _estimators()[kind].fit(X, Y)
    w = np.r_[np.ones(12), np.zeros(8)]
    weighted = model.score(X, Y, sample_weight=w)
    assert weighted == pytest.approx(model.score(X[:12], Y[:12]))
    assert weighted != pytest.approx(model.score(X, Y))


# -- targets that used to switch the kind of model silently ------------------------------
@pytest.mark.parametrize(
    "y, match",
    [
        (["violin"] * 10 + ["violon"] * 10, r"not labels of the hierarchy: \['violon'\]"),
        ([0, 1] * 10, r"not labels of the hierarchy: \['0', '1'\].*hierarchy=None"),
    ],
    ids=["typo", "integers"],
)
@pytest.mark.parametrize("kind", ["tagger", "baseline"])
def test_one_label_per_sample_must_name_tree_labels(xy, y, match, kind):
    X, _ = xy
    with pytest.raises(ValueError, match=match):
        _estimators()[kind].fit(X, y)


def test_class_target_warns_that_strategy_is_ignored(xy):
    X, _ = xy
    y = np.array(["a", "b"] * 10)
    with pytest.warns(UserWarning, match="strategy='resatt' has no effect"):
        HierarchicalTagger(strategy="resatt", **FAST).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default strategy says nothing
        HierarchicalTagger(**FAST).fit(X, y)


@pytest.mark.parametrize("kind", ["tagger", "baseline"])
def test_predict_labels_for_class_targets(xy, kind):
    X, _ = xy
    y = np.array(["cat", "dog"] * 10)
    model = _estimators()[kind].set_params(hierarchy=None).fit(X, y)
    labels = model.predict_labels(X)
    assert labels == [(c,) for c in model.predict(X)]
    assert model.target_type_ == "binary"


def test_batch_norm_with_a_last_batch_of_one(xy):
    X, Y = xy  # 20 samples, batch 19: the last training batch would hold one sample
    tagger = fit(X, Y, normalization="batch", batch_size=19, max_epochs=2)
    assert np.isfinite(tagger.predict_proba(X)).all()


def test_batch_norm_with_one_training_sample_is_named(xy):
    X, Y = xy
    with pytest.raises(ValueError, match="normalization='batch' needs at least 2 training"):
        fit(X[:1], Y[:1], normalization="batch")


def test_fit_takes_y_by_keyword(xy):
    X, Y = xy
    tagger = HierarchicalTagger(TREE, **FAST).fit(X, y=Y)
    assert tagger.target_type_ == "multilabel"


def test_attention_maps_follow_a_device_change(xy):
    X, Y = xy
    tagger = fit(X, Y, strategy="resatt")
    tagger.set_params(device="cpu:0")  # a different device string: the net must move
    maps = tagger.attention_maps(X)
    assert maps.shape == (20, 2, 3) and tagger.net_.device == "cpu:0"


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


@pytest.mark.parametrize(
    "params, match",
    [
        ({"inconsistent": "ignore"}, r"PerLevelClassifier: inconsistent must be one of"),
        ({"n_jobs": 1.5}, r"PerLevelClassifier: n_jobs must be None or an integer; got 1.5"),
    ],
)
def test_baseline_parameters_share_the_message_style(xy, params, match):
    from sk_hier import PerLevelClassifier

    X, Y = xy
    with pytest.raises(ValueError, match=match):
        PerLevelClassifier(hierarchy=TREE, **params).fit(X, Y)
