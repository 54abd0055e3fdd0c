"""Tests of decode_pcr: round trips, edge cases, invariants and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.pcr import PCR, decode_pcr, encode_pcr
from pais_deblend.segmentation import PartialSegmentationImage

SHAPE = (32, 36)


def sources(centers, shape=SHAPE, seed=0, cut=1e-3):
    """Elliptical exponential-like profiles; tiny values cut to 0."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    images = np.zeros((len(centers),) + tuple(shape))
    for i, (cy, cx) in enumerate(centers):
        scale, q, angle = rng.uniform(1, 3), rng.uniform(0.5, 1), rng.uniform(0, 3)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = (-(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)) / q
        images[i] = rng.uniform(1, 20) * np.exp(-np.hypot(u, v) / scale)
    images[images < cut * images.max(initial=0)] = 0.0
    return images


def decoded_sources(segmentation, image, n_sources):
    """(N, h, w) frames of M_i * I from the partial form."""
    frames = np.zeros((n_sources,) + image.shape)
    for k in range(segmentation.n_contributors):
        labels = segmentation.contributors[..., k]
        weights = segmentation.weights[..., k].astype(np.float64)
        yy, xx = np.nonzero(labels)
        frames[labels[yy, xx] - 1, yy, xx] += weights[yy, xx] * image[yy, xx]
    return frames


def flux_l1(segmentation, image):
    attributed = segmentation.contributors[..., 0] > 0
    total = segmentation.weights.astype(np.float64).sum(axis=-1) * image
    return (np.abs(total - image)[attributed].sum()
            / np.abs(image[attributed]).sum())


CENTERS = np.array([[6.2, 7.7], [9.9, 12.3], [20.4, 25.1], [26.0, 8.5],
                    [-3.0, 30.0], [15.5, 37.5]])  # the last two off-frame


@pytest.mark.parametrize('choice', ['nearest', 'most_flux'])
def test_round_trip_with_true_centres(choice):
    images = sources(CENTERS)
    image = images.sum(axis=0)
    n_overlap = int((images > 0).sum(axis=0).max())
    pcr = encode_pcr(images, CENTERS, n_contributors=n_overlap,
                     contributor_choice='most_flux')
    segmentation = decode_pcr(pcr, image, centers=CENTERS)
    assert isinstance(segmentation, PartialSegmentationImage)
    assert segmentation.n_contributors == n_overlap
    assert segmentation.centers == {i + 1: tuple(c)
                                    for i, c in enumerate(CENTERS)}
    frames = decoded_sources(segmentation, image, len(CENTERS))
    np.testing.assert_allclose(frames, images, rtol=1e-6,
                               atol=1e-6 * image.max())
    assert flux_l1(segmentation, image) <= 1e-6
    # still valid when fully checked
    PartialSegmentationImage(segmentation.contributors, segmentation.weights)
    if choice == 'nearest':
        # with n >= N the nearest choice also holds every source
        pcr = encode_pcr(images, CENTERS, n_contributors=len(CENTERS))
        frames = decoded_sources(decode_pcr(pcr, image, centers=CENTERS),
                                 image, len(CENTERS))
        np.testing.assert_allclose(frames, images, rtol=1e-6,
                                   atol=1e-6 * image.max())


def test_round_trip_from_cutouts_and_source_images():
    from pais_deblend.segmentation import SourceCutout

    images = sources(CENTERS[:4], seed=2)
    image = images.sum(axis=0)
    cutouts = []
    for frame in images:
        ys, xs = np.nonzero(frame)
        slices = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        cutouts.append(SourceCutout(frame[slices], slices))
    pcr = encode_pcr(cutouts, CENTERS[:4], shape=SHAPE, n_contributors=4)
    segmentation = decode_pcr(pcr, image, centers=CENTERS[:4])
    for label, cutout in segmentation.source_images(image).items():
        np.testing.assert_allclose(cutout.to_frame(SHAPE), images[label - 1],
                                   rtol=1e-6, atol=1e-6 * image.max())


def test_decode_with_peak_finding():
    centers = np.array([[8.3, 8.6], [8.1, 26.4], [24.7, 17.2]])
    images = sources(centers, seed=1)
    image = images.sum(axis=0)
    pcr = encode_pcr(images, centers, n_contributors=3)
    segmentation = decode_pcr(pcr, image)
    found = np.array(list(segmentation.centers.values()))
    assert found.shape == (3, 2)
    np.testing.assert_allclose(found, centers, atol=1e-3)  # raster order
    frames = decoded_sources(segmentation, image, 3)
    np.testing.assert_allclose(frames, images, rtol=1e-4,
                               atol=1e-5 * image.max())


