"""Model files from elsewhere: crafted ``.skops`` and pickle files never run code.

Each crafted file starts as a legitimate ``sk_hier.save`` output whose ``schema.json``
is then edited: one attribute of the tagger becomes a node that, if skops built it,
would create a marker file. The control test shows that skops itself, told to trust
what the file names, does run every payload, so the files are real attacks; the
other tests show sk_hier refuses each one, with a message, through ``load``,
``read_metadata`` and ``sk-hier tag``.
"""

from __future__ import annotations

import io
import json
import pickle
import shlex
import sys
import time
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sk_hier import (
    BottomUpClassifier,
    HierarchicalTagger,
    PerLevelClassifier,
    TopDownClassifier,
    TunedThresholds,
)
from sk_hier.cli import main
from sk_hier.datasets import make_hierarchical_multilabel
from sk_hier.metrics import make_hierarchical_scorer
from sk_hier.persistence import load, read_metadata, save

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
TINY = dict(hidden_dims=(8,), max_epochs=2, lr=5e-3, random_state=0)
POPEN = "torch.distributed.elastic.multiprocessing.subprocess_handler.subprocess_handler.Popen"


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def small():
    return make_hierarchical_multilabel(120, TREE, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def tagger_file(small, tmp_path_factory) -> Path:
    X, Y, tree = small
    tagger = HierarchicalTagger(tree, **TINY).fit(X, Y)
    return save(tagger, tmp_path_factory.mktemp("base") / "tagger.skops")


# -- crafting files -------------------------------------------------------------------
def _json(value) -> dict:
    content = json.dumps(value)
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": content, "is_json": True}  # fmt: skip


def _arg(value) -> dict:
    if isinstance(value, dict):  # already a node
        return value
    if isinstance(value, list):
        return {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                "content": [_arg(v) for v in value]}  # fmt: skip
    return _json(value)


def _call(qualname: str, *args) -> dict:
    """A node that makes skops call ``qualname(*args)`` while it builds the model."""
    module, _, name = qualname.rpartition(".")
    content = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
               "content": [_arg(a) for a in args]}  # fmt: skip
    return {"__class__": name, "__module__": module,
            "__loader__": "ConstructorFromReduceNode", "content": content}  # fmt: skip


