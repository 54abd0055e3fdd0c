"""
The PCR numba kernels against their pure-NumPy references on random
inputs (exact equality: both compute the same float64 expressions).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.pcr import _decode_kernels, _encode_kernels, _index
from pais_deblend.pcr import _peak_kernels
from pais_deblend.pcr import _reference as reference
from pais_deblend.pcr import encode_pcr
from pais_deblend.segmentation._reference import dominant_labels_reference
from pais_deblend.utils import _numba_serial


@pytest.fixture(params=['serial', 'parallel'])
def kernel_path(request, monkeypatch):
    """Run a test through the serial twins (the small frames here take
    them) and again through the parallel kernels."""
    if request.param == 'parallel':
        monkeypatch.setattr(_numba_serial, 'SERIAL_PIXELS', -1)
    return request.param


def random_centers(rng, n_centers, shape, *, outside=5.0, integer=False):
    height, width = shape
    centers = np.column_stack([
        rng.uniform(-outside, height - 1 + outside, n_centers),
        rng.uniform(-outside, width - 1 + outside, n_centers)])
    if integer:  # many exact distance ties
        centers = np.round(centers)
    return centers


def random_images(rng, centers, shape):
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    images = []
    for cy, cx in centers:
        scale = rng.uniform(0.8, 4.0)
        image = rng.uniform(0.1, 10) * np.exp(
            -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * scale ** 2))
        image[image < 1e-2] = 0.0  # plenty of zero-flux pixels
        images.append(image)
    return np.array(images).reshape(len(centers), height, width)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('k', [1, 3])
def test_nearest_centers_matches_reference(seed, k, kernel_path):
    rng = np.random.default_rng(seed)
    shape = (23, 31)
    n_centers = [1, 2, 7, 40][seed]
    centers = random_centers(rng, n_centers, shape, integer=seed % 2 == 0)
    if seed == 3:
        centers[5] = centers[4]  # duplicate centre
    # small tiles and margin exercise the tiling and the linear fallback
    for tile in (1.0, 4.0, 50.0):
        index = _index.TileIndex(centers, shape, k, tile=tile, margin=0.5)
        result = _index.nearest_centers(*shape, k, *index.arguments)
        expected = reference.reference_nearest_centers(shape, k, centers)
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize('seed', range(3))
def test_draw_center_of_mass_matches_reference(seed):
    rng = np.random.default_rng(seed)
    shape = (30, 26)
    centers = random_centers(rng, 6, shape, outside=10)
    sigma, radius = rng.uniform(1, 5), rng.uniform(2, 12)
    order = np.argsort(centers[:, 0], kind='stable')
    result = _encode_kernels.draw_center_of_mass(
        *shape, np.ascontiguousarray(centers[order]), sigma, radius)
    expected = reference.reference_draw_center_of_mass(shape, centers,
                                                       sigma, radius)
    np.testing.assert_array_equal(result, expected)


def _kernel_decode(vectors, maps, valid, logits, centers, tile=8.0,
                   margin=32.0):
    index = _index.TileIndex(centers, maps.shape[:2], 1, tile=tile,
                             margin=margin)
    contributors = np.empty(maps.shape, dtype=np.int32)
    weights = np.empty(maps.shape, dtype=np.float32)
    dominant = np.empty(maps.shape[:2], dtype=np.int32)
    _decode_kernels.decode(vectors, maps, valid, logits,
                           *index.decode_arguments, contributors, weights,
                           dominant)
    # the kernel's dominant map follows PartialSegmentationImage's rule
    np.testing.assert_array_equal(
        dominant, dominant_labels_reference(contributors, weights))
    return contributors, weights


def random_pcr_arrays(rng, shape, n, n_centers, *, logits, integer=False):
    height, width = shape
    centers = random_centers(rng, n_centers, shape, outside=8,
                             integer=integer)
    # targets near the centres, anywhere in and around the frame, and far
    # away (fallback path)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pick = rng.integers(0, n_centers, size=(height, width, n))
    targets = centers[pick] + rng.normal(0, 3, size=(height, width, n, 2))
    wild = rng.random((height, width, n)) < 0.2
    targets[wild] = rng.uniform(-60, max(shape) + 60, size=(wild.sum(), 2))
    if integer:
        targets = np.round(targets)
    vectors = (targets - np.stack([yy, xx], axis=-1)[:, :, None, :])
    vectors = vectors.astype(np.float32)
    if logits:
        maps = rng.normal(0, 3, size=(height, width, n)).astype(np.float32)
        special = rng.random(maps.shape)
        maps[special < 0.03] = np.nan
        maps[(special >= 0.03) & (special < 0.05)] = -np.inf
        maps[(special >= 0.05) & (special < 0.06)] = np.inf
    else:
        maps = rng.random((height, width, n)).astype(np.float32)
        maps[rng.random(maps.shape) < 0.3] = 0.0
        maps /= np.maximum(maps.sum(axis=-1, keepdims=True), 1e-30)
        maps[rng.random(maps.shape) < 0.02] = np.nan
        maps[rng.random(maps.shape) < 0.02] = -0.5
    vectors[rng.random((height, width, n)) < 0.02, 0] = np.nan
    valid = rng.random(shape) > 0.1
    return vectors, maps, valid, centers


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('logits', [False, True])
def test_decode_matches_reference(seed, logits, kernel_path):
    rng = np.random.default_rng(seed)
    shape = (19, 27)
    n = [1, 2, 3, 3, 4, 5][seed]
    n_centers = [1, 3, 9, 25, 4, 12][seed]
    vectors, maps, valid, centers = random_pcr_arrays(
        rng, shape, n, n_centers, logits=logits, integer=seed % 2 == 1)
    expected = reference.reference_decode(vectors, maps, valid, logits,
                                          centers)
    for tile, margin in ((8.0, 32.0), (1.0, 0.5), (3.0, 2.0)):
        result = _kernel_decode(vectors, maps, valid, logits, centers,
                                tile=tile, margin=margin)
        np.testing.assert_array_equal(result[0], expected[0])
        np.testing.assert_array_equal(result[1], expected[1])


def test_decode_kernel_ties_go_to_lower_label():
    # the target (0, 1) is equidistant from both centres
    centers = np.array([[0.0, 2.0], [0.0, 0.0]])
    vectors = np.zeros((1, 3, 1, 2), dtype=np.float32)
    vectors[0, :, 0, 1] = [1.0, 0.0, -1.0]  # all target x = 1
    maps = np.ones((1, 3, 1), dtype=np.float32)
    contributors, weights = _kernel_decode(vectors, maps,
                                           np.ones((1, 3), bool), False,
                                           centers)
    np.testing.assert_array_equal(contributors[..., 0], [[1, 1, 1]])
    np.testing.assert_array_equal(weights[..., 0], [[1, 1, 1]])


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('half_window', [1, 2, 3])
def test_local_maxima_matches_reference(seed, half_window):
    rng = np.random.default_rng(seed)
    # quantised values make plateaus and ties
    image = np.round(rng.random((21, 17)) * 6) / 6
    image[rng.random(image.shape) < 0.05] = np.nan
    for threshold in (0.0, 0.5, 0.9):
        result = _peak_kernels.local_maxima(image, threshold, half_window)
        expected = reference.reference_local_maxima(image, threshold,
                                                    half_window)
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('choice', ['nearest', 'most_flux'])
@pytest.mark.parametrize('n', [1, 3, 5])
def test_encode_matches_reference(seed, choice, n):
    rng = np.random.default_rng(seed)
    shape = (18, 22)
    n_centers = [1, 2, 6, 12][seed]
    centers = random_centers(rng, n_centers, shape, outside=6,
                             integer=seed == 2)
    images = random_images(rng, centers, shape)
    images[0, 3, 4] = np.nan
    if seed == 3:  # equal fluxes: ties in the most-flux choice
        images[2] = images[1]
    pcr = encode_pcr(images, centers, n_contributors=n,
                     contributor_choice=choice)
    vectors, maps = reference.reference_encode(images, centers, n, choice)
    np.testing.assert_array_equal(pcr.contribution_vectors, vectors)
    np.testing.assert_allclose(pcr.contribution_maps, maps, rtol=1e-6,
                               atol=0)


@pytest.mark.parametrize('n', [2, 3, 4])
@pytest.mark.parametrize('logits', [False, True])
def test_decode_caches_are_exact(n, logits):
    # The kernel caches each slot's last centre (reused while the target
    # stays within half the distance to that centre's nearest neighbour)
    # and, for n = 3, its last renormalisation. Here every slot's target
    # walks in steps of 1/8 pixel from one centre to another, through the
    # exact bisector (a tie) and in and out of those radii, with
    # duplicated centres and weights repeating from a small set.
    rng = np.random.default_rng(n)
    width = 17
    centers = np.array([[0.0, 0.0], [0.0, 4.0], [3.0, 4.0], [3.0, 4.0],
                        [-2.0, 9.0], [6.0, 1.0], [5.0, 13.0]])
    height = 12
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pairs = rng.integers(0, len(centers), size=(height, n, 2))
    step = (np.arange(width) / 8.0 - 0.5)[None, :, None, None]
    start = centers[pairs[..., 0]][:, None]  # (h, 1, n, 2)
    end = centers[pairs[..., 1]][:, None]
    targets = start + step * (end - start)  # from 1/2 before start on
    vectors = (targets - np.stack([yy, xx], axis=-1)[:, :, None, :])
    vectors = vectors.astype(np.float32)
    assert np.array_equal(vectors + np.stack([yy, xx], -1)[:, :, None],
                          targets)  # exact targets
    if logits:
        choices = np.array([0.0, 1.0, 2.0, -np.inf, np.log(3.0)])
    else:
        choices = np.array([0.0, 0.25, 1 / 3, 0.5, 1.0, 1.0, -0.5])
    pattern = rng.integers(0, len(choices), size=(height, 1, n))
    pattern = np.repeat(pattern, width, axis=1)
    change = rng.random((height, width, n)) < 0.15
    pattern[change] = rng.integers(0, len(choices), size=change.sum())
    maps = choices[pattern].astype(np.float32)
    valid = rng.random((height, width)) > 0.05
    expected = reference.reference_decode(vectors, maps, valid, logits,
                                          centers)
    for tile in (1.0, 4.0, 16.0):
        result = _kernel_decode(vectors, maps, valid, logits, centers,
                                tile=tile)
        np.testing.assert_array_equal(result[0], expected[0])
        np.testing.assert_array_equal(result[1], expected[1])


def test_safe_radius():
    centers = np.array([[0.0, 0.0], [0.0, 4.0], [3.0, 4.0], [3.0, 4.0],
                        [-10.0, -10.0]])
    index = _index.TileIndex(centers, (5, 5), 1)
    nearest_other = np.array([4.0, 3.0, 0.0, 0.0, np.hypot(10, 10)])
    np.testing.assert_allclose(index.safe_radius2,
                               0.25 * nearest_other ** 2, rtol=1e-5)
    single = _index.TileIndex(centers[:1], (5, 5), 1)
    assert single.safe_radius2[0] == np.inf


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4),
       n_centers=st.integers(1, 15), logits=st.booleans(),
       integer=st.booleans())
def test_decode_matches_reference_property(seed, n, n_centers, logits,
                                           integer):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 14)), int(rng.integers(1, 14)))
    vectors, maps, valid, centers = random_pcr_arrays(
        rng, shape, n, n_centers, logits=logits, integer=integer)
    expected = reference.reference_decode(vectors, maps, valid, logits,
                                          centers)
    result = _kernel_decode(vectors, maps, valid, logits, centers,
                            tile=float(rng.choice([1.0, 2.5, 8.0])),
                            margin=float(rng.choice([0.5, 32.0])))
    np.testing.assert_array_equal(result[0], expected[0])
    np.testing.assert_array_equal(result[1], expected[1])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 5),
       n_centers=st.integers(1, 20), integer=st.booleans())
def test_nearest_centers_matches_reference_property(seed, k, n_centers,
                                                    integer):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 16)), int(rng.integers(1, 16)))
    centers = random_centers(rng, n_centers, shape, outside=20,
                             integer=integer)
    index = _index.TileIndex(centers, shape, k,
                             tile=float(rng.choice([1.0, 3.0, 16.0])),
                             margin=float(rng.choice([0.5, 32.0])))
    result = _index.nearest_centers(*shape, k, *index.arguments)
    expected = reference.reference_nearest_centers(shape, k, centers)
    np.testing.assert_array_equal(result, expected)


def test_far_away_centres_still_give_exact_results():
    # one centre very far away makes the tiled region huge and coarse
    rng = np.random.default_rng(5)
    shape = (15, 17)
    centers = np.vstack([random_centers(rng, 6, shape),
                         [[1e6, -1e6], [-3e5, 40.0]]])
    index = _index.TileIndex(centers, shape, 2)
    np.testing.assert_array_equal(
        _index.nearest_centers(*shape, 2, *index.arguments),
        reference.reference_nearest_centers(shape, 2, centers))
    vectors, maps, valid, _ = random_pcr_arrays(rng, shape, 3, 6,
                                                logits=False)
    expected = reference.reference_decode(vectors, maps, valid, False,
                                          centers)
    result = _kernel_decode(vectors, maps, valid, False, centers)
    np.testing.assert_array_equal(result[0], expected[0])
    np.testing.assert_array_equal(result[1], expected[1])


def _frame_decode(vectors, maps, data, allowed, logits, centers, tile=8.0):
    """`decode_frame` with validity read from ``data`` and/or
    ``allowed`` (None: not checked); checks its dominant map and label
    table against the references."""
    index = _index.TileIndex(centers, maps.shape[:2], 1, tile=tile)
    contributors = np.empty(maps.shape, dtype=np.int32)
    weights = np.empty(maps.shape, dtype=np.float32)
    dominant = np.empty(maps.shape[:2], dtype=np.int32)
    present = _decode_kernels.decode_frame(
        vectors, maps,
        _decode_kernels._NO_DATA if data is None else data,
        np.ones((1, 1), bool) if allowed is None else allowed,
        data is not None, allowed is not None, logits,
        *index.decode_arguments, contributors, weights, dominant)
    np.testing.assert_array_equal(
        dominant, dominant_labels_reference(contributors, weights))
    expected_present = np.zeros(len(centers) + 1, dtype=bool)
    expected_present[np.unique(dominant)] = True
    expected_present[0] = False
    np.testing.assert_array_equal(present, expected_present)
    return contributors, weights


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_decode_frame_validity_from_data(seed, dtype, kernel_path):
    # the kernel tests the image's pixels itself (NaN and inf are
    # invalid), optionally combined with an allowed map
    rng = np.random.default_rng(seed)
    shape = (21, 25)
    n = [3, 3, 2, 4][seed]
    vectors, maps, allowed, centers = random_pcr_arrays(
        rng, shape, n, [5, 30, 7, 12][seed], logits=seed == 1)
    data = rng.normal(size=shape).astype(dtype)
    data[rng.random(shape) < 0.1] = np.nan
    data[rng.random(shape) < 0.03] = np.inf
    finite = np.isfinite(data)
    for use_allowed in (False, True):
        valid = finite & allowed if use_allowed else finite
        expected = reference.reference_decode(vectors, maps, valid,
                                              seed == 1, centers)
        result = _frame_decode(vectors, maps, data,
                               allowed if use_allowed else None, seed == 1,
                               centers)
        np.testing.assert_array_equal(result[0], expected[0])
        np.testing.assert_array_equal(result[1], expected[1])
    # nothing checked: every pixel is valid
    expected = reference.reference_decode(vectors, maps,
                                          np.ones(shape, bool), seed == 1,
                                          centers)
    result = _frame_decode(vectors, maps, None, None, seed == 1, centers)
    np.testing.assert_array_equal(result[0], expected[0])
    np.testing.assert_array_equal(result[1], expected[1])


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('logits', [False, True])
def test_decode_repeated_pixels_are_exact(seed, logits):
    # Runs of pixels with equal maps whose targets sit on (or near)
    # centres, as in an encoded PCR: the n = 3 kernel copies the previous
    # pixel's output when every used slot reaches the same centre again.
    # Runs cross bisectors, hold non-finite vectors, zero, negative and
    # NaN weights, invalid pixels, and jitter that leaves the safe radii.
    rng = np.random.default_rng(seed)
    shape = (16, 40)
    height, width = shape
    centers = random_centers(rng, 9, shape, outside=4,
                             integer=seed % 2 == 0)
    centers[3] = centers[2]  # duplicated centre
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.stack([yy, xx], axis=-1)[:, :, None, :]
    nearest = reference.reference_nearest_centers(shape, 3, centers)
    targets = centers[nearest]  # (h, w, 3, 2): each slot on a centre
    jitter = rng.random((height, width, 3)) < 0.2
    targets[jitter] += rng.normal(0, [0.3, 3.0][seed % 2],
                                  size=(jitter.sum(), 2))
    vectors = (targets - pixels).astype(np.float32)
    vectors[rng.random((height, width, 3)) < 0.03, 0] = np.nan
    vectors[rng.random((height, width, 3)) < 0.01, 1] = np.inf
    if logits:
        choices = np.array([0.0, 1.0, 2.0, -np.inf, np.nan, np.inf])
    else:
        choices = np.array([1 / 3, 0.0, 0.25, 0.5, 1.0, -0.5, np.nan])
    pattern = rng.integers(0, len(choices), size=(height, 1, 3))
    pattern = np.repeat(pattern, width, axis=1)
    change = rng.random((height, width, 3)) < 0.1
    pattern[change] = rng.integers(0, len(choices), size=change.sum())
    maps = choices[pattern].astype(np.float32)
    valid = rng.random(shape) > 0.05
    expected = reference.reference_decode(vectors, maps, valid, logits,
                                          centers)
    for tile in (1.0, 8.0):
        result = _frame_decode(vectors, maps, None, valid, logits, centers,
                               tile=tile)
        np.testing.assert_array_equal(result[0], expected[0])
        np.testing.assert_array_equal(result[1], expected[1])


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('half_window', [1, 2, 3])
def test_local_maxima_positions_match_reference(seed, half_window,
                                                kernel_path):
    rng = np.random.default_rng(seed)
    image = np.round(rng.random((23, 19)) * 6) / 6  # plateaus and ties
    image[rng.random(image.shape) < 0.05] = np.nan
    if seed == 3:
        image[:] = 1.0  # every pixel is a candidate
    for threshold in (0.0, 0.5, 0.9, 2.0):
        ys, xs = _numba_serial.pick(_peak_kernels.local_maxima_positions,
                                    image.size)(image, threshold,
                                                half_window)
        expected = np.nonzero(reference.reference_local_maxima(
            image, threshold, half_window))
        np.testing.assert_array_equal(ys, expected[0])
        np.testing.assert_array_equal(xs, expected[1])
