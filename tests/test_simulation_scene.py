"""Tests of pais_deblend.simulation: presets, populations, scenes, pairs."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('galsim')

from hypothesis import given, settings, strategies as st  # noqa: E402

from pais_deblend.segmentation import SourceCutout  # noqa: E402
from pais_deblend.simulation import (  # noqa: E402
    SOURCE_TYPES, SceneSimulator, available_presets, correlated_noise,
    get_preset, pair_grid, quantize_sersic_index, sample_population,
    simulate_pair, simulate_scene)
from pais_deblend.simulation._render import draw_with_galsim  # noqa: E402

SMALL = (64, 64)


@pytest.fixture(scope='module')
def hst_scene():
    return simulate_scene('hst_f160w', shape=(96, 80), seed=11, density=600)


@pytest.fixture(scope='module')
def ground_scene():
    return simulate_scene('ground_grz', shape=(64, 72), seed=5, density=200)


def test_import_does_not_import_galsim():
    code = ('import sys, pais_deblend, pais_deblend.segmentation, '
            'pais_deblend.simulation; '
            'print(any(m in sys.modules for m in ("galsim", "scarlet2", "jax")))')
    output = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert output == 'False'


def test_presets():
    assert {'hst_f160w', 'ground_grz', 'hst_hlf'} <= set(available_presets())
    hst = get_preset('hst_f160w')
    assert hst.pixel_scale == 0.06
    assert hst.n_bands == 1 and hst.band_names == ('F160W',)
    assert 0.005 < hst.bands[0].noise_sigma < 0.0065
    assert hst.psf_fwhm_pixels == pytest.approx(3.0)
    ground = get_preset('ground_grz')
    assert ground.pixel_scale == 0.2
    assert ground.band_names == ('g', 'r', 'z')
    assert 0.6 <= ground.psf_fwhm <= 0.8
    assert get_preset(ground) is ground
    flux = hst.magnitude_to_flux(25.946)
    assert flux == pytest.approx(1.0)
    assert hst.flux_to_magnitude(flux) == pytest.approx(25.946)
    assert ground.band_index('z') == 2
    psf = hst.psf()
    assert psf.flux == pytest.approx(1.0)


def test_preset_errors():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        get_preset('nope')
    with pytest.raises(TypeError, match='preset must be'):
        get_preset(3)
    with pytest.raises(ValueError, match='band must be one of'):
        get_preset('ground_grz').band_index('u')
    with pytest.raises(ValueError, match='band must be in'):
        get_preset('ground_grz').band_index(3)


def test_quantize_sersic_index():
    assert quantize_sersic_index(3.7) == 3.5
    np.testing.assert_array_equal(quantize_sersic_index([0.1, 2.26, 9.0]),
                                  [0.5, 2.5, 6.0])
    population = sample_population('hst_f160w', shape=(128, 128), seed=1,
                                   density=2000)
    assert np.all(np.mod(population.sersic_n, 0.5) == 0)


def test_population_counts_and_types():
    preset = get_preset('hst_f160w')
    population = sample_population(preset, shape=(256, 256), seed=3,
                                   density=3000, margin=0)
    area = (256 * 0.06 / 60) ** 2
    expected = 3000 * area
    assert abs(len(population) - expected) < 5 * np.sqrt(expected)
    types = set(population.types)
    # irregular galaxies only where asked for (preset hst_f160w_irregular or
    # irregular_fraction)
    assert types == set(SOURCE_TYPES) - {'irregular'}
    magnitudes = population.magnitude
    low, high = preset.magnitude_range
    assert magnitudes.min() >= low and magnitudes.max() <= high
    # number counts rise towards faint magnitudes (slope 0.25 per mag)
    assert np.sum(magnitudes > (low + high) / 2) > np.sum(magnitudes < (low + high) / 2)
    # magnitude-size relation: brighter galaxies are larger
    galaxies = population.type_code == 0
    bright = galaxies & (magnitudes < 23)
    faint = galaxies & (magnitudes > 26)
    assert np.median(population.size[bright]) > np.median(population.size[faint])
    assert np.all(population.size[population.type_code == 2] == 0)
    assert np.all(population.n_knots[population.type_code == 1] >= 5)


def test_population_margin_places_sources_outside():
    population = sample_population('hst_f160w', shape=(64, 64), seed=2,
                                   density=3000, margin=20)
    outside = ((population.y < -0.5) | (population.y > 63.5)
               | (population.x < -0.5) | (population.x > 63.5))
    assert outside.any() and (~outside).any()


def test_scene_structure(hst_scene):
    scene = hst_scene
    assert scene.image.shape == (96, 80) and scene.image.dtype == np.float32
    assert scene.noise.shape == scene.image.shape
    assert scene.centers.shape == (scene.n_sources, 2)
    assert scene.centers.dtype == np.float64
    assert scene.n_sources == len(scene.source_images) > 5
    for cutout in scene.source_images:
        assert isinstance(cutout, SourceCutout)
        ys, xs = cutout.slices
        assert 0 <= ys.start < ys.stop <= 96 and 0 <= xs.start < xs.stop <= 80
        assert cutout.data.shape == cutout.bbox_shape
        assert cutout.data.dtype == np.float32
        # a cutout, never a full frame for every source
    assert sum(c.data.size for c in scene.source_images) < 0.5 * scene.n_sources * 96 * 80
    catalog = scene.catalog
    for column in ('label', 'y', 'x', 'flux', 'type', 'size', 'axis_ratio',
                   'position_angle', 'blendedness', 'magnitude', 'in_frame'):
        assert column in catalog.colnames
    np.testing.assert_array_equal(catalog['label'], np.arange(1, scene.n_sources + 1))
    np.testing.assert_array_equal(np.column_stack([catalog['y'], catalog['x']]),
                                  scene.centers)
    assert set(catalog['type']) <= set(SOURCE_TYPES)
    assert np.all((catalog['blendedness'] >= -1e-6) & (catalog['blendedness'] <= 1))
    # drawn flux close to the model flux for sources well inside the frame
    inside = ((catalog['y'] > 30) & (catalog['y'] < 66) & (catalog['x'] > 30)
              & (catalog['x'] < 50) & (catalog['size'] < 0.3))
    if inside.any():
        np.testing.assert_allclose(catalog['flux_in_frame'][inside],
                                   catalog['flux'][inside], rtol=0.03)


def test_truth_is_exact(hst_scene, ground_scene):
    for scene in (hst_scene, ground_scene):
        total = scene.noiseless_image + scene.noise
        scale = np.abs(scene.image).max()
        np.testing.assert_allclose(total, scene.image, rtol=0,
                                   atol=4 * np.finfo(np.float32).eps * scale)


@pytest.mark.parametrize('band', [None, 0, 'z'])
def test_fraction_maps_sum_to_one(ground_scene, band):
    scene = ground_scene
    maps = scene.fraction_maps(band=band)
    assert len(maps) == scene.n_sources
    total = np.zeros(scene.shape)
    for truth, cutout in zip(maps, scene.source_images):
        assert truth.slices == cutout.slices
        assert truth.data.ndim == 2
        assert np.all((truth.data >= 0) & (truth.data <= 1 + 1e-6))
        total[truth.slices] += truth.data
    attributed = total > 0
    assert attributed.mean() > 0.5
    np.testing.assert_allclose(total[attributed], 1.0, atol=1e-5)


def test_fraction_maps_threshold(hst_scene):
    threshold = 0.01
    maps = hst_scene.fraction_maps(threshold=threshold)
    total = np.zeros(hst_scene.shape)
    for truth in maps:
        total[truth.slices] += truth.data
    noiseless = hst_scene.noiseless_image
    attributed = total > 0
    np.testing.assert_allclose(total[attributed], 1.0, atol=1e-5)
    assert np.all(noiseless[attributed] > threshold * 0.999)
    full = hst_scene.fraction_map(1)
    assert full.shape == hst_scene.shape
    with pytest.raises(ValueError, match='label must be in'):
        hst_scene.fraction_map(0)


def test_multiband_scene(ground_scene):
    scene = ground_scene
    assert scene.image.shape == (64, 72, 3)
    assert scene.source_images[0].data.shape[2] == 3
    assert scene.catalog['flux'].shape == (scene.n_sources, 3)
    # per-source colours: the g/r flux ratio differs between sources
    galaxies = np.asarray(scene.catalog['type'] != 'star')
    ratios = scene.catalog['flux'][galaxies, 0] / scene.catalog['flux'][galaxies, 1]
    assert np.std(ratios) > 0.05
    cutouts = scene.source_cutouts('r')
    np.testing.assert_array_equal(cutouts[0].data, scene.source_images[0].data[..., 1])
    summed = scene.source_cutouts()
    np.testing.assert_allclose(summed[0].data, scene.source_images[0].data.sum(axis=2),
                               rtol=1e-6)


def test_same_seed_same_arrays():
    first = simulate_scene('hst_f160w', shape=SMALL, seed=123, density=800)
    second = simulate_scene('hst_f160w', shape=SMALL, seed=123, density=800)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.noise, second.noise)
    np.testing.assert_array_equal(first.centers, second.centers)
    for a, b in zip(first.source_images, second.source_images):
        assert a.slices == b.slices
        np.testing.assert_array_equal(a.data, b.data)
    other = simulate_scene('hst_f160w', shape=SMALL, seed=124, density=800)
    assert not np.array_equal(first.image, other.image)
    # a Generator seed and a SeedSequence work too
    generated = simulate_scene('hst_f160w', shape=SMALL,
                               seed=np.random.default_rng(123), density=800)
    np.testing.assert_array_equal(generated.image, first.image)


def test_sources_outside_frame_enter_it():
    scene = simulate_scene('hst_f160w', shape=SMALL, seed=4, density=3000)
    outside = ~np.asarray(scene.catalog['in_frame'])
    assert outside.any()
    assert np.all(np.asarray(scene.catalog['flux_in_frame'])[outside] > 0)


def test_density_zero_and_noise_free():
    scene = simulate_scene('hst_f160w', shape=(32, 40), seed=1, density=0)
    assert scene.n_sources == 0 and scene.centers.shape == (0, 2)
    assert scene.fraction_maps() == []
    assert len(scene.catalog) == 0
    quiet = simulate_scene('hst_f160w', shape=(32, 40), seed=1, density=2000,
                           noise=False)
    assert np.all(quiet.noise == 0)
    np.testing.assert_allclose(quiet.image, quiet.noiseless_image, rtol=1e-6,
                               atol=1e-9)


def test_noise_level_and_correlation():
    rng = np.random.default_rng(0)
    noise = correlated_noise(rng, (256, 256), 0.0057, 0.53)
    assert np.std(noise) == pytest.approx(0.0057, rel=0.03)
    correlation = np.corrcoef(noise[:, 1:].ravel(), noise[:, :-1].ravel())[0, 1]
    assert correlation == pytest.approx(0.53, abs=0.03)
    scene = simulate_scene('hst_f160w', shape=(128, 128), seed=2, density=0)
    assert np.std(scene.image) == pytest.approx(0.005737, rel=0.05)


def test_fourier_renderer_matches_galsim():
    """The batched renderer agrees with GalSim's drawImage (reference)."""
    preset = get_preset('hst_f160w')
    for source_type, seed in (('galaxy', 1), ('star', 2), ('clumpy', 3),
                              ('irregular', 4), ('irregular', 5)):
        scene = simulate_pair(preset, separation=20, flux_ratio=1.0,
                              shape=(96, 96), source_type=source_type,
                              seed=seed, noise=False, magnitude=22.0)
        for i, cutout in enumerate(scene.source_images):
            reference = draw_with_galsim(scene.population, i, preset,
                                         cutout.slices)[..., 0]
            peak = reference.max()
            np.testing.assert_allclose(cutout.data, reference, rtol=0,
                                       atol=2e-3 * peak)
            assert cutout.data.sum() == pytest.approx(reference.sum(), rel=0.01)


