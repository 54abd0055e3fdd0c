"""Tests of find_centers (PCR decoding step 1)."""

import numpy as np
import pytest

from pais_deblend.pcr import encode_pcr, find_centers
from pais_deblend.pcr import _reference as reference
from pais_deblend.pcr.peaks import _peaks_from_candidates


def gaussian_map(shape, centers, sigma=8.0):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape)
    for cy, cx in centers:
        out = np.maximum(out, np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                     / (2 * sigma ** 2)))
    return out


def test_subpixel_gaussian_peaks_are_exact():
    centers = np.array([[10.3, 12.8], [30.55, 40.1], [25.0, 9.5]])
    found = find_centers(gaussian_map((48, 56), centers, sigma=3.0))
    # raster order of the integer peaks
    expected = centers[np.lexsort((np.round(centers[:, 1]),
                                   np.round(centers[:, 0])))]
    np.testing.assert_allclose(found, expected, atol=1e-9)
    assert found.dtype == np.float64 and found.shape == (3, 2)


def test_encoded_center_of_mass_gives_true_centres():
    rng = np.random.default_rng(3)
    centers = np.column_stack([rng.uniform(5, 95, 12), rng.uniform(5, 75, 12)])
    # well separated: drop pairs closer than 6 px
    keep = [0]
    for i in range(1, len(centers)):
        if np.all(np.hypot(*(centers[keep] - centers[i]).T) > 6):
            keep.append(i)
    centers = centers[keep]
    images = np.zeros((len(centers), 100, 80))
    pcr = encode_pcr(images, centers, sigma=8.0)
    found = find_centers(pcr.center_of_mass)
    assert len(found) == len(centers)
    for cy, cx in centers:
        distance = np.hypot(found[:, 0] - cy, found[:, 1] - cx).min()
        assert distance < 1e-3  # float32 map, log-parabola refinement


def test_plateau_gives_one_peak_at_its_centre():
    image = np.zeros((20, 20))
    image[5:8, 10:14] = 1.0  # 3 x 4 plateau
    found = find_centers(image)
    np.testing.assert_allclose(found, [[6.0, 11.5]])
    # a plateau wider than the suppression window still gives one peak
    image = np.zeros((10, 40))
    image[4, 2:35] = 0.8
    found = find_centers(image, min_separation=1)
    np.testing.assert_allclose(found, [[4.0, 18.0]])


def test_saturated_plateau_of_a_network_like_map():
    image = gaussian_map((40, 40), [[20.2, 19.7]], sigma=6.0)
    image = np.minimum(image * 1.2, 1.0)  # clipped top: a plateau
    found = find_centers(image)
    assert len(found) == 1
    np.testing.assert_allclose(found[0], [20.2, 19.7], atol=0.35)


@pytest.mark.parametrize('position', [(0, 7), (14, 7), (7, 0), (7, 19),
                                      (0, 0), (14, 19)])
def test_edge_and_corner_peaks_are_found(position):
    image = gaussian_map((15, 20), [position], sigma=3.0)
    found = find_centers(image)
    np.testing.assert_allclose(found, [position], atol=1e-9)


def test_off_frame_source_gives_edge_peak():
    image = gaussian_map((15, 20), [(-3.0, 8.4)], sigma=8.0)
    found = find_centers(image)
    assert len(found) == 1
    assert found[0, 0] == 0.0  # no refinement across the edge
    assert abs(found[0, 1] - 8.4) < 1e-6


def test_threshold_and_suppression():
    image = gaussian_map((30, 30), [(10, 10)], sigma=3.0)
    image += 0.4 * gaussian_map((30, 30), [(22, 22)], sigma=3.0)
    assert len(find_centers(image)) == 1
    assert len(find_centers(image, threshold=0.3)) == 2
    # two equal peaks 2 px apart: one survives a window of 2, both of 1
    image = np.zeros((9, 9))
    image[4, 3] = image[4, 5] = 1.0
    assert len(find_centers(image, min_separation=2)) == 1
    np.testing.assert_allclose(find_centers(image, min_separation=2),
                               [[4.0, 3.0]])
    assert len(find_centers(image, min_separation=1)) == 2


def test_nan_pixels_and_no_peaks():
    image = gaussian_map((20, 20), [(5, 5), (14, 14)], sigma=2.0)
    image[5, 5] = np.nan
    found = find_centers(image)
    assert len(found) >= 1
    assert np.all(np.isfinite(found))
    assert np.hypot(*(found - [14, 14]).T).min() < 1e-9
    empty = find_centers(np.zeros((8, 8)))
    assert empty.shape == (0, 2) and empty.dtype == np.float64
    assert find_centers(np.full((4, 4), np.nan)).shape == (0, 2)


def test_input_not_modified_and_float32_or_int_accepted():
    image = gaussian_map((20, 20), [(5.3, 8.6)], sigma=2.0).astype(np.float32)
    copy = image.copy()
    found = find_centers(image)
    np.testing.assert_array_equal(image, copy)
    np.testing.assert_allclose(found, [[5.3, 8.6]], atol=1e-4)
    integer = np.zeros((5, 5), dtype=np.int16)
    integer[2, 2] = 3
    np.testing.assert_array_equal(find_centers(integer, threshold=1,
                                               subpixel=False), [[2, 2]])


def test_peak_grouping_with_reference_candidates():
    rng = np.random.default_rng(0)
    image = np.round(rng.random((25, 25)) * 4) / 4
    candidates = reference.reference_local_maxima(image, 0.5, 2)
    expected = _peaks_from_candidates(image, candidates, 2, True)
    np.testing.assert_array_equal(find_centers(image), expected)
    # suppression leaves no two peaks within the window (no plateaus here,
    # so the unrefined peaks are the integer peak pixels)
    image = rng.random((25, 25))
    rep = find_centers(image, subpixel=False)
    assert len(rep) > 3
    for i in range(len(rep)):
        for j in range(i + 1, len(rep)):
            assert np.abs(rep[i] - rep[j]).max() > 2


@pytest.mark.parametrize('kwargs, error, match', [
    ({'center_of_mass': np.zeros(5)}, ValueError, 'center_of_mass must be 2'),
    ({'center_of_mass': np.zeros((3, 3, 3))}, ValueError,
     'center_of_mass must be 2'),
    ({'center_of_mass': np.zeros((0, 4))}, ValueError,
     'center_of_mass must not be empty'),
    ({'center_of_mass': 'image'}, TypeError, 'center_of_mass must be an'),
    ({'threshold': np.nan}, ValueError, 'threshold must be finite'),
    ({'threshold': 'high'}, TypeError, 'threshold must be a real'),
    ({'min_separation': 0}, ValueError, 'min_separation must be a positive'),
    ({'min_separation': 1.5}, TypeError, 'min_separation must be a positive'),
    ({'subpixel': 'yes'}, TypeError, 'subpixel must be a bool'),
])
def test_bad_input(kwargs, error, match):
    arguments = {'center_of_mass': np.zeros((4, 4))}
    arguments.update(kwargs)
    image = arguments.pop('center_of_mass')
    with pytest.raises(error, match=match):
        find_centers(image, **arguments)
