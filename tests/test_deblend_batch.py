"""
Tests of `Deblender.batch`, the path for many small images, and of the
batched network pass under it: the same results as one call per image,
the input checks (naming the element), and the batch sizes.
"""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
pytest.importorskip('tensorflow')

# Keras 3 converts TensorFlow variables with np.array(x), which NumPy 2
# flags (keras/src/backend/tensorflow/core.py); not ours to fix
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

from photutils.segmentation import SegmentationImage  # noqa: E402

from pais_deblend.deblend import Deblender  # noqa: E402
from pais_deblend.deblend.inputs import prepare_image  # noqa: E402
from pais_deblend.deblend.pipeline import (  # noqa: E402
    estimate_image_noise, network_pass, network_pass_batch)
from pais_deblend.model.inference import (  # noqa: E402
    BATCH_PIXELS, batch_size, default_overlap, predict_pcr_batch)
from pais_deblend.utils.exceptions import NoDetectionWarning  # noqa: E402

from .test_deblend import gaussian_scene  # noqa: E402


def assert_same_segmentation(expected, result):
    """The same sources and pixels; weights and centres to the float
    rounding of a batch's network outputs (measured on these scenes:
    weights identical, centres within 4e-6 pixels)."""
    if expected is None:
        assert result is None
        return
    assert result is not None
    np.testing.assert_array_equal(result.contributors, expected.contributors)
    np.testing.assert_allclose(result.weights, expected.weights, atol=1e-6)
    np.testing.assert_array_equal(result.data, expected.data)
    assert result.centers.keys() == expected.centers.keys()
    np.testing.assert_allclose(list(result.centers.values()),
                               list(expected.centers.values()), atol=1e-4)
    assert result.class_star == expected.class_star


@pytest.fixture(scope='module')
def tiny_deblender():
    from pais_deblend.model import build_pais_model

    model = build_pais_model(filters=[4, 8], attention_window=3, seed=0)
    return Deblender(model, detection_threshold=0.05, tile_size=64,
                     progress_bar=False)


@pytest.fixture(scope='module')
def bundled():
    return Deblender('hst_f160w', progress_bar=False)


@pytest.fixture(scope='module')
def scenes():
    """Seeded simulated scenes of three shapes, in mixed order."""
    from pais_deblend.simulation import simulate_scene

    shapes = [(128, 128), (96, 120), (128, 128), (256, 256), (128, 128),
              (96, 120)]
    return [simulate_scene('hst_f160w', shape=shape, seed=seed).image
            for seed, shape in enumerate(shapes, start=1)]


def one_by_one(deblender, images, **options):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionWarning)
        return [deblender(image, **options) for image in images]


@pytest.mark.parametrize('batch_pixels', [None, 128 * 128])
def test_batch_equals_one_call_per_image(bundled, scenes, batch_pixels):
    """Mixed shapes, several batches of one shape (one image each with
    ``batch_pixels`` = 128**2): the same segmentations."""
    expected = one_by_one(bundled, scenes)
    assert sum(segm is not None for segm in expected) >= 4
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionWarning)
        results = bundled.batch(scenes, batch_pixels=batch_pixels)
    assert len(results) == len(scenes)
    for segm, result in zip(expected, results):
        assert_same_segmentation(segm, result)


def test_batched_network_pass_equals_single_passes(bundled, scenes):
    images = [prepare_image(image) for image in scenes
              if image.shape == (128, 128)]
    noises = [estimate_image_noise(image) for image in images]
    batched = network_pass_batch(bundled, images, noises)
    for image, noise, (pcr, heads) in zip(images, noises, batched):
        single, single_heads = network_pass(bundled, image, noise)
        np.testing.assert_allclose(pcr.center_of_mass, single.center_of_mass,
                                   atol=1e-5)
        np.testing.assert_allclose(pcr.contribution_vectors,
                                   single.contribution_vectors, atol=1e-4)
        np.testing.assert_allclose(pcr.contribution_maps,
                                   single.contribution_maps, atol=1e-4)
        assert heads.keys() == single_heads.keys()


def test_batch_with_options_and_large_images(tiny_deblender):
    """Masks, segmentation images and n_pixels reach every image; an
    image larger than one tile (tile_size=64) is deblended on its own."""
    images = [gaussian_scene((64, 64), seed=1),
              gaussian_scene((150, 130), seed=2, n_sources=10),
              gaussian_scene((64, 64), seed=3),
              gaussian_scene((48, 64), seed=4)]
    masks = [None, np.zeros((150, 130), dtype=bool), None, None]
    masks[1][:10] = True
    segmentation_images = [
        None, None,
        SegmentationImage((images[2] > 0.05).astype(np.int32)), None]
    options = dict(n_pixels=3, connectivity=4, relabel=False)
    expected = [
        tiny_deblender(image, segmentation_image, mask=mask, **options)
        for image, mask, segmentation_image in zip(images, masks,
                                                   segmentation_images)]
    results = tiny_deblender.batch(images, segmentation_images, masks=masks,
                                   **options)
    for segm, result in zip(expected, results):
        assert_same_segmentation(segm, result)


def test_batch_of_nothing(tiny_deblender):
    assert tiny_deblender.batch([]) == []
    assert tiny_deblender.batch((), progress_bar=True) == []


