"""
Tests of the 'light' network architecture
(``build_pais_model(architecture='light')``; need TensorFlow).
"""

import json
import os

import numpy as np
import pytest

# TensorFlow 2.21's oneDNN convolution gradient crashes when gradients are
# taken eagerly on several input shapes (see pais_deblend.model); use the
# Eigen kernels in these tests. Effective only before TensorFlow's import.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

tf = pytest.importorskip('tensorflow')
keras = pytest.importorskip('keras')

# Keras 3 converts TensorFlow variables with np.array(x), which NumPy 2
# flags (keras/src/backend/tensorflow/core.py); not ours to fix
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

from pais_deblend.model import (PAISLoss, build_pais_model,  # noqa: E402
                                load_model, predict_pcr,
                                receptive_field_radius, train)
from pais_deblend.model.inference import default_overlap  # noqa: E402
from pais_deblend.model.network import DEFAULTS  # noqa: E402

from .test_model_preprocessing import write_dataset  # noqa: E402

TINY = dict(filters=(4, 8), attention_window=3, architecture='light')
ALL_OUTPUTS = ('center_of_mass', 'contribution_vectors', 'contribution_maps',
               'star_probability', 'band_contribution_maps')


@pytest.fixture(scope='module')
def light_model():
    return build_pais_model(n_bands=1, n_contributors=3, seed=0, **TINY)


@pytest.fixture(scope='module')
def heads_model():
    return build_pais_model(n_bands=3, n_contributors=3, classify=True,
                            band_maps=True, seed=0, **TINY)


@pytest.mark.parametrize('n_bands, heads', [(1, False), (3, False),
                                            (1, True), (3, True)])
def test_output_shapes(n_bands, heads):
    model = build_pais_model(n_bands=n_bands, n_contributors=3,
                             classify=heads, band_maps=heads, seed=0, **TINY)
    assert model.architecture_name == 'light'
    assert model.downsampling_factor == 4
    for shape in [(1, 32, 32), (2, 19, 27), (1, 5, 7)]:
        batch, height, width = shape
        out = model(np.random.default_rng(0).normal(
            size=(*shape, n_bands)).astype(np.float32))
        expected = {
            'center_of_mass': (batch, height, width, 1),
            'contribution_vectors': (batch, height, width, 3, 2),
            'contribution_maps': (batch, height, width, 3)}
        if heads:
            expected['star_probability'] = (batch, height, width, 1)
            expected['band_contribution_maps'] = (batch, height, width,
                                                  n_bands, 3)
        assert {k: tuple(v.shape) for k, v in out.items()} == expected
        for key in ('center_of_mass', 'star_probability'):
            if key in out:
                value = np.asarray(out[key])
                assert np.all((value >= 0) & (value <= 1))


def test_defaults_and_config():
    # the default stays the 'pais' network with the authors' filters,
    # and its config (hence older model files) does not name it
    model = build_pais_model(filters=(4, 8), attention_window=3, seed=0)
    assert model.architecture_name == 'pais'
    assert 'architecture' not in model.architecture
    assert build_pais_model().architecture['filters'] == [8, 16, 32, 32]
    light = build_pais_model(architecture='light', seed=0)
    assert light.architecture['architecture'] == 'light'
    assert light.architecture['filters'] == list(
        DEFAULTS['light']['filters']) == [8, 16, 32, 64]
    assert light.architecture['attention_window'] == 3
    assert light.downsampling_factor == 16
    assert light.receptive_field_radius == receptive_field_radius(
        architecture='light') == receptive_field_radius(
            (8, 16, 32, 64), 3, architecture='light') == 106
    assert receptive_field_radius() == 82
    # a few times fewer weights than a useful network would lack
    assert 50_000 < light.count_params() < 500_000
    with pytest.raises(ValueError, match="architecture must be one of "
                       r"\('pais', 'light'\), got 'heavy'"):
        build_pais_model(architecture='heavy')
    with pytest.raises(ValueError, match='architecture'):
        receptive_field_radius(architecture='heavy')
    with pytest.raises(ValueError, match='filters'):
        build_pais_model(filters=(), architecture='light')


def test_round_trip(heads_model, tmp_path):
    filename = tmp_path / 'light.keras'
    heads_model.save(filename)
    loaded = load_model(filename)
    assert loaded.architecture == heads_model.architecture
    assert loaded.architecture_name == 'light'
    assert loaded.receptive_field_radius == heads_model.receptive_field_radius
    assert loaded.downsampling_factor == heads_model.downsampling_factor
    image = np.random.default_rng(1).normal(size=(1, 20, 22, 3)).astype(
        np.float32)
    expected = heads_model(image)
    result = loaded(image)
    assert set(result) == set(ALL_OUTPUTS)
    for key in expected:
        np.testing.assert_array_equal(np.asarray(result[key]),
                                      np.asarray(expected[key]))


def _gradient_reach(model, size, centres):
    """For each centre (y, x), the farthest input pixel (along each axis)
    on which the sum of all outputs at the centre depends."""
    image = tf.Variable(np.random.default_rng(4).normal(
        size=(len(centres), size, size, model.n_bands)).astype(np.float32))
    with tf.GradientTape() as tape:
        outputs = model(image)
        value = sum(tf.reduce_sum(output[i, y, x])
                    for output in outputs.values()
                    for i, (y, x) in enumerate(centres))
    gradient = np.abs(np.asarray(tape.gradient(value, image))).sum(-1)
    reach = []
    for i, (y, x) in enumerate(centres):
        ys, xs = np.nonzero(gradient[i])
        reach.append(max(np.abs(ys - y).max(), np.abs(xs - x).max()))
    return reach


