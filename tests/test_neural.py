"""The neural surrogate: meta-training, adaptation, the on-disk cache (fingerprint, atomic
writes, stale / foreign / corrupt files, the training lock), the sampler option and the CLI."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from _optuna_helpers import make_prior, quadratic

from metahpo import EngineConfig, FloatParam, MetaEngine, PriorStudy, PriorTrial, SearchSpace
from metahpo._acqf import log_expected_improvement
from metahpo._neural import _TERM_VARIANCE, AdaptedPredictor, NeuralConfig, meta_train
from metahpo._neural_cache import TrainingLock, cache_path, fingerprint, load_cached, save_cached
from metahpo._prior import align_studies
from metahpo_cli import main
from optuna_meta import MetaSampler

SPACE = SearchSpace({"x": FloatParam(-2.0, 2.0), "y": FloatParam(0.0, 1.0)})
SMALL = NeuralConfig(max_epochs=6, steps_per_epoch=10, batch_tasks=4, batch_points=16, adapt_steps=5)


def f(cfg: dict, shift: float) -> float:
    return (cfg["x"] - shift) ** 2 + 0.3 * cfg["y"]


def priors(n_studies: int = 12, n: int = 30) -> list[PriorStudy]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_studies):
        shift = float(rng.normal(0.8, 0.2))
        cfgs = SPACE.decode(rng.random((n, SPACE.n_features)))
        out.append(PriorStudy(f"p{i}", tuple(PriorTrial(c, (f(c, shift),)) for c in cfgs), ("minimize",)))
    return out


def tasks() -> list[tuple[np.ndarray, np.ndarray]]:
    aligned, _ = align_studies(SPACE, priors(), "minimize")
    return [(a.X, a.z) for a in aligned]


def test_meta_training_learns_the_shared_structure_and_is_seeded() -> None:
    a = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=1)
    b = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=1)
    assert a.history == [{**r, "seconds": a.history[i]["seconds"]} for i, r in enumerate(b.history)]
    assert a.history[-1]["train_nll"] < a.history[0]["train_nll"]
    # Adapted to three points of a new task, its acquisition looks to the right of the best point
    # seen (x = 0), where the prior tasks had their optimum (x ~ 0.8), not at the edges.
    X_obs = SPACE.encode([{"x": -1.5, "y": 0.5}, {"x": 1.9, "y": 0.5}, {"x": 0.0, "y": 0.2}])
    values = np.array([f(c, 0.8) for c in SPACE.decode(X_obs)])
    z = (values.mean() - values) / values.std()
    pred = AdaptedPredictor(a, X_obs, z, np.empty((0, 2)), device=torch.device("cpu"), seed=0)
    xs = np.linspace(-2, 2, 41)
    mean, std = pred(torch.as_tensor(SPACE.encode([{"x": x, "y": 0.0} for x in xs])))
    log_ei = log_expected_improvement(mean, std, float(z.max()))
    assert 0.1 <= float(xs[int(log_ei.argmax())]) <= 1.6
    assert bool((std > 0).all())


def test_adaptation_does_not_restart_the_stream_of_the_suggestion_around_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The engine seeds torch with the suggestion's seed; a block inside it seeded with that seed
    # again would restart the stream, and a user's thread drawing from torch meanwhile would get
    # the same numbers twice.  The adaptation draws nothing, so its seed changes no result.
    import metahpo._neural
    from metahpo._runtime import derived_seed, seeded

    res = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=0)
    X_obs = SPACE.encode([{"x": -1.0, "y": 0.5}, {"x": 1.0, "y": 0.5}])
    z = np.array([-1.0, 1.0])
    P = torch.as_tensor(SPACE.encode([{"x": 0.0, "y": 0.9}]))
    cpu = torch.device("cpu")
    seeds: list[int] = []

    def recording(seed: int):  # type: ignore[no-untyped-def]
        seeds.append(seed)
        return seeded(seed)

    monkeypatch.setattr(metahpo._neural, "seeded", recording)
    with seeded(7):
        mean, std = AdaptedPredictor(res, X_obs, z, np.empty((0, 2)), device=cpu, seed=7)(P)
    assert seeds
    assert 7 not in seeds
    # another seed for the adaptation's block: the same prediction
    monkeypatch.setattr(metahpo._neural, "derived_seed", lambda *parts: derived_seed("other", *parts))
    with seeded(7):
        again = AdaptedPredictor(res, X_obs, z, np.empty((0, 2)), device=cpu, seed=7)(P)
    assert seeds[-1] != seeds[0]
    assert torch.equal(mean, again[0])
    assert torch.equal(std, again[1])


def test_pending_points_lose_their_uncertainty() -> None:
    res = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=0)
    X_obs = SPACE.encode([{"x": -1.0, "y": 0.5}, {"x": 1.0, "y": 0.5}])
    z = np.array([-1.0, 1.0])
    P = SPACE.encode([{"x": 0.0, "y": 0.9}])
    cpu = torch.device("cpu")
    free = AdaptedPredictor(res, X_obs, z, np.empty((0, 2)), device=cpu, seed=0)(torch.as_tensor(P))
    held = AdaptedPredictor(res, X_obs, z, P, device=cpu, seed=0)(torch.as_tensor(P))
    assert float(held[1][0]) < 0.5 * float(free[1][0])
    assert float(held[0][0]) == pytest.approx(float(free[0][0]), abs=1e-6)


def test_a_configuration_unlike_every_result_keeps_the_target_terms_uncertainty() -> None:
    # A meta-learnt kernel that ties every configuration to every other (constant features), as
    # the learned features tied an lcbench box corner to the target's poor results: the adapted
    # model must still be unsure far from the target's results, not only where the features differ.
    res = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=0)
    last = max(
        (k for k in res.state if k.startswith("net.") and k.endswith(".weight")),
        key=lambda k: int(k.split(".")[1]),
    )
    state = dict(res.state)
    state[last] = torch.zeros_like(state[last])
    state[last.replace("weight", "bias")] = torch.zeros_like(state[last.replace("weight", "bias")])
    tied = dataclasses.replace(res, state=state)
    X_obs = SPACE.encode([{"x": -2.0 + 0.1 * i, "y": 0.1 * (i % 3)} for i in range(8)])
    z = np.linspace(-1.0, 1.0, 8)
    pred = AdaptedPredictor(tied, X_obs, z, np.empty((0, 2)), device=torch.device("cpu"), seed=0)
    near, far = SPACE.encode([{"x": -1.65, "y": 0.1}]), SPACE.encode([{"x": 2.0, "y": 1.0}])
    with torch.no_grad():
        _, sd_near = pred(torch.as_tensor(near))
        _, sd_far = pred(torch.as_tensor(far))
    assert float(sd_far[0]) ** 2 >= _TERM_VARIANCE - 1e-3  # the term's variance, all of it
    assert float(sd_far[0]) > 2.0 * float(sd_near[0])


def test_cache_round_trip_and_every_bad_file_is_detected(tmp_path: Path) -> None:
    aligned, _ = align_studies(SPACE, priors(), "minimize")
    digest = fingerprint(SPACE, "minimize", aligned, SMALL)
    assert digest == fingerprint(SPACE, "minimize", list(reversed(aligned)), SMALL)
    assert digest != fingerprint(SPACE, "maximize", aligned, SMALL)
    assert digest != fingerprint(SPACE, "minimize", aligned[:-1], SMALL)
    # the same data under other names (an unnamed study's name is new in every process)
    renamed = [dataclasses.replace(s, name=f"no-name-{k}") for k, s in enumerate(aligned)]
    assert digest == fingerprint(SPACE, "minimize", renamed, SMALL)
    path = cache_path(tmp_path, digest)
    assert path.parent == tmp_path
    assert load_cached(path, digest) == (None, "missing")
    res = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=0)
    save_cached(path, res, digest, {})
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    before = torch.random.get_rng_state()
    loaded, reason = load_cached(path, digest)
    # loading leaves the caller's generator as training does (a seeded study must not depend on
    # whether its model was trained now or loaded from the cache)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert reason == "ok"
    assert loaded is not None
    assert all(torch.equal(loaded.state[k], v) for k, v in res.state.items())
    assert load_cached(path, "0" * 64)[1].startswith("stale")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert load_cached(path, digest)[1].startswith("corrupt")
    path.write_bytes(b"\x00garbage" * 50)
    assert load_cached(path, digest)[1].startswith("corrupt")
    torch.save({"format": "someone-else/3", "weights": torch.zeros(3)}, path)
    assert load_cached(path, digest)[1].startswith("foreign")
    torch.save(
        {
            **torch.load(tmp_path / path.name, weights_only=True),
            "format": "metahpo-dkgp/1",
            "fingerprint": digest,
        },
        path,
    )
    assert load_cached(path, digest)[1].startswith("corrupt")  # claims the format, lacks the fields


def test_interrupted_training_leaves_the_cache_untouched(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"previous contents")

    def interrupt(row: dict[str, float]) -> None:
        if row["epoch"] >= 2:
            raise KeyboardInterrupt

    engine = MetaEngine(priors(), EngineConfig(surrogate="neural", surrogate_cache=str(path)))
    with pytest.raises(KeyboardInterrupt):
        engine.train_neural(SPACE, "minimize", on_epoch=interrupt)
    assert path.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # lock released, no temp file


def test_training_lock_is_exclusive_and_a_stale_lock_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    with TrainingLock(path) as first:
        assert first.acquired
        with TrainingLock(path) as second:
            assert not second.acquired
    assert not (tmp_path / "m.pt.lock").exists()
    (tmp_path / "m.pt.lock").write_text("12345\n")
    os.utime(tmp_path / "m.pt.lock", (0, 0))  # left by a process that died long ago
    with TrainingLock(path) as third:
        assert third.acquired


def test_sampler_trains_once_caches_and_other_workers_wait_on_the_gp(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for i in range(4):
        make_prior(url, f"prior-{i}", 1.0 + 0.1 * i, n=25, seed=i)
    cache = tmp_path / "cache"
    src = [f"{url}::prior-*"]  # the targets below are in the same storage: keep the priors fixed
    study = optuna.create_study(
        storage=url,
        sampler=MetaSampler(source_studies=src, seed=0, surrogate="neural", surrogate_cache=str(cache)),
    )
    study.optimize(quadratic(1.1), n_trials=6)
    phases = [t.system_attrs.get("metahpo:phase") for t in study.trials]
    assert phases[3:] == ["neural"] * 3
    (model,) = cache.glob("dkgp-*.pt")
    stamp = model.stat().st_mtime_ns
    # A second sampler finds the cached model: no retraining.
    other = optuna.create_study(
        storage=url,
        sampler=MetaSampler(source_studies=src, seed=1, surrogate="neural", surrogate_cache=str(cache)),
    )
    other.optimize(quadratic(1.1), n_trials=5)
    assert model.stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [model.name]
    assert [t.system_attrs.get("metahpo:phase") for t in other.trials][3:] == ["neural"] * 2
    # While another process holds the training lock, the multi-task GP serves.
    model.unlink()
    Path(str(model) + ".lock").write_text("other worker\n")
    third = optuna.create_study(
        storage=url,
        sampler=MetaSampler(source_studies=src, seed=2, surrogate="neural", surrogate_cache=str(cache)),
    )
    third.optimize(quadratic(1.1), n_trials=5)
    assert [t.system_attrs.get("metahpo:phase") for t in third.trials][3:] == ["mtgp"] * 2
    assert any("another process is training" in r.getMessage() for r in metahpo_log.records)


def test_a_corrupt_model_file_is_reported_and_left_alone(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path / "cache"))
    prior = make_prior(None, "prior", 1.0, n=30)
    model = tmp_path / "model.pt"
    model.write_bytes(b"not a model")
    study = optuna.create_study(
        sampler=MetaSampler(source_studies=[prior], seed=0, surrogate="neural", surrogate_cache=str(model))
    )
    study.optimize(quadratic(1.0), n_trials=5)
    assert any(
        "is corrupt" in r.getMessage() and "left as it is" in r.getMessage() for r in metahpo_log.records
    )
    assert study.trials[-1].system_attrs["metahpo:phase"] == "neural"
    assert model.read_bytes() == b"not a model"  # the user's file is never overwritten
    assert len(list((tmp_path / "cache").glob("dkgp-*.pt"))) == 1


def test_a_cache_that_cannot_be_written_keeps_the_model_in_memory(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture
) -> None:
    prior = make_prior(None, "prior", 1.0, n=30)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    sampler = MetaSampler(
        source_studies=[prior], seed=0, surrogate="neural", surrogate_cache=str(blocker / "cache")
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.0), n_trials=6)
    # before, every model trial fell back to random; now the model is trained once and serves
    assert [t.system_attrs["metahpo:phase"] for t in study.trials][3:] == ["neural"] * 3
    messages = [r.getMessage() for r in metahpo_log.records]
    assert sum("cannot be written" in m and "kept in memory" in m for m in messages) == 1
    assert not any("falls back" in m for m in messages)
    assert blocker.read_text() == "not a folder"


def test_a_corrupt_cache_file_in_the_cache_folder_is_replaced(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture
) -> None:
    prior = make_prior(None, "prior", 1.0, n=30)
    folder = tmp_path / "cache"
    sampler = MetaSampler(source_studies=[prior], seed=0, surrogate="neural", surrogate_cache=str(folder))
    optuna.create_study(sampler=sampler).optimize(quadratic(1.0), n_trials=4)
    (cached,) = folder.glob("dkgp-*.pt")
    cached.write_bytes(b"truncated")
    sampler = MetaSampler(source_studies=[prior], seed=0, surrogate="neural", surrogate_cache=str(folder))
    optuna.create_study(sampler=sampler).optimize(quadratic(1.0), n_trials=4)
    assert any("is corrupt" in r.getMessage() and "retraining" in r.getMessage() for r in metahpo_log.records)
    assert load_cached(cached, "x")[1].startswith("stale")  # a real model file again


def test_auto_picks_the_neural_surrogate_for_large_knowledge_bases() -> None:
    assert EngineConfig().use_neural(2000)
    assert not EngineConfig().use_neural(1999)
    assert not EngineConfig(surrogate="mtgp").use_neural(10**6)
    assert EngineConfig(surrogate="neural").use_neural(0)
    with pytest.raises(ValueError, match="surrogate"):
        EngineConfig(surrogate="forest")


def test_cli_train_then_info_and_the_sampler_uses_the_trained_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for i in range(3):
        make_prior(url, f"xgb-{i}", 1.0 + 0.2 * i, n=20, seed=i)
    make_prior(url, "other-model", 0.0, n=5, seed=9)
    out = tmp_path / "model.pt"
    assert main(["train", "--storage", url, "--study-pattern", "xgb-*", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| epoch | train NLL | validation NLL | seconds |" in text
    assert "trained:" in text
    assert main(["train", "--storage", url, "--study-pattern", "xgb-*", "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["info", "--storage", url, "--study", "other-model"]) == 0
    info = capsys.readouterr().out
    assert "3 studies" in info  # the --study itself is not a prior
    assert "| xgb-0 | 20 | 0 | 1 | minimize | - | c, k, x, y |" in info
    assert "| xgb-1 | 20 | 0 | c, k, x, y |" in info  # aligned: 20 used, 0 skipped
    assert "alignment with other-model" in info
    assert main(["train", "--storage", url, "--out", str(tmp_path / "model.bin")]) == 2
    # --out where no file can be written: an error, not a model kept in memory
    (tmp_path / "a-file").write_text("not a folder")
    unwritable = ["train", "--storage", url, "--study-pattern", "xgb-*", "--force"]
    assert main([*unwritable, "--out", str(tmp_path / "a-file" / "model.pt")]) == 1
    assert "cannot write the model file" in capsys.readouterr().err
    # A study with the same priors and space loads the trained file instead of training.
    stamp = out.stat().st_mtime_ns
    sampler = MetaSampler(
        source_studies=[f"{url}::xgb-*"], seed=0, surrogate="neural", surrogate_cache=str(out)
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.2), n_trials=5)
    assert out.stat().st_mtime_ns == stamp
    assert study.trials[-1].system_attrs["metahpo:phase"] == "neural"


def test_new_priors_fine_tune_the_cached_model_within_bounded_epochs(tmp_path: Path) -> None:
    # A study finishes (one more prior): the model cached for the same space and settings is the
    # starting point, trained for a quarter of the epochs; the earlier file is kept.
    cache = tmp_path / "cache"
    config = EngineConfig(surrogate="neural", surrogate_cache=str(cache))
    first = MetaEngine(priors(6), config).train_neural(SPACE, "minimize")
    assert first.trained
    assert first.warm_start is None
    grown = MetaEngine(priors(7), config).train_neural(SPACE, "minimize")
    assert grown.trained
    assert grown.warm_start == first.path != grown.path
    assert grown.result is not None
    assert first.result is not None
    assert len(grown.result.history) == NeuralConfig().max_epochs // 4
    assert len(first.result.history) == NeuralConfig().max_epochs  # no early stop
    # the weights were loaded: the first epoch starts where the earlier model ended
    assert grown.result.history[0]["val_nll"] < first.result.history[0]["val_nll"]
    assert sorted(p.name for p in cache.glob("dkgp-*.pt")) == sorted(
        {Path(first.path).name, Path(grown.path).name}
    )
    # another direction is another family: trained from scratch
    other = MetaEngine(priors(7), config).train_neural(SPACE, "maximize")
    assert other.trained
    assert other.warm_start is None


def test_meta_training_refuses_a_warm_start_of_another_shape() -> None:
    res = meta_train(tasks(), SPACE.n_features, config=SMALL, seed=0)
    with pytest.raises(ValueError, match="init"):
        meta_train(tasks(), SPACE.n_features, config=NeuralConfig(max_epochs=3), seed=0, init=res)


def test_a_model_cached_by_an_earlier_version_under_its_old_name_is_found(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    config = EngineConfig(surrogate="neural", surrogate_cache=str(cache))
    first = MetaEngine(priors(6), config).train_neural(SPACE, "minimize")
    new = Path(first.path)
    old = new.with_name("dkgp-" + new.name.split("-")[2])  # dkgp-<digest[:20]>.pt
    new.rename(old)
    again = MetaEngine(priors(6), config).train_neural(SPACE, "minimize")
    assert not again.trained
    assert again.path == str(old)


def test_meta_training_runs_every_epoch_and_returns_the_last_epochs_weights() -> None:
    # No early stop: every epoch runs, and the weights are those the last epoch's validation NLL
    # was computed with (the held-out task of the seeded split), not an earlier epoch's.
    from metahpo._neural import DeepKernelGP

    # (with these settings and seed the held-out NLL is lowest at epoch 7 of 12)
    cfg = NeuralConfig(max_epochs=12, steps_per_epoch=10, batch_tasks=4, batch_points=16, adapt_steps=5)
    data = tasks()
    res = meta_train(data, SPACE.n_features, config=cfg, seed=1)
    assert len(res.history) == cfg.max_epochs
    assert min(res.history, key=lambda r: r["val_nll"])["epoch"] < cfg.max_epochs
    held_out = np.random.default_rng(1).permutation(len(data))[: len(data) // 10]
    model = DeepKernelGP(SPACE.n_features, cfg.hidden, cfg.features).double()
    model.load_state_dict(res.state)
    with torch.no_grad():
        nll = np.mean(
            [
                float(
                    model.nll(
                        torch.as_tensor(X[: 2 * cfg.batch_points])[None],
                        torch.as_tensor(z[: 2 * cfg.batch_points])[None],
                    )
                )
                for X, z in (data[i] for i in held_out)
            ]
        )
    assert nll == pytest.approx(res.history[-1]["val_nll"], rel=1e-9)


def test_the_scaling_benchmark_trains_and_times_a_small_knowledge_base() -> None:
    """``benchmarks/neural_scaling.py`` (the scaling figures of MEASUREMENTS.md) runs against the
    engine's current API: it trains the neural surrogate and times both surrogates' suggestions."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "neural_scaling.py"
    done = subprocess.run(
        [sys.executable, str(script), "--sizes", "200"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| 200 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "40"  # every epoch of the meta-training ran
    assert all(float(t) > 0 for c in cells[4:] for t in c.split(" / "))
