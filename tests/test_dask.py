"""joblib work on a Dask cluster gives the same numbers as local runs.

The cluster is a ``LocalCluster`` of 2 worker processes with 1 thread each, talking
TCP on 127.0.0.1 only, module-scoped and closed at the end of the module. Worker
processes, not threads: a fit seeds torch's process-wide generator, so two fits
running as threads of one process would interleave their random draws. Workers are
forked from a forkserver that has already imported sk_hier, torch and librosa,
which halves the start-up time on a small machine (spawned workers import them
each, concurrently).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_backend
from sklearn.model_selection import GridSearchCV

from sk_hier import HierarchicalTagger
from sk_hier._dask import scheduler_context

from .conftest import FAST

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


def _pin_torch_threads() -> int:
    import torch

    torch.set_num_threads(1)  # as the local runs (tests/conftest.py)
    return torch.get_num_threads()


@pytest.fixture(scope="module")
def client():
    import distributed.utils

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        ctx = distributed.utils.get_mp_context()
        ctx.set_forkserver_preload(["distributed", "sk_hier.tagger", "sk_hier.embeddings"])
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                memory_limit="2GiB",
            ) as cluster,
            distributed.Client(cluster, timeout="60s") as client,
        ):
            assert set(client.run(_pin_torch_threads).values()) == {1}
            yield client


def test_scheduler_context_none_changes_nothing():
    with scheduler_context(None) as c:
        assert c is None
        assert Parallel(n_jobs=1)(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="scheduler address"):
        with scheduler_context(" "):
            pass


def test_scheduler_context_connects_to_an_address(client):
    with scheduler_context(client.scheduler.address) as c:
        assert c.scheduler_info()["workers"].keys() == client.scheduler_info()["workers"].keys()
        pids = Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(8))
    assert os.getpid() not in pids  # the tasks ran in the worker processes
    assert client.status == "running"  # a cluster we did not start is left running


# Its scheduler's HTTP routes (no dashboard) find 8787, on 127.0.0.1, taken by the
# module's cluster, and move to a free port.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_scheduler_context_local_starts_and_closes_a_bounded_cluster(monkeypatch):
    started = []
    real_local_cluster = distributed.LocalCluster

    def fake_local_cluster(**kwargs):
        # Same settings, but thread workers: this test checks the wiring, not speed.
        started.append(kwargs)
        return real_local_cluster(**{**kwargs, "processes": False, "protocol": "tcp"})

    monkeypatch.setattr(distributed, "LocalCluster", fake_local_cluster)
    with scheduler_context("local") as c:
        assert Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
        assert len(c.scheduler_info()["workers"]) == 2
        cluster = c.cluster
    assert started == [
        dict(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            processes=True,
            dashboard_address=None,
        )
    ]
    assert cluster.status.name == "closed" and c.status == "closed"


def test_scheduler_context_says_how_to_install_distributed(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "dask\[distributed\]"'):
        with scheduler_context("local"):
            pass


def test_grid_search_on_dask_matches_local_run(client, data, tree):
    X, Y, _ = data
    grid = {"strategy": ["flat", "gmp", "resatt"]}
    tagger = HierarchicalTagger(tree, **dict(FAST, max_epochs=5))
    local = GridSearchCV(tagger, grid, cv=2, n_jobs=1).fit(X, Y)
    with parallel_backend("dask"), distributed.get_task_stream(client) as tasks:
        remote = GridSearchCV(tagger, grid, cv=2, n_jobs=2).fit(X, Y)
    assert len(tasks.data) >= 6  # the 3 x 2 fits ran on the workers
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> list[str]:
    """Six half-second tones with a little noise, as WAV files."""
    sf = pytest.importorskip("soundfile")
    folder = tmp_path_factory.mktemp("wavs")
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(sr // 2) / sr
    paths = []
    for i in range(6):
        y = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.05 * rng.standard_normal(t.size)
        paths.append(str(folder / f"clip{i}.wav"))
        sf.write(paths[-1], y.astype(np.float32), sr)
    return paths


def test_embedder_on_dask_matches_local_run(client, wavs):
    from sk_hier.embeddings import LogMelEmbedder

    local = LogMelEmbedder(n_jobs=1, batch_size=2).transform(wavs)
    with parallel_backend("dask"), distributed.get_task_stream(client) as tasks:
        remote = LogMelEmbedder(n_jobs=2, batch_size=2).transform(wavs)
    assert len(tasks.data) >= 3  # 6 clips in chunks of 2
    assert remote.shape == (6, local.shape[1])
    np.testing.assert_array_equal(remote, local)


def test_embed_command_runs_on_a_scheduler(client, wavs, tmp_path, capsys):
    from sk_hier.cli import main
    from sk_hier.embeddings import load_embeddings

    manifest = tmp_path / "clips.csv"
    manifest.write_text("path\n" + "\n".join(wavs) + "\n")
    common = ["embed", str(manifest), "--batch-size", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "local.npz")]) == 0
    with distributed.get_task_stream(client) as tasks:
        args = ["--scheduler", client.scheduler.address, "--n-jobs", "2"]
        assert main([*common, *args, "--out", str(tmp_path / "dask.npz")]) == 0
    assert len(tasks.data) >= 3
    remote, local = load_embeddings(tmp_path / "dask.npz"), load_embeddings(tmp_path / "local.npz")
    np.testing.assert_array_equal(remote.X, local.X)
    assert "6 clips" in capsys.readouterr().out
