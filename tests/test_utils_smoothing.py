"""The parallel Gaussian smoothing against scipy.ndimage."""

import numpy as np
import pytest
from scipy import ndimage

from pais_deblend.utils._numba_serial import SERIAL_PIXELS
from pais_deblend.utils._smoothing import gaussian_weights, smooth_gaussian


@pytest.mark.parametrize('sigma', [0.4, 1.0, 2.3])
def test_weights_are_scipys_kernel(sigma):
    weights = gaussian_weights(sigma)
    radius = int(4.0 * sigma + 0.5)
    assert weights.shape == (2 * radius + 1,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)
    # the response of scipy's filter to a unit impulse is its kernel
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    expected = ndimage.gaussian_filter1d(impulse, sigma, mode='constant')
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize(('shape', 'sigma'), [
    ((37, 53), 1.0), ((5, 3), 1.5), ((1, 40), 0.7), ((600, 700), 2.3)])
def test_smoothing_matches_scipy(dtype, shape, sigma):
    """Serial (small frames) and parallel (600 x 700 > SERIAL_PIXELS)
    kernels, edges included."""
    rng = np.random.default_rng(shape[0])
    image = rng.normal(size=shape).astype(dtype)
    before = image.copy()
    result = smooth_gaussian(image, sigma)
    expected = ndimage.gaussian_filter(image, sigma, mode='constant')
    assert result.dtype == dtype
    tolerance = 2e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(result, expected, rtol=0, atol=tolerance)
    np.testing.assert_array_equal(image, before)


def test_parallel_and_serial_kernels_agree():
    from pais_deblend.utils import _smoothing_kernels as kernels

    rng = np.random.default_rng(3)
    image = rng.normal(size=(SERIAL_PIXELS // 256 + 7, 256))
    weights = gaussian_weights(1.0)
    for kernel in (kernels.smooth_rows, kernels.smooth_columns):
        parallel = np.empty_like(image)
        serial = np.empty_like(image)
        kernel(image, weights, parallel)
        kernel.serial_twin(image, weights, serial)
        np.testing.assert_array_equal(parallel, serial)


def test_zero_sigma_is_a_copy_and_other_dtypes_are_float64():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    copy = smooth_gaussian(image, 0)
    np.testing.assert_array_equal(copy, image)
    assert copy is not image
    integers = smooth_gaussian(np.ones((9, 9), dtype=np.int16), 1.0)
    assert integers.dtype == np.float64
    assert integers[4, 4] == pytest.approx(1.0)


def test_fortran_ordered_input():
    rng = np.random.default_rng(5)
    image = np.asfortranarray(rng.normal(size=(31, 17)))
    np.testing.assert_allclose(
        smooth_gaussian(image, 1.0),
        ndimage.gaussian_filter(image, 1.0, mode='constant'), atol=1e-15)


def test_scale_and_out():
    rng = np.random.default_rng(7)
    image = rng.normal(size=(40, 30))
    expected = ndimage.gaussian_filter(image, 1.0, mode='constant') / 3.0
    scaled = smooth_gaussian(image, 1.0, scale=1 / 3.0)
    np.testing.assert_allclose(scaled, expected, rtol=0, atol=1e-15)
    out = np.empty(image.shape, dtype=np.float32)
    assert smooth_gaussian(image, 1.0, scale=1 / 3.0, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-7)
    zero = smooth_gaussian(image, 0, scale=2.0)
    np.testing.assert_array_equal(zero, 2.0 * image)
