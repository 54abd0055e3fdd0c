"""Tests of the benchmark method adapters on tiny seeded scenes."""

import shutil
import warnings

import numpy as np
import pytest

from pais_deblend.benchmark import (
    BenchmarkImage, Method, MethodOutput, find_sextractor, get_method,
    partial_from_fraction_maps)
from pais_deblend.benchmark.registry import (gaussian_kernel,
                                             segment_fluxes)
from pais_deblend.segmentation import PartialSegmentationImage, SourceCutout

FWHM = 3.0
SIGMA = 0.01


def gaussian_source(center, flux, shape, fwhm=FWHM):
    """A pixel-sampled circular Gaussian of total flux ``flux``."""
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    yy, xx = np.indices(shape, dtype=np.float64)
    image = np.exp(-0.5 * ((yy - center[0]) ** 2 + (xx - center[1]) ** 2)
                   / sigma ** 2)
    return flux * image / image.sum()


def gaussian_scene(centers, fluxes, *, shape=(48, 48), seed=0, noise=True,
                   name='tiny'):
    """A BenchmarkImage of Gaussian 'stars' with exact truth."""
    rng = np.random.default_rng(seed)
    sources = [gaussian_source(c, f, shape) for c, f in zip(centers, fluxes)]
    data = np.sum(sources, axis=0)
    if noise:
        data = data + rng.normal(0, SIGMA, shape)
    full = (slice(0, shape[0]), slice(0, shape[1]))
    return BenchmarkImage(
        name=name, data=data.astype(np.float32), psf_fwhm=FWHM,
        noise_sigma=SIGMA, true_centers=np.asarray(centers, dtype=float),
        true_source_images=[SourceCutout(s.astype(np.float32), full)
                            for s in sources],
        in_frame=np.ones(len(centers), dtype=bool), noiseless=not noise)


PEERS = ['photutils', 'sep', 'sextractor']
needs_sextractor = pytest.mark.skipif(find_sextractor() is None,
                                      reason='SExtractor not installed')


def _run(name, image):
    method = get_method(name)
    ok, reason = method.available()
    if not ok:
        pytest.skip(reason)
    method.configure(quick=True)
    output = method.run(image)
    assert isinstance(output, MethodOutput)
    return output


@pytest.mark.parametrize('name', PEERS + ['pcr_ceiling'])
def test_isolated_bright_source(name):
    # S/N ~ 1000: every method finds it where it is with the right flux
    image = gaussian_scene([(23.3, 24.6)], [100.0])
    output = _run(name, image)
    assert output.n_sources == 1
    assert np.hypot(*(output.positions[0] - image.true_centers[0])) < 0.3
    assert output.catalog['flux'][0] == pytest.approx(100.0, rel=0.03)
    # the segment holds most of the light and the label matches the catalog
    assert 0.9 * 100 < output.catalog['flux_segment'][0] < 1.02 * 100
    label = output.catalog['label'][0]
    y, x = np.round(output.positions[0]).astype(int)
    assert output.segmentation.data[y, x] == label


@pytest.mark.parametrize('name', PEERS)
def test_unresolved_equal_pair_is_one_source(name):
    # 0.5 FWHM apart: a single peak, which the detection codes cannot split
    image = gaussian_scene([(24.0, 23.25), (24.0, 24.75)], [50.0, 50.0])
    output = _run(name, image)
    assert output.n_sources == 1
    assert output.catalog['flux'][0] == pytest.approx(100.0, rel=0.05)


@pytest.mark.parametrize('name', PEERS)
def test_separated_pair_is_two_sources(name):
    image = gaussian_scene([(24.0, 16.0), (24.0, 32.0)], [60.0, 15.0])
    output = _run(name, image)
    assert output.n_sources == 2
    order = np.argsort(output.catalog['x'])
    np.testing.assert_allclose(output.positions[order], image.true_centers,
                               atol=0.3)
    np.testing.assert_allclose(np.asarray(output.catalog['flux'])[order],
                               [60.0, 15.0], rtol=0.05)