@pytest.mark.parametrize('source_type', [('galaxy', 'clumpy'),
                                         ('irregular', 'irregular')])
def test_fourier_renderer_matches_galsim_multiband(source_type):
    preset = get_preset('ground_grz')
    scene = simulate_pair(preset, separation=6, flux_ratio=1.0, shape=(64, 64),
                          source_type=source_type, seed=4, noise=False,
                          magnitude=19.0)
    for i, cutout in enumerate(scene.source_images):
        reference = draw_with_galsim(scene.population, i, preset, cutout.slices)
        for band in range(3):
            peak = reference[..., band].max()
            np.testing.assert_allclose(cutout.data[..., band],
                                       reference[..., band], rtol=0,
                                       atol=2e-3 * peak)


def test_method_galsim_scene():
    scene = simulate_scene('hst_f160w', shape=(40, 40), seed=9, density=1500,
                           method='galsim')
    fast = simulate_scene('hst_f160w', shape=(40, 40), seed=9, density=1500)
    assert scene.n_sources == fast.n_sources
    peak = fast.noiseless_image.max()
    np.testing.assert_allclose(scene.noiseless_image, fast.noiseless_image,
                               atol=5e-3 * peak)


def test_pair_geometry():
    preset = get_preset('hst_f160w')
    scene = simulate_pair(preset, separation=2.0, flux_ratio=4.0, seed=3,
                          angle=30.0)
    assert scene.n_sources == 2
    distance = np.hypot(*(scene.centers[0] - scene.centers[1]))
    assert distance == pytest.approx(2.0 * preset.psf_fwhm_pixels)
    flux = scene.catalog['flux']
    assert flux[0] / flux[1] == pytest.approx(4.0)
    assert scene.catalog.meta['separation'] == 2.0
    assert scene.catalog['blendedness'][1] > scene.catalog['blendedness'][0]
    zero = simulate_pair(preset, separation=0.0, flux_ratio=1.0, seed=3)
    np.testing.assert_allclose(zero.centers[0], zero.centers[1])
    stars = simulate_pair('ground_grz', separation=1.0, flux_ratio=1.0,
                          source_type=('star', 'galaxy'), seed=1)
    assert list(stars.catalog['type']) == ['star', 'galaxy']


