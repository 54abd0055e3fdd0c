"""Tests of encode_pcr and the PCR container."""

import numpy as np
import pytest

from pais_deblend.pcr import PCR, encode_pcr
from pais_deblend.segmentation import SourceCutout

SHAPE = (30, 40)


def gaussian_sources(centers, shape=SHAPE, scales=None, fluxes=None):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    n_sources = len(centers)
    scales = np.full(n_sources, 2.5) if scales is None else scales
    fluxes = np.ones(n_sources) if fluxes is None else fluxes
    images = np.zeros((n_sources,) + tuple(shape))
    for i, (cy, cx) in enumerate(centers):
        images[i] = fluxes[i] * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                       / (2 * scales[i] ** 2))
    images[images < 1e-4] = 0.0
    return images


def to_cutouts(images):
    cutouts = []
    for image in images:
        ys, xs = np.nonzero(image)
        if len(ys) == 0:
            cutouts.append(SourceCutout(np.zeros((0, 0)),
                                        (slice(0, 0), slice(0, 0))))
            continue
        slices = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        cutouts.append(SourceCutout(image[slices].copy(), slices))
    return cutouts


CENTERS = np.array([[8.3, 9.7], [12.1, 14.4], [22.6, 30.2], [-2.5, 20.0]])


def test_shapes_types_and_centres():
    images = gaussian_sources(CENTERS)
    pcr = encode_pcr(images, CENTERS, n_contributors=3)
    assert isinstance(pcr, PCR)
    assert pcr.shape == SHAPE and pcr.n_contributors == 3
    assert pcr.center_of_mass.shape == SHAPE
    assert pcr.contribution_vectors.shape == SHAPE + (3, 2)
    assert pcr.contribution_maps.shape == SHAPE + (3,)
    for array in (pcr.center_of_mass, pcr.contribution_vectors,
                  pcr.contribution_maps):
        assert array.dtype == np.float32
    np.testing.assert_array_equal(pcr.centers, CENTERS)
    assert not pcr.maps_are_logits
    assert 'n_contributors=3' in repr(pcr)


def test_center_of_mass_is_max_combined_local_gaussians():
    centers = np.array([[10.0, 10.0], [10.0, 13.0], [10.5, 36.25]])
    pcr = encode_pcr(np.zeros((3,) + SHAPE), centers, sigma=2.0,
                     truncate=4.0)
    com = pcr.center_of_mass
    assert com[10, 10] == 1.0 and com[10, 13] == 1.0  # max, not sum
    expected = np.exp(-(0.5 ** 2 + 0.25 ** 2) / 8.0)
    np.testing.assert_allclose(com[10, 36], expected, rtol=1e-6)
    assert com.max() <= 1.0 and com.min() >= 0.0
    # drawn only within truncate * sigma = 8 px of each centre
    assert com[10, 21] > 0 and com[10, 22] == 0
    assert com[19, 10] == 0 and com[18, 10] > 0


def test_vectors_point_at_subpixel_centres_nearest_first():
    images = gaussian_sources(CENTERS)
    pcr = encode_pcr(images, CENTERS, n_contributors=3)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    targets = pcr.contribution_vectors + np.stack([yy, xx], -1)[:, :, None]
    # every target is (to float32 rounding) one of the centres
    d = np.hypot(targets[..., None, 0] - CENTERS[:, 0],
                 targets[..., None, 1] - CENTERS[:, 1]).min(axis=-1)
    assert d.max() < 1e-4
    lengths = np.hypot(pcr.contribution_vectors[..., 0],
                       pcr.contribution_vectors[..., 1])
    assert np.all(np.diff(lengths, axis=-1) >= -1e-4)
    # the nearest centre of pixel (8, 10) is source 0
    np.testing.assert_allclose(pcr.contribution_vectors[8, 10, 0],
                               [0.3, -0.3], atol=1e-6)


@pytest.mark.parametrize('choice', ['nearest', 'most_flux'])
def test_maps_are_fractions(choice):
    images = gaussian_sources(CENTERS)
    pcr = encode_pcr(images, CENTERS, contributor_choice=choice)
    maps = pcr.contribution_maps
    assert maps.min() >= 0 and maps.max() <= 1
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-6)
    # a pixel with no flux at all: equal shares
    assert np.all(images[:, 29, 0] == 0)
    np.testing.assert_allclose(maps[29, 0], 1 / 3, rtol=1e-6)


