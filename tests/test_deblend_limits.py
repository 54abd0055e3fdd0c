"""
What `Deblender` and `deblend_mosaic` refuse before any work: an image
larger than the memory (`pais_deblend.deblend.memory`), option values
beyond their limits (each with its reason), masks that are not boolean.
"""

import os
import time

import numpy as np
import pytest

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
pytest.importorskip('tensorflow')

from astropy.nddata import NDData  # noqa: E402

from pais_deblend.deblend import Deblender  # noqa: E402
from pais_deblend.deblend.inputs import prepare_image  # noqa: E402
from pais_deblend.deblend.memory import (check_memory,  # noqa: E402
                                         estimate_peak_memory)
from tests.test_mosaic import SETTINGS, tiny_model_file  # noqa: E402

__all__ = ['tiny_model_file']  # the fixture, shared with test_mosaic

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')


@pytest.fixture(scope='module')
def deblender(tiny_model_file):
    return Deblender(tiny_model_file, detection_threshold=0.05,
                     tile_size=64, progress_bar=False)


# --- memory ----------------------------------------------------------------

def test_an_image_too_large_is_refused_at_once(deblender, tmp_path):
    # a sparse file: 1.6 GB on paper, nothing on disk, nothing read
    big = np.memmap(tmp_path / 'big.f32', dtype=np.float32, mode='w+',
                    shape=(20000, 20000))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=(
            r'an image of 20000 x 20000 pixels needs about [\d.]+ GiB in '
            r'one Deblender call, but [\d.]+ GiB of memory is available; '
            r'deblend it tile by tile with '
            r'pais_deblend.mosaic.deblend_mosaic')):
        deblender(big)
    assert time.perf_counter() - start < 1.0
    # also wrapped in NDData
    with pytest.raises(ValueError, match='20000 x 20000 pixels needs'):
        deblender(NDData(big))


def test_memory_estimate_and_check(deblender):
    small = estimate_peak_memory((1024, 1024))
    large = estimate_peak_memory((4096, 4096))
    assert 0 < small < large
    # with tiles of 512: linear in the pixels beyond the fixed part
    assert (estimate_peak_memory((4096, 4096), tile_size=512)
            - estimate_peak_memory((1024, 1024), tile_size=512)
            == pytest.approx(15 * (
                estimate_peak_memory((1024, 1024), tile_size=512)
                - estimate_peak_memory((1, 1), tile_size=512)), rel=1e-3))
    # a larger tile costs more on a large image, nothing on a small one
    assert (estimate_peak_memory((4096, 4096), tile_size=2048)
            > estimate_peak_memory((4096, 4096), tile_size=512))
    assert (estimate_peak_memory((256, 256), tile_size=2048)
            == estimate_peak_memory((256, 256), tile_size=512))
    assert estimate_peak_memory((1024, 1024), n_bands=3,
                                band_maps=True) > small
    assert estimate_peak_memory((1024, 1024), n_contributors=1) < small
    data = np.zeros((1024, 1024))
    check_memory(data, deblender, available=100 * 2**30)
    with pytest.raises(ValueError, match=r'needs about 0\.\d GiB .* but '
                       r'0\.1 GiB of memory is available'):
        check_memory(data, deblender, available=0.1 * 2**30)
    # inputs of no known shape are left to the input checks
    check_memory('image.fits', deblender, available=1)
    check_memory(np.zeros(5), deblender, available=1)


# --- option limits ----------------------------------------------------------

