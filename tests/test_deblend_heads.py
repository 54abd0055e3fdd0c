"""
The Deblender with a model that has the optional heads: per-band weights
and star probabilities on the partial segmentation.
"""

import numpy as np
import pytest

pytest.importorskip('keras')

from pais_deblend import Deblender  # noqa: E402
from pais_deblend.deblend.pipeline import star_probabilities  # noqa: E402
from pais_deblend.pcr import (PCR, decode_arrays,  # noqa: E402
                              decode_band_weights)
from pais_deblend.segmentation import PartialSegmentationImage  # noqa: E402


def _gaussian(shape, center, sigma, amplitude):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return amplitude * np.exp(-((rows - center[0]) ** 2
                                + (cols - center[1]) ** 2) / (2 * sigma ** 2))


@pytest.fixture(scope='module')
def heads_model():
    from pais_deblend.model import build_pais_model

    return build_pais_model(n_bands=3, filters=(4, 8), attention_window=3,
                            classify=True, band_maps=True, seed=3)


@pytest.fixture(scope='module')
def scene():
    rng = np.random.default_rng(11)
    shape = (48, 56)
    image = rng.normal(0, 0.05, size=(*shape, 3))
    for center, colour in (((14, 15), (1.0, 2.0, 3.0)),
                           ((18, 20), (3.0, 1.5, 0.5)),
                           ((34, 40), (1.0, 1.0, 1.0))):
        image += _gaussian(shape, center, 2.5, 1.0)[..., np.newaxis] * colour
    return image


@pytest.fixture(scope='module')
def segmentation(heads_model, scene):
    # an untrained network: a low threshold still finds peaks
    deblender = Deblender(heads_model, detection_threshold=0.01,
                          progress_bar=False)
    return deblender(scene, n_pixels=1)


def test_heads_give_valid_band_weights(segmentation, scene):
    assert segmentation is not None
    band_weights = segmentation.band_weights
    assert band_weights.shape == (*scene.shape[:2], 3, 3)
    # the public constructor's full validation accepts them
    PartialSegmentationImage(segmentation.contributors,
                             segmentation.weights,
                             band_weights=band_weights, check=True)
    attributed = segmentation.contributors[..., 0] > 0
    np.testing.assert_allclose(band_weights.sum(axis=2)[attributed], 1.0,
                               atol=1e-5)


def test_heads_conserve_each_band(segmentation, scene):
    attributed = segmentation.contributors[..., 0] > 0
    total = np.zeros_like(scene)
    for label in segmentation.partial_labels:
        cutout = segmentation.source_image(label, scene)
        total[cutout.slices] += cutout.data
    np.testing.assert_allclose(total[attributed], scene[attributed],
                               rtol=1e-5, atol=1e-7)


def test_class_star_per_label(segmentation):
    class_star = segmentation.class_star
    assert set(class_star) == set(segmentation.partial_labels.tolist())
    values = np.array(list(class_star.values()))
    assert ((values >= 0) & (values <= 1)).all()


def test_band_weights_equal_weights_for_equal_maps(heads_model, scene):
    """A band whose logits are the band-combined ones gets exactly the
    band-combined weights."""
    from pais_deblend.model import predict_pcr

    pcr, heads = predict_pcr(heads_model, scene, return_heads=True)
    maps = heads['band_contribution_maps'].copy()
    maps[:, :, 1, :] = pcr.contribution_maps
    centers = np.array([[14.0, 15.0], [18.0, 20.0], [34.0, 40.0]])
    decoded = decode_arrays(pcr, scene, centers=centers)
    result = decode_band_weights(pcr, maps, decoded, scene)
    np.testing.assert_allclose(result[..., 1], decoded.weights, atol=1e-6)


def test_predict_heads_tile_independent(heads_model, scene):
    from pais_deblend.model import predict_pcr

    _, whole = predict_pcr(heads_model, scene, tile_size=64,
                           return_heads=True, jit_compile=False)
    _, tiled = predict_pcr(heads_model, scene, tile_size=16,
                           return_heads=True, jit_compile=False)
    assert whole['star_probability'].shape == scene.shape[:2]
    assert whole['band_contribution_maps'].shape == (*scene.shape[:2], 3, 3)
    for key in whole:
        np.testing.assert_allclose(tiled[key], whole[key], atol=2e-5)


def test_keep_top_band_slots_follows_pcr_slots():
    rng = np.random.default_rng(5)
    maps = rng.normal(size=(6, 7, 3)).astype(np.float32)
    vectors = rng.normal(size=(6, 7, 3, 2)).astype(np.float32)
    pcr = PCR(np.zeros((6, 7), np.float32), vectors, maps,
              maps_are_logits=True)
    # band 0 carries the slot index, so the kept slots can be read off
    band_maps = np.broadcast_to(np.arange(3, dtype=np.float32),
                                (6, 7, 2, 3)).copy()
    kept = pcr.keep_top_band_slots(band_maps, 2)
    reduced = pcr.keep_top_slots(2)
    slots = kept[:, :, 0, :].astype(int)
    np.testing.assert_array_equal(
        np.take_along_axis(maps, slots, axis=-1), reduced.contribution_maps)


def test_class_star_box_mean():
    probability = np.zeros((9, 9), dtype=np.float32)
    probability[3:6, 3:6] = 0.9
    probability[0, 0] = 0.3
    result = star_probabilities(probability, np.array([[4.2, 3.9], [0.0, 0.0],
                                                       [8.0, 8.0]]))
    np.testing.assert_allclose(result, [0.9, 0.3 / 4, 0.0])


@pytest.mark.parametrize('n, match', [
    (0, 'n_contributors must be'),
    (4, r'n_contributors must be at most the PCR\'s 3 slots, got 4'),
])
def test_keep_top_slots_errors(n, match):
    pcr = PCR(np.zeros((4, 5)), np.zeros((4, 5, 3, 2)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match=match):
        pcr.keep_top_slots(n)
    with pytest.raises(ValueError, match=match):
        pcr.keep_top_band_slots(np.zeros((4, 5, 2, 3)), n)


def test_keep_top_band_slots_shape_error():
    pcr = PCR(np.zeros((4, 5)), np.zeros((4, 5, 3, 2)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match=r'band_maps must have shape'):
        pcr.keep_top_band_slots(np.zeros((4, 5, 3)), 2)


def test_batch_keeps_the_heads(heads_model, scene):
    """`Deblender.batch` gives the band weights and star probabilities of
    one call per image."""
    deblender = Deblender(heads_model, detection_threshold=0.01,
                          progress_bar=False)
    images = [scene, scene[::-1].copy(), scene[:, ::-1].copy()]
    expected = [deblender(image, n_pixels=1) for image in images]
    results = deblender.batch(images, n_pixels=1)
    for segm, result in zip(expected, results):
        np.testing.assert_array_equal(result.contributors, segm.contributors)
        np.testing.assert_allclose(result.band_weights, segm.band_weights,
                                   atol=1e-6)
        assert result.class_star.keys() == segm.class_star.keys()
        np.testing.assert_allclose(list(result.class_star.values()),
                                   list(segm.class_star.values()), atol=1e-6)
