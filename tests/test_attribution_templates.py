"""
Template attribution: the numba kernels against their references on
seeded Gaussian scenes, properties of the result on random scenes, the
deblending behaviour on known blends, and the input checks.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from pais_deblend.attribution import (TemplateAttribution,
                                      attribute_with_templates,
                                      refine_centers, source_templates)
from pais_deblend.attribution import _kernels as kernels
from pais_deblend.attribution import _reference as reference
from pais_deblend.attribution import templates as templates_module

# --------------------------------------------------------------------------
# scenes
# --------------------------------------------------------------------------


def gaussian(shape, cy, cx, sigma, flux):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return flux * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                         / (2 * sigma ** 2)) / (2 * np.pi * sigma ** 2)


def gaussian_scene(rng, shape=(40, 48), n_sources=6, n_bands=0, noise=0.05,
                   margin=3):
    """Noisy Gaussian sources; segments are the connected regions above
    2 sigma (ids shuffled, some sources may fall outside them)."""
    height, width = shape
    centers = np.column_stack([rng.uniform(margin, height - 1 - margin,
                                           n_sources),
                               rng.uniform(margin, width - 1 - margin,
                                           n_sources)])
    bands = max(n_bands, 1)
    image = np.zeros(shape + (bands,))
    for cy, cx in centers:
        sigma = rng.uniform(1.0, 3.0)
        flux = rng.uniform(20, 200)
        sed = rng.uniform(0.3, 1.0, bands)
        image += gaussian(shape, cy, cx, sigma, flux)[..., None] * sed
    image += rng.normal(0, noise, image.shape)
    labels, n_labels = ndimage.label(image.sum(axis=-1) > 2 * noise * bands)
    ids = np.concatenate([[0], rng.permutation(n_labels) + 1])
    segments = ids[labels].astype(np.int32)
    if n_bands == 0:
        image = image[..., 0]
    return image, centers, segments


def prepared(image, centers, segments, noise, **options):
    defaults = dict(smoothing=1.0, refine=True, max_shift=1.5,
                    monotonic=True, max_radius=64, threshold=0.0,
                    band_templates='per_band')
    defaults.update(options)
    return templates_module._prepare(image, centers, segments,
                                     noise_sigma=noise, **defaults)


def flux_of(image, result, label):
    share = np.where(result.contributors == label, result.weights, 0)
    return float((image * share.sum(axis=-1)).sum())


# --------------------------------------------------------------------------
# kernels against references
# --------------------------------------------------------------------------


@pytest.mark.parametrize('seed', range(3))
def test_segment_bounding_boxes_match_nonzero(seed):
    rng = np.random.default_rng(seed)
    segments = rng.integers(0, 6, size=(17, 23)).astype(np.int64)
    segments[segments == 3] = 0  # an absent id
    boxes = kernels.segment_bounding_boxes(segments, 6)
    for segment in range(1, 7):
        ys, xs = np.nonzero(segments == segment)
        if ys.size:
            expected = [ys.min(), ys.max(), xs.min(), xs.max()]
        else:
            expected = [17, -1, 23, -1]
        np.testing.assert_array_equal(boxes[segment], expected)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('with_segments', [False, True])
def test_refine_centers_matches_reference(seed, with_segments):
    rng = np.random.default_rng(seed)
    image, centers, segments = gaussian_scene(rng, n_sources=8)
    smoothed = ndimage.gaussian_filter(image, 1.0, mode='constant')
    # jittered centres, some near or beyond the frame edges
    starts = np.concatenate([
        centers + rng.normal(0, 1.2, centers.shape),
        [[0.2, 10.0], [39.4, 5.0], [-3.0, 4.0], [12.0, 47.6]]])
    for max_shift in (0.0, 1.5, 4.0):
        result = refine_centers(smoothed, starts, max_shift=max_shift,
                                segments=segments if with_segments else None)
        expected = reference.reference_refine_centers(
            smoothed, starts, max_shift,
            segments if with_segments else None)
        np.testing.assert_array_equal(result, expected)
    # the refined centres of a noise-free scene are near the truth
    clean = sum(gaussian(image.shape, cy, cx, 2.0, 100) for cy, cx in
                centers[:1])
    moved = refine_centers(clean, centers[:1] + [0.7, -0.6])
    assert np.hypot(*(moved - centers[:1])[0]) < 0.15


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('monotonic', [False, True])
@pytest.mark.parametrize('n_bands', [0, 3])
def test_templates_match_reference(seed, monotonic, n_bands):
    rng = np.random.default_rng(seed)
    image, centers, segments = gaussian_scene(rng, n_sources=7,
                                              n_bands=n_bands)
    centers = np.concatenate([centers, [[-2.0, 5.0], [0.0, 0.0]]])
    noise = np.full(max(n_bands, 1), 0.05)
    max_radius = [64, 4, 2.5, 0][seed]
    threshold = [0.0, 1.0, 3.0, 0.5][seed]
    inputs = prepared(image, centers, segments, noise, monotonic=monotonic,
                      max_radius=max_radius, threshold=threshold)
    buffer, offsets, boxes, n_planes, sed = templates_module._templates(
        inputs)
    assert sed is None and n_planes == max(n_bands, 1)
    expected = reference.reference_templates(
        inputs.planes, inputs.segments, inputs.centers, max_radius,
        monotonic, threshold * inputs.smoothed_noise, inputs.masked)
    assert boxes[-2].tolist() == [0, -1, 0, -1]  # outside the frame
    for i, (box, values) in enumerate(expected):
        assert tuple(boxes[i]) == box
        stored = buffer[offsets[i]:offsets[i + 1]]
        if values is None:
            assert stored.size == 0
            continue
        np.testing.assert_allclose(stored.reshape(values.shape), values,
                                   rtol=1e-6, atol=1e-7)
    # the public cutouts are the same values
    cutouts = source_templates(image, centers, segments, noise_sigma=noise,
                               monotonic=monotonic, max_radius=max_radius,
                               threshold=threshold)
    for (slice_y, slice_x, values), (box, ref) in zip(cutouts, expected):
        if ref is None:
            assert values.size == 0
            continue
        assert (slice_y, slice_x) == (slice(box[0], box[1] + 1),
                                      slice(box[2], box[3] + 1))
        ref = np.moveaxis(ref, 0, -1) if n_bands else ref[0]
        np.testing.assert_allclose(values, ref, rtol=1e-6, atol=1e-7)


def test_sed_templates_match_reference():
    rng = np.random.default_rng(7)
    image, centers, segments = gaussian_scene(rng, n_sources=5, n_bands=2)
    noise = np.array([0.05, 0.1])
    inputs = prepared(image, centers, segments, noise, band_templates='sed',
                      threshold=1.0)
    buffer, offsets, boxes, n_planes, sed = templates_module._templates(
        inputs)
    assert n_planes == 1
    factor = inputs.smoothed_noise / inputs.noise
    morphology = reference.reference_templates(
        inputs.detection[None], inputs.segments, inputs.centers, 64, True,
        [1.0 * math.sqrt(2) * factor[0]])
    bands = reference.reference_templates(
        inputs.planes, inputs.segments, inputs.centers, 64, True,
        1.0 * inputs.smoothed_noise)
    for i, ((box, values), (_, band_values)) in enumerate(zip(morphology,
                                                               bands)):
        if values is None:
            assert np.all(sed[i] == 0)
            continue
        np.testing.assert_allclose(
            buffer[offsets[i]:offsets[i + 1]].reshape(values.shape), values,
            rtol=1e-6, atol=1e-7)
        expected_sed = (band_values.sum(axis=(1, 2), dtype=np.float64)
                        / values.sum(dtype=np.float64))
        np.testing.assert_allclose(sed[i], expected_sed, rtol=1e-6)


def reference_attribution(image, centers, segments, noise, n, **options):
    """The attribution from the shared smoothing and the references."""
    inputs = prepared(image, centers, segments, noise, **options)
    if options.get('band_templates') == 'sed':
        _, _, _, _, sed = templates_module._templates(inputs)
        factor = inputs.detection_noise
        planes = inputs.detection[None]
        thresholds = [inputs.threshold * factor]
        band_scale = sed
        coefficients = (sed * inputs.band_coefficients).sum(axis=1,
                                                             keepdims=True)
    else:
        planes = inputs.planes
        thresholds = inputs.threshold * inputs.smoothed_noise
        band_scale = np.ones((len(centers), inputs.n_bands))
        coefficients = band_scale * inputs.band_coefficients
    templates = reference.reference_templates(
        planes, inputs.segments, inputs.centers, inputs.max_radius,
        inputs.monotonic, thresholds, inputs.masked)
    return reference.reference_share(templates, segments.shape, n,
                                     coefficients, band_scale,
                                     inputs.multiband)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('n_bands,mode', [(0, 'per_band'), (3, 'per_band'),
                                          (3, 'sed')])
def test_sharing_matches_reference(seed, n_bands, mode):
    rng = np.random.default_rng(100 + seed)
    image, centers, segments = gaussian_scene(rng, n_sources=9,
                                              n_bands=n_bands)
    if seed == 3:
        centers[4] = centers[3]  # a duplicate: exact ties between labels
    noise = rng.uniform(0.03, 0.1, max(n_bands, 1))
    n = [1, 2, 3, 5][seed]
    options = dict(threshold=[0.0, 2.0, 0.0, 1.0][seed],
                   monotonic=seed != 2, band_templates=mode)
    result = attribute_with_templates(image, centers, segments,
                                      noise_sigma=noise, n_contributors=n,
                                      **options)
    contributors, weights, band_weights, dominant, covered = (
        reference_attribution(image, centers, segments, noise, n, **options))
    np.testing.assert_array_equal(result.contributors, contributors)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_array_equal(result.dominant, dominant)
    np.testing.assert_array_equal(result.covered, covered)
    if n_bands:
        np.testing.assert_allclose(result.band_weights, band_weights,
                                   rtol=1e-6, atol=1e-7)
    else:
        assert result.band_weights is None
    if seed == 3:  # the duplicate's pixels split evenly, lower label first
        both = (result.contributors == 4).any(-1)
        assert both.any()


# --------------------------------------------------------------------------
# the monotonic projection
# --------------------------------------------------------------------------


def parent_of(dy, dx):
    sy = int(np.sign(dy)) if 2 * abs(dy) >= abs(dx) else 0
    sx = int(np.sign(dx)) if 2 * abs(dx) >= abs(dy) else 0
    return sy, sx


def test_parent_is_on_the_previous_ring():
    for dy in range(-9, 10):
        for dx in range(-9, 10):
            d = max(abs(dy), abs(dx))
            if d == 0:
                continue
            sy, sx = parent_of(dy, dx)
            assert max(abs(dy - sy), abs(dx - sx)) == d - 1


@pytest.mark.parametrize('seed', range(3))
def test_monotonic_along_segment_parent_chains(seed):
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 10, (13, 11))
    inside = rng.random((13, 11)) > 0.3
    pixel = (6, 4)
    inside[pixel] = True
    out = reference.reference_monotonic(values, inside, pixel)
    for y, x in np.ndindex(out.shape):
        if (y, x) == pixel or not inside[y, x]:
            continue
        assert out[y, x] <= values[y, x]
        # the nearest ancestor inside the segment bounds the pixel
        ay, ax = y, x
        while True:
            sy, sx = parent_of(ay - pixel[0], ax - pixel[1])
            ay, ax = ay - sy, ax - sx
            if inside[ay, ax]:
                break
        assert out[y, x] <= out[ay, ax]


def test_masked_pixel_does_not_shadow_the_template():
    """A hole in the segment (a masked pixel) is transparent for the
    monotonic constraint: the pixels behind it keep their template."""
    shape = (21, 21)
    image = gaussian(shape, 10, 10, 2.5, 500)
    segments = np.ones(shape, dtype=np.int32)
    image[10, 13] = np.nan
    segments[10, 13] = 0
    original = image.copy()
    result = attribute_with_templates(image, [[10, 10]], segments,
                                      noise_sigma=0.01, smoothing=0.0)
    cutouts = source_templates(image, [[10, 10]], segments,
                               noise_sigma=0.01, smoothing=0.0)
    values = cutouts[0][2]
    assert values[10, 13] == 0
    # the mirror of (10, 13) is (10, 7): min(S(x), S(mirror)) is small
    # there only because the masked pixel counts as 0 in S
    assert values[10, 14] > 0.9 * original[10, 6]
    assert result.covered[10, 14] and result.covered[10, 15]
    np.testing.assert_array_equal(result.covered, segments > 0)


# --------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------


@st.composite
def scenes(draw):
    seed = draw(st.integers(0, 2 ** 31 - 1))
    n_sources = draw(st.integers(0, 6))
    n_bands = draw(st.sampled_from([0, 1, 2]))
    rng = np.random.default_rng(seed)
    image, centers, segments = gaussian_scene(
        rng, shape=(draw(st.integers(6, 30)), draw(st.integers(6, 30))),
        n_sources=n_sources, n_bands=n_bands, margin=0)
    options = dict(
        n_contributors=draw(st.integers(1, 4)),
        smoothing=draw(st.sampled_from([0.0, 0.7, 1.5])),
        refine=draw(st.booleans()),
        monotonic=draw(st.booleans()),
        max_radius=draw(st.sampled_from([0, 3, 64])),
        threshold=draw(st.sampled_from([0.0, 1.0])),
        band_templates=draw(st.sampled_from(['per_band', 'sed'])))
    noise = rng.uniform(0.02, 0.2, max(n_bands, 1))
    return image, centers, segments, noise, options


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_attribution_properties(scene):
    image, centers, segments, noise, options = scene
    copies = [np.copy(a) for a in (image, centers, segments, noise)]
    result = attribute_with_templates(image, centers, segments,
                                      noise_sigma=noise, **options)
    for before, after in zip(copies, (image, centers, segments, noise)):
        np.testing.assert_array_equal(before, after)
    assert isinstance(result, TemplateAttribution)
    n = options['n_contributors']
    contributors, weights = result.contributors, result.weights
    assert contributors.shape == image.shape[:2] + (n,)
    assert contributors.dtype == np.int32 and weights.dtype == np.float32
    assert np.all((weights >= 0) & (weights <= 1))
    assert np.all((contributors >= 0) & (contributors <= len(centers)))
    covered = result.covered
    assert not np.any(covered & (segments == 0))
    np.testing.assert_array_equal(covered, contributors[..., 0] > 0)
    np.testing.assert_array_equal(result.dominant, contributors[..., 0])
    # empty slots last, with weight 0; weights of contributors > 0, sorted
    empty = contributors == 0
    assert np.all(np.diff(empty.astype(int), axis=-1) >= 0)
    assert np.all(weights[empty] == 0) and np.all(weights[~empty] > 0)
    assert np.all(np.diff(weights, axis=-1) <= 0)
    for k in range(n):
        for j in range(k + 1, n):
            assert not np.any((contributors[..., k] == contributors[..., j])
                              & ~empty[..., k])
    sums = weights.sum(axis=-1, dtype=np.float64)
    assert np.all(np.abs(sums[covered] - 1) <= 1e-6)
    assert np.all(sums[~covered] == 0)
    # flux conservation on covered pixels
    data = image if image.ndim == 3 else image[..., None]
    finite = np.where(np.isfinite(data), data, 0)
    attributed = finite * sums[..., None]
    scale = np.abs(finite).max() if finite.size else 1.0
    assert np.all(np.abs(attributed - finite)[covered]
                  <= 1e-6 * max(scale, 1e-30))
    # sources stay in the segment of their centre's pixel
    pixels = np.floor(result.centers + 0.5).astype(int)
    for label in np.unique(contributors[contributors > 0]):
        py, px = pixels[label - 1]
        where = (contributors == label).any(axis=-1)
        assert np.all(segments[where] == segments[py, px])
    if image.ndim == 3:
        band_weights = result.band_weights
        assert band_weights.shape == contributors.shape + (image.shape[2],)
        assert np.all((band_weights >= 0) & (band_weights <= 1))
        band_sums = band_weights.sum(axis=2, dtype=np.float64)
        assert np.all(np.abs(band_sums[covered] - 1) <= 1e-6)
        assert np.all(band_weights[empty] == 0)
    else:
        assert result.band_weights is None


# --------------------------------------------------------------------------
# behaviour on known blends
# --------------------------------------------------------------------------


def test_isolated_symmetric_source_gets_its_segment():
    shape = (31, 33)
    image = gaussian(shape, 15.3, 16.2, 2.0, 300)
    segments = (image > 0.05).astype(np.int32) * 5
    result = attribute_with_templates(image, [[15.0, 16.0]], segments,
                                      noise_sigma=0.01)
    inside = segments > 0
    np.testing.assert_array_equal(result.covered, inside)
    assert np.all(result.contributors[inside, 0] == 1)
    assert np.all(result.weights[inside, 0] == 1)
    assert np.all(result.contributors[..., 1:] == 0)
    assert np.hypot(*(result.centers[0] - [15.3, 16.2])) < 0.1


def test_equal_pair_shares_the_midline():
    shape = (41, 51)
    sigma = 2.0
    truth = [gaussian(shape, 20, 25 - 1.5 * sigma, sigma, 1000),
             gaussian(shape, 20, 25 + 1.5 * sigma, sigma, 1000)]
    image = truth[0] + truth[1]
    segments = (image > 1e-3).astype(np.int32)
    centers = [[20, 25 - 1.5 * sigma], [20, 25 + 1.5 * sigma]]
    result = attribute_with_templates(image, centers, segments,
                                      noise_sigma=1e-3, refine=False)
    midline = result.weights[:, 25][segments[:, 25] > 0]
    np.testing.assert_allclose(midline[:, :2], 0.5, atol=0.02)
    for label, true_image in enumerate(truth, 1):
        assert abs(flux_of(image, result, label) / true_image.sum()
                   - 1) < 0.03


@pytest.mark.parametrize('smoothing,factor', [(0.0, 0.05), (0.5, 0.2),
                                               (1.0, 0.75)])
def test_unequal_pair_beats_a_hard_split(smoothing, factor):
    """A 4:1 pair 3 sigma apart. The templates are of the smoothed image,
    broader than the sources, which biases the split towards the brighter
    one as the smoothing grows (noise-free scene: no smoothing needed)."""
    shape = (41, 51)
    sigma = 2.0
    ca, cb = (20.0, 21.0), (20.0, 27.0)
    truth = [gaussian(shape, *ca, sigma, 4000), gaussian(shape, *cb, sigma,
                                                         1000)]
    image = truth[0] + truth[1]
    segments = (image > 1e-3).astype(np.int32)
    result = attribute_with_templates(image, [ca, cb], segments,
                                      noise_sigma=1e-3, refine=False,
                                      smoothing=smoothing)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    nearest_a = ((yy - ca[0]) ** 2 + (xx - ca[1]) ** 2
                 <= (yy - cb[0]) ** 2 + (xx - cb[1]) ** 2)
    for label, true_image, hard in ((1, truth[0], nearest_a),
                                    (2, truth[1], ~nearest_a)):
        true_flux = true_image.sum()
        error = abs(flux_of(image, result, label) - true_flux) / true_flux
        hard_error = abs(image[hard].sum() - true_flux) / true_flux
        assert error < factor * hard_error


def test_sources_never_cross_segments():
    shape = (30, 40)
    image = gaussian(shape, 15, 17, 3.0, 2000) + gaussian(shape, 15, 23, 3.0,
                                                          2000)
    segments = np.zeros(shape, dtype=np.int32)
    segments[:, :20] = 3
    segments[:, 20:] = 8
    result = attribute_with_templates(image, [[15, 17], [15, 23]], segments,
                                      noise_sigma=0.01)
    assert np.all(result.contributors[:, :20, 0] == 1)
    assert np.all(result.contributors[:, 20:, 0] == 2)
    assert np.all(result.contributors[..., 1] == 0)


@pytest.mark.parametrize('smoothing,factor', [(0.5, 0.1), (1.0, 0.3)])
@pytest.mark.parametrize('mode', ['per_band', 'sed'])
def test_multiband_colours_of_a_blend(mode, smoothing, factor):
    """A blue and a red source 3 sigma apart: g - r of each is far closer to
    the truth than with a nearest-centre split (the smoothing bias of
    `test_unequal_pair_beats_a_hard_split` grows with ``smoothing``)."""
    shape = (41, 51)
    sigma = 2.0
    ca, cb = (20.0, 22.0), (20.0, 28.0)
    seds = np.array([[1000.0, 2000.0], [1000.0, 400.0]])  # (g, r) fluxes
    profiles = [gaussian(shape, *ca, sigma, 1), gaussian(shape, *cb, sigma,
                                                         1)]
    image = sum(p[..., None] * sed for p, sed in zip(profiles, seds))
    segments = (image.sum(-1) > 1e-3).astype(np.int32)
    result = attribute_with_templates(image, [ca, cb], segments,
                                      noise_sigma=[1e-3, 1e-3], refine=False,
                                      band_templates=mode,
                                      smoothing=smoothing)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    nearest_a = ((yy - ca[0]) ** 2 + (xx - ca[1]) ** 2
                 <= (yy - cb[0]) ** 2 + (xx - cb[1]) ** 2)
    true_colour = -2.5 * np.log10(seds[:, 0] / seds[:, 1])
    for label, hard in ((1, nearest_a), (2, ~nearest_a)):
        share = np.where(result.contributors[..., None] == label,
                         result.band_weights, 0).sum(axis=2)
        fluxes = (image * share).sum(axis=(0, 1))
        colour = -2.5 * np.log10(fluxes[0] / fluxes[1])
        hard_fluxes = image[hard].sum(axis=0)
        hard_colour = -2.5 * np.log10(hard_fluxes[0] / hard_fluxes[1])
        error = abs(colour - true_colour[label - 1])
        assert error < factor * abs(hard_colour - true_colour[label - 1])


def test_no_centres_covers_nothing():
    image = np.ones((8, 9, 2))
    segments = np.ones((8, 9), dtype=np.int32)
    result = attribute_with_templates(image, np.zeros((0, 2)), segments,
                                      noise_sigma=[1, 1], n_contributors=2)
    assert result.contributors.shape == (8, 9, 2)
    assert not result.covered.any()
    assert result.band_weights.shape == (8, 9, 2, 2)
    assert result.centers.shape == (0, 2)
    assert source_templates(image, [], segments, noise_sigma=1) == []
    assert refine_centers(image[..., 0], []).shape == (0, 2)


def test_centre_without_segment_gets_no_template():
    shape = (20, 20)
    image = gaussian(shape, 10, 10, 2.0, 100)
    segments = (image > 0.1).astype(np.int64)
    centers = [[10, 10], [1, 1], [30, 4]]
    result = attribute_with_templates(image, centers, segments,
                                      noise_sigma=0.01)
    assert not np.isin([2, 3], result.contributors).any()
    np.testing.assert_array_equal(result.centers[1:], [[1, 1], [30, 4]])
    cutouts = source_templates(image, centers, segments, noise_sigma=0.01)
    assert cutouts[1][2].shape == (0, 0) and cutouts[2][2].size == 0
    assert cutouts[0][2].dtype == np.float32


def test_sparse_segment_ids_and_photutils_segments():
    from photutils.segmentation import SegmentationImage

    shape = (20, 24)
    image = gaussian(shape, 10, 6, 2.0, 100) + gaussian(shape, 10, 18, 2.0,
                                                        100)
    labels = ndimage.label(image > 0.1)[0]
    dense = attribute_with_templates(image, [[10, 6], [10, 18]], labels,
                                     noise_sigma=0.01)
    sparse = np.where(labels > 0, labels * 10 ** 9, 0).astype(np.uint64)
    for segments in (sparse, SegmentationImage(labels)):
        result = attribute_with_templates(image, [[10, 6], [10, 18]],
                                          segments, noise_sigma=0.01)
        np.testing.assert_array_equal(result.contributors, dense.contributors)
        np.testing.assert_array_equal(result.weights, dense.weights)


def test_nan_outside_segments_is_ignored():
    shape = (20, 20)
    image = gaussian(shape, 10, 10, 2.0, 100)
    segments = (image > 0.1).astype(np.int32)
    clean = attribute_with_templates(image, [[10, 10]], segments,
                                     noise_sigma=0.01, smoothing=0.0)
    image[0, 0] = np.nan
    image[19, 3] = np.inf
    masked = attribute_with_templates(image, [[10, 10]], segments,
                                      noise_sigma=0.01, smoothing=0.0)
    np.testing.assert_array_equal(masked.weights, clean.weights)
    assert np.isnan(image[0, 0])


# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------

GOOD_IMAGE = np.ones((6, 7))
GOOD_SEGMENTS = np.ones((6, 7), dtype=np.int32)


@pytest.mark.parametrize('changes,error,match', [
    (dict(image='abc'), TypeError, 'image must be an array'),
    (dict(image=np.ones((6, 7), dtype=complex)), TypeError,
     'image must hold real numbers'),
    (dict(image=np.ones(6)), ValueError, 'image must be 2 or 3-dimensional'),
    (dict(image=np.ones((0, 7))), ValueError, 'image must not be empty'),
    (dict(image=np.where(GOOD_SEGMENTS > 0, np.nan, 1.0)), ValueError,
     'image must be finite on the pixels of the segments'),
    (dict(centers=None), TypeError, 'centers must be an'),
    (dict(centers=[[1.0, 2.0, 3.0]]), ValueError,
     r'centers must have shape \(N, 2\)'),
    (dict(centers=[[np.nan, 2.0]]), ValueError, 'centers must be finite'),
    (dict(centers={1: (1, 2)}), TypeError, 'got a dict'),
    (dict(segments=None), TypeError, 'segments must be an integer array'),
    (dict(segments=GOOD_SEGMENTS.astype(float)), TypeError,
     'segments must be an integer array, got dtype float64'),
    (dict(segments=np.ones((6, 8), dtype=int)), ValueError,
     r'segments has shape \(6, 8\) but image has shape \(6, 7\)'),
    (dict(segments=np.ones(42, dtype=int)), ValueError,
     'segments must be 2-dimensional'),
    (dict(segments=-GOOD_SEGMENTS), ValueError, 'segments must be >= 0'),
    (dict(noise_sigma=None), TypeError, 'noise_sigma must be a positive'),
    (dict(noise_sigma=True), TypeError, 'noise_sigma must be a positive'),
    (dict(noise_sigma='1'), TypeError, 'noise_sigma must be a positive'),
    (dict(noise_sigma=[1.0, 2.0]), ValueError,
     r'noise_sigma must be a number or have shape \(1,\)'),
    (dict(noise_sigma=-1.0), ValueError,
     'noise_sigma must be finite and > 0'),
    (dict(noise_sigma=0.0), ValueError, 'noise_sigma must be finite and > 0'),
    (dict(noise_sigma=np.nan), ValueError,
     'noise_sigma must be finite and > 0'),
    (dict(noise_sigma=np.array(['a'])), TypeError,
     'noise_sigma must hold real numbers'),
    (dict(n_contributors=0), ValueError,
     'n_contributors must be a positive integer, got 0'),
    (dict(n_contributors=2.0), TypeError,
     'n_contributors must be a positive integer'),
    (dict(smoothing=-1.0), ValueError, 'smoothing must be >= 0'),
    (dict(smoothing=np.inf), ValueError, 'smoothing must be finite'),
    (dict(smoothing='1'), TypeError, 'smoothing must be a real number'),
    (dict(refine=1), TypeError, 'refine must be True or False, got 1'),
    (dict(monotonic='yes'), TypeError, 'monotonic must be True or False'),
    (dict(max_shift=-0.5), ValueError, 'max_shift must be >= 0'),
    (dict(max_radius=-1), ValueError, 'max_radius must be >= 0'),
    (dict(max_radius=None), TypeError, 'max_radius must be a real number'),
    (dict(threshold=-1.0), ValueError, 'threshold must be >= 0'),
    (dict(band_templates='flat'), ValueError,
     "band_templates must be one of 'per_band', 'sed', got 'flat'"),
    (dict(band_templates=None), TypeError,
     "band_templates must be 'per_band' or 'sed', got None"),
])
def test_errors(changes, error, match):
    arguments = dict(image=GOOD_IMAGE, centers=[[2.0, 3.0]],
                     segments=GOOD_SEGMENTS, noise_sigma=1.0)
    arguments.update(changes)
    image = arguments.pop('image')
    centers = arguments.pop('centers')
    segments = arguments.pop('segments')
    with pytest.raises(error, match=match):
        attribute_with_templates(image, centers, segments, **arguments)
    if 'n_contributors' not in changes:
        with pytest.raises(error, match=match):
            source_templates(image, centers, segments, **arguments)


def test_noise_per_band_shape_error():
    with pytest.raises(ValueError, match=r'have shape \(3,\)'):
        attribute_with_templates(np.ones((5, 5, 3)), [[2, 2]],
                                 np.ones((5, 5), dtype=int),
                                 noise_sigma=[1.0, 2.0])


@pytest.mark.parametrize('changes,error,match', [
    (dict(image=np.ones((4, 5, 2))), ValueError,
     'image must be 2-dimensional'),
    (dict(image=np.full((4, 5), np.inf)), ValueError,
     'image must be finite'),
    (dict(centers='a'), TypeError, 'centers must be an'),
    (dict(max_shift=-1.0), ValueError, 'max_shift must be >= 0'),
    (dict(segments=np.ones((4, 4), dtype=int)), ValueError,
     r'segments has shape \(4, 4\) but image has shape \(4, 5\)'),
    (dict(segments=np.ones((4, 5), dtype=bool)), TypeError,
     'segments must be an integer array'),
])
def test_refine_centers_errors(changes, error, match):
    arguments = dict(image=np.ones((4, 5)), centers=[[1.0, 1.0]])
    arguments.update(changes)
    image = arguments.pop('image')
    centers = arguments.pop('centers')
    with pytest.raises(error, match=match):
        refine_centers(image, centers, **arguments)


@pytest.mark.parametrize('band_templates', ['per_band', 'sed'])
def test_parallel_kernels_equal_serial_twins(monkeypatch, band_templates):
    """Small frames run the serial twins; the parallel kernels give the
    same arrays."""
    from pais_deblend.utils import _numba_serial

    rng = np.random.default_rng(21)
    rows, cols = np.mgrid[0:80, 0:90]
    image = rng.normal(0, 0.02, size=(80, 90, 2))
    for (y, x), colour in (((30, 30), (1.0, 0.4)), ((36, 37), (0.3, 1.0)),
                           ((60, 70), (0.5, 0.5))):
        profile = np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / 18.0)
        image += profile[..., np.newaxis] * colour
    segments = (image.sum(axis=2) > 0.05).astype(np.int32)
    centers = np.array([[30.2, 29.8], [36.0, 37.3], [60.0, 70.0]])
    options = dict(noise_sigma=[0.02, 0.02], band_templates=band_templates)
    serial = attribute_with_templates(image, centers, segments, **options)
    monkeypatch.setattr(_numba_serial, 'SERIAL_PIXELS', 0)
    parallel = attribute_with_templates(image, centers, segments, **options)
    for name in ('contributors', 'weights', 'band_weights', 'dominant',
                 'covered', 'centers'):
        np.testing.assert_array_equal(getattr(parallel, name),
                                      getattr(serial, name))


@pytest.mark.parametrize('shape', [(7, 5, 3), (600, 500, 3), (600, 500, 2, 3),
                                   (9, 4)])
@pytest.mark.parametrize('dtype', [np.int32, np.float32])
def test_output_frames_start_at_zero(shape, dtype):
    """The output arrays are zeroed by the cores in parallel (serial twin
    below 512 x 512 pixels)."""
    frame = templates_module._zeros(shape, dtype)
    assert frame.shape == shape
    assert frame.dtype == dtype
    assert frame.flags['C_CONTIGUOUS']
    assert not frame.any()


@pytest.mark.parametrize('n_bands', [0, 3])
@pytest.mark.parametrize('mode', ['per_band', 'sed'])
def test_given_detection_image_gives_the_same_shares(n_bands, mode):
    # the pipeline hands over its detection image (the smoothed,
    # noise-weighted band sum) instead of having the bands smoothed again
    from pais_deblend.utils._smoothing import smooth_gaussian

    rng = np.random.default_rng([n_bands, len(mode)])
    image, centers, segments = gaussian_scene(rng, n_bands=n_bands)
    noise = np.array([0.05, 0.08, 0.04][:max(n_bands, 1)])
    image[0, 0] = np.nan  # a masked pixel (segment 0) stays masked
    segments[0, 0] = 0
    bands = image if n_bands else image[..., np.newaxis]
    plane = np.nan_to_num(bands / noise).sum(axis=-1).astype(np.float32)
    detection = smooth_gaussian(plane, 1.0)
    options = dict(noise_sigma=noise if n_bands else noise[0],
                   n_contributors=3, threshold=1.0, band_templates=mode)
    own = attribute_with_templates(image, centers, segments, **options)
    given_image = image.copy()
    given = attribute_with_templates(image, centers, segments,
                                     detection=detection, **options)
    np.testing.assert_array_equal(image, given_image)
    np.testing.assert_allclose(given.centers, own.centers, atol=1e-4)
    np.testing.assert_array_equal(given.covered, own.covered)
    agree = given.contributors == own.contributors
    assert agree.mean() > 0.999
    np.testing.assert_allclose(np.where(agree, given.weights, 0),
                               np.where(agree, own.weights, 0), atol=1e-5)
    if n_bands:
        np.testing.assert_allclose(
            np.where(agree[..., np.newaxis], given.band_weights, 0),
            np.where(agree[..., np.newaxis], own.band_weights, 0),
            atol=1e-5)


@pytest.mark.parametrize('detection,error,match', [
    (np.ones((6, 8)), ValueError,
     r'detection has shape \(6, 8\) but image has shape \(6, 7\)'),
    (np.ones(42), ValueError, 'detection must be 2-dimensional'),
    (np.full((6, 7), np.nan), ValueError, 'detection must be finite'),
    ('abc', TypeError, 'detection must be an array'),
])
def test_detection_image_errors(detection, error, match):
    with pytest.raises(error, match=match):
        attribute_with_templates(GOOD_IMAGE, [[2.0, 3.0]], GOOD_SEGMENTS,
                                 noise_sigma=1.0, detection=detection)
