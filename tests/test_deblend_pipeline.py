"""
The pipeline shared by `Deblender` and the mosaic tiles: one image gives
the same partial segmentation through both, and the attribution option
reaches every entry point.
"""

import numpy as np
import pytest

pytest.importorskip('keras')

from pais_deblend import Deblender  # noqa: E402
from pais_deblend.deblend.inputs import prepare_image  # noqa: E402
from pais_deblend.deblend.pipeline import (  # noqa: E402
    ATTRIBUTION_METHODS, detection_image, footprint_from_flux, run_pipeline)

from .test_mosaic import label_map_by_center  # noqa: E402


@pytest.fixture(scope='module')
def field():
    from pais_deblend.simulation import simulate_scene

    return simulate_scene('hst_f160w', shape=(1024, 1024), seed=11).image


@pytest.fixture(scope='module')
def bundled():
    return Deblender('hst_f160w', progress_bar=False)


@pytest.mark.slow
def test_mosaic_of_four_tiles_is_bit_identical(field, bundled, tmp_path):
    pytest.importorskip('zarr')
    from pais_deblend.mosaic import deblend_mosaic

    # the mosaic's network tiles (512) on the same runtime
    single = Deblender('hst_f160w', tile_size=512, progress_bar=False)(field)
    mosaic = deblend_mosaic(field, tmp_path / 'field.zarr', tile_size=512,
                            model='hst_f160w', progress_bar=False)
    assert len(mosaic.plan) == 4
    assert mosaic.n_sources == len(single.partial_labels) > 50
    tiled = mosaic.read()
    mapping = label_map_by_center(single, mosaic)
    np.testing.assert_array_equal(mapping[single.contributors],
                                  tiled.contributors)
    np.testing.assert_array_equal(single.weights, tiled.weights)


def test_run_pipeline_core_equals_whole(field, bundled):
    """Attributing a core against the image's centres gives the pixels of
    the whole-image result."""
    image = prepare_image(field[:256, :256])
    whole = run_pipeline(bundled, image)
    core = (slice(64, 192), slice(32, 160))
    part = run_pipeline(bundled, image, core=core)
    np.testing.assert_array_equal(part.centers, whole.centers)
    np.testing.assert_array_equal(part.contributors,
                                  whole.contributors[core])
    np.testing.assert_array_equal(part.weights, whole.weights[core])


def test_run_pipeline_times_its_steps(field, bundled):
    image = prepare_image(field[:256, :256])
    timings = {}
    timed = run_pipeline(bundled, image, companion_threshold=15.0,
                         timings=timings)
    assert set(timings) == {'noise', 'network', 'centres', 'detection image',
                            'footprint', 'companion search', 'attribution'}
    assert all(seconds >= 0 for seconds in timings.values())
    # timing changes nothing
    plain = run_pipeline(bundled, image, companion_threshold=15.0)
    np.testing.assert_array_equal(timed.contributors, plain.contributors)
    np.testing.assert_array_equal(timed.weights, plain.weights)


def test_footprint_is_labelled_regions_holding_centres():
    mask = np.zeros((20, 30), dtype=bool)
    detection = np.zeros((20, 30))
    detection[2:6, 2:6] = 10.0     # holds a centre
    detection[10:14, 20:25] = 10.0  # no centre
    detection[15, 1] = 10.0         # a centre, but one pixel
    centers = np.array([[3.0, 3.0], [15.0, 1.0]])
    labels = footprint_from_flux(detection, mask, centers, threshold=1.0,
                                 n_pixels=2, detection_noise=1.0)
    assert labels.dtype == np.int32
    assert (labels[2:6, 2:6] > 0).all()
    assert labels.sum() == labels[2, 2] * 16
    with pytest.raises(ValueError, match='connectivity'):
        footprint_from_flux(detection, mask, centers, threshold=1.0,
                            n_pixels=2, connectivity=6, detection_noise=1.0)


def test_detection_image_ignores_masked_pixels():
    data = np.ones((8, 9))
    mask = np.zeros((8, 9), dtype=bool)
    mask[4, 4] = True
    data[4, 4] = 1e9
    result = detection_image(data, np.array([2.0]), mask, 0.0)
    assert result[4, 4] == 0.0
    np.testing.assert_allclose(result[~mask], 0.5)
    assert data[4, 4] == 1e9  # the input is not modified


@pytest.mark.parametrize('value, error, match', [
    ('bogus', ValueError, r"attribution must be one of .*got 'bogus'"),
    (3, ValueError, r'attribution must be one of'),
])
def test_attribution_errors(value, error, match):
    with pytest.raises(error, match=match):
        Deblender('hst_f160w', attribution=value)


