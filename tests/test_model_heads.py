"""
The optional heads of the PAIS network (star/galaxy, per-band
contribution maps), their labels and loss terms.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.pcr import PCR, encode_band_maps, encode_pcr
from pais_deblend.segmentation import SourceCutout


def _gaussian(shape, center, sigma, amplitude):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return amplitude * np.exp(-((rows - center[0]) ** 2
                                + (cols - center[1]) ** 2) / (2 * sigma ** 2))


def _band_scene(seed, shape=(24, 28), n_sources=4, n_bands=3):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(2, np.array(shape) - 2, size=(n_sources, 2))
    images = np.zeros((n_sources, *shape, n_bands))
    for i, center in enumerate(centers):
        profile = _gaussian(shape, center, rng.uniform(1.5, 4), 1.0)
        colours = rng.uniform(0.1, 3.0, size=n_bands)
        images[i] = profile[..., np.newaxis] * colours
    return images, centers


def _reference_band_maps(pcr, images, centers):
    """Slow reference: loop over pixels and slots."""
    height, width = pcr.shape
    n = pcr.n_contributors
    n_bands = images.shape[3]
    result = np.zeros((height, width, n_bands, n))
    for y in range(height):
        for x in range(width):
            seen = []
            sources = []
            for k in range(n):
                target = np.array([y, x]) + pcr.contribution_vectors[y, x, k]
                j = int(np.argmin(((centers - target) ** 2).sum(axis=1)))
                sources.append(None if j in seen else j)
                seen.append(j)
            for b in range(n_bands):
                flux = np.array([0.0 if j is None else
                                 max(images[j, y, x, b], 0.0)
                                 for j in sources])
                if flux.sum() > 0:
                    result[y, x, b] = flux / flux.sum()
                else:
                    result[y, x, b] = pcr.contribution_maps[y, x]
    return result


@pytest.mark.parametrize('choice', ['most_flux', 'nearest'])
def test_encode_band_maps_matches_reference(choice):
    images, centers = _band_scene(0)
    pcr = encode_pcr(images.sum(axis=3), centers, contributor_choice=choice)
    maps = encode_band_maps(pcr, images, centers)
    assert maps.shape == (*pcr.shape, 3, 3)
    assert maps.dtype == np.float32
    np.testing.assert_allclose(maps, _reference_band_maps(pcr, images,
                                                          centers),
                               atol=2e-6)


def test_encode_band_maps_cutouts_equal_dense():
    images, centers = _band_scene(1)
    pcr = encode_pcr(images.sum(axis=3), centers)
    cutouts = [SourceCutout(image[2:20, 3:25], (slice(2, 20), slice(3, 25)))
               for image in images]
    dense = images.copy()
    dense[:, :2] = dense[:, 20:] = 0
    dense[:, :, :3] = dense[:, :, 25:] = 0
    pcr_cut = encode_pcr(dense.sum(axis=3), centers)
    np.testing.assert_array_equal(
        encode_band_maps(pcr_cut, cutouts, centers, shape=pcr.shape),
        encode_band_maps(pcr_cut, dense, centers))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), n_sources=st.integers(1, 5))
def test_band_maps_sum_to_one_and_agree_with_summed_maps(seed, n_sources):
    """Every band's fractions sum to 1, and the band fractions weighted
    by each band's flux give back the band-summed fractions of the PCR."""
    images, centers = _band_scene(seed, n_sources=n_sources)
    pcr = encode_pcr(images.sum(axis=3), centers)
    maps = encode_band_maps(pcr, images, centers)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
    if n_sources > 3:
        return  # a fourth source holds no slot: the totals differ
    band_total = images.sum(axis=0)  # (h, w, b)
    combined = (maps * band_total[..., np.newaxis]).sum(axis=2)
    total = band_total.sum(axis=-1)
    lit = total > 1e-6 * total.max()
    np.testing.assert_allclose(
        (combined / np.maximum(total, 1e-300)[..., np.newaxis])[lit],
        pcr.contribution_maps[lit], atol=1e-4)


def test_encode_band_maps_errors():
    images, centers = _band_scene(2)
    pcr = encode_pcr(images.sum(axis=3), centers)
    with pytest.raises(TypeError, match='pcr must be a PCR'):
        encode_band_maps('pcr', images, centers)
    logits = PCR(pcr.center_of_mass, pcr.contribution_vectors,
                 pcr.contribution_maps, maps_are_logits=True)
    with pytest.raises(ValueError, match='not logits'):
        encode_band_maps(logits, images, centers)
    with pytest.raises(ValueError, match='centers has 3 rows'):
        encode_band_maps(pcr, images, centers[:3])
    with pytest.raises(ValueError, match='shape is'):
        encode_band_maps(pcr, images, centers, shape=(5, 5))
    with pytest.raises(ValueError, match='source_images'):
        encode_band_maps(pcr, images.sum(axis=3), centers)