def test_logits_give_the_same_result_as_fractions():
    images = sources(CENTERS)
    image = images.sum(axis=0)
    pcr = encode_pcr(images, CENTERS, n_contributors=3)
    with np.errstate(divide='ignore'):
        logits = np.log(pcr.contribution_maps.astype(np.float64)) + 2.0
    as_logits = PCR(pcr.center_of_mass, pcr.contribution_vectors, logits,
                    maps_are_logits=True)
    a = decode_pcr(pcr, image, centers=CENTERS)
    b = decode_pcr(as_logits, image, centers=CENTERS)
    np.testing.assert_array_equal(a.contributors, b.contributors)
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-6)


def test_nan_masked_and_outside_footprint_pixels_are_not_attributed():
    images = sources(CENTERS)
    image = images.sum(axis=0)
    image[3, 4] = np.nan
    pcr = encode_pcr(images, CENTERS)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[10, 11] = True
    footprint = np.ones(SHAPE, dtype=bool)
    footprint[:, 30:] = False
    segmentation = decode_pcr(pcr, image, centers=CENTERS, mask=mask,
                              footprint=footprint)
    unattributed = ~footprint | mask
    unattributed[3, 4] = True
    assert not segmentation.contributors[unattributed].any()
    assert not segmentation.weights[unattributed].any()
    assert np.all(segmentation.contributors[~unattributed, 0] > 0)
    # masked array input: masked pixels are not attributed either
    masked = np.ma.MaskedArray(np.nan_to_num(image), mask=mask)
    segmentation = decode_pcr(pcr, masked, centers=CENTERS)
    assert not segmentation.contributors[10, 11].any()
    # multi-band data: a NaN in any band leaves the pixel unattributed
    bands = np.stack([np.nan_to_num(image), np.nan_to_num(image)], axis=-1)
    bands[7, 8, 1] = np.nan
    segmentation = decode_pcr(pcr, bands, centers=CENTERS)
    assert not segmentation.contributors[7, 8].any()
    assert segmentation.contributors[7, 9, 0] > 0
    # a SegmentationImage as footprint
    from photutils.segmentation import SegmentationImage

    segmentation = decode_pcr(pcr, image, centers=CENTERS,
                              footprint=SegmentationImage(
                                  footprint.astype(np.int32) * 7))
    assert not segmentation.contributors[:, 30:].any()


def test_zero_sources_decode_to_an_empty_segmentation():
    pcr = encode_pcr(np.zeros((0,) + SHAPE), np.zeros((0, 2)))
    image = np.ones(SHAPE)
    for segmentation in (decode_pcr(pcr, image),
                         decode_pcr(pcr, image, centers=np.zeros((0, 2))),
                         decode_pcr(pcr, image, centers=[])):
        assert segmentation.shape == SHAPE
        assert not segmentation.contributors.any()
        assert not segmentation.weights.any()
        assert segmentation.centers == {}


def test_one_source_takes_everything():
    centers = np.array([[40.0, -5.0]])  # outside the frame
    images = sources(centers)
    image = np.random.default_rng(0).normal(size=SHAPE)
    pcr = encode_pcr(images, centers)
    segmentation = decode_pcr(pcr, image, centers=centers)
    np.testing.assert_array_equal(segmentation.contributors[..., 0], 1)
    np.testing.assert_array_equal(segmentation.weights[..., 0], 1)
    assert not segmentation.contributors[..., 1:].any()


def test_slots_reaching_one_centre_are_merged_and_sorted():
    vectors = np.zeros((1, 2, 3, 2), dtype=np.float32)
    # pixel (0, 0): slots to centre 2, centre 1, centre 2 again
    vectors[0, 0] = [[0.0, 10.0], [0.0, -0.2], [0.3, 9.6]]
    # pixel (0, 1): a target far outside the frame, nearest to centre 2
    vectors[0, 1] = [[500.0, 900.0], [0.0, -1.0], [0.0, -1.0]]
    maps = np.array([[[0.2, 0.4, 0.4], [0.7, 0.2, 0.1]]], dtype=np.float32)
    pcr = PCR(np.zeros((1, 2)), vectors, maps)
    centers = np.array([[0.0, 0.0], [0.0, 10.0]])
    segmentation = decode_pcr(pcr, np.ones((1, 2)), centers=centers)
    np.testing.assert_array_equal(segmentation.contributors,
                                  [[[2, 1, 0], [2, 1, 0]]])
    np.testing.assert_allclose(segmentation.weights,
                               [[[0.6, 0.4, 0], [0.7, 0.3, 0]]], atol=1e-7)


