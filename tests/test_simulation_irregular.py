"""Tests of the irregular (asymmetric, clumpy star-forming) source type."""

import numpy as np
import pytest

pytest.importorskip('galsim')

from pais_deblend.simulation import (  # noqa: E402
    SOURCE_TYPES, Population, SceneSimulator, get_preset, irregular_structure,
    sample_population, simulate_pair, simulate_scene)
from pais_deblend.simulation._render import FourierRenderer  # noqa: E402
from pais_deblend.simulation.population import (  # noqa: E402
    IRREGULAR_CLUMP_FWHM, IRREGULAR_CLUMP_MAX_CENTROID,
    IRREGULAR_CLUMP_MAX_RADIUS, sample_sources)

IRREGULAR = SOURCE_TYPES.index('irregular')


def _isolated(preset, source_type, n, *, magnitude=21.0, seed=1, size=97):
    """n noiseless sources of one type centred on a pixel of their own frame."""
    preset = get_preset(preset)
    centre = (size - 1) / 2.0
    population = sample_sources(
        preset, np.random.default_rng(seed), n, np.full(n, centre),
        np.full(n, centre), type_code=np.full(n, SOURCE_TYPES.index(source_type)),
        magnitude=np.full(n, magnitude))
    renderer = FourierRenderer(preset)
    images = []
    for i in range(n):
        keep, drawn = renderer.draw(population.select([i]), (size, size))
        assert keep == [0]
        frame = np.zeros((size, size, preset.n_bands))
        slices, data = drawn[0]
        frame[slices] = data
        images.append(frame)
    return population, images


def _rotational_asymmetry(image):
    """Conselice's A = sum |I - I_180| / sum |I| about the frame centre."""
    return np.abs(image - image[::-1, ::-1]).sum() / np.abs(image).sum()


def test_type_codes_keep_their_meaning():
    assert SOURCE_TYPES[:3] == ('galaxy', 'clumpy', 'star')
    assert SOURCE_TYPES[IRREGULAR] == 'irregular'


def test_preset():
    preset = get_preset('hst_f160w_irregular')
    base = get_preset('hst_f160w')
    assert preset.irregular_fraction == 0.6
    assert preset.clumpy_fraction == 0.2
    assert preset.star_fraction == base.star_fraction
    assert preset.bands == base.bands and preset.density == base.density
    for name in ('hst_f160w', 'hst_hlf', 'ground_grz'):
        assert get_preset(name).irregular_fraction == 0.0
        # older manifests (without the key) still match these presets
        assert get_preset(name).pair_source_type == 'galaxy'
        assert 'irregular_fraction' not in get_preset(name).to_dict()
        assert 'pair_source_type' not in get_preset(name).to_dict()
    assert preset.to_dict()['irregular_fraction'] == 0.6
    assert preset.to_dict()['pair_source_type'] == 'irregular'
    population = sample_population(preset, shape=(256, 256), seed=2,
                                   density=3000, margin=0)
    shares = np.bincount(population.type_code, minlength=4) / len(population)
    assert shares[IRREGULAR] == pytest.approx(0.6, abs=0.05)
    assert shares[1] == pytest.approx(0.2, abs=0.05)


def test_population_parameters():
    population = sample_population('hst_hlf', shape=(256, 256), seed=4,
                                   density=3000, irregular_fraction=0.5)
    irregular = population.type_code == IRREGULAR
    assert 0.4 < irregular.mean() < 0.6
    assert np.all((population.n_clumps[irregular] >= 3)
                  & (population.n_clumps[irregular] <= 8))
    assert np.all(population.n_clumps[~irregular] == 0)
    assert np.all((population.asymmetry[irregular] >= 0.3)
                  & (population.asymmetry[irregular] <= 1.0))
    assert np.all(population.clump_seed[irregular] > 0)
    assert len(np.unique(population.clump_seed[irregular])) == irregular.sum()
    flux = population.component_flux
    # no bulge; the clumps hold 10-50 per cent of the reference-band light
    assert np.all(flux['bulge'][irregular] == 0)
    clump_share = flux['knots'][irregular, 0] / population.flux[irregular, 0]
    assert clump_share.min() >= 0.1 and clump_share.max() <= 0.5
    # the clumps are bluer than the disk (F606W - F160W, band 2)
    disk_colour = -2.5 * np.log10(flux['disk'][irregular, 2]
                                  / flux['disk'][irregular, 0])
    clump_colour = -2.5 * np.log10(flux['knots'][irregular, 2]
                                   / flux['knots'][irregular, 0])
    assert np.median(disk_colour - clump_colour) > 0.3