class _Payload:
    """Pickles to ``exec(code)``: what an attacker puts in a pickle."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def _touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _net_object(marker: Path) -> tuple[dict, dict]:
    """A trusted class rebuilt the wrong way: a skorch net as an *object* unpickles the
    bytes of its ``__cuda_dependent_attributes__`` (sk_hier writes nets as types)."""
    attrs = {
        "device": _json("cpu"),
        "__cuda_dependent_attributes__": {
            "__class__": "bytes", "__module__": "builtins", "__loader__": "BytesNode",
            "file": "payload.bin",
        },
    }  # fmt: skip
    str_type = {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    key_types = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                 "content": [str_type, str_type]}  # fmt: skip
    content = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
               "content": attrs, "key_types": key_types}  # fmt: skip
    node = {"__class__": "TaggerNet", "__module__": "sk_hier._net", "__loader__": "ObjectNode",
            "content": content}  # fmt: skip
    return node, {"payload.bin": pickle.dumps(_Payload(_touch(marker)))}


def _payload(kind: str, marker: Path, folder: Path) -> tuple[dict, dict]:
    """``(node, extra archive members)`` for one attack; ``marker`` appears if it runs."""
    code = _touch(marker)
    command = [sys.executable, "-c", code]
    if kind == "sklearn.check_output":
        return _call("sklearn.utils._testing.check_output", command), {}
    if kind == "numpy.load":
        pickled = folder / "data.npy"
        pickled.write_bytes(pickle.dumps(_Payload(code)))
        return _call("numpy.load", str(pickled), None, True), {}
    if kind == "torch.Popen":
        return _call(POPEN, command), {}
    if kind == "sk_hier.function":
        return _call("sk_hier._io.atomic_write", str(marker), "x"), {}
    if kind == "skorch.function":
        # multi_indexing(data, i, indexing) returns indexing(data, i): a trampoline.
        runner = {"__class__": "check_output", "__module__": "sklearn.utils._testing",
                  "__loader__": "FunctionNode"}  # fmt: skip
        return _call("skorch.utils.multi_indexing", command, -1, runner), {}
    if kind == "builtins.eval":
        return _call("builtins.eval", code), {}
    if kind == "os.system":
        return _call("os.system", shlex.join(command)), {}
    assert kind == "net-as-object"
    return _net_object(marker)


ATTACKS = [
    "sklearn.check_output",
    "numpy.load",
    "torch.Popen",
    "sk_hier.function",
    "skorch.function",
    "builtins.eval",
    "os.system",
    "net-as-object",
]
# What the refusal names: the callable, or the trusted class in its wrong form.
NAMED = {
    "sklearn.check_output": "sklearn.utils._testing.check_output",
    "numpy.load": "numpy.load",
    "torch.Popen": POPEN,
    "sk_hier.function": "sk_hier._io.atomic_write",
    "skorch.function": "skorch.utils.multi_indexing",
    "builtins.eval": "builtins.eval",
    "os.system": "os.system",
    "net-as-object": "sk_hier._net.TaggerNet with ObjectNode",
}


def _craft(base: Path, kind: str, folder: Path) -> tuple[Path, Path]:
    """A copy of ``base`` whose tagger holds the attack ``kind``; and the marker path."""
    marker = folder / f"pwned-{kind}"
    node, extra = _payload(kind, marker, folder)
    with zipfile.ZipFile(base) as src:
        members = {name: src.read(name) for name in src.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"]["threshold"] = node  # the tagger's attribute dict
    members["schema.json"] = json.dumps(schema).encode()
    path = folder / f"crafted-{kind}.skops"
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in {**members, **extra}.items():
            dst.writestr(name, data)
    return path, marker


def _ran(marker: Path, kind: str) -> bool:
    # A process started by Popen writes its marker a moment later.
    deadline = time.monotonic() + (3.0 if kind == "torch.Popen" else 0.0)
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return marker.exists()


# -- the attacks are real --------------------------------------------------------------
@pytest.mark.parametrize("kind", ATTACKS)
def test_crafted_files_run_code_when_their_names_are_trusted(tagger_file, tmp_path, kind):
    # Control: skops itself, trusting what the file names (as a prefix rule did), runs
    # the payload. Without this the refusals below could pass on harmless files.
    path, marker = _craft(tagger_file, kind, tmp_path)
    try:
        sio.load(path, trusted=sio.get_untrusted_types(file=path))
    except Exception:  # the payload runs before the rest of the model is built
        pass
    assert _ran(marker, kind)


# -- and sk_hier refuses them ------------------------------------------------------------
@pytest.mark.parametrize("kind", ATTACKS)
def test_load_refuses_crafted_skops_files(tagger_file, tmp_path, kind):
    path, marker = _craft(tagger_file, kind, tmp_path)
    with pytest.raises(ValueError) as err:
        load(path)
    msg = str(err.value)
    assert str(path) in msg and NAMED[kind] in msg
    assert "could run code" in msg and "trusted=" in msg
    assert not _ran(marker, kind)


@pytest.mark.parametrize("kind", ATTACKS)
def test_read_metadata_never_builds_the_model(tagger_file, tmp_path, kind):
    path, marker = _craft(tagger_file, kind, tmp_path)
    assert read_metadata(path)["model_class"] == "sk_hier.tagger.HierarchicalTagger"
    assert not _ran(marker, kind)


@pytest.mark.parametrize("kind", ATTACKS)
def test_cli_tag_refuses_crafted_skops_files(tagger_file, tmp_path, capsys, kind):
    path, marker = _craft(tagger_file, kind, tmp_path)
    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"never read: the model is refused first")
    assert main(["tag", str(path), str(audio), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "sk-hier tag: error:" in err and NAMED[kind] in err and "Traceback" not in err
    assert not _ran(marker, kind)


@pytest.fixture
def evil_pickle(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned-pickle"
    path = tmp_path / "model.joblib"
    joblib.dump(_Payload(_touch(marker)), path)
    return path, marker


def test_pickle_payload_is_real(evil_pickle):
    path, marker = evil_pickle
    joblib.load(path)  # control: unpickling runs it
    assert marker.exists()


def test_pickles_are_refused_by_default(evil_pickle, capsys):
    path, marker = evil_pickle
    for read in (load, read_metadata):
        with pytest.raises(ValueError, match="is a pickle file") as err:
            read(path)
        assert str(path) in str(err.value) and "allow_pickle=True" in str(err.value)
    audio = path.with_name("clip.wav")
    audio.write_bytes(b"never read")
    assert main(["tag", str(path), str(audio), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "is a pickle file" in err and "--allow-pickle" in err
    assert not marker.exists()


def test_tag_help_says_pickles_need_an_opt_in(capsys):
    with pytest.raises(SystemExit):
        main(["tag", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--allow-pickle" in out and "refused unless --allow-pickle" in out


# -- legitimate files still load ---------------------------------------------------------
class UserScaler(TransformerMixin, BaseEstimator):
    """A user's own transformer: not on sk_hier's list."""

    def fit(self, X, y=None):
        self.scale_ = np.abs(np.asarray(X)).max(axis=0) + 1.0
        return self

    def transform(self, X):
        return np.asarray(X) / self.scale_


def _models(tree):
    lr = LogisticRegression(max_iter=300)
    scorer = make_hierarchical_scorer("map")
    search = GridSearchCV(BottomUpClassifier(lr, hierarchy=tree), {"threshold": [0.3, 0.5]},
                          cv=KFold(2), scoring=scorer)  # fmt: skip
    return {
        "tagger": HierarchicalTagger(tree, **TINY),
        "resatt": HierarchicalTagger(tree, strategy="resatt", **TINY),
        "pipeline": make_pipeline(StandardScaler(), PCA(4), HierarchicalTagger(tree, **TINY)),
        "tuned": TunedThresholds(HierarchicalTagger(tree, **TINY), cv=2),
        "per_level": PerLevelClassifier(lr, hierarchy=tree),
        "top_down": TopDownClassifier(lr, hierarchy=tree),
        "bottom_up": BottomUpClassifier(lr, hierarchy=tree),
        "search": search,
    }


@pytest.mark.parametrize("name", list(_models(None)))
def test_saved_models_round_trip_identically(small, tmp_path, name):
    X, Y, tree = small
    model = _models(tree)[name].fit(X, Y)
    again = load(save(model, tmp_path / f"{name}.skops"))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_trusted_names_a_type_knowingly(small, tmp_path):
    X, Y, tree = small
    pipe = make_pipeline(UserScaler(), BottomUpClassifier(LogisticRegression(), hierarchy=tree))
    path = save(pipe.fit(X, Y), tmp_path / "pipe.skops")
    name = f"{__name__}.UserScaler"
    with pytest.raises(ValueError, match="does not trust") as err:
        load(path)
    assert name in str(err.value) and f"trusted=[{name!r}]" in str(err.value)
    again = load(path, trusted=[name])
    np.testing.assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))


# -- damaged files: messages, not tracebacks ------------------------------------------------
def _rewrite(path: Path, edit) -> None:
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    edit(members)
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)


def _first_weight(members: dict) -> dict:
    schema = json.loads(members["schema.json"])
    net = _net_node(schema)["content"]["content"]
    weights = net["weights"]["content"]["module"]["content"]
    return next(iter(weights.values()))["content"]["content"]


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _wrong_shape(members):
    members[_first_weight(members)["array"]["file"]] = _npy(np.zeros((3, 3), np.float32))


def _missing_array(members):
    del members[_first_weight(members)["array"]["file"]]


def _net_node(schema):
    """The schema node of the tagger's (first) net."""
    return schema["content"]["content"]["nets_"]["content"][0]