def test_most_flux_prefers_a_bright_distant_source():
    centers = np.array([[15.0, 10.0], [15.0, 14.0], [15.0, 18.0],
                        [15.0, 30.0]])
    images = gaussian_sources(centers, scales=[1.0, 1.0, 1.0, 8.0],
                              fluxes=[1.0, 1.0, 1.0, 100.0])
    near = encode_pcr(images, centers, n_contributors=2,
                      contributor_choice='nearest')
    most = encode_pcr(images, centers, n_contributors=2,
                      contributor_choice='most_flux')
    # pixel (15, 12): nearest are sources 0 and 1, the bright source 3
    # dominates the flux
    pixel = np.array([15.0, 12.0])
    near_targets = near.contribution_vectors[15, 12] + pixel
    most_targets = most.contribution_vectors[15, 12] + pixel
    assert not np.any(np.all(np.isclose(near_targets, centers[3]), axis=-1))
    assert np.any(np.all(np.isclose(most_targets, centers[3]), axis=-1))
    # most_flux keeps more of the pixel's true flux in its two slots
    flux = images[:, 15, 12]
    slot_sources = [int(np.argmin(np.hypot(*(centers - t).T)))
                    for t in most_targets]
    assert flux[slot_sources].sum() > 0.9 * flux.sum()
    # ordered by distance: source 0 or 1 first, source 3 second
    assert slot_sources[1] == 3


@pytest.mark.parametrize('choice', ['nearest', 'most_flux'])
def test_cutouts_give_the_same_encoding(choice):
    images = gaussian_sources(CENTERS)
    from_array = encode_pcr(images, CENTERS, contributor_choice=choice)
    from_cutouts = encode_pcr(to_cutouts(images), CENTERS, shape=SHAPE,
                              contributor_choice=choice)
    for name in ('center_of_mass', 'contribution_vectors',
                 'contribution_maps'):
        np.testing.assert_array_equal(getattr(from_cutouts, name),
                                      getattr(from_array, name))


def test_fraction_maps_give_the_same_maps_as_images():
    images = gaussian_sources(CENTERS, fluxes=[1, 3, 5, 2])
    total = images.sum(axis=0)
    fractions = np.divide(images, total, out=np.zeros_like(images),
                          where=total > 0)
    a = encode_pcr(images, CENTERS, contributor_choice='most_flux')
    b = encode_pcr(fractions, CENTERS, contributor_choice='most_flux')
    np.testing.assert_allclose(a.contribution_maps, b.contribution_maps,
                               atol=1e-6)


@pytest.mark.parametrize('as_cutouts', [False, True])
def test_zero_sources(as_cutouts):
    sources = [] if as_cutouts else np.zeros((0,) + SHAPE)
    pcr = encode_pcr(sources, np.zeros((0, 2)), shape=SHAPE)
    assert pcr.shape == SHAPE and pcr.n_contributors == 3
    assert not pcr.center_of_mass.any()
    assert not pcr.contribution_vectors.any()
    assert not pcr.contribution_maps.any()
    assert pcr.centers.shape == (0, 2)


def test_one_source_and_padding():
    centers = np.array([[14.2, 20.7]])
    images = gaussian_sources(centers)
    pcr = encode_pcr(images, centers, n_contributors=3)
    maps = pcr.contribution_maps
    np.testing.assert_array_equal(maps[..., 0], 1.0)
    np.testing.assert_array_equal(maps[..., 1:], 0.0)
    # padded slots point at the real source
    for k in (1, 2):
        np.testing.assert_array_equal(pcr.contribution_vectors[..., k, :],
                                      pcr.contribution_vectors[..., 0, :])