def test_inputs_are_not_modified():
    images = sources(CENTERS)
    image = images.sum(axis=0)
    pcr = encode_pcr(images, CENTERS)
    copies = [a.copy() for a in (pcr.center_of_mass, pcr.contribution_vectors,
                                 pcr.contribution_maps, image)]
    decode_pcr(pcr, image)
    for before, after in zip(copies, (pcr.center_of_mass,
                                      pcr.contribution_vectors,
                                      pcr.contribution_maps, image)):
        np.testing.assert_array_equal(before, after)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_sources=st.integers(1, 6),
       extra=st.integers(0, 2),
       choice=st.sampled_from(['nearest', 'most_flux']))
def test_round_trip_property(seed, n_sources, extra, choice):
    """With n >= the number of sources the round trip is exact."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(4, 20)), int(rng.integers(4, 20)))
    centers = np.column_stack([rng.uniform(-3, shape[0] + 2, n_sources),
                               rng.uniform(-3, shape[1] + 2, n_sources)])
    images = sources(centers, shape, seed=seed % 1000)
    image = images.sum(axis=0)
    n = n_sources + extra
    pcr = encode_pcr(images, centers, n_contributors=n,
                     contributor_choice=choice, sigma=2.0)
    segmentation = decode_pcr(pcr, image, centers=centers)
    weights = segmentation.weights
    contributors = segmentation.contributors
    assert weights.min() >= 0 and weights.max() <= 1
    attributed = contributors[..., 0] > 0
    np.testing.assert_allclose(
        weights.astype(np.float64).sum(axis=-1)[attributed], 1.0, atol=1e-6)
    assert np.all((weights > 0) == (contributors > 0))
    frames = decoded_sources(segmentation, image, n_sources)
    np.testing.assert_allclose(frames, images, rtol=1e-5,
                               atol=1e-6 * max(image.max(), 1e-30))
    np.testing.assert_allclose(frames.sum(axis=0), image, rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4),
       n_centers=st.integers(0, 8), logits=st.booleans())
def test_random_pcr_gives_a_valid_segmentation(seed, n, n_centers, logits):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
    vectors = rng.normal(0, 8, size=shape + (n, 2)).astype(np.float32)
    maps = rng.normal(0, 2, size=shape + (n,)).astype(np.float32)
    if not logits:
        maps = np.abs(maps)
    com = rng.random(shape)
    pcr = PCR(com, vectors, maps, maps_are_logits=logits)
    image = rng.normal(size=shape)
    image[rng.random(shape) < 0.1] = np.nan
    centers = None if n_centers == 0 else rng.uniform(-5, 15, (n_centers, 2))
    segmentation = decode_pcr(pcr, image, centers=centers, threshold=0.3)
    # the full validation of PartialSegmentationImage accepts it, and the
    # dominant map the decoder computed is the one the class derives
    rebuilt = PartialSegmentationImage(segmentation.contributors,
                                       segmentation.weights)
    np.testing.assert_array_equal(rebuilt.data, segmentation.data)
    np.testing.assert_array_equal(rebuilt.labels, segmentation.labels)
    contributors, weights = segmentation.contributors, segmentation.weights
    assert not contributors[np.isnan(image)].any()
    assert weights.min() >= 0 and weights.max() <= 1
    attributed = contributors[..., 0] > 0
    sums = weights.astype(np.float64).sum(axis=-1)
    np.testing.assert_allclose(sums[attributed], 1.0, atol=1e-6)
    assert np.all(sums[~attributed] == 0)
    # empty slots last
    assert np.all(np.diff((contributors > 0).astype(int), axis=-1) <= 0)


def test_bad_input():
    images = sources(CENTERS)
    image = images.sum(axis=0)
    pcr = encode_pcr(images, CENTERS)
    with pytest.raises(TypeError, match='pcr must be a PCR instance'):
        decode_pcr({'center_of_mass': None}, image)
    with pytest.raises(ValueError, match='data must be 2 or 3-dimensional'):
        decode_pcr(pcr, image[None, ..., None])
    with pytest.raises(ValueError, match='data must be 2 or 3-dimensional'):
        decode_pcr(pcr, image[0])
    with pytest.raises(ValueError, match='data must not be empty'):
        decode_pcr(pcr, np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r'data has shape \(32, 35\) but pcr '
                       r'has shape \(32, 36\)'):
        decode_pcr(pcr, image[:, 1:])
    with pytest.raises(ValueError, match=r'data has shape \(36, 32\)'):
        decode_pcr(pcr, np.zeros((36, 32, 2)))
    with pytest.raises(TypeError, match='data must hold real numbers'):
        decode_pcr(pcr, image.astype(complex))
    with pytest.raises(ValueError, match=r'centers must have shape \(N, 2\)'):
        decode_pcr(pcr, image, centers=np.zeros((3, 3)))
    with pytest.raises(ValueError, match='centers must be finite'):
        decode_pcr(pcr, image, centers=[[np.inf, 0.0]])
    with pytest.raises(TypeError, match='centers must be an'):
        decode_pcr(pcr, image, centers={1: (0.0, 0.0)})
    with pytest.raises(TypeError, match='mask must be a boolean array'):
        decode_pcr(pcr, image, mask=np.zeros(SHAPE))
    with pytest.raises(ValueError, match='mask has shape'):
        decode_pcr(pcr, image, mask=np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match='footprint has shape'):
        decode_pcr(pcr, image, footprint=np.ones((3, 3), dtype=bool))
    with pytest.raises(TypeError, match='footprint must be a boolean'):
        decode_pcr(pcr, image, footprint=np.ones(SHAPE))
    with pytest.raises(ValueError, match='threshold must be finite'):
        decode_pcr(pcr, image, threshold=np.nan)
    with pytest.raises(ValueError, match='min_separation must be a positive'):
        decode_pcr(pcr, image, min_separation=-2)


@pytest.mark.parametrize('direct', [True, False])
def test_fast_construction_matches_checked_construction(direct):
    # decode_pcr builds its PartialSegmentationImage from the kernel's
    # dominant map and label table without re-validation; the result must
    # equal a fully checked construction from the same arrays
    images = sources(CENTERS)
    image = images.sum(axis=0)
    image[3, 4] = np.nan
    pcr = encode_pcr(images, CENTERS, n_contributors=3)
    # a float64 2-D image is tested by the kernel itself; a 3-D image
    # goes through the (h, w) validity map
    data = image if direct else np.stack([image, image], axis=-1)
    segmentation = decode_pcr(pcr, data, centers=CENTERS)
    checked = PartialSegmentationImage(segmentation.contributors,
                                       segmentation.weights,
                                       centers=segmentation.centers)
    np.testing.assert_array_equal(segmentation.data, checked.data)
    np.testing.assert_array_equal(segmentation.labels, checked.labels)
    assert segmentation.labels.dtype == checked.labels.dtype
    assert segmentation.centers == {
        i + 1: (float(y), float(x)) for i, (y, x) in enumerate(CENTERS)}
    assert segmentation.contributors[3, 4].tolist() == [0, 0, 0]


# --------------------------------------------------------------------------
# confining the attribution to segments (a segmentation image given)

def _confine(contributors, weights, centers, segments):
    from pais_deblend.pcr.decode import _confine_to_segments
    from pais_deblend.segmentation._kernels import dominant_labels

    contributors = np.array(contributors, dtype=np.int32)
    weights = np.array(weights, dtype=np.float32)
    dominant = dominant_labels(contributors, weights)
    changed = _confine_to_segments(contributors, weights, dominant,
                                   np.array(centers, dtype=np.float64),
                                   np.array(segments, dtype=np.int32))
    return changed, contributors, weights, dominant


def test_confine_to_segments_gives_a_segment_its_own_centre():
    # one row, segments 1 | 2; the vectors sent every pixel to label 1,
    # the centre of segment 1, none to label 2 in segment 2
    segments = [[1, 1, 1, 2, 2, 2]]
    centers = [[0.0, 0.0], [0.0, 5.0]]
    contributors = [[[1, 0], [1, 2], [1, 0], [1, 0], [2, 1], [1, 0]]]
    weights = [[[1, 0], [0.3, 0.7], [1, 0], [1, 0], [0.25, 0.75], [1, 0]]]
    changed, labels, shares, dominant = _confine(contributors, weights,
                                                 centers, segments)
    assert changed
    np.testing.assert_array_equal(labels[0, :, 0], [1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(labels[0, :, 1], 0)
    np.testing.assert_array_equal(shares[0, :, 0], 1.0)
    np.testing.assert_array_equal(dominant[0], [1, 1, 1, 2, 2, 2])
    # a frame with nothing across a boundary is left alone
    changed, labels, shares, _ = _confine(contributors[:1], weights[:1],
                                          centers, [[1, 1, 1, 1, 1, 1]])
    assert not changed
    np.testing.assert_array_equal(labels, contributors)
    np.testing.assert_array_equal(shares, np.array(weights, np.float32))


def test_confine_to_segments_leaves_a_centreless_segment_unattributed():
    changed, labels, shares, dominant = _confine(
        [[[1, 0], [1, 0]]], [[[1, 0], [1, 0]]], [[0.0, 0.0]], [[1, 2]])
    assert changed
    np.testing.assert_array_equal(labels[0], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(shares[0], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(dominant[0], [1, 0])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_confine_to_segments_invariants(seed):
    rng = np.random.default_rng(seed)
    height, width, n, n_centers = 7, 9, 3, 5
    centers = rng.uniform(0, [height - 1, width - 1], (n_centers, 2))
    segments = rng.integers(1, 4, (height, width)).astype(np.int32)
    segments[rng.random((height, width)) < 0.1] = 0
    contributors = np.zeros((height, width, n), dtype=np.int32)
    weights = np.zeros((height, width, n), dtype=np.float32)
    for y in range(height):
        for x in range(width):
            if segments[y, x] == 0:
                continue
            k = rng.integers(1, n + 1)
            contributors[y, x, :k] = rng.choice(n_centers, k, replace=False) + 1
            shares = rng.dirichlet(np.ones(k))
            weights[y, x, :k] = shares
    before = contributors.copy(), weights.copy()
    _, labels, shares, dominant = _confine(contributors, weights, centers,
                                           segments)
    iy = np.rint(centers[:, 0]).astype(int)
    ix = np.rint(centers[:, 1]).astype(int)
    center_segment = np.concatenate([[0], segments[iy, ix]])
    has_center = np.isin(segments, center_segment[1:]) & (segments > 0)
    # every contributor's centre lies in the pixel's own segment
    used = labels > 0
    assert np.all(center_segment[labels][used]
                  == np.broadcast_to(segments[..., None], labels.shape)[used])
    # attributed exactly where the segment holds a centre; weights sum to 1
    np.testing.assert_array_equal(labels[..., 0] > 0, has_center)
    total = shares.astype(np.float64).sum(axis=2)
    np.testing.assert_allclose(total[has_center], 1.0, atol=1e-6)
    assert np.all(shares[~used] == 0)
    # kept slots first; the dominant label is the largest share's
    assert np.all(used[..., :-1] | ~used[..., 1:])
    largest = np.take_along_axis(labels, np.argmax(shares, axis=2)[..., None],
                                 axis=2)[..., 0]
    np.testing.assert_array_equal(dominant, np.where(has_center, largest, 0))
    # pixels with nothing across a boundary are unchanged, bit for bit
    crossing = ((before[0] > 0) & (center_segment[before[0]]
                                   != segments[..., None])).any(axis=2)
    np.testing.assert_array_equal(labels[~crossing], before[0][~crossing])
    np.testing.assert_array_equal(shares[~crossing], before[1][~crossing])
    # the relative shares of the kept contributors are preserved
    for y, x in zip(*np.nonzero(crossing & has_center)):
        kept = [(label, share) for label, share
                in zip(before[0][y, x], before[1][y, x])
                if label > 0 and center_segment[label] == segments[y, x]]
        if kept and sum(s for _, s in kept) > 0:
            expected = {label: share / sum(s for _, s in kept)
                        for label, share in kept}
            got = {int(label): float(share) for label, share
                   in zip(labels[y, x], shares[y, x]) if label > 0}
            assert set(got) == set(expected)
            for label in got:
                assert got[label] == pytest.approx(expected[label], abs=1e-6)


def _random_decode_inputs(rng, n, logits, shape=(40, 50)):
    height, width = shape
    vectors = rng.normal(0, 6, (height, width, n, 2)).astype(np.float32)
    vectors[3, 4, 1] = np.nan
    maps = rng.normal(0, 1, (height, width, n)).astype(np.float32)
    if not logits:
        maps = np.abs(maps)
    pcr = PCR(rng.random(shape), vectors, maps, maps_are_logits=logits)
    centers = rng.uniform(0, min(shape), (9, 2))
    data = rng.normal(size=shape)
    data[5, 5] = np.nan
    mask = rng.random(shape) < 0.1
    segments = ((rng.random(shape) < 0.8)
                * (1 + (np.arange(width) > width // 2))[np.newaxis, :])
    return pcr, data, centers, mask, segments


@pytest.mark.parametrize('n', [3, 4])
@pytest.mark.parametrize('logits', [True, False])
def test_decode_at_pixels_equals_the_whole_frame_decode(n, logits):
    from pais_deblend.pcr import (decode_arrays, decode_at_pixels,
                                  decode_band_weights)

    rng = np.random.default_rng([n, logits])
    pcr, data, centers, mask, segments = _random_decode_inputs(rng, n,
                                                               logits)
    options = dict(centers=centers, footprint=segments > 0, mask=mask,
                   segments=segments)
    frame = decode_arrays(pcr, data, **options)
    ys, xs = np.nonzero(rng.random(pcr.shape) < 0.3)
    # any order: the nearest-centre caches must not depend on neighbours
    order = rng.permutation(ys.size)
    ys, xs = ys[order], xs[order]
    listed = decode_at_pixels(pcr, data, ys, xs, **options)
    assert listed.contributors.shape == (1, ys.size, n)
    for whole, part in zip(frame[:3], listed[:3]):
        np.testing.assert_array_equal(part[0], whole[ys, xs])
    assert set(listed.labels) == set(np.unique(listed.dominant)) - {0}
    # confining moved some pixels to the nearest centre of their segment
    unconfined = decode_at_pixels(pcr, data, ys, xs, centers=centers,
                                  footprint=segments > 0, mask=mask)
    assert not np.array_equal(unconfined.contributors, listed.contributors)
    band_maps = rng.normal(size=pcr.shape + (2, n)).astype(np.float32)
    whole = decode_band_weights(pcr, band_maps, frame, data,
                                footprint=segments > 0, mask=mask)
    part = decode_band_weights(pcr, band_maps, listed, data,
                               footprint=segments > 0, mask=mask,
                               pixels=(ys, xs))
    np.testing.assert_array_equal(part[0], whole[ys, xs])


def test_decode_at_pixels_of_no_pixels_or_no_centres():
    from pais_deblend.pcr import decode_at_pixels

    rng = np.random.default_rng(3)
    pcr, data, centers, _, _ = _random_decode_inputs(rng, 3, True)
    none = np.zeros(0, dtype=np.int64)
    empty = decode_at_pixels(pcr, data, none, none, centers=centers)
    assert empty.contributors.shape == (1, 0, 3)
    assert empty.labels.size == 0
    orphan = decode_at_pixels(pcr, data, [1, 2], [3, 4],
                              centers=np.zeros((0, 2)))
    assert not orphan.contributors.any() and not orphan.weights.any()


def test_decode_at_pixels_bad_input():
    from pais_deblend.pcr import decode_at_pixels

    rng = np.random.default_rng(4)
    pcr, data, centers, _, _ = _random_decode_inputs(rng, 3, True)
    with pytest.raises(TypeError, match='centers must be given'):
        decode_at_pixels(pcr, data, [1], [1], centers=None)
    with pytest.raises(TypeError, match='pcr must be a PCR'):
        decode_at_pixels(np.zeros((4, 4)), data, [1], [1], centers=centers)
    with pytest.raises(TypeError, match='ys must be integer'):
        decode_at_pixels(pcr, data, [1.5], [1], centers=centers)
    with pytest.raises(ValueError, match=r'xs must lie in \[0, 49\]'):
        decode_at_pixels(pcr, data, [1], [50], centers=centers)
    with pytest.raises(ValueError, match='ys must be 1-dimensional'):
        decode_at_pixels(pcr, data, [[1]], [1], centers=centers)
    with pytest.raises(ValueError, match='same length'):
        decode_at_pixels(pcr, data, [1, 2], [1], centers=centers)
    with pytest.raises(TypeError, match='segments must be an integer'):
        decode_at_pixels(pcr, data, [1], [1], centers=centers,
                         segments=np.zeros(pcr.shape))
    # whole frames, even though only the listed pixels are read
    with pytest.raises(ValueError, match=r'mask has shape \(41, 50\)'):
        decode_at_pixels(pcr, data, [1], [1], centers=centers,
                         mask=np.zeros((41, 50), dtype=bool))
    with pytest.raises(ValueError, match=r'footprint has shape \(40, 51\)'):
        decode_at_pixels(pcr, data, [1], [1], centers=centers,
                         footprint=np.ones((40, 51), dtype=bool))
    with pytest.raises(TypeError, match='mask must be a boolean array'):
        decode_at_pixels(pcr, data, [1], [1], centers=centers,
                         mask=np.zeros(pcr.shape))