def test_empty_image_gives_empty_catalog():
    image = gaussian_scene([(24.0, 24.0)], [0.0], noise=False)
    for name in ('photutils', 'sep'):
        output = _run(name, image)
        assert output.n_sources == 0
        assert output.positions.shape == (0, 2)
        assert not np.any(output.segmentation.data)


@needs_sextractor
def test_sextractor_real_program_writes_its_files():
    image = gaussian_scene([(10.0, 12.0), (30.0, 35.0)], [40.0, 20.0])
    output = _run('sextractor', image)
    assert output.meta['command'].split()[0].endswith(('source-extractor',
                                                       'sex'))
    assert '-FILTER_NAME' in output.meta['command']
    assert output.meta['external_peak_memory'] > 0
    assert set(np.unique(output.segmentation.data)) == {0, 1, 2}
    # catalog positions are converted from FITS 1-based to 0-based
    order = np.argsort(output.catalog['y'])
    np.testing.assert_allclose(output.positions[order], image.true_centers,
                               atol=0.2)
    # FLUX_ISO and the sum over the check image agree (same pixels)
    np.testing.assert_allclose(output.catalog['flux_isophotal'],
                               output.catalog['flux_segment'], rtol=1e-4)


def test_sextractor_absent_is_skipped_not_faked(monkeypatch):
    from pais_deblend.benchmark import adapters

    monkeypatch.setattr(shutil, 'which', lambda name: None)
    method = get_method('sextractor')
    ok, reason = method.available()
    assert not ok
    assert 'source-extractor' in reason
    assert adapters.find_sextractor() is None
    with pytest.raises(FileNotFoundError, match='SExtractor'):
        method.run(gaussian_scene([(24.0, 24.0)], [10.0]))


def test_pcr_ceiling_is_exact_on_noiseless_pairs():
    from pais_deblend.evaluation import flux_conservation

    image = gaussian_scene([(24.0, 22.0), (24.0, 25.0), (20.0, 24.0)],
                           [30.0, 10.0, 5.0], noise=False)
    output = _run('pcr_ceiling', image)
    assert output.is_partial
    np.testing.assert_allclose(output.catalog['flux'], [30.0, 10.0, 5.0],
                               rtol=1e-4)
    assert flux_conservation(output.segmentation, image.data) < 1e-6


def test_pcr_ceiling_needs_truth():
    method = get_method('pcr_ceiling')
    image = gaussian_scene([(24.0, 24.0)], [10.0])
    assert method.applicable(image)
    image.true_source_images = None
    assert not method.applicable(image)
    image.true_centers = None
    assert not get_method('scarlet2_true').applicable(image)
    assert get_method('scarlet2_sep').applicable(image)


def test_scarlet2_true_positions_share_the_flux():
    # one scarlet2 fit (the first JAX compilation dominates the time)
    image = gaussian_scene([(16.0, 13.0), (16.0, 19.0)], [40.0, 20.0],
                           shape=(32, 32))
    output = _run('scarlet2_true', image)
    assert output.is_partial
    assert isinstance(output.segmentation, PartialSegmentationImage)
    np.testing.assert_allclose(output.positions, image.true_centers)
    # (the split between the two is not checked: with free morphologies
    # it is poorly constrained, 37/28 after 40 iterations, 32/32 after 200)
    flux = np.asarray(output.catalog['flux'])
    assert np.all(flux > 0)
    assert flux.sum() == pytest.approx(60.0, rel=0.2)
    assert set(output.source_images) == {1, 2}
    from pais_deblend.evaluation import flux_conservation

    assert flux_conservation(output.segmentation, image.data) < 1e-6
    # at sep's positions (same image shape: no new JAX compilation)
    detected = _run('scarlet2_sep', image)
    np.testing.assert_allclose(detected.positions,
                               _run('sep', image).positions)
    assert detected.catalog['flux'].sum() == pytest.approx(60.0, rel=0.2)


