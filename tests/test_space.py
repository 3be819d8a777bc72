"""Search-space encoding: exact round trips, snapping and validation."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metahpo import CategoricalParam, FloatParam, IntParam, SearchSpace
from metahpo._space import merge_spaces


@st.composite
def params(draw: st.DrawFn) -> FloatParam | IntParam | CategoricalParam:
    kind = draw(st.sampled_from(["float", "floatlog", "floatstep", "int", "intlog", "intstep", "cat"]))
    if kind == "cat":
        choices = draw(
            st.lists(
                st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3)),
                min_size=1,
                max_size=5,
                unique_by=lambda c: (type(c).__name__, c),
            )
        )
        return CategoricalParam(tuple(choices))
    if kind.startswith("int"):
        low = draw(st.integers(1 if kind == "intlog" else -50, 50))
        high = low + draw(st.integers(0, 200))
        step = draw(st.integers(1, 7)) if kind == "intstep" else 1
        return IntParam(low, high, log=kind == "intlog", step=step)
    if kind == "floatlog":
        low = draw(st.floats(1e-6, 10.0))
        return FloatParam(low, low * draw(st.floats(1.0, 1e4)), log=True)
    low = draw(st.floats(-100, 100))
    high = low + draw(st.floats(0.0, 100.0))
    step = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0])) if kind == "floatstep" else None
    return FloatParam(low, high, step=step)


@st.composite
def spaces(draw: st.DrawFn) -> SearchSpace:
    ps = draw(st.lists(params(), min_size=1, max_size=5))
    return SearchSpace({f"p{i}": p for i, p in enumerate(ps)})


@settings(max_examples=200, deadline=None)
@given(spaces(), st.integers(0, 2**31 - 1))
def test_decode_encode_roundtrips_exactly(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    configs = space.decode(rng.uniform(-0.2, 1.2, size=(8, space.n_features)))
    for cfg in configs:
        for name, v in cfg.items():
            assert space.contains(name, v), (name, v, space.params[name])
    again = space.decode(space.encode(configs))
    for a, b in zip(configs, again, strict=True):
        for name, p in space.params.items():
            # Types survive: ints stay int, floats stay float, choices keep their own type.
            assert type(a[name]) is type(b[name])
            if isinstance(p, FloatParam) and p.step is None:
                assert b[name] == pytest.approx(a[name], rel=1e-12, abs=1e-12)
            else:  # grid values (ints, steps, choices) round-trip exactly
                assert b[name] == a[name]


@settings(max_examples=200, deadline=None)
@given(spaces(), st.integers(0, 2**31 - 1))
def test_snap_equals_encode_of_decode(space: SearchSpace, seed: int) -> None:
    X = np.random.default_rng(seed).uniform(-0.3, 1.3, size=(16, space.n_features))
    np.testing.assert_allclose(space.snap(X), space.encode(space.decode(X)), atol=1e-6)


def test_encoding_layout_and_values() -> None:
    space = SearchSpace(
        {
            "lr": FloatParam(1e-4, 1e-1, log=True),
            "layers": IntParam(1, 4),
            "act": CategoricalParam(("relu", "tanh", "gelu")),
        }
    )
    assert space.n_features == 5
    X = space.encode([{"lr": 1e-4, "layers": 4, "act": "tanh"}])
    np.testing.assert_allclose(X, [[0.0, 7 / 8, 0.0, 1.0, 0.0]])
    # An int grid point owns an interval of equal width: 1 -> [0, .25), ..., 4 -> [.75, 1].
    assert [space.decode(np.array([[0.5, u, 1, 0, 0]]))[0]["layers"] for u in (0.0, 0.26, 0.99)] == [
        1,
        2,
        4,
    ]


def test_out_of_range_values_encode_outside_the_cube() -> None:
    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    assert space.encode_value("x", 1.5)[0] == pytest.approx(1.5)
    assert space.decode(np.array([[1.5]]))[0]["x"] == 1.0


def test_categorical_choices_are_type_aware() -> None:
    p = CategoricalParam((1, True, "1", None, 1.5))
    assert [p.index(v) for v in (1, True, "1", None, 1.5, np.int64(1), 2)] == [0, 1, 2, 3, 4, 0, None]


def test_off_grid_high_moves_down_like_optuna() -> None:
    assert IntParam(-10, 10, step=3).high == 8
    assert FloatParam(-1, 1, step=0.3).high == pytest.approx(0.8)
    assert FloatParam(-10.2, 10.2, step=0.1).high == pytest.approx(10.2)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: FloatParam(1.0, 0.0), "FloatParam.low"),
        (lambda: FloatParam(0.0, 1.0, log=True), "FloatParam.low"),
        (lambda: FloatParam(0.0, math.inf), "FloatParam.low/high"),
        (lambda: FloatParam(0.0, 1.0, step=-1.0), "FloatParam.step"),
        (lambda: FloatParam(0.01, 1.0, log=True, step=0.1), "FloatParam.low"),
        (lambda: IntParam(0, 10, log=True), "IntParam.low"),
        (lambda: IntParam(1, 10, step=0), "IntParam.step"),
        (lambda: CategoricalParam(()), "CategoricalParam.choices"),
        (lambda: CategoricalParam(("a", "a")), "CategoricalParam.choices"),
        (lambda: SearchSpace({"": FloatParam(0, 1)}), "SearchSpace.params"),
    ],
)
def test_bad_definitions_name_the_field(make: object, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()  # type: ignore[operator]


def test_encode_rejects_wrong_types_with_the_parameter_name() -> None:
    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    with pytest.raises(ValueError, match=r"params\['x'\] must be a real number"):
        space.encode([{"x": "abc"}])
    with pytest.raises(ValueError, match="must hold parameter 'x'"):
        space.encode([{}])


def test_merge_spaces_unites_ranges_and_choices() -> None:
    a = SearchSpace({"x": FloatParam(0.0, 1.0), "c": CategoricalParam(("a", "b"))})
    b = SearchSpace({"x": FloatParam(-1.0, 0.5), "c": CategoricalParam(("b", "z")), "y": IntParam(1, 3)})
    m = merge_spaces([a, b])
    assert m.params["x"] == FloatParam(-1.0, 1.0)
    assert m.params["c"] == CategoricalParam(("a", "b", "z"))
    assert m.params["y"] == IntParam(1, 3)


def _nested_space() -> SearchSpace:
    # model in {svm, tree}; C only under svm; tree has a kernel-like choice "split" whose "depth"
    # only exists under split == "deep"
    return SearchSpace(
        {
            "model": CategoricalParam(("svm", "tree")),
            "C": FloatParam(0.0, 10.0),
            "split": CategoricalParam(("flat", "deep")),
            "depth": IntParam(1, 9),
            "x": FloatParam(-1.0, 1.0),
        },
        conditions={
            "C": [[("model", "svm")]],
            "split": [[("model", "tree")]],
            "depth": [[("model", "tree"), ("split", "deep")]],
        },
    )


def test_inactive_conditional_parameters_are_encoded_as_unset() -> None:
    space = _nested_space()
    cfgs = [
        {"model": "svm", "C": 8.0, "split": "deep", "depth": 9, "x": 0.5},
        {"model": "tree", "C": 8.0, "split": "deep", "depth": 9, "x": 0.5},
        {"model": "tree", "C": 8.0, "split": "flat", "depth": 9, "x": 0.5},
    ]
    E = space.encode(cfgs)
    before = E.copy()
    X = space.impute_inactive(E)
    np.testing.assert_array_equal(E, before)  # a copy: the input is left as it was
    as_unset = space.encode_partial(
        [
            {"model": "svm", "C": 8.0, "x": 0.5},
            {"model": "tree", "split": "deep", "depth": 9, "x": 0.5},
            {"model": "tree", "split": "flat", "x": 0.5},
        ]
    )
    np.testing.assert_array_equal(X, as_unset)
    # rows already encoded as unset stay as they are
    np.testing.assert_array_equal(space.impute_inactive(as_unset), as_unset)


def test_conditions_are_part_of_the_space_identity_and_are_validated() -> None:
    space = _nested_space()
    plain = SearchSpace(dict(space.params))
    assert space.signature() != plain.signature()
    assert plain.signature() == tuple(plain.params.items())  # unconditional spaces keep their identity
    assert not plain.conditions
    bad = {
        "conditions['nope']": {"nope": [[("model", "svm")]]},
        "parameter of the space": {"C": [[("x", 0.0)]]},
        "not a choice": {"C": [[("model", "forest")]]},
        "non-empty sequence": {"C": []},
        "pairs": {"C": [["model"]]},
        "circular": {"split": [[("model", "tree")]], "model": [[("split", "flat")]]},
        "alternatives": {"C": 5},
        "each alternative": {"C": [5]},
    }
    for rule, conditions in bad.items():
        with pytest.raises(ValueError, match=re.escape(rule)):
            SearchSpace(dict(space.params), conditions=conditions)
    with pytest.raises(ValueError, match=r"SearchSpace\.conditions must be a mapping"):
        SearchSpace(dict(space.params), conditions=None)  # type: ignore[arg-type]
    # pairs may be lists (as read from JSON)
    assert SearchSpace(dict(space.params), conditions={"C": [[["model", "svm"]]]}).conditions == {
        "C": ((("model", "svm"),),)
    }


def test_a_log_range_too_narrow_for_its_logarithms_round_trips_exactly() -> None:
    # log(5.250000000000001) == log(5.25) in floating point: encoded linearly, both ends survive
    space = SearchSpace({"p": FloatParam(5.25, 5.250000000000001, log=True)})
    for v in (5.25, 5.250000000000001):
        X = space.encode([{"p": v}])
        assert np.isfinite(X).all()
        assert space.decode(X)[0]["p"] == v
        assert space.decode(space.snap(X))[0]["p"] == v


def test_a_float_grid_on_the_log_scale() -> None:
    # Hyperopt's qloguniform: the multiples of 2 from 2 to 64, modelled on the log scale
    space = SearchSpace({"q": FloatParam(2.0, 65.0, log=True, step=2.0)})
    assert space.params["q"].high == 64.0  # moved down onto the grid, as Optuna does
    u = np.linspace(0.0, 1.0, 201)[:, None]
    values = [c["q"] for c in space.decode(u)]
    assert set(values) == {2.0 * k for k in range(1, 33)}  # every grid value, nothing else
    # the log scale: half the unit interval lies below the geometric middle (about 11.3)
    assert sum(v <= 12.0 for v in values) > 90
    np.testing.assert_allclose(space.snap(u), space.encode(space.decode(u)))  # snapping is decoding
