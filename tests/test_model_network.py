"""
Tests of the PAIS network, its loss and tiled inference (need TensorFlow).
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
                                receptive_field_radius)
from pais_deblend.model.inference import (default_overlap,  # noqa: E402
                                          tile_slices)

TINY = dict(filters=(4, 8), attention_window=3)


@pytest.fixture(scope='module')
def tiny_model():
    return build_pais_model(n_bands=2, n_contributors=3, seed=0, **TINY)


def random_labels(rng, shape, n=3):
    maps = rng.random(shape + (n,)).astype(np.float32)
    maps /= maps.sum(axis=-1, keepdims=True)
    return {
        'center_of_mass': rng.random(shape).astype(np.float32),
        'contribution_vectors': rng.normal(0, 5, shape + (n, 2)).astype(
            np.float32),
        'contribution_maps': maps,
        'pixel_weight': (rng.random(shape) > 0.5).astype(np.float32),
    }


def test_output_shapes_any_size(tiny_model):
    rng = np.random.default_rng(0)
    for shape in [(1, 32, 32, 2), (2, 19, 27, 2), (1, 8, 64, 2)]:
        out = tiny_model(rng.normal(size=shape).astype(np.float32))
        batch, height, width, _ = shape
        assert tuple(out['center_of_mass'].shape) == (batch, height, width, 1)
        assert tuple(out['contribution_vectors'].shape) == (
            batch, height, width, 3, 2)
        assert tuple(out['contribution_maps'].shape) == (
            batch, height, width, 3)
        com = np.asarray(out['center_of_mass'])
        assert np.all((com >= 0) & (com <= 1))
    single = build_pais_model(n_bands=1, n_contributors=2, filters=(4,),
                              attention_window=None)
    out = single(np.zeros((1, 5, 7, 1), np.float32))
    assert tuple(out['contribution_maps'].shape) == (1, 5, 7, 2)
    assert tiny_model.downsampling_factor == 2
    assert tiny_model.receptive_field_radius == receptive_field_radius(
        (4, 8), 3)


def test_safe_mode_round_trip(tiny_model, tmp_path):
    filename = tmp_path / 'model.keras'
    tiny_model.save(filename)
    loaded = keras.saving.load_model(filename, safe_mode=True)
    again = load_model(filename)
    assert loaded.architecture == tiny_model.architecture
    image = np.random.default_rng(1).normal(size=(1, 20, 22, 2)).astype(
        np.float32)
    expected = tiny_model(image)
    for other in (loaded, again):
        result = other(image)
        for key in expected:
            np.testing.assert_array_equal(np.asarray(result[key]),
                                          np.asarray(expected[key]))


def test_loss_hand_made_values():
    shape = (1, 4, 5)
    weight = np.zeros(shape, np.float32)
    weight[0, 1:3, 1:4] = 1
    true_vectors = np.zeros(shape + (3, 2), np.float32)
    true_vectors[weight > 0] = 2.0
    pred_vectors = np.where(weight[..., None, None] > 0, 0.0, 100.0).astype(
        np.float32) * np.ones(shape + (3, 2), np.float32)
    one_hot = np.zeros(shape + (3,), np.float32)
    one_hot[..., 0] = 1
    labels = {'center_of_mass': np.zeros(shape, np.float32),
              'contribution_vectors': true_vectors,
              'contribution_maps': one_hot, 'pixel_weight': weight}
    predictions = {
        'center_of_mass': np.full(shape + (1,), 0.5, np.float32),
        'contribution_vectors': pred_vectors,
        'contribution_maps': np.zeros(shape + (3,), np.float32)}
    total, terms = PAISLoss()(labels, predictions)
    log3 = np.log(3.0)
    assert float(terms['center_of_mass']) == pytest.approx(0.25)
    # unweighted pixels (error 100) do not count
    assert float(terms['contribution_vectors']) == pytest.approx(2.0)
    assert float(terms['contribution_maps']) == pytest.approx(log3, rel=1e-6)
    assert float(terms['entropy']) == pytest.approx(log3, rel=1e-6)
    assert float(total) == pytest.approx(15 * 0.25 + 0.06 * 2 + 4 * log3
                                         + 2 * log3, rel=1e-6)

    # confident correct logits: CE and entropy vanish; perfect C^c and C^v
    perfect = {'center_of_mass': labels['center_of_mass'],
               'contribution_vectors': true_vectors,
               'contribution_maps': 30.0 * one_hot}
    custom = PAISLoss(center_of_mass_weight=1.0, entropy_weight=-1.0)
    total, terms = custom(labels, perfect)
    assert float(total) == pytest.approx(0.0, abs=1e-6)
    assert custom.weights['entropy'] == -1.0

    # no weighted pixel: weighted terms are 0, not NaN
    empty = dict(labels, pixel_weight=np.zeros(shape, np.float32))
    _, terms = PAISLoss()(empty, predictions)
    assert float(terms['contribution_vectors']) == 0.0
    assert float(terms['contribution_maps']) == 0.0

    with pytest.raises(TypeError, match='entropy_weight'):
        PAISLoss(entropy_weight='2')
    with pytest.raises(ValueError, match="vector_weighting must be "
                       "'uniform' or 'contribution', got 'flux'"):
        PAISLoss(vector_weighting='flux')
    with pytest.raises(ValueError, match='center_of_mass_weight'):
        PAISLoss(center_of_mass_weight=float('nan'))


def _gradients(model, loss, images, labels):
    with tf.GradientTape() as tape:
        total, _ = loss(labels, model(images, training=True))
    return dict(zip([v.path for v in model.trainable_variables],
                    tape.gradient(total, model.trainable_variables)))


def _norm(gradient):
    return 0.0 if gradient is None else float(tf.reduce_sum(
        tf.abs(gradient)))


def test_contribution_weighted_vector_loss():
    shape = (1, 2, 2)
    true_vectors = np.zeros(shape + (3, 2), np.float32)
    pred_vectors = np.zeros(shape + (3, 2), np.float32)
    pred_vectors[..., 0, :] = 1.0   # slot 1 off by 1 px
    pred_vectors[..., 2, :] = 40.0  # slot 3 off by 40 px
    maps = np.zeros(shape + (3,), np.float32)
    maps[..., 0] = 0.75
    maps[..., 1] = 0.25
    labels = {'center_of_mass': np.zeros(shape, np.float32),
              'contribution_vectors': true_vectors,
              'contribution_maps': maps,
              'pixel_weight': np.ones(shape, np.float32)}
    predictions = {'center_of_mass': np.zeros(shape + (1,), np.float32),
                   'contribution_vectors': pred_vectors,
                   'contribution_maps': np.zeros(shape + (3,), np.float32)}
    uniform = PAISLoss().terms(labels, predictions)
    weighted = PAISLoss(vector_weighting='contribution').terms(labels,
                                                              predictions)
    assert float(uniform['contribution_vectors']) == pytest.approx(41 / 3)
    # the slot without flux does not count
    assert float(weighted['contribution_vectors']) == pytest.approx(0.75)
    assert PAISLoss(vector_weighting='contribution').get_config()[
        'vector_weighting'] == 'contribution'


def _permutation_case(seed, n=3, shape=(2, 5, 6), n_bands=3):
    rng = np.random.default_rng(seed)
    labels = random_labels(rng, shape, n)
    bands = rng.random(shape + (n_bands, n)).astype(np.float32)
    labels['band_contribution_maps'] = bands / bands.sum(-1, keepdims=True)
    predictions = {
        'center_of_mass': rng.random(shape + (1,)).astype(np.float32),
        'contribution_vectors': rng.normal(0, 5, shape + (n, 2)).astype(
            np.float32),
        'contribution_maps': rng.normal(size=shape + (n,)).astype(
            np.float32),
        'band_contribution_maps': rng.normal(
            size=shape + (n_bands, n)).astype(np.float32)}
    return labels, predictions


def _permute_slots(outputs, order):
    out = dict(outputs)
    out['contribution_vectors'] = outputs['contribution_vectors'][
        ..., order, :]
    for name in ('contribution_maps', 'band_contribution_maps'):
        out[name] = outputs[name][..., order]
    return out


@settings(max_examples=15, deadline=None)
@given(order=st.permutations([0, 1, 2]), seed=st.integers(0, 2**16),
       weighting=st.sampled_from(['uniform', 'contribution']))
def test_permutation_slot_matching_ignores_the_slot_order(order, seed,
                                                          weighting):
    labels, predictions = _permutation_case(seed)
    loss = PAISLoss(slot_matching='permutation', vector_weighting=weighting)
    total, terms = loss(labels, predictions)
    # reordering the predicted slots (or the true ones) changes nothing
    total_p, terms_p = loss(labels, _permute_slots(predictions, order))
    total_t, _ = loss(_permute_slots(labels, order), predictions)
    np.testing.assert_allclose(float(total_p), float(total), rtol=1e-5)
    np.testing.assert_allclose(float(total_t), float(total), rtol=1e-5)
    for name in terms:
        np.testing.assert_allclose(float(terms_p[name]), float(terms[name]),
                                   rtol=1e-5, atol=1e-6)
    # the identity is one of the permutations tried: never above 'ordered'
    ordered, _ = PAISLoss(vector_weighting=weighting)(labels, predictions)
    assert float(total) <= float(ordered) + 1e-5


def test_permutation_slot_matching_on_swapped_slots():
    labels, _ = _permutation_case(3)
    # a perfect prediction with the first two slots swapped
    swapped = _permute_slots(
        {'center_of_mass': labels['center_of_mass'][..., None],
         'contribution_vectors': labels['contribution_vectors'],
         'contribution_maps': np.log(labels['contribution_maps']),
         'band_contribution_maps': np.log(labels['band_contribution_maps'])},
        [1, 0, 2])
    ordered = PAISLoss().terms(labels, swapped)
    matched = PAISLoss(slot_matching='permutation').terms(labels, swapped)
    assert float(ordered['contribution_vectors']) > 1.0
    assert float(matched['contribution_vectors']) == pytest.approx(0.0,
                                                                   abs=1e-6)
    # what is left of C^m is the entropy of the true fractions
    assert float(matched['contribution_maps']) == pytest.approx(
        float(matched['entropy']), rel=1e-4)
    assert float(matched['contribution_maps']) < float(
        ordered['contribution_maps'])
    assert PAISLoss(slot_matching='permutation').get_config()[
        'slot_matching'] == 'permutation'
    assert PAISLoss().get_config()['slot_matching'] == 'ordered'


def test_permutation_slot_matching_errors():
    with pytest.raises(ValueError, match="slot_matching must be 'ordered' "
                       "or 'permutation', got 'sorted'"):
        PAISLoss(slot_matching='sorted')
    labels, predictions = _permutation_case(0, n=6, shape=(1, 2, 2))
    with pytest.raises(ValueError, match='at most 5 slots, the labels '
                       'have 6'):
        PAISLoss(slot_matching='permutation')(labels, predictions)


def test_gradients_flow_and_stop_gradient(tiny_model):
    rng = np.random.default_rng(2)
    images = rng.normal(size=(2, 16, 16, 2)).astype(np.float32)
    labels = random_labels(rng, (2, 16, 16))

    gradients = _gradients(tiny_model, PAISLoss(), images, labels)
    flowing = [path for path, g in gradients.items() if _norm(g) > 0]
    assert len(flowing) == len(gradients)

    maps_only = PAISLoss(center_of_mass_weight=0.0,
                         contribution_vectors_weight=0.0,
                         contribution_maps_weight=1.0, entropy_weight=0.0)
    gradients = _gradients(tiny_model, maps_only, images, labels)
    spatial = {p: g for p, g in gradients.items()
               if p.startswith(('spatial', 'center_of_mass_head',
                                'contribution_vectors_head'))}
    attribution = {p: g for p, g in gradients.items()
                   if p.startswith(('attribution', 'contribution_maps_head'))}
    encoder = {p: g for p, g in gradients.items()
               if p.startswith(('encoder', 'stem'))}
    assert spatial and attribution and encoder
    assert all(_norm(g) == 0 for g in spatial.values())
    assert all(_norm(g) > 0 for g in attribution.values())
    assert sum(_norm(g) for g in encoder.values()) > 0

    # the attribution decoder does read the spatial features (forward)
    model = build_pais_model(n_bands=2, seed=3, **TINY)
    before = np.asarray(model(images)['contribution_maps'])
    layer = model.get_layer('spatial0_conv2')
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias + 1.0])
    after = np.asarray(model(images)['contribution_maps'])
    assert np.abs(after - before).max() > 1e-4


def test_receptive_field_bound(tiny_model):
    size = 48
    image = tf.Variable(np.random.default_rng(4).normal(
        size=(1, size, size, 2)).astype(np.float32))
    center = size // 2
    radius = tiny_model.receptive_field_radius
    for key in ('center_of_mass', 'contribution_vectors',
                'contribution_maps'):
        with tf.GradientTape() as tape:
            output = tiny_model(image)[key]
            value = tf.reduce_sum(output[0, center, center])
        gradient = np.abs(np.asarray(tape.gradient(value, image)))[0].sum(-1)
        ys, xs = np.nonzero(gradient)
        assert np.abs(ys - center).max() <= radius
        assert np.abs(xs - center).max() <= radius


def test_tiling_is_exact(tiny_model):
    rng = np.random.default_rng(5)
    image = rng.normal(size=(70, 58, 2)) * np.array([1.0, 1e4])
    single = predict_pcr(tiny_model, image, tile_size=256)
    assert single.maps_are_logits
    assert single.contribution_vectors.shape == (70, 58, 3, 2)
    overlap = default_overlap(tiny_model)
    assert overlap >= tiny_model.receptive_field_radius and overlap % 2 == 0
    for tile_size in (16, 22, 40):
        tiled = predict_pcr(tiny_model, image, tile_size=tile_size)
        for name in ('center_of_mass', 'contribution_vectors',
                     'contribution_maps'):
            np.testing.assert_allclose(getattr(tiled, name),
                                       getattr(single, name),
                                       rtol=1e-4, atol=1e-4)
    # unit invariance carries through to the network output
    scaled = predict_pcr(tiny_model, image * 1e-3, tile_size=256)
    np.testing.assert_allclose(scaled.contribution_maps,
                               single.contribution_maps, atol=1e-4)

    with pytest.raises(ValueError, match='tile_size'):
        predict_pcr(tiny_model, image, tile_size=15)
    with pytest.raises(ValueError, match='overlap'):
        predict_pcr(tiny_model, image, overlap=3)
    with pytest.raises(ValueError, match='bands'):
        predict_pcr(tiny_model, image[..., 0])
    with pytest.raises(TypeError, match="jit_compile must be .* got 'yes'"):
        predict_pcr(tiny_model, image, jit_compile='yes')


def test_xla_pass_matches_the_plain_pass(tiny_model):
    image = np.random.default_rng(6).normal(size=(70, 58, 2))
    plain = predict_pcr(tiny_model, image, tile_size=16, jit_compile=False)
    compiled = predict_pcr(tiny_model, image, tile_size=16, jit_compile=True)
    for name in ('center_of_mass', 'contribution_vectors',
                 'contribution_maps'):
        np.testing.assert_allclose(getattr(compiled, name),
                                   getattr(plain, name), rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize('shape, tile_size, overlap, factor', [
    ((72, 64), 16, 8, 8), ((64, 64), 64, 8, 8), ((40, 24), 16, 16, 8),
    ((1000, 1032), 512, 88, 8)])
def test_tile_windows_share_one_shape_and_cover_the_frame(shape, tile_size,
                                                          overlap, factor):
    tiles = tile_slices(shape, tile_size, overlap, factor=factor)
    covered = np.zeros(shape, dtype=int)
    window_shapes = set()
    for window, local, frame in tiles:
        window_shapes.add((window[0].stop - window[0].start,
                           window[1].stop - window[1].start))
        assert window[0].start % factor == 0 and window[1].start % factor == 0
        assert window[0].start >= 0 and window[1].start >= 0
        assert window[0].stop <= shape[0] and window[1].stop <= shape[1]
        covered[frame] += 1
        for axis in range(2):
            # the core keeps `overlap` pixels of context wherever the
            # window does not stop at the frame edge
            core = frame[axis]
            if window[axis].start > 0:
                assert core.start - window[axis].start >= overlap
            if window[axis].stop < shape[axis]:
                assert window[axis].stop - core.stop >= overlap
            assert local[axis].start == core.start - window[axis].start
    assert len(window_shapes) == 1
    np.testing.assert_array_equal(covered, 1)


def test_build_bad_input():
    with pytest.raises(ValueError, match='filters'):
        build_pais_model(filters=())
    with pytest.raises(ValueError, match='attention_window'):
        build_pais_model(attention_window=4)
    with pytest.raises(TypeError, match='n_bands'):
        build_pais_model(n_bands=1.5)
    with pytest.raises(ValueError, match='n_contributors'):
        build_pais_model(n_contributors=0)
