"""Alignment of prior studies whose spaces differ from the target's, and scale-free objectives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metahpo import CategoricalParam, FloatParam, IntParam, PriorStudy, PriorTrial, SearchSpace
from metahpo._prior import align_studies, copula_scores

TARGET = SearchSpace(
    {
        "lr": FloatParam(1e-4, 1e-1, log=True),
        "depth": IntParam(1, 8),
        "booster": CategoricalParam(("gbtree", "dart")),
    }
)


def _study(name: str, rows: list[tuple[dict[str, object], float]], direction: str = "minimize") -> PriorStudy:
    return PriorStudy(name, tuple(PriorTrial(p, (v,)) for p, v in rows), (direction,))  # type: ignore[arg-type]


def test_shared_parameters_are_used_and_differences_counted() -> None:
    prior = _study(
        "p",
        [
            ({"lr": 1e-3, "depth": 3, "booster": "gbtree", "extra": 1}, 0.3),
            (
                {"lr": 1e-2, "depth": 9, "booster": "gblinear", "extra": 2},
                0.2,
            ),  # depth a bit out, foreign choice
            ({"lr": 5.0, "depth": 3, "booster": "dart"}, 0.1),  # lr far out of range
            ({"lr": "fast", "depth": 3, "booster": "dart"}, 0.1),  # type conflict
            ({"lr": 1e-3, "depth": 3, "booster": "dart"}, float("nan")),  # bad objective
            ({"lr": 2e-3, "depth": 2, "booster": "dart"}, 0.25),
        ],
    )
    aligned, report = align_studies(TARGET, [prior], "minimize")
    rep = report.studies[0]
    assert rep.n_used == 3
    assert dict(rep.skipped_trials) == {"out_of_range": 1, "type_conflict": 1, "bad_value": 1}
    assert rep.dropped == ["extra"]
    assert rep.foreign_choice_values == 1
    assert report.n_trials_skipped == 3
    X = aligned[0].X
    assert X.shape == (3, TARGET.n_features)
    # The foreign choice is the all-zero block; the slightly-out-of-range depth lies past 1.
    assert X[1, TARGET.feature_slice("booster")].tolist() == [0.0, 0.0]
    assert X[1, TARGET.feature_slice("depth")][0] > 1.0
    assert "3 prior trials skipped" in report.summary()


def test_missing_parameters_are_imputed_and_studies_without_overlap_skipped() -> None:
    partial = _study("partial", [({"lr": 1e-3, "depth": 2}, 1.0), ({"lr": 1e-2, "depth": 4}, 2.0)])
    foreign = _study("foreign", [({"units": 3}, 1.0), ({"units": 4}, 2.0)])
    low = _study("low", [({"lr": 1e-3}, 1.0), ({"lr": 1e-2}, 2.0)])
    aligned, report = align_studies(TARGET, [partial, foreign, low], "minimize", min_overlap=0.5)
    assert [a.name for a in aligned] == ["partial"]
    assert report.studies[0].imputed == ["booster"]
    assert aligned[0].X[:, TARGET.feature_slice("booster")].tolist() == [[0, 0], [0, 0]]
    assert [s.skipped_study for s in report.studies] == [None, "no_overlap", "low_overlap"]
    assert report.skip_reasons() == {"study:no_overlap": 2, "study:low_overlap": 2}


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([({"lr": 1e-3, "depth": 2, "booster": "dart"}, 1.0)], "too_few_trials"),
        ([({"lr": 1e-3, "depth": d, "booster": "dart"}, 1.0) for d in (1, 2, 3)], "constant_objective"),
    ],
)
def test_degenerate_studies_are_skipped_with_a_reason(rows: list, reason: str) -> None:
    _, report = align_studies(TARGET, [_study("s", rows)], "minimize")
    assert report.studies[0].skipped_study == reason


def test_multi_objective_priors_are_skipped() -> None:
    prior = PriorStudy("mo", (PriorTrial({"lr": 1e-3}, (1.0, 2.0)),), ("minimize", "maximize"))
    _, report = align_studies(TARGET, [prior], "minimize")
    assert report.studies[0].skipped_study == "multi_objective"


def test_multi_objective_priors_align_with_a_multi_objective_target() -> None:
    # objective 0 minimised, objective 1 maximised in the prior: scores are higher-is-better per objective
    values = [(1.0, 5.0), (2.0, 9.0), (3.0, 1.0), (0.5, 0.5)]
    trials = tuple(PriorTrial({"lr": 10.0 ** -(i + 1)}, v) for i, v in enumerate(values))
    prior = PriorStudy("mo", trials, ("minimize", "maximize"))
    single = PriorStudy("so", trials[:3], ("minimize",))
    aligned, report = align_studies(TARGET, [prior, single], "minimize", n_objectives=2, min_overlap=0.0)
    assert [a.name for a in aligned] == ["mo"]
    assert report.studies[1].skipped_study == "objective_count"
    Z = aligned[0].Z
    assert Z is not None
    assert Z.shape == (4, 2)
    assert np.argmax(Z[:, 0]) == 3  # the smallest first objective
    assert np.argmax(Z[:, 1]) == 1  # the largest second objective
    # z ranks by how many trials dominate each one: (3.0, 1.0) is dominated by (1.0, 5.0) and (2.0, 9.0)
    assert np.argmin(aligned[0].z) == 2
    assert aligned[0].z[0] == aligned[0].z[1] == aligned[0].z[3]  # the Pareto front ties


def test_direction_and_scale_do_not_matter_after_the_copula() -> None:
    cfgs = [{"lr": 10 ** (-4 + 0.5 * i), "depth": i + 1, "booster": "dart"} for i in range(6)]
    loss = [0.9, 0.5, 0.2, 0.1, 0.3, 0.8]
    a = _study("loss", list(zip(cfgs, loss, strict=True)), "minimize")
    # The same study measured as accuracy in percent: other direction, other scale.
    b = _study("acc", list(zip(cfgs, [100 * (1 - v) for v in loss], strict=True)), "maximize")
    aligned, _ = align_studies(TARGET, [a, b], "minimize")
    np.testing.assert_allclose(aligned[0].z, aligned[1].z)
    assert int(np.argmax(aligned[0].z)) == 3  # the lowest loss scores highest


def test_priors_without_direction_take_the_target_direction() -> None:
    rows = [
        ({"lr": 1e-3, "depth": 1, "booster": "dart"}, 1.0),
        ({"lr": 1e-2, "depth": 2, "booster": "dart"}, 2.0),
    ]
    prior = PriorStudy("t", tuple(PriorTrial(p, (v,)) for p, v in rows), None)
    (aligned,), _ = align_studies(TARGET, [prior], "maximize")
    assert aligned.z[1] > aligned.z[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_copula_is_monotone_centred_and_bounded(values: list[float]) -> None:
    v = np.asarray(values)
    z = copula_scores(v, "maximize")
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 1e-9 or len(set(values)) < len(values)
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(z[order]) >= -1e-12)
    np.testing.assert_allclose(copula_scores(v, "minimize"), -z, atol=1e-12)
    from scipy.special import ndtri

    assert np.all(np.abs(z) <= ndtri(1.0 - 0.5 / v.size) + 1e-12)  # bounded by the extreme rank


def test_copula_rejects_non_finite_values() -> None:
    with pytest.raises(ValueError, match="values must be a finite 1-d array"):
        copula_scores(np.array([1.0, np.nan]), "minimize")


def test_standardised_scores_keep_magnitudes_and_direction() -> None:
    from metahpo._prior import standardised_scores

    z = standardised_scores(np.array([1.0, 2.0, 10.0]), "minimize")
    assert z.mean() == pytest.approx(0.0)
    assert z.std() == pytest.approx(1.0)
    assert z[0] > z[1] > z[2]  # lower is better when minimising
    assert (z[0] - z[1]) < (z[1] - z[2])  # the outlier stays far away (a copula would space them evenly)
    np.testing.assert_array_equal(standardised_scores(np.array([3.0, 3.0]), "maximize"), [0.0, 0.0])
    np.testing.assert_array_equal(standardised_scores(np.array([3.0]), "maximize"), [0.0])


def test_aligned_rows_are_what_the_space_encodes_and_bad_values_give_their_reason() -> None:
    space = SearchSpace(
        {
            "lr": FloatParam(1e-5, 1e-1, log=True),
            "x": FloatParam(-3.0, 3.0),
            "s": FloatParam(0.0, 1.0, step=0.1),
            "k": IntParam(1, 12),
            "units": IntParam(16, 1024, log=True),
            "c": CategoricalParam(("a", 1, True, None)),
            "fixed": FloatParam(2.0, 2.0),
        }
    )
    rng = np.random.default_rng(0)
    cfgs = space.decode(rng.random((300, space.n_features)))
    cfgs = [{**c, "x": np.float32(c["x"])} if i % 3 == 0 else c for i, c in enumerate(cfgs)]  # numpy scalars
    study = PriorStudy("p", tuple(PriorTrial(c, (float(i),)) for i, c in enumerate(cfgs)), ("minimize",))
    (aligned,), _ = align_studies(space, [study], "minimize")
    np.testing.assert_array_equal(aligned.X, space.encode(cfgs))  # bit for bit
    base = dict(cfgs[0])
    bad = [
        ({**base, "lr": "fast"}, "type_conflict"),
        ({**base, "x": float("inf")}, "bad_param"),
        ({**base, "lr": -1e-3}, "out_of_range"),
        ({**base, "k": 40}, "out_of_range"),
        ({**base, "lr": "fast", "k": 40}, "type_conflict"),  # the first parameter in the space's order
        ({**base, "k": True}, "type_conflict"),  # a bool is no number
    ]
    good = [({**base, "c": "unknown"}, 1.0), ({**base, "k": 13}, 2.0)]  # a foreign choice; a little out
    rows = [*((c, float(i)) for i, (c, _) in enumerate(bad)), *((c, 10 + v) for c, v in good)]
    (aligned,), report = align_studies(space, [_study("q", rows)], "minimize")
    (rep,) = report.studies
    assert dict(rep.skipped_trials) == {"type_conflict": 3, "bad_param": 1, "out_of_range": 2}
    assert rep.foreign_choice_values == 1
    assert aligned.X.shape[0] == 2
    assert aligned.X[0, space.feature_slice("c")].sum() == 0.0  # unknown choice: all zeros
    assert aligned.X[1, space.feature_slice("k")][0] > 1.0


def test_average_ranks_are_scipys() -> None:
    from scipy.stats import rankdata

    from metahpo._prior import average_ranks

    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100):
        for v in (rng.random(n), rng.integers(0, 3, n).astype(float)):
            np.testing.assert_array_equal(average_ranks(v), rankdata(v, method="average") - 1.0)