def test_star_probability_label():
    from pais_deblend.simulation.dataset import _star_probability

    shape = (10, 12)
    star = _gaussian(shape, (4, 4), 2, 3.0)
    galaxy = _gaussian(shape, (5, 8), 3, 1.0)
    cutouts = [SourceCutout(star, (slice(0, 10), slice(0, 12))),
               SourceCutout(galaxy, (slice(0, 10), slice(0, 12)))]
    label = _star_probability(cutouts, np.array([True, False]), shape)
    np.testing.assert_allclose(label, star / (star + galaxy), rtol=1e-6)
    empty = [SourceCutout(np.zeros(shape), (slice(0, 10), slice(0, 12)))]
    assert not _star_probability(empty, [True], shape).any()


# --- network and loss (TensorFlow) -----------------------------------------

keras = pytest.importorskip('keras')


@pytest.fixture(scope='module')
def heads_model():
    from pais_deblend.model import build_pais_model

    return build_pais_model(n_bands=3, n_contributors=3, filters=(4, 8),
                            attention_window=3, classify=True,
                            band_maps=True, seed=0)


def test_heads_outputs(heads_model):
    images = np.random.default_rng(0).normal(size=(2, 21, 19, 3))
    outputs = heads_model(images.astype(np.float32))
    assert tuple(outputs['star_probability'].shape) == (2, 21, 19, 1)
    assert tuple(outputs['band_contribution_maps'].shape) == (2, 21, 19, 3, 3)
    star = np.asarray(outputs['star_probability'])
    assert ((star > 0) & (star < 1)).all()
    assert heads_model.classify and heads_model.band_maps
    assert heads_model.architecture['classify'] is True


def test_heads_model_round_trip(heads_model, tmp_path):
    from pais_deblend.model import load_model

    path = tmp_path / 'heads.keras'
    heads_model.save(path)
    loaded = load_model(path)
    assert loaded.classify and loaded.band_maps
    images = np.random.default_rng(1).normal(size=(1, 16, 16, 3))
    images = images.astype(np.float32)
    for key in ('star_probability', 'band_contribution_maps'):
        np.testing.assert_allclose(np.asarray(loaded(images)[key]),
                                   np.asarray(heads_model(images)[key]),
                                   rtol=1e-5, atol=1e-6)


def test_default_model_has_no_heads():
    from pais_deblend.model import build_pais_model

    model = build_pais_model(filters=(4, 8), attention_window=3, seed=0)
    assert not model.classify and not model.band_maps
    assert 'classify' not in model.architecture
    outputs = model(np.zeros((1, 8, 8, 1), dtype=np.float32))
    assert set(outputs) == {'center_of_mass', 'contribution_vectors',
                            'contribution_maps'}


def test_heads_option_errors():
    from pais_deblend.model import build_pais_model

    with pytest.raises(TypeError, match='classify must be True or False'):
        build_pais_model(filters=(4, 8), classify='yes')
    with pytest.raises(TypeError, match='band_maps must be True or False'):
        build_pais_model(filters=(4, 8), band_maps=1)


def _labels_and_predictions(rng, shape=(2, 6, 5), n=3, n_bands=2):
    fractions = rng.dirichlet(np.ones(n), size=shape).astype(np.float32)
    band_fractions = rng.dirichlet(np.ones(n), size=(*shape, n_bands))
    labels = {
        'center_of_mass': rng.uniform(size=shape).astype(np.float32),
        'contribution_vectors': rng.normal(size=(*shape, n, 2)).astype(
            np.float32),
        'contribution_maps': fractions,
        'pixel_weight': (rng.uniform(size=shape) > 0.3).astype(np.float32),
        'star_probability': rng.uniform(size=shape).astype(np.float32),
        'band_contribution_maps': band_fractions.astype(np.float32),
    }
    predictions = {
        'center_of_mass': rng.uniform(size=(*shape, 1)).astype(np.float32),
        'contribution_vectors': rng.normal(size=(*shape, n, 2)).astype(
            np.float32),
        'contribution_maps': rng.normal(size=(*shape, n)).astype(np.float32),
        'star_probability': rng.uniform(0.01, 0.99, size=(*shape, 1)).astype(
            np.float32),
        'band_contribution_maps': rng.normal(size=(*shape, n_bands, n)).astype(
            np.float32),
    }
    return labels, predictions