def test_pair_grid():
    cells = list(pair_grid([0.5, 1.5], [1.0, 4.0], n_per_cell=2, seed=7,
                           shape=(48, 48)))
    assert len(cells) == 8
    assert [(s, r) for s, r, _ in cells[:2]] == [(0.5, 1.0), (0.5, 1.0)]
    again = list(pair_grid([0.5, 1.5], [1.0, 4.0], n_per_cell=2, seed=7,
                           shape=(48, 48)))
    np.testing.assert_array_equal(cells[5][2].image, again[5][2].image)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0, 3000),
       height=st.integers(8, 48), width=st.integers(8, 48))
def test_truth_invariants(seed, density, height, width):
    scene = simulate_scene('hst_f160w', shape=(height, width), seed=seed,
                           density=density)
    scale = max(np.abs(scene.image).max(), 1e-30)
    np.testing.assert_allclose(scene.noiseless_image + scene.noise, scene.image,
                               rtol=0, atol=4 * np.finfo(np.float32).eps * scale)
    total = np.zeros(scene.shape)
    for truth in scene.fraction_maps():
        total[truth.slices] += truth.data
    attributed = total > 0
    np.testing.assert_allclose(total[attributed], 1.0, atol=1e-5)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'preset': 'hubble'}, ValueError, "unknown preset 'hubble'"),
    ({'density': -1.0}, ValueError, 'density must be'),
    ({'density': 'many'}, TypeError, 'density must be'),
    ({'shape': (0, 64)}, ValueError, 'zero-size image'),
    ({'shape': (64,)}, ValueError, 'shape must be a pair'),
    ({'shape': (64.0, 64)}, TypeError, 'shape must be a pair'),
    ({'seed': 1.5}, TypeError, 'seed must be'),
    ({'seed': 'abc'}, TypeError, 'seed must be'),
    ({'seed': -3}, ValueError, 'seed must be a non-negative int'),
    ({'star_fraction': 1.5}, ValueError, 'star_fraction must be'),
    ({'star_fraction': 0.6, 'clumpy_fraction': 0.6}, ValueError,
     'star_fraction \\+ clumpy_fraction'),
    ({'margin': -1}, ValueError, 'margin must be'),
    ({'method': 'photons'}, ValueError, 'method must be one of'),
])
def test_scene_bad_input(kwargs, error, match):
    arguments = {'preset': 'hst_f160w', 'shape': SMALL, 'seed': 0}
    arguments.update(kwargs)
    preset = arguments.pop('preset')
    with pytest.raises(error, match=match):
        simulate_scene(preset, **arguments)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'separation': -0.5}, ValueError, 'separation must be >= 0'),
    ({'separation': float('nan')}, ValueError, 'separation must be finite'),
    ({'flux_ratio': 0.0}, ValueError, 'flux_ratio must be > 0'),
    ({'source_type': 'quasar'}, ValueError, 'source_type must be one of'),
    ({'source_type': ('star',)}, TypeError, 'source_type must be'),
    ({'shape': (0, 0)}, ValueError, 'zero-size image'),
    ({'seed': 2.5}, TypeError, 'seed must be'),
    ({'separation': 30.0, 'shape': (16, 16)}, ValueError, 'does not fit'),
])
def test_pair_bad_input(kwargs, error, match):
    arguments = {'separation': 1.0, 'flux_ratio': 2.0, 'seed': 0}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        simulate_pair('hst_f160w', **arguments)