def test_irregular_fraction_leaves_the_random_stream_unchanged():
    base = sample_population('hst_f160w', shape=(128, 128), seed=8,
                             density=2000)
    with_irregular = sample_population('hst_f160w', shape=(128, 128), seed=8,
                                       density=2000, irregular_fraction=0.5)
    for name in ('y', 'x', 'magnitude', 'axis_ratio', 'position_angle'):
        np.testing.assert_array_equal(getattr(base, name),
                                      getattr(with_irregular, name))
    # only bulge+disk galaxies become irregular
    changed = base.type_code != with_irregular.type_code
    assert changed.any()
    assert np.all(base.type_code[changed] == 0)
    explicit = simulate_scene('hst_f160w', shape=(48, 48), seed=3,
                              irregular_fraction=0.0)
    default = simulate_scene('hst_f160w', shape=(48, 48), seed=3)
    np.testing.assert_array_equal(explicit.image, default.image)


def test_seeded_determinism():
    simulator = SceneSimulator('hst_f160w_irregular', shape=(96, 96))
    first, second = simulator.simulate(5), simulator.simulate(5)
    np.testing.assert_array_equal(first.image, second.image)
    for name in ('n_clumps', 'clump_seed', 'asymmetry'):
        np.testing.assert_array_equal(getattr(first.population, name),
                                      getattr(second.population, name))
    assert np.any(first.population.type_code == IRREGULAR)
    assert not np.array_equal(first.image, simulator.simulate(6).image)
    a = irregular_structure(6, 123, 0.7, 0.4)
    b = irregular_structure(6, 123, 0.7, 0.4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_structure():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(3, 9))
        size = rng.uniform(0.02, 1.5)
        structure = irregular_structure(n, int(rng.integers(1, 2**31 - 1)),
                                        rng.uniform(0.3, 1.0), size)
        assert structure.clump_position.shape == (n, 2)
        assert structure.clump_flux.sum() == pytest.approx(1.0)
        assert structure.clump_flux.max() / structure.clump_flux.min() <= 20
        radius = np.hypot(*structure.clump_position.T)
        assert radius.max() <= IRREGULAR_CLUMP_MAX_RADIUS + 1e-9
        centroid = np.hypot(*(structure.clump_flux
                              @ structure.clump_position))
        assert centroid <= IRREGULAR_CLUMP_MAX_CENTROID + 1e-9
        fwhm = structure.clump_sigma * 2 * np.sqrt(2 * np.log(2))
        assert np.all(fwhm <= min(size, IRREGULAR_CLUMP_FWHM[1]) + 1e-12)
        assert 0 < structure.lopsided_fraction <= 0.3


def test_clump_luminosity_function():
    """Clump luminosities follow dN/dL ~ L^-2 on [L0, 20 L0]."""
    # with many clumps the faintest one sits at L0 to 1e-3, so the clump
    # fluxes over the faintest are the luminosities in units of L0
    structure = irregular_structure(20000, 7, 0.5, 1.0)
    luminosity = structure.clump_flux / structure.clump_flux.min()
    assert luminosity.max() <= 20.0 * (1 + 1e-3)
    for threshold in (2.0, 5.0, 10.0):
        # N(> L) / N = (1/L - 1/20) / (1 - 1/20)
        expected = (1 / threshold - 1 / 20) / (1 - 1 / 20)
        assert np.mean(luminosity > threshold) == pytest.approx(expected,
                                                                abs=0.01)


def test_stamps_sum_to_the_component_fluxes():
    population, images = _isolated('hst_hlf', 'irregular', 6, size=129)
    for i, image in enumerate(images):
        total = sum(population.component_flux[key][i]
                    for key in ('bulge', 'disk', 'knots', 'star'))
        np.testing.assert_allclose(image.sum(axis=(0, 1)), total, rtol=2e-3)


def test_irregular_galaxies_are_asymmetric():
    _, irregular = _isolated('hst_f160w', 'irregular', 12)
    _, regular = _isolated('hst_f160w', 'galaxy', 12)
    asymmetry = [_rotational_asymmetry(image[..., 0]) for image in irregular]
    symmetric = [_rotational_asymmetry(image[..., 0]) for image in regular]
    # a sheared bulge+disk is point-symmetric: A ~ 0 up to rounding
    assert max(symmetric) < 0.01
    assert min(asymmetry) > 0.1
    assert np.median(asymmetry) > 0.3


