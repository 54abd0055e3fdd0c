"""
Fault injection on a mosaic store: a chunk deleted, a byte flipped, a
chunk truncated, values no deblender writes, damaged metadata. Every
read of a damaged chunk raises an `OSError` naming the array and the
chunk (never a silently wrong region), the intact chunks still read, and
`verify_mosaic` (``pais-deblend mosaic --verify``) lists the damage.
"""

import os
import shutil

import numpy as np
import pytest

from pais_deblend.mosaic import deblend_mosaic, read_mosaic, verify_mosaic
from tests.test_mosaic import SETTINGS, gaussian_scene, tiny_model_file

__all__ = ['tiny_model_file']  # the fixture, shared with test_mosaic

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

#: The region of chunk (1, 1) of the store below (2 x 2 chunks of 64).
CHUNK_11 = np.s_[64:128, 64:128]


@pytest.fixture(scope='module')
def intact(tiny_model_file, tmp_path_factory):
    pytest.importorskip('zarr')
    output = tmp_path_factory.mktemp('intact') / 'field.zarr'
    deblend_mosaic(gaussian_scene((128, 128), n_sources=16, seed=3), output,
                   model=tiny_model_file, tile_size=64, margin=32,
                   **SETTINGS)
    return output


@pytest.fixture
def store(intact, tmp_path):
    """A fresh copy of the intact store, to damage."""
    copy = tmp_path / 'field.zarr'
    shutil.copytree(intact, copy)
    return copy


def chunk_file(store, key):
    path = store.joinpath(*key.split('/'))
    assert path.is_file()
    return path


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_intact_store_reads_and_verifies(intact):
    from pais_deblend.mosaic import MosaicSegmentation

    mosaic = MosaicSegmentation(intact)
    assert mosaic.attributes['every_chunk_written'] is True
    assert mosaic.attributes['checksum'] in ('crc32c', None)
    assert verify_mosaic(intact) == []
    part = mosaic.read(CHUNK_11)
    # the region is attributed: the faults below hit real pixels
    attributed = part.contributors.any(axis=-1)
    assert attributed.mean() > 0.1
    np.testing.assert_allclose(part.weights.sum(-1)[attributed], 1,
                               atol=1e-4)


@pytest.mark.parametrize('name', ['weights', 'contributors'])
def test_deleted_chunk(store, name):
    os.remove(chunk_file(store, f'{name}/c/1/1/0'))
    match = (rf"array '{name}', chunk '{name}/c/1/1/0' \(pixels y 64:128, "
             rf"x 64:128\) is missing")
    with pytest.raises(OSError, match=match):
        read_mosaic(store, CHUNK_11)
    with pytest.raises(OSError, match=match):
        read_mosaic(store)  # the whole mosaic needs it too
    # the other chunks still read
    assert read_mosaic(store, np.s_[0:64, 0:128]).contributors.any()
    problems = verify_mosaic(store)
    assert len(problems) == 1 and f'{name}/c/1/1/0' in problems[0]


@pytest.mark.parametrize('name', ['weights', 'contributors'])
def test_flipped_byte(store, name):
    zarr = pytest.importorskip('zarr')
    if int(zarr.__version__.split('.')[0]) < 3:
        pytest.skip('chunk checksums need zarr 3')
    flip_byte(chunk_file(store, f'{name}/c/1/1/0'))
    with pytest.raises(OSError, match=(
            rf"array '{name}', chunk '{name}/c/1/1/0' .*cannot be read "
            r"\(ValueError: Stored and computed checksum do not match")):
        read_mosaic(store, np.s_[100:110, 60:70])
    assert len(verify_mosaic(store)) == 1


def test_truncated_chunk(store):
    path = chunk_file(store, 'weights/c/0/1/0')
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(OSError, match=(r"array 'weights', chunk "
                                       r"'weights/c/0/1/0' .*cannot be read")):
        read_mosaic(store, np.s_[0:10, 60:70])
    # an empty file too
    path.write_bytes(b'')
    with pytest.raises(OSError, match="chunk 'weights/c/0/1/0'"):
        read_mosaic(store, np.s_[0:10, 60:70])


def _rewrite(store, name, region, change):
    """Write changed values into a chunk through zarr (so its checksum is
    right): damage only the values can show."""
    from pais_deblend.mosaic.store import open_pixel_array

    array = open_pixel_array(store, name, 'r+')
    values = np.asarray(array[region])
    array[region] = change(values)


