"""The stall rule behind both adapters' hedge (:func:`metahpo.stalled`)."""

from __future__ import annotations

import pytest

from metahpo import stalled


@pytest.mark.parametrize(
    ("values", "maximize", "n_params", "expected"),
    [
        ([5.0, 4.0, 3.0, 2.0, 1.0], False, 2, False),  # improving
        ([1.0, 2.0, 2.0, 2.0, 2.0], False, 2, True),  # 4 results without a new best
        ([1.0, 1.0, 1.0, 1.0, 1.0], False, 2, True),  # a tie is no new best
        ([1.0, 2.0, 2.0, 2.0, 0.5], False, 2, False),  # the last result is a new best
        ([1.0, 2.0, 2.0, 2.0, 2.0], True, 2, False),  # maximised: 2.0 was the new best
        ([1.0, 2.0, 2.0, 2.0, 2.0], False, 5, False),  # patience max(4, d) = 5: too few results
        ([1.0, 2.0, 2.0, 2.0, 2.0, 2.0], False, 5, True),
        ([1.0, 2.0, 2.0, 2.0], False, 2, False),  # fewer than patience + 1 results
    ],
)
def test_a_study_stalls_after_max_4_d_results_without_a_new_best(
    values: list[float], maximize: bool, n_params: int, expected: bool
) -> None:
    assert stalled(values, maximize, n_params) is expected


@pytest.mark.parametrize(
    ("values", "feasible", "expected"),
    [
        ([1.0, 2.0, 2.0, 2.0, 2.0], [True] * 5, True),  # all feasible: as without constraints
        ([5.0, 1.0, 1.0, 1.0, 1.0], [True, False, False, False, False], True),  # infeasible lows
        ([5.0, 4.0, 6.0, 6.0, 6.0], [True, True, False, False, False], False),  # 4.0: a new best
        ([5.0, 6.0, 6.0, 6.0, 6.0], [False, False, False, False, True], False),  # the first feasible
        ([5.0, 6.0, 6.0, 6.0, 6.0], [False] * 5, True),  # nothing feasible in the last 4
    ],
)
def test_in_a_constrained_study_only_a_feasible_result_is_a_new_best(
    values: list[float], feasible: list[bool], expected: bool
) -> None:
    assert stalled(values, False, 2, feasible) is expected


def test_stalled_rejects_feasibility_flags_that_do_not_match_the_values() -> None:
    with pytest.raises(ValueError, match="feasible has 2 flags for 5 values"):
        stalled([1.0] * 5, False, 2, [True, True])


@pytest.mark.parametrize(
    ("values", "maximize", "expected"),
    [
        ([[1.0, 1.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0]], [False, False], True),  # dominated
        ([[1.0, 1.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0], [1.0, 1.0]], [False, False], True),  # a tie
        ([[1.0, 1.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0], [0.0, 3.0]], [False, False], False),  # a new point
        ([[1.0, 1.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0]], [True, False], False),  # 2 > 1: new
    ],
)
def test_a_multi_objective_study_stalls_without_a_new_point_of_its_pareto_front(
    values: list[list[float]], maximize: list[bool], expected: bool
) -> None:
    assert stalled(values, maximize, 2) is expected


def test_an_infeasible_new_point_of_the_front_does_not_end_a_stall() -> None:
    values = [[1.0, 1.0], [2.0, 2.0], [2.0, 2.0], [2.0, 2.0], [0.0, 0.0]]
    assert stalled(values, [False, False], 2, [True, True, True, True, False]) is True
    assert stalled(values, [False, False], 2, [True] * 5) is False


def test_stalled_rejects_direction_flags_that_do_not_match_the_objectives() -> None:
    with pytest.raises(ValueError, match="maximize has 3 flags for 2 objectives"):
        stalled([[1.0, 1.0]] * 5, [False] * 3, 2)