@pytest.mark.parametrize('options', [
    TINY, dict(TINY, filters=(4, 8, 8)), dict(TINY, attention_window=None),
    dict(TINY, filters=(4,))])
def test_receptive_field_is_exact(options):
    model = build_pais_model(n_bands=1, seed=0, classify=True, **options)
    radius = model.receptive_field_radius
    factor = model.downsampling_factor
    size = 2 * radius + 4 * factor
    centre = size // 2 - (size // 2) % factor
    # every phase of the output grid relative to the strided layers
    reach = _gradient_reach(model, size, [(centre + k, centre + k)
                                          for k in range(factor)])
    assert max(reach) == radius


def test_perturbation_beyond_the_radius(light_model):
    """An input pixel just beyond the radius does not change the output
    at the centre (exactly); one at the radius does."""
    model = light_model
    radius, factor = model.receptive_field_radius, model.downsampling_factor
    size = 2 * radius + 4 * factor
    centre = size // 2 - (size // 2) % factor  # phase 0: reaches farthest
    image = np.random.default_rng(5).normal(size=(1, size, size, 1)).astype(
        np.float32)

    def at_centre(y, x):
        perturbed = image.copy()
        perturbed[0, y, x, 0] += 100.0
        outputs = model(perturbed)
        return np.concatenate([np.asarray(v)[0, centre, centre].ravel()
                               for v in outputs.values()])

    reference = at_centre(0, 0)  # a pixel far outside the radius
    for y, x in [(centre + radius + 1, centre), (centre, centre + radius + 1),
                 (centre - radius - 1, centre), (centre, centre - radius - 1),
                 (centre + radius + 1, centre + radius + 1)]:
        np.testing.assert_array_equal(at_centre(y, x), reference)
    for y, x in [(centre + radius, centre), (centre, centre + radius),
                 (centre + radius, centre + radius)]:
        assert np.abs(at_centre(y, x) - reference).max() > 1e-6


def test_tiling_is_exact(heads_model):
    rng = np.random.default_rng(6)
    image = rng.normal(size=(70, 58, 3)) * np.array([1.0, 1e4, 10.0])
    single, single_heads = predict_pcr(heads_model, image, tile_size=256,
                                       return_heads=True)
    overlap = default_overlap(heads_model)
    assert overlap >= heads_model.receptive_field_radius
    assert overlap % heads_model.downsampling_factor == 0
    for tile_size, jit_compile in ((16, False), (24, True), (40, False)):
        tiled, heads = predict_pcr(heads_model, image, tile_size=tile_size,
                                   jit_compile=jit_compile,
                                   return_heads=True)
        for name in ('center_of_mass', 'contribution_vectors',
                     'contribution_maps'):
            np.testing.assert_allclose(getattr(tiled, name),
                                       getattr(single, name),
                                       rtol=1e-4, atol=1e-4)
        for name in ('star_probability', 'band_contribution_maps'):
            np.testing.assert_allclose(heads[name], single_heads[name],
                                       rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match='tile_size'):
        predict_pcr(heads_model, image, tile_size=18)


def test_gradients_reach_every_weight(heads_model):
    rng = np.random.default_rng(7)
    images = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    maps = rng.random((2, 16, 16, 3)).astype(np.float32)
    bands = rng.random((2, 16, 16, 3, 3)).astype(np.float32)
    labels = {
        'center_of_mass': rng.random((2, 16, 16)).astype(np.float32),
        'contribution_vectors': rng.normal(0, 5, (2, 16, 16, 3, 2)).astype(
            np.float32),
        'contribution_maps': maps / maps.sum(-1, keepdims=True),
        'band_contribution_maps': bands / bands.sum(-1, keepdims=True),
        'star_probability': rng.random((2, 16, 16)).astype(np.float32),
        'pixel_weight': np.ones((2, 16, 16), np.float32)}
    with tf.GradientTape() as tape:
        total, _ = PAISLoss()(labels, heads_model(images, training=True))
    gradients = tape.gradient(total, heads_model.trainable_variables)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0
               for g in gradients)


def test_two_training_steps(tmp_path):
    dataset = tmp_path / 'shards'
    dataset.mkdir()
    write_dataset(dataset, n_shards=2, per_shard=2, shape=(32, 32))
    card = train(dataset, tmp_path / 'run', steps=2, batch_size=2, seed=1,
                 validation_fraction=0.5, progress_bar=False, crop_size=24,
                 checkpoint_every=2, model_options=dict(TINY))
    assert card['architecture']['architecture'] == 'light'
    assert card['receptive_field_radius'] == receptive_field_radius(
        (4, 8), 3, architecture='light')
    assert np.isfinite(card['training']['final_training_loss']['loss'])
    model = load_model(tmp_path / 'run' / 'model.keras')
    assert model.architecture_name == 'light'
    saved = json.loads((tmp_path / 'run' / 'model_card.json').read_text())
    assert saved['architecture'] == model.architecture