@pytest.mark.parametrize(('name', 'change', 'match'), [
    ('weights', lambda w: np.full_like(w, np.nan),
     r"array 'weights', chunk 'weights/c/1/1/0'.*holds invalid values "
     r"\(weights \[nan"),
    ('weights', lambda w: np.where(w > 0, 0.2, 0).astype(w.dtype),
     r"array 'weights', chunk 'weights/c/1/1/0'.*summing to 0\.[246]"),
    ('weights', lambda w: w * 3,
     r"array 'weights'.*outside \[0, 1\]"),
    ('contributors', lambda c: np.where(c > 0, c + 10_000, 0),
     r"array 'contributors', chunk 'contributors/c/1/1/0'.*labels \[\d+"
     r".* outside 0\.\.\d+ at mosaic pixel \(y=\d+, x=\d+\)"),
    ('contributors', lambda c: np.repeat(c[..., :1], c.shape[-1], -1),
     r"array 'contributors'.*twice in one pixel"),
])
def test_invalid_values(store, name, change, match):
    _rewrite(store, name, CHUNK_11, change)
    with pytest.raises(OSError, match=match):
        read_mosaic(store, CHUNK_11)
    problems = verify_mosaic(store)
    assert len(problems) == 1 and f'{name}/c/1/1/0' in problems[0]


def test_store_without_chunk_record(store):
    """A store of an earlier version (no every_chunk_written): a missing
    weights chunk still shows, as weights that do not sum to 1."""
    import zarr

    group = zarr.open_group(os.fspath(store), mode='r+')
    del group.attrs['every_chunk_written']
    os.remove(chunk_file(store, 'weights/c/1/1/0'))
    with pytest.raises(OSError, match=r"array 'weights'.*summing to 0, "
                                      r"not 1"):
        read_mosaic(store, CHUNK_11)


def test_damaged_source_table(store):
    os.remove(chunk_file(store, 'centers/c/0/0'))
    with pytest.raises(OSError, match=r"array 'centers', chunk "
                                      r"'centers/c/0/0' is missing"):
        read_mosaic(store, CHUNK_11)
    with pytest.raises(OSError, match="array 'centers'"):
        read_mosaic(store).catalog()
    problems = verify_mosaic(store)
    assert len(problems) == 1 and 'centers' in problems[0]


def test_damaged_detection_flags(store):
    zarr = pytest.importorskip('zarr')
    from pais_deblend.mosaic import MosaicSegmentation
    from pais_deblend.mosaic.store import open_pixel_array

    # through zarr, so that the checksum is right (chunks of zeros kept)
    array = open_pixel_array(store, 'detection_flags', 'r+')
    values = np.asarray(array[...])
    values[0] = 3  # bits no deblender records as an origin
    array[...] = values
    with pytest.raises(OSError, match=r"array 'detection_flags', chunk "
                       r"'detection_flags/c/0' .*holds invalid values "
                       r"\(flags other than the detection bits"):
        read_mosaic(store, CHUNK_11)
    with pytest.raises(OSError, match="array 'detection_flags'"):
        MosaicSegmentation(store).catalog()
    problems = verify_mosaic(store)
    assert len(problems) == 1 and 'detection_flags' in problems[0]
    if int(zarr.__version__.split('.')[0]) >= 3:
        values[0] = 0
        array[...] = values
        assert verify_mosaic(store) == []
        flip_byte(chunk_file(store, 'detection_flags/c/0'))
        problems = verify_mosaic(store)
        assert len(problems) == 1 and (
            "chunk 'detection_flags/c/0'" in problems[0])


def test_damaged_array_metadata(store):
    chunk_file(store, 'weights/zarr.json').write_text('{"broken')
    with pytest.raises(OSError, match=r"the metadata of array 'weights' "
                                      r"cannot be read"):
        read_mosaic(store, CHUNK_11)
    assert ["array 'weights'" in p for p in verify_mosaic(store)] == [True]


def test_cli_verify(store, capsys):
    from pais_deblend.cli import main

    assert main(['mosaic', '--verify', str(store)]) == 0
    assert 'every chunk is intact' in capsys.readouterr().out
    os.remove(chunk_file(store, 'weights/c/0/0/0'))
    flip_byte(chunk_file(store, 'contributors/c/1/0/0'))
    assert main(['mosaic', '--verify', str(store)]) == 2
    captured = capsys.readouterr()
    assert "chunk 'weights/c/0/0/0'" in captured.out
    assert "chunk 'contributors/c/1/0/0'" in captured.out
    assert 'is damaged: 2 problem(s)' in captured.err
    assert main(['mosaic', '--verify', str(store.parent / 'none.zarr')]) == 2
    assert 'does not exist' in capsys.readouterr().err
    assert main(['mosaic', 'x.npy', '--verify', str(store)]) == 2
    assert 'not both' in capsys.readouterr().err
    assert main(['mosaic']) == 2
    assert 'IMAGE is required' in capsys.readouterr().err