@pytest.mark.parametrize('attribution', ATTRIBUTION_METHODS)
def test_every_attribution_conserves_flux(field, attribution):
    from pais_deblend import deblend_sources
    from pais_deblend.evaluation import flux_conservation

    image = field[:192, :192]
    segmentation = deblend_sources(image, attribution=attribution,
                                   progress_bar=False)
    assert flux_conservation(segmentation, image) <= 1e-6
    assert repr(attribution) in repr(Deblender(attribution=attribution))


def _pair_image(separation=4.0, ratio=4.0, sigma=1.6, noise=0.01, seed=3):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:48, 0:48]
    bright = np.exp(-((rows - 24.0) ** 2 + (cols - 22.0) ** 2)
                    / (2 * sigma ** 2))
    faint = np.exp(-((rows - 24.0) ** 2 + (cols - 22.0 - separation) ** 2)
                   / (2 * sigma ** 2)) / ratio
    return bright + faint + rng.normal(0, noise, size=rows.shape)


def test_search_companions_finds_a_merged_companion():
    from pais_deblend.deblend.pipeline import search_companions

    image = _pair_image()
    segments = (image > 0.05).astype(np.int32)
    found = search_companions(image, np.array([[24.0, 22.0]]), segments,
                              np.array([0.01]), threshold=15.0,
                              fraction=0.3)
    assert found.shape == (1, 2)
    assert np.hypot(*(found[0] - [24.0, 26.0])) <= 1.5
    # with both centres known, nothing is left to find
    both = search_companions(image, np.array([[24.0, 22.0], [24.0, 26.0]]),
                             segments, np.array([0.01]), threshold=15.0,
                             fraction=0.3)
    assert both.shape == (0, 2)


def test_search_companions_on_the_shared_detection_image():
    """The pipeline hands the search its detection image (the same plane,
    smoothed once): the companions found are those of the search's own
    smoothing."""
    from pais_deblend.deblend.pipeline import (TEMPLATE_OPTIONS,
                                               detection_image,
                                               search_companions)

    image = np.stack([_pair_image(seed=3), 2 * _pair_image(seed=4)], axis=2)
    noise = np.array([0.01, 0.02])
    segments = (image[..., 0] > 0.05).astype(np.int32)
    mask = np.zeros(segments.shape, dtype=bool)
    smoothed = detection_image(image, noise, mask,
                               TEMPLATE_OPTIONS['smoothing'])
    alone = search_companions(image, np.array([[24.0, 22.0]]), segments,
                              noise, threshold=15.0)
    shared = search_companions(image, np.array([[24.0, 22.0]]), segments,
                               noise, threshold=15.0, smoothed=smoothed)
    assert alone.shape == (1, 2)
    np.testing.assert_array_equal(shared, alone)


def test_search_companions_leaves_a_symmetric_source_alone():
    from pais_deblend.deblend.pipeline import search_companions

    image = _pair_image(ratio=1e9)
    segments = (image > 0.05).astype(np.int32)
    found = search_companions(image, np.array([[24.0, 22.0]]), segments,
                              np.array([0.01]), threshold=15.0,
                              fraction=0.3)
    assert found.shape == (0, 2)


def test_run_pipeline_records_how_each_centre_was_found(bundled):
    from pais_deblend.deblend.pipeline import empty_result
    from pais_deblend.segmentation import SourceFlags

    image = prepare_image(_pair_image())
    alone = run_pipeline(bundled, image)
    np.testing.assert_array_equal(alone.origins, [0])
    assert alone.origins.dtype == np.int32
    searched = run_pipeline(bundled, image, companion_threshold=15.0)
    # the network's centre first, then the merged companion
    np.testing.assert_array_equal(searched.centers[0], alone.centers[0])
    assert np.hypot(*(searched.centers[1] - [24.0, 26.0])) <= 1.5
    np.testing.assert_array_equal(searched.origins,
                                  [0, SourceFlags.RESIDUAL])
    # a given segment over blank sky gets a centre of its own
    segments = np.zeros(image.shape, dtype=np.int32)
    segments[18:31, 15:34] = 1
    segments[2:8, 2:8] = 2
    given = run_pipeline(bundled, image, segments=segments)
    assert len(given.centers) == 2
    assert np.all((given.centers[1] >= 2) & (given.centers[1] < 8))
    np.testing.assert_array_equal(given.origins, [0, SourceFlags.ADDED])
    # centres the exact zone leaves out take their origins with them
    exact = (slice(0, 48), slice(0, 24))
    cut = run_pipeline(bundled, image, companion_threshold=15.0,
                       exact=exact)
    np.testing.assert_array_equal(cut.origins, [0])
    empty = empty_result(bundled, (4, 4))
    assert empty.origins.shape == (0,) and empty.centers.shape == (0, 2)