@pytest.mark.parametrize('choice', ['nearest', 'most_flux'])
def test_fewer_sources_than_slots(choice):
    centers = CENTERS[:2]
    images = gaussian_sources(centers)
    pcr = encode_pcr(images, centers, n_contributors=4,
                     contributor_choice=choice)
    maps = pcr.contribution_maps
    np.testing.assert_array_equal(maps[..., 2:], 0.0)
    np.testing.assert_allclose(maps[..., :2].sum(axis=-1), 1.0, atol=1e-6)
    # the two real slots are different sources, nearest first
    v = pcr.contribution_vectors
    assert np.all(np.any(v[..., 0, :] != v[..., 1, :], axis=-1))
    np.testing.assert_array_equal(v[..., 2, :], v[..., 0, :])
    np.testing.assert_array_equal(v[..., 3, :], v[..., 0, :])


def test_off_frame_source_is_encoded():
    centers = np.array([[-4.0, 20.0], [15.0, 20.0]])
    images = gaussian_sources(centers, scales=[4.0, 2.0])
    assert images[0, 0].sum() > 0  # its light enters the frame
    pcr = encode_pcr(images, centers, n_contributors=2)
    # at pixel (0, 20) the off-frame source owns most of the flux
    v = pcr.contribution_vectors[0, 20]
    slot = int(np.argmin(np.hypot(v[:, 0] + 4.0, v[:, 1])))
    expected = images[0, 0, 20] / images[:, 0, 20].sum()
    np.testing.assert_allclose(pcr.contribution_maps[0, 20, slot], expected,
                               rtol=1e-6)
    # its C^c Gaussian enters the frame too
    np.testing.assert_allclose(pcr.center_of_mass[0, 20],
                               np.exp(-16 / 128), rtol=1e-6)


def test_nan_pixels_count_as_zero():
    images = gaussian_sources(CENTERS)
    with_nan = images.copy()
    with_nan[1, 12, 14] = np.nan
    zeroed = images.copy()
    zeroed[1, 12, 14] = 0.0
    a = encode_pcr(with_nan, CENTERS)
    b = encode_pcr(zeroed, CENTERS)
    np.testing.assert_array_equal(a.contribution_maps, b.contribution_maps)
    assert np.all(np.isfinite(a.contribution_maps))


def test_input_is_not_modified():
    images = gaussian_sources(CENTERS)
    images[0, 5, 5] = np.nan
    images[2, 20, 30] = -1.0
    centers = CENTERS.copy()
    images_copy = images.copy()
    encode_pcr(images, centers, contributor_choice='most_flux')
    np.testing.assert_array_equal(images, images_copy)
    np.testing.assert_array_equal(centers, CENTERS)


def test_integer_and_list_inputs():
    images = (gaussian_sources(CENTERS[:2]) * 100).astype(np.int32)
    pcr = encode_pcr(list(images), CENTERS[:2].tolist(), n_contributors=2)
    assert pcr.shape == SHAPE


GOOD = {'n_contributors': 3, 'sigma': 8.0, 'contributor_choice': 'nearest'}


@pytest.mark.parametrize('kwargs, error, match', [
    ({'n_contributors': -1}, ValueError, 'n_contributors must be a positive'),
    ({'n_contributors': 0}, ValueError, 'n_contributors must be a positive'),
    ({'n_contributors': 2.5}, TypeError, 'n_contributors must be a positive'),
    ({'n_contributors': True}, TypeError, 'n_contributors must be a positive'),
    ({'sigma': np.inf}, ValueError, 'sigma must be finite'),
    ({'sigma': np.nan}, ValueError, 'sigma must be finite'),
    ({'sigma': 0.0}, ValueError, 'sigma must be > 0'),
    ({'sigma': '8'}, TypeError, 'sigma must be a real number'),
    ({'truncate': -1.0}, ValueError, 'truncate must be > 0'),
    ({'contributor_choice': 'brightest'}, ValueError,
     "contributor_choice must be one of 'nearest', 'most_flux'"),
    ({'shape': (30, 41)}, ValueError, 'shape is'),
    ({'shape': (30,)}, TypeError, 'shape must be a tuple of two integers'),
])
def test_bad_parameters(kwargs, error, match):
    images = gaussian_sources(CENTERS)
    with pytest.raises(error, match=match):
        encode_pcr(images, CENTERS, **kwargs)