@pytest.mark.parametrize(('kwargs', 'match'), [
    ({'footprint_smoothing': 1e6},
     r'footprint_smoothing must be at most 32\.0 \(the Gaussian sigma in '
     r'pixels: its cost grows with its width.*got 1000000\.0'),
    ({'footprint_threshold': 1e4},
     r'footprint_threshold must be at most 1000\.0 \(in units of the '
     r'detection noise'),
    ({'min_separation': 65},
     r'min_separation must be at most 64 \(the half-width in pixels of the '
     r'peak window'),
    ({'tile_size': 8192},
     r'tile_size must be at most 4096 \(the network holds its activations'),
])
def test_deblender_option_limits(tiny_model_file, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Deblender(tiny_model_file, **kwargs)


def test_deblender_limits_are_inclusive(tiny_model_file):
    deblender = Deblender(tiny_model_file, footprint_smoothing=32,
                          footprint_threshold=1000, min_separation=64,
                          tile_size=4096, progress_bar=False)
    assert deblender.footprint_smoothing == 32.0


def test_n_pixels_limit(deblender):
    with pytest.raises(ValueError, match=r'n_pixels must be at most 1000000 '
                       r'\(the smallest effective area kept'):
        deblender(np.zeros((32, 32)), n_pixels=1_000_001)


@pytest.mark.parametrize(('kwargs', 'match'), [
    ({'tile_size': 16384},
     r'tile_size must be at most 8192 \(each task holds its extended tile'),
    ({'margin': 4096},
     r'margin must be at most 2048 \(the context around each core'),
    ({'network_tile_size': 8192},
     r'network_tile_size must be at most 4096 \(the network holds'),
    ({'n_pixels': 10**7}, r'n_pixels must be at most 1000000'),
    ({'footprint_smoothing': 1e6}, r'footprint_smoothing must be at most'),
])
def test_mosaic_option_limits(tmp_path, tiny_model_file, kwargs, match):
    pytest.importorskip('zarr')
    from pais_deblend.mosaic import TilePlan, deblend_mosaic

    arguments = {'model': tiny_model_file, **SETTINGS, **kwargs}
    with pytest.raises(ValueError, match=match):
        deblend_mosaic(np.ones((64, 64)), tmp_path / 'out.zarr', **arguments)
    assert os.listdir(tmp_path) == []
    if 'tile_size' in kwargs or 'margin' in kwargs:
        # an explicit plan is held to the same limits
        plan = TilePlan((64, 64), kwargs.get('tile_size', 64),
                        margin=kwargs.get('margin', 32))
        with pytest.raises(ValueError, match=match):
            deblend_mosaic(np.ones((64, 64)), tmp_path / 'out.zarr',
                           plan=plan, model=tiny_model_file, **SETTINGS)


# --- masks --------------------------------------------------------------------

@pytest.mark.parametrize(('value', 'dtype'), [(0.5, float), (1, int)])
def test_nddata_masks_must_be_boolean_like_mask(value, dtype):
    # a float mask of 0.5 once masked every pixel silently
    image = np.ones((8, 8))
    mask = np.zeros((8, 8), dtype)
    mask[2, 3] = value
    with pytest.raises(TypeError, match=r'data\.mask must be a boolean '
                       rf'array, got dtype {mask.dtype}'):
        prepare_image(NDData(image, mask=mask))
    with pytest.raises(TypeError, match=r'^mask must be a boolean array, got '
                       rf'dtype {mask.dtype}'):
        prepare_image(image, mask=mask)
    boolean = mask != 0
    assert prepare_image(NDData(image, mask=boolean)).mask.sum() == 1


def test_default_tile_size_follows_the_architecture():
    """Light networks run 2048-pixel tiles, the paper's architecture 512
    (its activations of a 2048-pixel tile need 4.8 GiB); an explicit
    tile_size is kept."""
    light = Deblender('hst_f160w', progress_bar=False)
    paper = Deblender('hst_f160w_v1', progress_bar=False)
    assert light.model.architecture_name == 'light'
    assert light.tile_size == 2048
    assert paper.tile_size == 512
    assert Deblender('hst_f160w', tile_size=256,
                     progress_bar=False).tile_size == 256
    with pytest.raises(ValueError, match='tile_size must be'):
        Deblender('hst_f160w', tile_size=0, progress_bar=False)


def test_uses_tensorflow_by_size_and_runtime():
    import sys

    already = 'tensorflow' in sys.modules
    auto = Deblender('hst_f160w', progress_bar=False)
    # fewer than XLA_MIN_TILES tiles of 2048: the ONNX twin
    assert auto.uses_tensorflow((256, 256)) is False
    assert auto.uses_tensorflow((2048, 4096, 1)) is False
    assert auto.uses_tensorflow((4096, 4096)) is True
    assert Deblender('hst_f160w', runtime='onnx',
                     progress_bar=False).uses_tensorflow((4096, 4096)) is False
    # the query itself loads nothing
    assert ('tensorflow' in sys.modules) == already


def test_a_keras_model_always_uses_tensorflow(tiny_model_file):
    deblender = Deblender(tiny_model_file, progress_bar=False)
    assert deblender.uses_tensorflow((64, 64)) is True