def test_catalog_flags_the_residual_companion(bundled):
    from pais_deblend.segmentation import PartialSourceCatalog, SourceFlags

    image = _pair_image()
    segmentation = Deblender('hst_f160w', companion_threshold=15.0,
                             progress_bar=False)(image)
    flags = segmentation.detection_flags
    assert set(flags) == set(segmentation.partial_labels.tolist())
    companion = [label for label, (y, x) in segmentation.centers.items()
                 if np.hypot(y - 24.0, x - 26.0) <= 1.5]
    assert companion and flags[companion[0]] == SourceFlags.RESIDUAL
    assert all(value == 0 for label, value in flags.items()
               if label != companion[0])
    catalog = PartialSourceCatalog(image, segmentation)
    found = catalog.flags & SourceFlags.RESIDUAL
    np.testing.assert_array_equal(found > 0,
                                  catalog.labels == companion[0])
    assert not np.any(catalog.flags & SourceFlags.ADDED)
    # without the search the network's source alone, not flagged
    alone = Deblender('hst_f160w', companion_threshold=None,
                      progress_bar=False)(image)
    assert list(alone.detection_flags.values()) == [0]
    assert not np.any(PartialSourceCatalog(image, alone).flags
                      & (SourceFlags.RESIDUAL | SourceFlags.ADDED))


def test_deblend_sources_flags_a_segment_the_network_missed():
    from photutils.segmentation import SegmentationImage

    from pais_deblend import deblend_sources
    from pais_deblend.segmentation import PartialSourceCatalog, SourceFlags

    image = _pair_image()
    segments = np.zeros(image.shape, dtype=np.int32)
    segments[18:31, 15:34] = 1
    segments[2:8, 2:8] = 2  # blank sky: the network finds nothing there
    segmentation = deblend_sources(image, SegmentationImage(segments),
                                   companion_threshold=None,
                                   progress_bar=False)
    assert segmentation.detection_flags == {1: 0, 2: SourceFlags.ADDED}
    catalog = PartialSourceCatalog(image, segmentation)
    np.testing.assert_array_equal(catalog.flags & SourceFlags.ADDED,
                                  [0, SourceFlags.ADDED])


@pytest.mark.parametrize('seed', range(20))
def test_strongest_per_segment_matches_ndimage(seed):
    from scipy import ndimage

    from pais_deblend.deblend.pipeline import _strongest_per_segment

    rng = np.random.default_rng(seed)
    segments = rng.integers(0, 6, (20, 30))
    residual = rng.normal(size=(20, 30)).astype(np.float32)
    candidate = (rng.random((20, 30)) < 0.3) & (segments > 0)
    labels = np.where(candidate, segments, 0)
    present = np.flatnonzero(np.bincount(labels.ravel())[1:]) + 1
    expected = np.asarray(ndimage.maximum_position(residual, labels,
                                                   present),
                          dtype=np.float64).reshape(-1, 2)
    ys, xs = np.nonzero(candidate)
    found = _strongest_per_segment(ys, xs, residual[ys, xs], segments)
    np.testing.assert_array_equal(found, expected)
    none = np.zeros(0, dtype=np.intp)
    assert _strongest_per_segment(none, none, np.zeros(0, np.float32),
                                  segments).shape == (0, 2)


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('serial', [False, True])
def test_companion_candidates_match_numpy(seed, serial):
    # the search's former NumPy expression, float32 comparisons included
    from pais_deblend.deblend._kernels import companion_candidates

    rng = np.random.default_rng(seed)
    smoothed = rng.normal(2.0, 3.0, (40, 50)).astype(np.float32)
    model = rng.normal(1.0, 2.0, (40, 50)).astype(np.float32)
    segments = rng.integers(0, 4, (40, 50)).astype(np.int32)
    level = 1.7
    residual = smoothed - model
    expected = ((smoothed > level) & (segments > 0) & (residual > level)
                & (residual > 0.3 * smoothed))
    kernel = (companion_candidates.serial_twin if serial
              else companion_candidates)
    np.testing.assert_array_equal(
        kernel(smoothed, model, segments, np.float32(level), np.float32(0.3)),
        expected)