def test_pair_grid_bad_input():
    with pytest.raises(ValueError, match='separation must be >= 0'):
        list(pair_grid([-1.0], [1.0]))
    with pytest.raises(TypeError, match='seed must be'):
        list(pair_grid([1.0], [1.0], seed='x'))
    with pytest.raises(ValueError, match='n_per_cell must be'):
        list(pair_grid([1.0], [1.0], n_per_cell=-1))


def test_simulator_reuse_and_draw_errors():
    simulator = SceneSimulator('hst_f160w', shape=SMALL, density=500)
    scenes = [simulator.simulate(seed) for seed in range(3)]
    assert len({s.n_sources for s in scenes}) >= 1
    with pytest.raises(TypeError, match='population must be a Population'):
        simulator.draw({'y': []}, np.random.default_rng(0))
    assert 'Scene' in repr(scenes[0])


def test_companions_are_close_fainter_and_leave_the_field_unchanged():
    preset = get_preset('hst_f160w')
    base = sample_population(preset, shape=(256, 256), seed=5, density=600)
    with_companions = sample_population(preset, shape=(256, 256), seed=5,
                                        density=600, companion_fraction=0.5)
    n = len(base)
    # the field's own sources are drawn first, from the same stream
    np.testing.assert_array_equal(with_companions.y[:n], base.y)
    np.testing.assert_array_equal(with_companions.magnitude[:n],
                                  base.magnitude)
    companions = with_companions.select(np.arange(n, len(with_companions)))
    assert 0.3 * n < len(companions) < 0.7 * n
    # each companion sits 0.5-3 FWHM from a field source, 1-16x fainter
    distance = np.hypot(companions.y[:, None] - base.y[None],
                        companions.x[:, None] - base.x[None])
    primary = np.argmin(distance, axis=1)
    fwhm = preset.psf_fwhm_pixels
    nearest = distance[np.arange(len(companions)), primary]
    assert np.all(nearest <= 3.0 * fwhm + 1e-9)
    separation_ok = nearest >= 0.5 * fwhm - 1e-9
    assert separation_ok.mean() > 0.95  # a third source can sit closer
    delta = companions.magnitude - base.magnitude[primary]
    ratio = 10 ** (0.4 * delta[separation_ok])
    assert ratio.min() >= 1 - 1e-9 and ratio.max() <= 16 + 1e-9
    assert ratio.min() < 2 and ratio.max() > 8


@pytest.mark.parametrize('value, error', [(1.5, ValueError),
                                          (-0.1, ValueError),
                                          ('a lot', TypeError)])
def test_companion_fraction_errors(value, error):
    with pytest.raises(error, match='companion_fraction'):
        sample_population('hst_f160w', shape=(32, 32), seed=0,
                          companion_fraction=value)
