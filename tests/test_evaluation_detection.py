"""
Tests of pais_deblend.evaluation.detection.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pais_deblend.evaluation import detection_scores, match_sources


def _brute_force_max_matches(predicted, true, radius):
    """Largest number of one-to-one pairs within radius (tiny inputs)."""
    import itertools

    if len(predicted) > len(true):
        predicted, true = true, predicted
    best = 0
    # every injective assignment of the (fewer) predictions to true sources
    for perm in itertools.permutations(range(len(true)), len(predicted)):
        count = sum(np.hypot(*(predicted[p] - true[t])) <= radius
                    for p, t in enumerate(perm))
        best = max(best, count)
    return best


def test_simple_matching():
    predicted = [[0.0, 0.0], [10.0, 10.0], [50.0, 50.0]]
    true = [[0.5, 0.0], [10.0, 11.0], [30.0, 30.0]]
    matches = match_sources(predicted, true, max_distance=1.5)
    np.testing.assert_array_equal(matches.predicted_indices, [0, 1])
    np.testing.assert_array_equal(matches.true_indices, [0, 1])
    np.testing.assert_allclose(matches.distances, [0.5, 1.0])
    np.testing.assert_array_equal(matches.unmatched_predicted, [2])
    np.testing.assert_array_equal(matches.unmatched_true, [2])
    scores = detection_scores(predicted, true, max_distance=1.5)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)
    assert (scores.n_true_positive, scores.n_false_positive,
            scores.n_false_negative) == (2, 1, 1)


def test_one_to_one_prefers_more_matches_over_greedy():
    # greedy nearest would pair prediction 0 with true 1 (distance 0.5)
    # and leave true 0 unmatched; the optimal matching pairs both
    predicted = [[0.0, 1.0], [0.0, 2.2]]
    true = [[0.0, 0.0], [0.0, 1.5]]
    matches = match_sources(predicted, true, max_distance=1.0)
    assert len(matches.true_indices) == 2
    np.testing.assert_array_equal(matches.predicted_indices, [0, 1])


def test_zero_distance_pairs_are_matched():
    matches = match_sources([[3.0, 4.0]], [[3.0, 4.0]], max_distance=0.0)
    np.testing.assert_array_equal(matches.true_indices, [0])
    assert matches.distances[0] == 0


def test_psf_fwhm_radius():
    scores = detection_scores([[0.0, 0.0]], [[0.0, 2.5]], psf_fwhm=2.0,
                              fwhm_factor=1.5)
    assert scores.max_distance == 3.0
    assert scores.f1 == 1.0
    scores = detection_scores([[0.0, 0.0]], [[0.0, 2.5]], psf_fwhm=2.0)
    assert scores.f1 == 0.0


@pytest.mark.parametrize('n_pred, n_true, expected', [
    (0, 0, (1.0, 1.0, 1.0)),
    (0, 3, (1.0, 0.0, 0.0)),
    (2, 0, (0.0, 1.0, 0.0)),
])
def test_empty_inputs(n_pred, n_true, expected):
    rng = np.random.default_rng(0)
    scores = detection_scores(rng.uniform(0, 10, (n_pred, 2)),
                              rng.uniform(0, 10, (n_true, 2)),
                              max_distance=1.0)
    assert (scores.precision, scores.recall, scores.f1) == expected
    matches = match_sources(np.empty((n_pred, 2)), [], max_distance=1.0)
    assert len(matches.unmatched_predicted) == n_pred


def test_components_match_global_assignment():
    # many clustered sources: the component split must equal one dense
    # assignment in the number of matches and the total distance
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(3)
    true = rng.uniform(0, 40, (60, 2))
    predicted = np.concatenate([true[:50] + rng.normal(0, 1.0, (50, 2)),
                                rng.uniform(0, 40, (15, 2))])
    radius = 2.0
    matches = match_sources(predicted, true, max_distance=radius)
    distance = np.hypot(*(predicted[:, None] - true[None]).transpose(2, 0, 1))
    big = 1e6
    cost = np.where(distance <= radius, distance, big)
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < big
    assert len(matches.true_indices) == ok.sum()
    assert matches.distances.sum() == pytest.approx(cost[rows, cols][ok].sum())
    assert np.all(matches.distances <= radius)
    assert len(set(matches.predicted_indices)) == len(matches.predicted_indices)


points = arrays(np.float64, st.tuples(st.integers(0, 5), st.just(2)),
                elements=st.floats(0, 6, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(points, points, st.floats(0.0, 3.0))
def test_scores_properties(predicted, true, radius):
    scores = detection_scores(predicted, true, max_distance=radius)
    for value in (scores.precision, scores.recall, scores.f1):
        assert 0.0 <= value <= 1.0
    assert (scores.n_true_positive + scores.n_false_positive
            == len(predicted))
    assert scores.n_true_positive + scores.n_false_negative == len(true)
    assert scores.n_true_positive == _brute_force_max_matches(
        predicted, true, radius)


@settings(max_examples=30, deadline=None)
@given(points)
def test_perfect_match_gives_one(true):
    scores = detection_scores(true, true, max_distance=0.5)
    # duplicated positions still match one-to-one
    assert scores.f1 == 1.0
    assert scores.precision == scores.recall == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match='max_distance must be >= 0'):
        match_sources([[0, 0]], [[0, 0]], max_distance=-1.0)
    with pytest.raises(ValueError, match='max_distance must be finite'):
        match_sources([[0, 0]], [[0, 0]], max_distance=np.inf)
    with pytest.raises(ValueError, match='exactly one of max_distance'):
        match_sources([[0, 0]], [[0, 0]])
    with pytest.raises(ValueError, match='exactly one of max_distance'):
        match_sources([[0, 0]], [[0, 0]], max_distance=1.0, psf_fwhm=2.0)
    with pytest.raises(ValueError, match='psf_fwhm must be > 0'):
        detection_scores([[0, 0]], [[0, 0]], psf_fwhm=0.0)
    with pytest.raises(ValueError, match=r'predicted_xy must have shape \(N, 2\)'):
        match_sources([[0, 0, 0]], [[0, 0]], max_distance=1.0)
    with pytest.raises(ValueError, match='true_xy must be finite'):
        match_sources([[0, 0]], [[np.nan, 0]], max_distance=1.0)
    with pytest.raises(TypeError, match='true_xy must hold real numbers'):
        match_sources([[0, 0]], [['a', 'b']], max_distance=1.0)
    with pytest.raises(TypeError, match='predicted_xy must be an'):
        match_sources(None, [[0, 0]], max_distance=1.0)