@pytest.mark.parametrize('value, error, match', [
    (-1.0, ValueError, r'companion_threshold must be > 0'),
    (float('nan'), ValueError, r'companion_threshold must be finite'),
    ('high', TypeError, r'companion_threshold must be a real number'),
])
def test_companion_threshold_errors(value, error, match):
    with pytest.raises(error, match=match):
        Deblender('hst_f160w', companion_threshold=value)


def test_companion_search_adds_sources(field, bundled):
    image = field[:256, :256]
    alone = Deblender('hst_f160w', companion_threshold=None,
                      progress_bar=False)(image)
    searched = Deblender('hst_f160w', companion_threshold=5.0,
                         progress_bar=False)(image)
    assert len(searched.partial_labels) >= len(alone.partial_labels)
    centers = set(alone.centers.values())
    assert centers <= set(searched.centers.values())


def test_small_image_never_starts_numba_threads():
    """A call on a small image runs the serial twins of every parallel
    kernel it needs (detection, decode, attribution, the partial
    segmentation), so numba's thread pool, whose spinning threads slow
    TensorFlow's, is never started."""
    import os
    import subprocess
    import sys

    import pais_deblend

    code = (
        'import warnings; import numpy as np\n'
        'from numba.np.ufunc import parallel\n'
        'from pais_deblend import Deblender\n'
        'from pais_deblend.simulation import simulate_scene\n'
        'image = simulate_scene("hst_f160w", shape=(96, 96), seed=1).image\n'
        'segm = Deblender(progress_bar=False)(image)\n'
        'assert segm is not None and segm.nlabels > 1\n'
        'segm.weight_map(segm.labels[0])\n'
        'segm.remove_labels(segm.labels[:1])\n'
        'print(parallel._is_initialized)\n')
    root = os.path.dirname(os.path.dirname(pais_deblend.__file__))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, check=True, cwd=root)
    assert result.stdout.split()[-1] == 'False'


@pytest.mark.parametrize('n_bands', [0, 3])
@pytest.mark.parametrize('confine', [False, True])
def test_templates_leave_uncovered_pixels_to_the_network_decode(n_bands,
                                                                confine):
    # the template attribution's arrays hold the templates' shares where
    # a template covers the pixel and the network's decode elsewhere
    from pais_deblend.attribution import attribute_with_templates
    from pais_deblend.deblend.pipeline import TEMPLATE_OPTIONS, attribute
    from pais_deblend.pcr import PCR, decode_arrays, decode_band_weights

    rng = np.random.default_rng([7, n_bands, confine])
    shape = (40, 44)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    centers = np.array([[12.0, 12.0], [26.0, 30.0], [30.0, 14.0]])
    image = sum(np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 8.0)
                for cy, cx in centers)
    image = image + rng.normal(0, 0.02, shape)
    if n_bands:
        image = image[..., np.newaxis] * np.array([0.5, 1.0, 1.4])
    noise = np.full(max(n_bands, 1), 0.02)
    # a wide footprint: its outskirts lie beyond every template
    segments = np.ones(shape, dtype=np.int32)
    segments[:, 22:] = 2 if confine else 1
    mask = np.zeros(shape, dtype=bool)
    pcr = PCR(rng.random(shape), rng.normal(0, 8, shape + (3, 2)),
              rng.normal(0, 1, shape + (3,)), maps_are_logits=True)
    band_maps = (rng.normal(0, 1, shape + (n_bands, 3)).astype(np.float32)
                 if n_bands else None)
    decoded, band_weights = attribute(
        pcr, band_maps, image, centers, segments=segments, mask=mask,
        confine=confine, method='templates', noise_sigma=noise)
    shared = attribute_with_templates(image, centers, segments,
                                      noise_sigma=noise, n_contributors=3,
                                      **TEMPLATE_OPTIONS)
    network = decode_arrays(pcr, image, centers=centers,
                            footprint=segments > 0, mask=mask,
                            segments=segments if confine else None)
    covered = shared.covered
    assert covered.any() and not covered.all()
    for got, templates, decode in (
            (decoded.contributors, shared.contributors,
             network.contributors),
            (decoded.weights, shared.weights, network.weights),
            (decoded.dominant, shared.dominant, network.dominant)):
        np.testing.assert_array_equal(got[covered], templates[covered])
        np.testing.assert_array_equal(got[~covered], decode[~covered])
    if n_bands:
        network_bands = decode_band_weights(pcr, band_maps, network, image,
                                            footprint=segments > 0,
                                            mask=mask)
        np.testing.assert_array_equal(band_weights[~covered],
                                      network_bands[~covered])
        np.testing.assert_array_equal(band_weights[covered],
                                      shared.band_weights[covered])