def test_batch_leaves_the_inputs_alone(tiny_deblender):
    images = [gaussian_scene((64, 64), seed=seed) for seed in range(3)]
    images[1][5, 5] = np.nan
    masks = [np.zeros((64, 64), dtype=bool) for _ in images]
    masks[2][:4] = True
    copies = [image.copy() for image in images]
    mask_copies = [mask.copy() for mask in masks]
    tiny_deblender.batch(images, masks=masks)
    for image, copy in zip(images, copies):
        np.testing.assert_array_equal(image, copy)
    for mask, copy in zip(masks, mask_copies):
        np.testing.assert_array_equal(mask, copy)


def test_batch_warns_with_the_index_of_an_empty_image(tiny_deblender):
    images = [gaussian_scene((64, 64), seed=1), np.zeros((64, 64))]
    with pytest.warns(NoDetectionWarning, match=r'^images\[1\]: '):
        results = tiny_deblender.batch(images)
    assert results[1] is None


def test_batch_progress_bar(tiny_deblender, capsys):
    images = [gaussian_scene((64, 64), seed=seed) for seed in range(2)]
    results = tiny_deblender.batch(images, progress_bar=True)
    assert len(results) == 2
    assert 'images' in capsys.readouterr().err


@pytest.mark.parametrize('arguments,error,match', [
    (dict(images=np.zeros((2, 64, 64))), TypeError,
     r'images must be a list or tuple, got ndarray \(for a stack'),
    (dict(images='image.fits'), TypeError,
     'images must be a list or tuple, got str'),
    (dict(images=[np.ones((64, 64)), 'abc']), TypeError, r'images\[1\]'),
    (dict(images=[np.ones((64, 64)), np.ones((4, 64, 64))]), ValueError,
     r'images\[1\]'),
    (dict(images=[np.ones((64, 64)), np.full((64, 64), np.nan)]),
     ValueError, r'images\[1\] has no usable pixel'),
    (dict(images=[np.ones((64, 64))] * 2,
          masks=[None, np.zeros((64, 63), dtype=bool)]), ValueError,
     r'masks\[1\] has shape \(64, 63\)'),
    (dict(images=[np.ones((64, 64))] * 2, masks=[None, np.zeros((64, 64))]),
     TypeError, r'masks\[1\] must be a boolean array'),
    (dict(images=[np.ones((64, 64))] * 2, masks=[None]), ValueError,
     r'masks must have one element per image \(2\), got 1'),
    (dict(images=[np.ones((64, 64))] * 2,
          segmentation_images=[None, np.ones((64, 64), dtype=int)]),
     TypeError, r'segmentation_images\[1\] must be a photutils'),
    (dict(images=[np.ones((64, 64))] * 2,
          segmentation_images=[SegmentationImage(
              np.ones((64, 60), dtype=int)), None]),
     ValueError, r'segmentation_images\[0\] has shape \(64, 60\) but '
     r'images\[0\] has shape \(64, 64\)'),
    (dict(images=[np.ones((64, 64))], n_pixels=0), ValueError, 'n_pixels'),
    (dict(images=[np.ones((64, 64))], connectivity=6), ValueError,
     'connectivity'),
    (dict(images=[np.ones((64, 64))], batch_pixels=0), ValueError,
     'batch_pixels'),
])
def test_batch_input_errors(tiny_deblender, arguments, error, match):
    """Every element is checked before any image is deblended."""
    with pytest.raises(error, match=match):
        tiny_deblender.batch(**arguments)


def test_batch_memory_error_names_the_image(tiny_deblender, monkeypatch):
    from pais_deblend.deblend import memory

    monkeypatch.setattr(memory, 'available_memory', lambda: 2**20)
    with pytest.raises(ValueError, match=r'images\[0\]: an image of 64 x 64'):
        tiny_deblender.batch([np.ones((64, 64))])


def test_batch_sizes(bundled):
    model = bundled.model
    assert BATCH_PIXELS == 2**17
    assert batch_size(model, (128, 128)) == 8
    assert batch_size(model, (256, 256)) == 2
    # padded to a multiple of the downsampling factor (16: 112 x 112)
    factor = model.downsampling_factor
    padded = -(-100 // factor) * factor
    assert batch_size(model, (100, 100)) == 2**17 // padded**2
    assert batch_size(model, (512, 512)) == 1
    assert batch_size(model, (513, 100)) == 0  # more than one tile
    # one tile window bounds the batch
    window = (512 + 2 * default_overlap(model)) ** 2
    small = factor ** 2  # an 8 x 8 image pads to one factor square
    assert batch_size(model, (8, 8), max_pixels=10**9) == window // small
    assert batch_size(model, (128, 128), max_pixels=1) == 1


def test_predict_pcr_batch_errors(bundled):
    with pytest.raises(ValueError, match='must all have one shape'):
        predict_pcr_batch(bundled.model, [np.ones((64, 64)),
                                          np.ones((64, 72))])
    with pytest.raises(ValueError, match='use predict_pcr'):
        predict_pcr_batch(bundled.model, [np.ones((64, 600))])
    assert predict_pcr_batch(bundled.model, []) == []
