"""
Bad input files reach the user as the documented exception types, naming
the file and the cause: a ``.keras`` zip without ``config.json``, a
Keras model that is not a PAIS model, a truncated FITS image.
"""

import os
import zipfile

import numpy as np
import pytest

from pais_deblend.cli import main

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')


@pytest.fixture(scope='module')
def keras_files(tmp_path_factory):
    keras = pytest.importorskip('keras')
    folder = tmp_path_factory.mktemp('keras')
    no_config = folder / 'no_config.keras'
    with zipfile.ZipFile(no_config, 'w') as archive:
        archive.writestr('metadata.json', '{"keras_version": "3.0.0"}')
        archive.writestr('model.weights.h5', b'')
    other = folder / 'dense.keras'
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).save(other)
    return no_config, other


def test_keras_zip_without_config(keras_files):
    from pais_deblend.deblend import Deblender
    from pais_deblend.model import load_model

    no_config, _ = keras_files
    for load in (load_model, Deblender):
        with pytest.raises(ValueError,
                           match=r"no_config\.keras.*not a Keras model.*"
                           r"config\.json"):
            load(no_config)


def test_keras_model_that_is_not_pais(keras_files):
    from pais_deblend.deblend import Deblender
    from pais_deblend.model import load_model

    _, other = keras_files
    for load in (load_model, Deblender):
        with pytest.raises(ValueError,
                           match=r"dense\.keras.*Sequential, not a PAIS "
                           r"model \(no n_contributors"):
            load(other)


def test_mosaic_model_errors(keras_files, tmp_path):
    pytest.importorskip('zarr')
    from pais_deblend.mosaic import deblend_mosaic

    _, other = keras_files
    with pytest.raises(ValueError, match='not a PAIS model'):
        deblend_mosaic(np.zeros((64, 64)), tmp_path / 'out.zarr',
                       model=other, progress_bar=False)
    assert os.listdir(tmp_path) == []


@pytest.fixture
def truncated_fits(tmp_path):
    from astropy.io import fits

    whole = tmp_path / 'whole.fits'
    fits.writeto(whole, np.zeros((128, 128), dtype=np.float32))
    raw = whole.read_bytes()
    cut = tmp_path / 'cut.fits'
    cut.write_bytes(raw[:-3 * 2880])  # a few kB short
    return cut


def test_truncated_fits_source(truncated_fits):
    from pais_deblend.mosaic._sources import open_source

    with pytest.raises(OSError,
                       match=r"cut\.fits' is truncated or corrupt.*"
                       r"actual file length"):
        open_source(truncated_fits)


def test_corrupt_gzip_fits_source(tmp_path):
    import gzip

    from astropy.io import fits

    from pais_deblend.mosaic._sources import open_source

    whole = tmp_path / 'whole.fits'
    fits.writeto(whole, np.zeros((128, 128), dtype=np.float32))
    cut = tmp_path / 'cut.fits.gz'
    cut.write_bytes(gzip.compress(whole.read_bytes())[:-3000])
    with pytest.raises(OSError,
                       match=r"cut\.fits\.gz' is truncated or corrupt"):
        open_source(cut)


def test_fits_shortened_after_opening(tmp_path):
    """A file cut between opening and reading (another process rewriting
    it) fails the region read with the file's name."""
    from astropy.io import fits

    from pais_deblend.mosaic._sources import open_source

    path = tmp_path / 'image.fits'
    fits.writeto(path, np.zeros((128, 128), dtype=np.float32))
    source = open_source(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-3 * 2880])
    with pytest.raises(OSError,
                       match=r"image\.fits' is truncated or corrupt: "
                       r"reading"):
        source.read(np.s_[0:128, 0:128])


def test_cli_mosaic_truncated_fits(truncated_fits, tmp_path, capsys):
    pytest.importorskip('zarr')
    status = main(['mosaic', str(truncated_fits), '--workers', '0',
                   '--quiet', '--output-dir', str(tmp_path),
                   '--noise-sigma', '1'])
    assert status == 2
    error = capsys.readouterr().err
    assert 'cut.fits' in error and 'truncated or corrupt' in error
    assert 'Traceback' not in error
    assert not (tmp_path / 'cut.zarr').exists()
