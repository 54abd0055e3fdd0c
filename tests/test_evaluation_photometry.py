"""
Tests of pais_deblend.evaluation.photometry and the Sersic scene helper.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.evaluation import (blendedness, flux_error_summary,
                                     median_error_ratio,
                                     reconstruction_error,
                                     relative_flux_error)
from pais_deblend.benchmark import make_sersic_scene
from pais_deblend.segmentation import SourceCutout


def test_scene_is_exact_sum_and_reproducible():
    image, sources, centers = make_sersic_scene((48, 40), 8, seed=5)
    total = np.zeros_like(image)
    for cutout in sources:
        total[cutout.slices] += cutout.data
    np.testing.assert_array_equal(total, image)
    assert centers.shape == (8, 2)
    image2, _, centers2 = make_sersic_scene((48, 40), 8, seed=5)
    np.testing.assert_array_equal(image, image2)
    np.testing.assert_array_equal(centers, centers2)
    # two sources are centred just outside the frame but put light in it
    outside = ((centers[:, 0] < -0.5) | (centers[:, 0] > 47.5)
               | (centers[:, 1] < -0.5) | (centers[:, 1] > 39.5))
    assert outside.sum() == 2
    assert all(sources[i].data.sum() > 0 for i in np.flatnonzero(outside))


def test_scene_bad_input():
    with pytest.raises(ValueError, match='shape must be a tuple'):
        make_sersic_scene((0, 10), 3, seed=0)
    with pytest.raises(ValueError, match='n_sources must be a non-negative'):
        make_sersic_scene((10, 10), -1, seed=0)
    image, sources, centers = make_sersic_scene((10, 10), 0, seed=0)
    assert sources == [] and centers.shape == (0, 2) and not image.any()


def test_relative_flux_error():
    assert relative_flux_error(110.0, 100.0) == pytest.approx(0.1)
    np.testing.assert_allclose(relative_flux_error([90, 100], [100, 50]),
                               [-0.1, 1.0])
    with pytest.raises(ValueError, match='true_flux must be nonzero'):
        relative_flux_error([1.0], [0.0])
    with pytest.raises(ValueError, match='recovered_flux has shape'):
        relative_flux_error([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match='recovered_flux must be finite'):
        relative_flux_error([np.nan], [1.0])
    with pytest.raises(TypeError, match='true_flux must hold real'):
        relative_flux_error([1.0], ['a'])


def test_reconstruction_error_arrays_and_cutouts():
    true = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert reconstruction_error(true, true) == 0.0
    assert reconstruction_error(true * 1.1, true) == pytest.approx(0.1)
    # cutouts in different boxes: union of boxes, zero outside each
    a = SourceCutout(np.array([[1.0, 1.0]]), (slice(0, 1), slice(0, 2)))
    b = SourceCutout(np.array([[1.0], [1.0]]), (slice(0, 2), slice(1, 2)))
    # a - b over the 2x2 union: [[1, 0], [0, -1]] -> L1 2 / ||b|| 2
    assert reconstruction_error(a, b) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='recovered_image has shape'):
        reconstruction_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match='true_image must have a positive'):
        reconstruction_error(np.ones(3), np.zeros(3))
    with pytest.raises(TypeError, match='both be SourceCutout'):
        reconstruction_error(a, np.ones((1, 2)))
    with pytest.raises(ValueError, match='true_image must be finite'):
        reconstruction_error(np.ones(2), np.array([1.0, np.inf]))


def test_blendedness():
    # isolated sources have zero blendedness; an equal overlapping pair
    # with identical profiles has 1/2
    frames = np.zeros((3, 6, 6))
    frames[0, 0:2, 0:2] = 1.0
    frames[1, 3:6, 3:6] = 2.0
    frames[2, 3:6, 3:6] = 2.0
    np.testing.assert_allclose(blendedness(frames), [0.0, 0.5, 0.5])
    # cutouts give the same answer as frames
    _, sources, _ = make_sersic_scene((40, 40), 6, seed=1)
    frames = np.array([s.to_frame((40, 40)) for s in sources])
    np.testing.assert_allclose(blendedness(sources, shape=(40, 40)),
                               blendedness(frames), rtol=1e-12, atol=1e-14)
    beta = blendedness(frames)
    assert np.all((beta >= 0) & (beta < 1))
    empty = np.zeros((1, 4, 4))
    assert np.isnan(blendedness(empty))[0]


def test_blendedness_bad_input():
    with pytest.raises(ValueError, match=r'source_images must be an \(N, h, w\)'):
        blendedness(np.ones((4, 4)))
    with pytest.raises(ValueError, match='source_images must be finite'):
        blendedness(np.full((1, 2, 2), np.nan))
    bad = SourceCutout(np.ones((2, 2)), (slice(0, 3), slice(0, 2)))
    with pytest.raises(ValueError, match=r'source_images\[0\]\.data has shape'):
        blendedness([bad])
    outside = SourceCutout(np.ones((2, 2)), (slice(0, 2), slice(9, 11)))
    with pytest.raises(ValueError, match='not a clipped'):
        blendedness([outside], shape=(10, 10))


def test_flux_error_summary():
    errors = np.array([0.01, -0.02, 0.1, -0.3, np.nan])
    beta = np.array([0.0, 0.005, 0.2, 0.9, 0.5])
    table = flux_error_summary(errors, beta, bins=(0, 0.01, 0.5, 1.0))
    assert list(table['n_sources']) == [2, 1, 1]
    assert table['median_abs_error'][0] == pytest.approx(0.015)
    assert table['bias'][0] == pytest.approx(-0.005)
    assert table.meta['n_sources'] == 4
    assert table.meta['median_abs_error'] == pytest.approx(0.06)
    empty = flux_error_summary([], [], bins=(0, 1))
    assert empty['n_sources'][0] == 0 and np.isnan(empty['bias'][0])
    with pytest.raises(ValueError, match='bins must be at least two'):
        flux_error_summary(errors, beta, bins=(0.5, 0.1))
    with pytest.raises(ValueError, match='values has shape'):
        flux_error_summary(errors, beta[:2])
    with pytest.raises(TypeError, match='name must be a non-empty string'):
        flux_error_summary(errors, beta, name='')
    # any binning quantity, e.g. pair separation in PSF FWHM
    by_separation = flux_error_summary(errors, [0.5, 1.5, 2.5, 3.5, 1.0],
                                       bins=(0, 1, 2, 4), name='separation')
    assert list(by_separation['n_sources']) == [1, 1, 2]
    assert by_separation.colnames[:2] == ['separation_min', 'separation_max']


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 1e4), st.floats(-0.5, 0.5))
def test_relative_error_roundtrip(flux, error):
    assert relative_flux_error(flux * (1 + error), flux) == pytest.approx(
        error, abs=1e-9)


def _slow_median_ratio_interval(ours, theirs, confidence, n_resamples,
                                seed):
    """The same paired bootstrap, one resample at a time."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ours), size=(n_resamples, len(ours)))
    ratios = []
    for draw in draws:
        denominator = np.median(np.abs(theirs[draw]))
        if denominator > 0:
            ratios.append(np.median(np.abs(ours[draw])) / denominator)
    tail = 50 * (1 - confidence)
    return np.percentile(ratios, [tail, 100 - tail])