def test_light_centroid_stays_near_the_true_centre():
    population, images = _isolated('hst_f160w', 'irregular', 12)
    y, x = np.mgrid[:97, :97]
    for i, image in enumerate(images):
        light = image[..., 0]
        cy = (light * y).sum() / light.sum() - 48
        cx = (light * x).sum() / light.sum() - 48
        major_hlr = (population.size[i] / np.sqrt(population.axis_ratio[i])
                     / get_preset('hst_f160w').pixel_scale)
        assert np.hypot(cy, cx) < 0.4 * major_hlr


def test_pairs_and_catalog():
    scene = simulate_pair('hst_f160w', separation=2.0, flux_ratio=2.0,
                          source_type=('irregular', 'galaxy'), seed=1,
                          noise=False)
    assert list(scene.catalog['type']) == ['irregular', 'galaxy']
    both = simulate_pair('hst_f160w_irregular', separation=1.5, flux_ratio=1.0,
                         source_type='irregular', seed=2)
    assert list(both.catalog['type']) == ['irregular', 'irregular']
    assert np.all(both.population.n_clumps >= 3)
    # pairs of the irregular preset are irregular unless told otherwise,
    # those of the other presets stay bulge+disk galaxies
    default = simulate_pair('hst_f160w_irregular', separation=1.5,
                            flux_ratio=1.0, seed=2)
    np.testing.assert_array_equal(default.image, both.image)
    assert list(simulate_pair('hst_f160w', separation=1.5, flux_ratio=1.0,
                              seed=2).catalog['type']) == ['galaxy', 'galaxy']


def test_population_without_the_new_arrays():
    population = sample_population('hst_f160w_irregular', shape=(64, 64),
                                   seed=1, density=2000)
    arrays = {name: getattr(population, name) for name in Population._REQUIRED}
    arrays['component_flux'] = population.component_flux
    old = Population(**arrays)
    assert np.all(old.n_clumps == 0) and np.all(old.asymmetry == 0)
    assert len(old.select([0, 1]).clump_seed) == 2
    joined = Population.concatenate([old, population])
    assert len(joined) == 2 * len(population)
    np.testing.assert_array_equal(joined.n_clumps[len(population):],
                                  population.n_clumps)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'irregular_fraction': 1.5}, ValueError, 'irregular_fraction must be <= 1'),
    ({'irregular_fraction': -0.1}, ValueError, 'irregular_fraction must be >= 0'),
    ({'irregular_fraction': float('nan')}, ValueError,
     'irregular_fraction must be finite'),
    ({'irregular_fraction': 'half'}, TypeError,
     'irregular_fraction must be a real number'),
    ({'star_fraction': 0.3, 'clumpy_fraction': 0.3, 'irregular_fraction': 0.5},
     ValueError,
     r'star_fraction \+ clumpy_fraction \+ irregular_fraction must be <= 1'),
    ({'irregular_fraction': 0.9, 'star_fraction': 0.2}, ValueError,
     r'\+ irregular_fraction must be <= 1, got 0.2 \+ None \+ 0.9'),
])
def test_bad_irregular_fraction(kwargs, error, match):
    with pytest.raises(error, match=match):
        sample_population('hst_f160w', shape=(16, 16), seed=0, **kwargs)
    with pytest.raises(error, match=match):
        SceneSimulator('hst_f160w', shape=(16, 16), **kwargs)
    with pytest.raises(error, match=match):
        simulate_scene('hst_f160w', shape=(16, 16), seed=0, **kwargs)


def test_training_set_takes_irregular_fraction(tmp_path):
    from pais_deblend.simulation import write_training_set
    with pytest.raises(ValueError, match='irregular_fraction must be <= 1'):
        write_training_set(tmp_path / 'bad', n_scenes=1, shape=(32, 32),
                           irregular_fraction=2.0, progress_bar_enabled=False)
    manifest = write_training_set(tmp_path / 'set', n_scenes=1,
                                  shape=(32, 32), irregular_fraction=0.7,
                                  progress_bar_enabled=False)
    assert manifest['irregular_fraction'] == 0.7


def test_method_galsim_scene():
    slow = simulate_scene('hst_f160w_irregular', shape=(40, 40), seed=9,
                          density=1500, method='galsim', noise=False)
    fast = simulate_scene('hst_f160w_irregular', shape=(40, 40), seed=9,
                          density=1500, noise=False)
    assert np.any(fast.population.type_code == IRREGULAR)
    peak = fast.noiseless_image.max()
    np.testing.assert_allclose(slow.noiseless_image, fast.noiseless_image,
                               atol=5e-3 * peak)