def test_loss_head_terms_match_numpy():
    from pais_deblend.model import PAISLoss

    labels, predictions = _labels_and_predictions(np.random.default_rng(3))
    loss = PAISLoss(star_probability_weight=1.5,
                    band_contribution_maps_weight=0.5)
    total, terms = loss(labels, predictions)
    weight = labels['pixel_weight']
    s = labels['star_probability']
    p = predictions['star_probability'][..., 0].astype(np.float64)
    bce = -(s * np.log(p) + (1 - s) * np.log(1 - p))
    np.testing.assert_allclose(float(terms['star_probability']),
                               (weight * bce).sum() / weight.sum(),
                               rtol=1e-5)
    z = predictions['band_contribution_maps'].astype(np.float64)
    log_q = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    cross = -(labels['band_contribution_maps'] * log_q).sum(axis=-1)
    np.testing.assert_allclose(float(terms['band_contribution_maps']),
                               (weight * cross.mean(axis=-1)).sum()
                               / weight.sum(), rtol=1e-5)
    expected = sum(loss.weights[name] * float(value)
                   for name, value in terms.items())
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)


def test_loss_skips_heads_without_labels():
    from pais_deblend.model import PAISLoss

    labels, predictions = _labels_and_predictions(np.random.default_rng(4))
    del labels['star_probability'], labels['band_contribution_maps']
    _, terms = PAISLoss()(labels, predictions)
    assert set(terms) == {'center_of_mass', 'contribution_vectors',
                          'contribution_maps', 'entropy'}


def test_loss_head_weight_errors():
    from pais_deblend.model import PAISLoss

    with pytest.raises(TypeError, match='star_probability_weight must be'):
        PAISLoss(star_probability_weight='1')
    with pytest.raises(ValueError,
                       match='band_contribution_maps_weight must be finite'):
        PAISLoss(band_contribution_maps_weight=float('nan'))


def test_ground_training_set_and_steps(tmp_path):
    """The simulated multi-band shards carry both labels, and a few
    training steps build and train both heads."""
    from pais_deblend.model import train
    from pais_deblend.model.data import ShardDataset
    from pais_deblend.simulation import write_training_set

    write_training_set(tmp_path / 'set', n_scenes=2, preset='ground_grz',
                       seed=5, shape=(48, 48), scenes_per_shard=2,
                       density=400, star_fraction=0.5, sigma=3.0,
                       progress_bar_enabled=False)
    dataset = ShardDataset(tmp_path / 'set')
    sample = dataset[0]
    assert sample['star_probability'].shape == (48, 48)
    assert sample['band_contribution_maps'].shape == (48, 48, 3, 3)
    attributed = sample['pixel_weight'] > 0
    np.testing.assert_allclose(
        sample['band_contribution_maps'].sum(axis=-1)[attributed], 1.0,
        atol=3e-3)  # float16 storage
    card = train(tmp_path / 'set', tmp_path / 'run', steps=2, batch_size=1,
                 crop_size=32, validation_fraction=0.5, progress_bar=False,
                 checkpoint_every=0,
                 model_options={'filters': (4, 8), 'attention_window': 3,
                                'classify': True})
    assert card['architecture']['classify'] is True
    assert card['architecture']['band_maps'] is True
    metrics = card['validation']['metrics']
    assert np.isfinite(metrics['star_probability'])
    assert np.isfinite(metrics['band_contribution_maps'])


def test_center_of_mass_map_equals_encoding():
    from pais_deblend.pcr import center_of_mass_map

    images, centers = _band_scene(6)
    pcr = encode_pcr(images.sum(axis=3), centers, sigma=3.0)
    np.testing.assert_array_equal(
        center_of_mass_map(centers, pcr.shape, sigma=3.0), pcr.center_of_mass)
    # a subset: the peaks of the other sources are gone
    subset = center_of_mass_map(centers[:1], pcr.shape, sigma=3.0)
    iy, ix = np.rint(centers[0]).astype(int)
    assert subset[iy, ix] > 0.9
    assert subset.max() <= 1.0
    assert not center_of_mass_map(np.zeros((0, 2)), (4, 5)).any()


def test_center_of_mass_map_errors():
    from pais_deblend.pcr import center_of_mass_map

    with pytest.raises(ValueError, match='sigma must be'):
        center_of_mass_map([[1.0, 1.0]], (4, 4), sigma=0)
    with pytest.raises(ValueError, match='shape must be given'):
        center_of_mass_map([[1.0, 1.0]], None)