def test_partial_from_fraction_maps_keeps_largest_and_sums_to_one():
    rng = np.random.default_rng(3)
    shape = (6, 7)
    maps = rng.random((4,) + shape)
    maps[:, 0, 0] = 0  # unattributed pixel
    full = (slice(0, shape[0]), slice(0, shape[1]))
    segmentation = partial_from_fraction_maps(
        [SourceCutout(m.astype(np.float32), full) for m in maps], shape,
        n_contributors=2)
    assert segmentation.contributors.shape == shape + (2,)
    assert np.all(segmentation.contributors[0, 0] == 0)
    sums = segmentation.weights.sum(axis=-1)
    np.testing.assert_allclose(sums[1:, :], 1.0, atol=1e-6)
    top = np.argsort(-maps, axis=0)[:2] + 1
    np.testing.assert_array_equal(np.sort(segmentation.contributors[2, 3]),
                                  np.sort(top[:, 2, 3]))
    expected = maps[top[0, 2, 3] - 1, 2, 3] / (
        maps[top[0, 2, 3] - 1, 2, 3] + maps[top[1, 2, 3] - 1, 2, 3])
    assert segmentation.weights[2, 3].max() == pytest.approx(expected,
                                                              rel=1e-5)


def test_segment_fluxes_disjoint_and_partial():
    from photutils.segmentation import SegmentationImage

    data = np.arange(12, dtype=float).reshape(3, 4)
    labels = np.array([[1, 1, 0, 2], [1, 0, 2, 2], [0, 0, 0, 2]])
    np.testing.assert_allclose(
        segment_fluxes(SegmentationImage(labels), data, [1, 2]),
        [0 + 1 + 4, 3 + 6 + 7 + 11])
    contributors = np.zeros((3, 4, 2), dtype=np.int32)
    weights = np.zeros((3, 4, 2), dtype=np.float32)
    contributors[0, 0] = (1, 2)
    weights[0, 0] = (0.25, 0.75)
    contributors[1, 1] = (2, 0)
    weights[1, 1] = (1.0, 0.0)
    partial = PartialSegmentationImage(contributors, weights)
    data[0, 0] = 8.0
    np.testing.assert_allclose(segment_fluxes(partial, data, [1, 2]),
                               [2.0, 6.0 + 5.0])


def test_gaussian_kernel_is_normalised_and_symmetric():
    kernel = gaussian_kernel(3.0)
    assert kernel.shape == (7, 7)
    assert kernel.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(kernel, kernel.T)
    assert kernel[3, 3] == kernel.max()


def test_method_base_requires_and_programs():
    class Missing(Method):
        name = 'missing'
        requires = ('no_such_module_xyz',)

    ok, reason = Missing().available()
    assert not ok and 'no_such_module_xyz' in reason

    class NoProgram(Method):
        name = 'noprogram'
        programs = (('no-such-program-xyz',),)

    ok, reason = NoProgram().available()
    assert not ok and 'no-such-program-xyz' in reason
    with pytest.raises(NotImplementedError):
        Method().run(None)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert repr(NoProgram()) == "<NoProgram 'noprogram'>"


@needs_sextractor
def test_sextractor_class_star_separates_point_and_extended():
    from pais_deblend.benchmark.adapters import (
        SExtractorMethod, find_star_network)

    if find_star_network() is None:
        pytest.skip('default.nnw not installed')
    image = gaussian_scene([(16.0, 16.0), (34.0, 34.0)], [80.0, 80.0])
    # make the second source extended: add a wide component around it
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    wide = np.exp(-((rows - 34.0) ** 2 + (cols - 34.0) ** 2) / (2 * 4.0 ** 2))
    image.data = image.data + 300.0 * wide / wide.sum()
    output = SExtractorMethod(class_star=True).run(image)
    assert '-STARNNW_NAME' in output.meta['command']
    order = np.argsort(output.catalog['y'])
    class_star = np.asarray(output.catalog['class_star'])[order]
    assert class_star[0] > 0.8 > 0.2 > class_star[1]


def test_sextractor_class_star_needs_network(monkeypatch):
    from pais_deblend.benchmark import adapters

    monkeypatch.setattr(adapters, '_STAR_NETWORKS', ('/nonexistent.nnw',))
    method = adapters.SExtractorMethod(class_star=True)
    image = gaussian_scene([(24.0, 24.0)], [10.0])
    with pytest.raises(FileNotFoundError, match='default.nnw'):
        method._class_star_options(image, '/tmp')