def test_median_error_ratio_matches_a_slow_bootstrap():
    rng = np.random.default_rng(3)
    theirs = rng.normal(0, 0.2, 60)
    ours = 0.5 * theirs + rng.normal(0, 0.02, 60)
    ratio, low, high = median_error_ratio(ours, theirs, confidence=0.9,
                                          n_resamples=500, seed=4)
    assert ratio == pytest.approx(np.median(np.abs(ours))
                                  / np.median(np.abs(theirs)))
    assert [low, high] == pytest.approx(_slow_median_ratio_interval(
        ours, theirs, 0.9, 500, 4))
    assert low < ratio < high
    # the same seed, the same interval; a wider confidence, a wider one
    assert median_error_ratio(ours, theirs, confidence=0.9, n_resamples=500,
                              seed=4) == (ratio, low, high)
    _, low99, high99 = median_error_ratio(ours, theirs, confidence=0.99,
                                          n_resamples=500, seed=4)
    assert low99 <= low and high99 >= high


def test_median_error_ratio_pairs_and_edge_cases():
    # a non-finite error drops its pair from both methods
    ratio, _, _ = median_error_ratio([0.1, np.nan, 0.3], [0.2, 0.01, 0.6])
    assert ratio == pytest.approx(0.5)
    assert all(np.isnan(median_error_ratio([np.nan], [1.0])))
    assert all(np.isnan(median_error_ratio([0.1, 0.2], [0.0, 0.0])))
    # identical errors: ratio 1 in every resample
    assert median_error_ratio([0.1, -0.3, 0.2], [-0.1, 0.3, 0.2]) == (
        pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))
    errors = np.array([0.1, 0.2])
    median_error_ratio(errors, errors.copy())
    assert errors.tolist() == [0.1, 0.2]


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'errors': [0.1, 0.2], 'reference_errors': [0.1]}, ValueError,
     'errors has shape'),
    ({'errors': [[0.1]], 'reference_errors': [[0.1]]}, ValueError,
     'errors must be 1-D'),
    ({'errors': ['a'], 'reference_errors': [0.1]}, TypeError,
     'errors must hold real numbers'),
    ({'confidence': 1.0}, ValueError, r'confidence must be in \(0, 1\)'),
    ({'confidence': 0.0}, ValueError, 'confidence must be in'),
    ({'confidence': '0.9'}, TypeError, 'confidence must be a real number'),
    ({'confidence': float('nan')}, ValueError, 'confidence must be finite'),
    ({'n_resamples': 10}, ValueError, 'n_resamples must be an integer'),
    ({'n_resamples': 200.0}, ValueError, 'n_resamples must be an integer'),
])
def test_median_error_ratio_bad_input(kwargs, error, match):
    arguments = {'errors': [0.1, 0.2], 'reference_errors': [0.2, 0.3]}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        median_error_ratio(**arguments)


# errors far above the float underflow: scaling 5e-324 by 0.5 gives 0
_ERRORS = st.one_of(st.just(0.0), st.floats(1e-12, 1), st.floats(-1, -1e-12))


@settings(max_examples=30, deadline=None)
@given(st.lists(_ERRORS, min_size=1, max_size=30), st.floats(0.1, 10))
def test_median_error_ratio_scales(errors, factor):
    reference = np.asarray(errors)
    if np.median(np.abs(reference)) == 0:
        return
    ratio, low, high = median_error_ratio(factor * reference, reference,
                                          n_resamples=100)
    assert ratio == pytest.approx(factor)
    assert low <= ratio * (1 + 1e-9) and high >= ratio * (1 - 1e-9)