def test_center_min_snr_keeps_only_bright_peaks(tmp_path):
    from pais_deblend.pcr import find_centers
    from pais_deblend.simulation import SceneSimulator, write_training_set
    from pais_deblend.simulation.dataset import _source_snr, scene_seed

    options = dict(n_scenes=1, preset='ground_grz', seed=3, shape=(64, 64),
                   density=300, sigma=3.0, progress_bar_enabled=False)
    write_training_set(tmp_path / 'all', **options)
    write_training_set(tmp_path / 'bright', center_min_snr=5.0, **options)
    every = np.load(tmp_path / 'all' / 'shard_00000.npz')
    bright = np.load(tmp_path / 'bright' / 'shard_00000.npz')
    scene = SceneSimulator('ground_grz', shape=(64, 64),
                           density=300).simulate(scene_seed(3, 0))
    sigma = [band.noise_sigma for band in scene.preset.bands]
    snr = _source_snr(scene, sigma)
    expected = center_of_mass_map_for(scene.centers[snr >= 5.0])
    np.testing.assert_allclose(bright['center_of_mass'][0], expected,
                               atol=1e-3)  # float16 storage
    # the other labels are unchanged
    np.testing.assert_array_equal(bright['contribution_maps'],
                                  every['contribution_maps'])
    assert (snr < 5).any() and (snr >= 5).any()
    peaks = find_centers(bright['center_of_mass'][0].astype(np.float32),
                         threshold=0.9, min_separation=1)
    assert len(peaks) <= int((snr >= 5).sum())
    with pytest.raises(ValueError, match='center_min_snr'):
        write_training_set(tmp_path / 'bad', center_min_snr=-1, **options)


def test_contributor_min_snr_labels_only_bright_sources(tmp_path):
    from pais_deblend.pcr import encode_band_maps, encode_pcr
    from pais_deblend.simulation import SceneSimulator, write_training_set
    from pais_deblend.simulation.dataset import _source_snr, scene_seed

    options = dict(n_scenes=1, preset='ground_grz', seed=3, shape=(64, 64),
                   density=300, sigma=3.0, progress_bar_enabled=False)
    write_training_set(tmp_path / 'bright', contributor_min_snr=5.0,
                       **options)
    written = np.load(tmp_path / 'bright' / 'shard_00000.npz')
    scene = SceneSimulator('ground_grz', shape=(64, 64),
                           density=300).simulate(scene_seed(3, 0))
    sigma = [band.noise_sigma for band in scene.preset.bands]
    bright = np.flatnonzero(_source_snr(scene, sigma) >= 5.0)
    assert 0 < len(bright) < scene.n_sources
    # the labels are those of a scene holding only the bright sources
    cutouts = scene.source_cutouts()
    expected = encode_pcr([cutouts[i] for i in bright],
                          scene.centers[bright], n_contributors=3,
                          sigma=3.0, shape=(64, 64))
    np.testing.assert_allclose(written['contribution_maps'][0],
                               expected.contribution_maps, atol=1e-3)
    np.testing.assert_allclose(written['contribution_vectors'][0],
                               expected.contribution_vectors, atol=0.02)
    np.testing.assert_allclose(written['center_of_mass'][0],
                               expected.center_of_mass, atol=1e-3)
    bands = encode_band_maps(expected, [scene.source_images[i]
                                        for i in bright],
                             scene.centers[bright], shape=(64, 64))
    np.testing.assert_allclose(written['band_contribution_maps'][0], bands,
                               atol=1e-3)
    # every contributor slot points at a bright source's centre
    pixels = np.argwhere(written['pixel_weight'][0] > 0)
    targets = (pixels[:, None, :]
               + written['contribution_vectors'][0][tuple(pixels.T)])
    distance = np.linalg.norm(targets[:, :, None, :]
                              - scene.centers[bright][None, None], axis=-1)
    assert distance.min(axis=-1).max() < 0.05
    # the pixel weights count the bright sources' flux only
    write_training_set(tmp_path / 'all', **options)
    every = np.load(tmp_path / 'all' / 'shard_00000.npz')
    assert written['pixel_weight'].sum() < every['pixel_weight'].sum()
    # a scene without any source that bright: empty labels, not an error
    write_training_set(tmp_path / 'none', contributor_min_snr=1e12,
                       **options)
    empty = np.load(tmp_path / 'none' / 'shard_00000.npz')
    assert empty['band_contribution_maps'].shape == (1, 64, 64, 3, 3)
    assert not empty['pixel_weight'].any()
    assert not empty['center_of_mass'].any()
    with pytest.raises(ValueError, match='contributor_min_snr'):
        write_training_set(tmp_path / 'bad', contributor_min_snr=float('nan'),
                           **options)


def center_of_mass_map_for(centers):
    from pais_deblend.pcr import center_of_mass_map

    return center_of_mass_map(centers, (64, 64), sigma=3.0)


def test_source_snr_matches_definition():
    from pais_deblend.simulation import SceneSimulator
    from pais_deblend.simulation.dataset import _source_snr

    scene = SceneSimulator('ground_grz', shape=(40, 40),
                           density=400).simulate(9)
    sigma = np.array([0.5, 1.0, 2.0])
    expected = [np.sqrt(sum(np.sum((c.data[..., b] / sigma[b]) ** 2)
                            for b in range(3))) for c in scene.source_images]
    np.testing.assert_allclose(_source_snr(scene, sigma), expected,
                               rtol=1e-10)
