"""
Tests of pais_deblend.evaluation.flux_conservation.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.evaluation import flux_conservation
from pais_deblend.segmentation import PartialSegmentationImage


def _segmentation(weights, contributors=None):
    weights = np.asarray(weights, dtype=np.float32)
    if contributors is None:
        contributors = np.where(weights > 0,
                                np.arange(1, weights.shape[-1] + 1), 0)
    return PartialSegmentationImage(np.asarray(contributors, dtype=np.int32),
                                    weights, check=False)


def test_exact_partition_conserves_flux():
    contributors = np.array([[[1, 0], [1, 2], [2, 0]]])
    weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0]]])
    segmentation = _segmentation(weights, contributors)
    data = np.array([[3.0, -2.0, 5.0]])
    assert flux_conservation(segmentation, data) == 0.0
    # agrees with summing the per-source images explicitly
    total = np.zeros_like(data)
    for cutout in segmentation.source_images(data).values():
        total[cutout.slices] += cutout.data
    np.testing.assert_allclose(total, data)


def test_lost_flux_and_unattributed_pixels():
    # pixel 1 keeps only 60 % of its flux; pixel 2 is unattributed and
    # pixel 3 is NaN, so both are left out of the sums
    contributors = np.array([[[1], [1], [0], [1]]])
    weights = np.array([[[1.0], [0.6], [0.0], [1.0]]])
    segmentation = _segmentation(weights, contributors)
    data = np.array([[2.0, 10.0, 100.0, np.nan]])
    assert flux_conservation(segmentation, data) == pytest.approx(
        4.0 / 12.0, rel=1e-6)
    # multi-band data: the same weights for every band
    cube = np.stack([data, 2 * data], axis=-1)
    assert flux_conservation(segmentation, cube) == pytest.approx(
        4.0 / 12.0, rel=1e-6)


def test_nothing_attributed():
    segmentation = _segmentation(np.zeros((2, 2, 3)))
    assert flux_conservation(segmentation, np.ones((2, 2))) == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_random_valid_weights_conserve_to_float_rounding(seed, n):
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0, 1, (9, 7, n)) * (rng.uniform(size=(9, 7, n)) > 0.3)
    sums = raw.sum(axis=-1, keepdims=True)
    weights = np.divide(raw, sums, out=np.zeros_like(raw), where=sums > 0)
    labels = np.argsort(rng.uniform(size=(9, 7, 6)), axis=-1)[..., :n] + 1
    segmentation = _segmentation(weights.astype(np.float32),
                                 np.where(weights > 0, labels, 0))
    data = rng.normal(0, 10, (9, 7))
    assert flux_conservation(segmentation, data) <= 1e-6


def test_bad_input():
    segmentation = _segmentation(np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match='data has shape'):
        flux_conservation(segmentation, np.ones((3, 2)))
    with pytest.raises(ValueError, match='data must be 2 or 3-dimensional'):
        flux_conservation(segmentation, np.ones(6))
    with pytest.raises(TypeError, match='must be a PartialSegmentationImage'):
        flux_conservation(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError, match='data must hold real numbers'):
        flux_conservation(segmentation, np.full((2, 3), 'a'))