def _bad_dtype(members):
    schema = json.loads(members["schema.json"])
    entry = _net_node(schema)["content"]["content"]["weights"]
    tensor = next(iter(entry["content"]["module"]["content"].values()))
    tensor["content"]["content"]["dtype"] = _json("load")
    members["schema.json"] = json.dumps(schema).encode()


def _meta(**changes):
    def edit(members):
        meta = json.loads(members["sk_hier_metadata.json"])
        meta.update(changes)
        members["sk_hier_metadata.json"] = json.dumps(meta).encode()

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (_wrong_shape, r"weight module\.\S+ has shape \(3, 3\) but the network .* needs"),
        (_missing_array, r"damaged or incomplete \(the archive member '\d+\.npy' is missing\)"),
        (_bad_dtype, "a stored tensor has an unknown dtype 'load'"),
        (_meta(format_version="1"), r"format_version '1' \(str\), where sk_hier.save writes"),
        (_meta(format_version=True), r"format_version True \(bool\)"),
        (_meta(format_version=None), r"format_version None \(NoneType\)"),
    ],
)
def test_damaged_files_are_clear_errors(tagger_file, tmp_path, edit, message):
    path = tmp_path / "damaged.skops"
    path.write_bytes(tagger_file.read_bytes())
    _rewrite(path, edit)
    with pytest.raises(ValueError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "device, missing",
    [("cuda", torch.cuda.is_available()), ("mps", torch.backends.mps.is_available())],
)
def test_a_device_this_machine_lacks_is_refused_before_reading(tmp_path, device, missing):
    if missing:
        pytest.skip(f"this machine has {device}")
    # The file does not even exist: the device is checked first, before any work.
    with pytest.raises(ValueError, match=f"device='{device}' was asked for, but .* not avail"):
        load(tmp_path / "absent.skops", device=device)


def test_a_saved_device_missing_here_falls_back_to_cpu(tagger_file, tmp_path, small):
    def edit(members):
        schema = json.loads(members["schema.json"])
        schema["content"]["content"]["device"] = _json("mps:3")
        state = _net_node(schema)["content"]["content"]["state"]
        state["content"]["device"] = _json("mps:3")
        members["schema.json"] = json.dumps(schema).encode()

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    path = tmp_path / "mps.skops"
    path.write_bytes(tagger_file.read_bytes())
    _rewrite(path, edit)
    with pytest.warns(UserWarning, match="saved for device 'mps:3'.*loaded on 'cpu'"):
        again = load(path)
    assert again.device == "cpu"
    np.testing.assert_array_equal(
        again.predict_proba(small[0]), load(tagger_file).predict_proba(small[0])
    )