@pytest.mark.parametrize('images, centers, match', [
    (np.zeros((4, 30)), CENTERS, 'source_images must be 3-dimensional'),
    (np.zeros((4, 2, 3, 5)), CENTERS, 'source_images must be 3-dimensional'),
    (np.zeros((4, 0, 5)), CENTERS, 'source_images must not be empty'),
    (np.zeros((3,) + SHAPE), CENTERS, 'source_images holds 3 sources but '
     'centers has 4'),
    (np.zeros((4,) + SHAPE), CENTERS[:, :1], r'centers must have shape '
     r'\(N, 2\)'),
    (np.zeros((4,) + SHAPE), np.zeros((4, 2, 1)), 'centers must have shape'),
    (np.zeros((4,) + SHAPE), np.full((4, 2), np.nan), 'centers must be '
     'finite'),
])
def test_bad_arrays(images, centers, match):
    with pytest.raises(ValueError, match=match):
        encode_pcr(images, centers)


def test_bad_types():
    with pytest.raises(TypeError, match='source_images must be an array'):
        encode_pcr(None, CENTERS)
    with pytest.raises(TypeError, match='source_images must hold real'):
        encode_pcr(np.zeros((4,) + SHAPE, dtype=complex), CENTERS)
    with pytest.raises(TypeError, match='centers must be an'):
        encode_pcr(np.zeros((4,) + SHAPE), None)
    with pytest.raises(TypeError, match='centers must be an'):
        encode_pcr(np.zeros((4,) + SHAPE), {1: (0, 0)})


def test_bad_cutouts():
    good = to_cutouts(gaussian_sources(CENTERS))
    with pytest.raises(ValueError, match='shape must be given'):
        encode_pcr(good, CENTERS)
    bad = list(good)
    bad[1] = SourceCutout(np.zeros((3, 3)), (slice(-1, 2), slice(0, 3)))
    with pytest.raises(ValueError, match=r'source_images\[1\].slices\[0\]'):
        encode_pcr(bad, CENTERS, shape=SHAPE)
    bad[1] = SourceCutout(np.zeros((3, 3)), (slice(0, 3), slice(0, 4)))
    with pytest.raises(ValueError, match=r'source_images\[1\].data has shape'):
        encode_pcr(bad, CENTERS, shape=SHAPE)
    bad[1] = SourceCutout(np.zeros((3, 3, 2)), (slice(0, 3), slice(0, 3)))
    with pytest.raises(ValueError, match='multi-band cutouts'):
        encode_pcr(bad, CENTERS, shape=SHAPE)
    bad[1] = SourceCutout(np.zeros((3, 3)), [slice(0, 3), slice(0, 3)])
    with pytest.raises(TypeError, match=r'source_images\[1\].slices must be'):
        encode_pcr(bad, CENTERS, shape=SHAPE)
    with pytest.raises(TypeError, match='mixing both'):
        encode_pcr([good[0], np.zeros(SHAPE)], CENTERS[:2], shape=SHAPE)


def test_pcr_container_checks():
    com = np.zeros((4, 5))
    vectors = np.zeros((4, 5, 2, 2))
    maps = np.zeros((4, 5, 2))
    pcr = PCR(com, vectors, maps, maps_are_logits=True)
    assert pcr.n_contributors == 2 and pcr.shape == (4, 5)
    np.testing.assert_allclose(pcr.fractions(), 0.5)
    with pytest.raises(ValueError, match='center_of_mass must be 2'):
        PCR(np.zeros(4), vectors, maps)
    with pytest.raises(ValueError, match='contribution_maps must be 3'):
        PCR(com, vectors, np.zeros((4, 5)))
    with pytest.raises(ValueError, match='contribution_vectors must have'):
        PCR(com, np.zeros((4, 5, 2, 3)), maps)
    with pytest.raises(ValueError, match='contribution_maps has shape'):
        PCR(com, vectors, np.zeros((4, 6, 2)))
    with pytest.raises(ValueError, match='contribution_vectors has shape'):
        PCR(com, np.zeros((4, 5, 3, 2)), maps)
    with pytest.raises(TypeError, match='maps_are_logits must be a bool'):
        PCR(com, vectors, maps, maps_are_logits=1)
    with pytest.raises(TypeError, match='center_of_mass must hold real'):
        PCR(com.astype(complex), vectors, maps)
