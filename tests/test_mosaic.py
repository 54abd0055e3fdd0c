"""
Tests of `pais_deblend.mosaic`: the tile plan, the mosaic deblending
against a single `Deblender` pass (with a tiny untrained network, so
that it runs in seconds), the Zarr store and its reader, the CLI, and a
LocalCluster run.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

from pais_deblend.mosaic import (MosaicSegmentation,  # noqa: E402
                                 TilePlan, deblend_mosaic, read_mosaic)

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

# the untrained network's centre map hovers around 0.5: a low threshold
# gives it peaks to work with (as in test_deblend.py)
# the network's decode: its pixels depend on the network output of a
# single pass only, so 32-pixel margins suffice for an exact mosaic (the
# templates reach up to 64 pixels; the bundled model's default margins
# hold them, see test_deblend_pipeline)
SETTINGS = {'detection_threshold': 0.05, 'network_tile_size': 256,
            'attribution': 'network', 'companion_threshold': None,
            'progress_bar': False}


# --- TilePlan -------------------------------------------------------------

@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'shape': (10,), 'tile_size': 4, 'margin': 0}, ValueError,
     'shape must be a pair'),
    ({'shape': 5, 'tile_size': 4, 'margin': 0}, TypeError,
     'shape must be a pair'),
    ({'shape': (0, 10), 'tile_size': 4, 'margin': 0}, ValueError,
     'shape must be a positive integer, got 0'),
    ({'shape': (10, 10), 'tile_size': 0, 'margin': 0}, ValueError,
     'tile_size must be a positive integer, got 0'),
    ({'shape': (10, 10), 'tile_size': 4.5, 'margin': 0}, TypeError,
     'tile_size must be a positive integer, got 4.5'),
    ({'shape': (10, 10), 'tile_size': 4, 'margin': -1}, ValueError,
     'margin must be a non-negative integer, got -1'),
    ({'shape': (10, 10), 'tile_size': 12, 'margin': 0, 'multiple_of': 8},
     ValueError, r'tile_size must be a multiple of 8 .*got 12'),
    ({'shape': (10, 10), 'tile_size': 16, 'margin': 4, 'multiple_of': 8},
     ValueError, r'margin must be a multiple of 8 .*got 4'),
])
def test_tile_plan_validation(kwargs, error, match):
    shape = kwargs.pop('shape')
    with pytest.raises(error, match=match):
        TilePlan(shape, **kwargs)


def test_tile_plan_indexing_and_round_trip():
    plan = TilePlan((100, 70), 32, margin=8, multiple_of=8)
    assert plan.grid_shape == (4, 3) and len(plan) == 12
    last = plan[-1]
    assert last.index == 11 and (last.row, last.column) == (3, 2)
    assert last.core == (slice(96, 100), slice(64, 70))
    assert last.extended == (slice(88, 100), slice(56, 70))
    assert last.core_in_extended == (slice(8, 12), slice(8, 14))
    assert TilePlan.from_dict(plan.to_dict()) == plan
    assert plan.overhead > 1
    np.testing.assert_array_equal(
        plan.tile_index_of([[0, 0], [31.4, 31.6], [-5, 200], [99.9, 69]]),
        [0, 1, 2, 11])
    with pytest.raises(IndexError, match=r'tile index must be in \[0, 12\)'):
        plan[12]
    with pytest.raises(TypeError, match='tile index must be an integer'):
        plan[1.0]


@settings(max_examples=30, deadline=None)
@given(height=st.integers(1, 90), width=st.integers(1, 90),
       tile_size=st.integers(1, 40), margin=st.integers(0, 30))
def test_tile_cores_cover_the_image_exactly_once(height, width, tile_size,
                                                 margin):
    plan = TilePlan((height, width), tile_size, margin=margin)
    count = np.zeros((height, width), dtype=int)
    for tile in plan:
        count[tile.core] += 1
        # the extended region holds the core and the margin, clipped
        for core, extended, size in zip(tile.core, tile.extended,
                                        (height, width)):
            assert extended.start == max(core.start - margin, 0)
            assert extended.stop == min(core.stop + margin, size)
        # every pixel of the core is owned by this tile
        ys, xs = np.mgrid[tile.core]
        owners = plan.tile_index_of(np.column_stack([ys.ravel(),
                                                     xs.ravel()]))
        assert np.all(owners == tile.index)
    np.testing.assert_array_equal(count, 1)


# --- the mosaic against a single pass --------------------------------------

def gaussian_scene(shape=(160, 200), n_sources=40, seed=1, noise=0.1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for _ in range(n_sources):
        y, x = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        sigma, flux = rng.uniform(1, 4), rng.uniform(1, 20)
        image += flux * np.exp(-((yy - y)**2 + (xx - x)**2)
                               / (2 * sigma**2))
    return image + rng.normal(0, noise, shape)


@pytest.fixture(scope='module')
def tiny_model_file(tmp_path_factory):
    pytest.importorskip('tensorflow')
    from pais_deblend.model import build_pais_model

    path = tmp_path_factory.mktemp('model') / 'tiny.keras'
    build_pais_model(filters=[4, 8], attention_window=3, seed=0).save(path)
    return path


@pytest.fixture(scope='module')
def scene():
    return gaussian_scene()


@pytest.fixture(scope='module')
def single_pass(tiny_model_file, scene):
    from pais_deblend import Deblender

    deblender = Deblender(tiny_model_file, detection_threshold=0.05,
                         tile_size=256, attribution='network',
                         companion_threshold=None, progress_bar=False)
    return deblender(scene)


@pytest.fixture(scope='module')
def mosaic(tiny_model_file, scene, tmp_path_factory):
    pytest.importorskip('zarr')
    output = tmp_path_factory.mktemp('mosaic') / 'scene.zarr'
    # 3 x 4 tiles of 64 pixels, each with a 32-pixel margin
    return deblend_mosaic(scene, output, model=tiny_model_file,
                          tile_size=64, margin=32, **SETTINGS)


def label_map_by_center(single, mosaic):
    """Single-pass label -> mosaic label, by centre position."""
    from scipy.spatial import cKDTree

    labels = single.partial_labels
    centers = np.array([single.centers[label] for label in labels])
    distance, nearest = cKDTree(mosaic.centers).query(centers)
    assert distance.max() < 1e-9
    mapping = np.zeros(single.contributors.max() + 1, dtype=np.int64)
    mapping[labels] = mosaic.labels[nearest]
    return mapping


def test_mosaic_equals_single_pass(single_pass, mosaic):
    assert len(mosaic.plan) == 12
    assert mosaic.n_sources == len(single_pass.partial_labels) > 20
    segmentation = mosaic.read()
    mapping = label_map_by_center(single_pass, mosaic)
    # the same sources (one to one) in the same pixel slots, same weights
    assert len(np.unique(mapping[single_pass.partial_labels])) == (
        mosaic.n_sources)
    np.testing.assert_array_equal(mapping[single_pass.contributors],
                                  segmentation.contributors)
    np.testing.assert_array_equal(single_pass.weights, segmentation.weights)
    np.testing.assert_allclose(
        mosaic.effective_areas[mapping[single_pass.partial_labels] - 1],
        single_pass.effective_areas, rtol=1e-6)


def test_mosaic_labels_are_unique_and_consecutive(mosaic):
    np.testing.assert_array_equal(mosaic.labels,
                                  np.arange(1, mosaic.n_sources + 1))
    segmentation = mosaic.read()
    np.testing.assert_array_equal(segmentation.partial_labels,
                                  mosaic.labels)
    # one centre per label, each owned by exactly one tile
    assert len(np.unique(mosaic.centers, axis=0)) == mosaic.n_sources
    attrs = mosaic.attributes
    assert attrs['n_contributors'] == 3 and attrs['model'] == 'tiny.keras'


def test_reader_regions(mosaic):
    whole = mosaic.read()
    region = np.s_[30:100, 50:170]
    part = read_mosaic(mosaic.path, region)
    np.testing.assert_array_equal(part.contributors,
                                  whole.contributors[region])
    np.testing.assert_array_equal(part.weights, whole.weights[region])
    for label, (y, x) in part.centers.items():
        np.testing.assert_allclose(
            (y + 30, x + 50), mosaic.centers[label - 1])
    assert set(part.centers) == set(part.partial_labels.tolist())
    table = mosaic.catalog()
    assert table.colnames == ['label', 'y', 'x', 'effective_area',
                              'detection_flags']
    assert len(table) == mosaic.n_sources
    with pytest.raises(TypeError, match='region must be a tuple of two'):
        mosaic.read([slice(0, 4), slice(0, 4)])
    with pytest.raises(ValueError, match='region is empty along x'):
        mosaic.read(np.s_[0:4, 300:400])
    with pytest.raises(ValueError, match='step 1'):
        mosaic.read(np.s_[0:4:2, 0:4])


def test_store_errors(tmp_path, mosaic):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        MosaicSegmentation(tmp_path / 'missing.zarr')
    (tmp_path / 'plain').mkdir()
    with pytest.raises(ValueError, match='is not a pais_deblend mosaic'):
        MosaicSegmentation(tmp_path / 'plain')


def test_overwrite_refused_then_allowed(mosaic, scene, tiny_model_file):
    before = os.listdir(mosaic.path)
    with pytest.raises(FileExistsError, match='pass overwrite=True'):
        deblend_mosaic(scene, mosaic.path, model=tiny_model_file,
                       tile_size=64, margin=32, **SETTINGS)
    assert os.listdir(mosaic.path) == before
    # a small replacement: the store is swapped in whole, nothing left over
    parent = os.path.dirname(mosaic.path)
    other = os.path.join(parent, 'other.zarr')
    small = deblend_mosaic(scene[:64, :64], other, model=tiny_model_file,
                           tile_size=64, margin=32, **SETTINGS)
    replaced = deblend_mosaic(scene[:64, :64], other, model=tiny_model_file,
                              tile_size=32, margin=32, overwrite=True,
                              **SETTINGS)
    assert replaced.shape == small.shape == (64, 64)
    assert len(replaced.plan) == 4
    assert sorted(os.listdir(parent)) == ['other.zarr', 'scene.zarr']


def test_file_inputs_and_given_noise(tmp_path, scene, mosaic,
                                     tiny_model_file):
    from astropy.io import fits

    fits_file = tmp_path / 'scene.fits'
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(scene.astype('>f8'), name='SCI')]).writeto(
        fits_file)
    npy_file = tmp_path / 'scene.npy'
    np.save(npy_file, scene)
    noise = mosaic.attributes['noise_sigma']
    detection_noise = mosaic.attributes['detection_noise']
    from_npy = deblend_mosaic(npy_file, tmp_path / 'npy.zarr',
                              model=tiny_model_file, tile_size=64, margin=32,
                              noise_sigma=noise,
                              detection_noise=detection_noise, **SETTINGS)
    np.testing.assert_array_equal(from_npy.read().weights,
                                  mosaic.read().weights)
    from_fits = deblend_mosaic(fits_file, tmp_path / 'fits.zarr', hdu='SCI',
                               model=tiny_model_file, tile_size=64,
                               margin=32, **SETTINGS)
    # big-endian FITS pixels read by section: the same result
    np.testing.assert_array_equal(from_fits.read().contributors,
                                  mosaic.read().contributors)
    with pytest.raises(ValueError, match="hdu 'NOPE' is not in"):
        deblend_mosaic(fits_file, tmp_path / 'x.zarr', hdu='NOPE',
                       model=tiny_model_file, **SETTINGS)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'data': 'missing.fits'}, FileNotFoundError, 'does not exist'),
    ({'data': [[1.0, 2.0]]}, TypeError, 'data must be a numpy array'),
    ({'data': np.zeros((4, 4, 2))}, ValueError, r'data must have 1 band'),
    ({'data': np.zeros(4)}, ValueError, 'data must be 2-dimensional'),
    ({'tile_size': 63}, ValueError, r'multiple of 2 .*got 63'),
    ({'margin': 4}, ValueError, 'plan margin must be at least 18'),
    ({'plan': TilePlan((8, 8), 8, margin=32)}, ValueError,
     r'plan has shape \(8, 8\) but data has shape \(64, 64\)'),
    ({'noise_sigma': -1.0}, ValueError, 'noise_sigma must be finite and > 0'),
    ({'n_pixels': 0}, ValueError, 'n_pixels must be a positive integer'),
])
def test_bad_input(tmp_path, tiny_model_file, kwargs, error, match):
    arguments = {'data': np.ones((64, 64)), 'model': tiny_model_file,
                 **SETTINGS}
    arguments.update(kwargs)
    data = arguments.pop('data')
    with pytest.raises(error, match=match):
        deblend_mosaic(data, tmp_path / 'bad.zarr', **arguments)
    assert os.listdir(tmp_path) == []  # no temporary left behind


@pytest.fixture(scope='module')
def searched(tiny_model_file, tmp_path_factory):
    """A scene and its mosaic with the residual companion search on."""
    pytest.importorskip('zarr')
    scene = gaussian_scene((128, 128), n_sources=16, seed=3)
    output = tmp_path_factory.mktemp('searched') / 'scene.zarr'
    return scene, deblend_mosaic(
        scene, output, model=tiny_model_file, tile_size=64, margin=32,
        **dict(SETTINGS, companion_threshold=15.0))


def test_mosaic_keeps_how_sources_were_found(searched, tiny_model_file):
    from pais_deblend import Deblender
    from pais_deblend.segmentation import PartialSourceCatalog, SourceFlags

    scene, mosaic = searched
    assert mosaic.has_detection_flags
    flags = mosaic.detection_flags
    assert flags.dtype == np.int32 and flags.shape == (mosaic.n_sources,)
    assert set(np.unique(flags).tolist()) == {0, SourceFlags.RESIDUAL}
    # as a single pass finds them
    single = Deblender(tiny_model_file, detection_threshold=0.05,
                       tile_size=256, attribution='network',
                       companion_threshold=15.0, progress_bar=False)(scene)
    mapping = label_map_by_center(single, mosaic)
    assert {int(mapping[label]): value for label, value
            in single.detection_flags.items()} == {
        label: int(flags[label - 1]) for label in mosaic.labels}
    table = mosaic.catalog()
    assert table.colnames[-1] == 'detection_flags'
    np.testing.assert_array_equal(table['detection_flags'], flags)
    assert mosaic.read().detection_flags == {
        int(label): int(flags[label - 1]) for label in mosaic.labels}
    # a region: the labels present there, and the catalog's bits
    region = np.s_[0:64, 64:128]
    part = mosaic.read(region)
    assert set(part.detection_flags) == set(part.partial_labels.tolist())
    assert 0 < len(part.detection_flags) < mosaic.n_sources
    catalog = PartialSourceCatalog(scene[region], part)
    np.testing.assert_array_equal(catalog.flags & SourceFlags.RESIDUAL,
                                  flags[catalog.labels - 1])
    assert mosaic.verify() == []


def test_store_without_detection_flags_still_reads(searched, tmp_path):
    """A store of an earlier version: no detection_flags array."""
    import shutil

    _, mosaic = searched
    old = tmp_path / 'old.zarr'
    shutil.copytree(mosaic.path, old)
    shutil.rmtree(old / 'detection_flags')
    reread = MosaicSegmentation(old)
    assert not reread.has_detection_flags
    np.testing.assert_array_equal(reread.detection_flags,
                                  np.zeros(mosaic.n_sources))
    assert reread.detection_flags.dtype == np.int32
    table = reread.catalog()
    np.testing.assert_array_equal(table['detection_flags'], 0)
    segmentation = reread.read()
    assert segmentation.detection_flags == {}
    np.testing.assert_array_equal(segmentation.contributors,
                                  mosaic.read().contributors)
    assert reread.verify() == []


def test_blank_tiles_and_no_sources(tmp_path, tiny_model_file, scene):
    data = scene[:64, :128].copy()
    data[:, 64:] = np.nan  # the second tile is outside the survey
    result = deblend_mosaic(data, tmp_path / 'half.zarr',
                            model=tiny_model_file, tile_size=64, margin=32,
                            **SETTINGS)
    segmentation = result.read()
    assert not segmentation.contributors[:, 64:].any()
    from pais_deblend.utils.exceptions import NoDetectionWarning

    with pytest.warns(NoDetectionWarning, match='no sources'):
        empty = deblend_mosaic(np.zeros((64, 64)), tmp_path / 'empty.zarr',
                               model=tiny_model_file, tile_size=64,
                               margin=32, **SETTINGS)
    assert empty.n_sources == 0 and len(empty.catalog()) == 0
    assert empty.detection_flags.shape == (0,)
    assert not empty.read().contributors.any()


def test_cli(tmp_path, tiny_model_file, scene, mosaic, capsys):
    from astropy.table import Table

    from pais_deblend.cli import main

    image = tmp_path / 'field.npy'
    np.save(image, scene)
    args = ['mosaic', str(image), '--output-dir', str(tmp_path),
            '--tile-size', '64', '--margin', '32', '--workers', '0',
            '--model', str(tiny_model_file), '--detection-threshold',
            '0.05', '--quiet', '--attribution', 'network',
            '--no-companion-search']
    assert main(args) == 0
    table = Table.read(tmp_path / 'field_catalog.ecsv')
    assert len(table) == mosaic.n_sources
    assert main(args) == 2
    assert 'already exist' in capsys.readouterr().err
    assert main(args[:4] + ['--tile-size', '63', '--overwrite']
                + args[8:]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith('pais-deblend mosaic: error:')
    assert len(error.splitlines()) == 1
    assert main(['mosaic', str(tmp_path / 'nope.fits')]) == 2
    assert 'does not exist' in capsys.readouterr().err


def test_local_cluster(tmp_path, tiny_model_file, scene, mosaic):
    pytest.importorskip('distributed')
    from pais_deblend.mosaic import local_client

    noise = mosaic.attributes['noise_sigma']
    detection_noise = mosaic.attributes['detection_noise']
    region = np.s_[:96, :128]
    expected = deblend_mosaic(
        scene[region], tmp_path / 'local.zarr', model=tiny_model_file,
        tile_size=64, margin=32, noise_sigma=noise,
        detection_noise=detection_noise, **SETTINGS)
    np.save(tmp_path / 'part.npy', scene[region])
    with local_client(2, memory_limit='2GiB', threads=1) as client:
        # a memory-mapped file (read by the workers) and an array (read
        # here and sent)
        results = [deblend_mosaic(
            data, tmp_path / f'cluster{i}.zarr', model=tiny_model_file,
            client=client, tile_size=64, margin=32, noise_sigma=noise,
            detection_noise=detection_noise, **SETTINGS)
            for i, data in enumerate([str(tmp_path / 'part.npy'),
                                      scene[region]])]
        client.cluster.close()
    for result in results:
        assert result.n_sources == expected.n_sources
        np.testing.assert_array_equal(result.read().contributors,
                                      expected.read().contributors)
        # the workers' TensorFlow runs on another number of threads, which
        # may sum the convolutions in another order: float32 rounding
        np.testing.assert_allclose(result.read().weights,
                                   expected.read().weights, atol=1e-6)


# --- multi-band models: per-band weights and star probabilities -----------

def multiband_scene(shape=(128, 160), n_sources=30, seed=2, noise=0.1):
    """Gaussians of random colours in 3 bands, shape (h, w, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape + (3,))
    for _ in range(n_sources):
        y, x = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        sigma, flux = rng.uniform(1, 4), rng.uniform(1, 20)
        colour = rng.uniform(0.3, 1.5, 3)
        image += (flux * colour * np.exp(
            -((yy - y)**2 + (xx - x)**2) / (2 * sigma**2))[..., np.newaxis])
    return image + rng.normal(0, noise, image.shape)


@pytest.fixture(scope='module')
def multiband_model_file(tmp_path_factory):
    pytest.importorskip('tensorflow')
    from pais_deblend.model import build_pais_model

    path = tmp_path_factory.mktemp('model') / 'tiny_grz.keras'
    build_pais_model(n_bands=3, classify=True, band_maps=True,
                     filters=[4, 8], attention_window=3, seed=0).save(path)
    return path


@pytest.fixture(scope='module')
def multiband_scene_data():
    return multiband_scene()


@pytest.fixture(scope='module')
def multiband_single_pass(multiband_model_file, multiband_scene_data):
    from pais_deblend import Deblender

    deblender = Deblender(multiband_model_file, detection_threshold=0.05,
                         tile_size=256, attribution='network',
                         companion_threshold=None, progress_bar=False)
    return deblender(multiband_scene_data)


@pytest.fixture(scope='module')
def multiband_mosaic(multiband_model_file, multiband_scene_data,
                     tmp_path_factory):
    pytest.importorskip('zarr')
    output = tmp_path_factory.mktemp('mosaic') / 'grz.zarr'
    # 2 x 3 tiles of 64 pixels, each with a 32-pixel margin
    return deblend_mosaic(multiband_scene_data, output,
                          model=multiband_model_file, tile_size=64,
                          margin=32, **SETTINGS)


def test_multiband_mosaic_equals_single_pass(multiband_single_pass,
                                             multiband_mosaic):
    single, mosaic = multiband_single_pass, multiband_mosaic
    assert single.band_weights is not None and single.class_star
    assert mosaic.has_band_weights and mosaic.has_class_star
    assert len(mosaic.plan) == 6
    assert mosaic.n_sources == len(single.partial_labels) > 20
    segmentation = mosaic.read()
    assert segmentation.band_weights.shape == single.band_weights.shape
    assert segmentation.band_names == single.band_names
    mapping = label_map_by_center(single, mosaic)
    # the star probability of every source is the single pass's (the
    # owner tile sees the network output of a single pass at the centre)
    labels = single.partial_labels
    np.testing.assert_allclose(
        [segmentation.class_star[mapping[label]] for label in labels],
        [single.class_star[label] for label in labels], rtol=1e-6)
    # per-band weights: those of the single pass, slot for slot, on every
    # pixel whose contributors are the same: all but a handful next to
    # tile seams, where a contribution vector of the untrained network
    # points to a centre beyond the tile's margin (the documented limit
    # of the mosaic; a 3-band model without the heads shows the same)
    same = (mapping[single.contributors] == segmentation.contributors).all(
        axis=-1)
    assert (~same).sum() <= 10
    np.testing.assert_allclose(segmentation.band_weights[same],
                               single.band_weights[same], atol=1e-6)
    np.testing.assert_allclose(segmentation.weights[same],
                               single.weights[same], atol=1e-6)


def test_multiband_flux_is_conserved_per_band(multiband_mosaic,
                                             multiband_scene_data):
    data = multiband_scene_data.astype(np.float32)
    region = np.s_[10:120, 30:150]  # across tile seams
    for segmentation, image in ((multiband_mosaic.read(), data),
                                (read_mosaic(multiband_mosaic.path, region),
                                 data[region])):
        band_weights = segmentation.band_weights
        attributed = segmentation.contributors[..., 0] > 0
        assert attributed.mean() > 0.2
        # every band sums to 1 on attributed pixels and is 0 elsewhere
        totals = band_weights.sum(axis=2)
        np.testing.assert_allclose(totals[attributed], 1, atol=1e-6)
        assert not band_weights[~attributed].any()
        assert not band_weights[segmentation.contributors == 0].any()
        # so the source images of each band add up to that band's data
        total = np.zeros(3)
        for cutout in segmentation.source_images(image).values():
            total += cutout.data.sum(axis=(0, 1), dtype=np.float64)
        expected = image[attributed].sum(axis=0, dtype=np.float64)
        np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_multiband_class_star_and_catalog(multiband_mosaic, tmp_path):
    import shutil

    import zarr

    mosaic = multiband_mosaic
    segmentation = mosaic.read()
    assert set(segmentation.class_star) == set(mosaic.labels.tolist())
    values = mosaic.class_star
    assert values.shape == (mosaic.n_sources,)
    assert np.all(np.isfinite(values)) and np.all((values >= 0)
                                                  & (values <= 1))
    table = mosaic.catalog()
    assert table.colnames == ['label', 'y', 'x', 'effective_area',
                              'class_star', 'detection_flags']
    np.testing.assert_array_equal(table['class_star'], values)
    # a region: the values of the labels present there, only
    region = np.s_[70:128, 0:60]
    part = mosaic.read(region)
    assert set(part.class_star) == set(part.partial_labels.tolist())
    assert 0 < len(part.class_star) < mosaic.n_sources
    for label, value in part.class_star.items():
        assert value == values[label - 1]
    np.testing.assert_array_equal(
        part.band_weights, segmentation.band_weights[region])
    # the store's band names reach the reader
    assert mosaic.band_names is None  # a model file names no bands
    named = tmp_path / 'named.zarr'
    shutil.copytree(mosaic.path, named)
    zarr.open_group(str(named), mode='r+').attrs['band_names'] = [
        'g', 'r', 'z']
    reread = read_mosaic(named, region)
    assert reread.band_names == ('g', 'r', 'z')
    label = int(part.partial_labels[0])
    np.testing.assert_array_equal(reread.weight_map(label, band='z'),
                                  part.weight_map(label, band=2))


def test_single_band_store_has_no_band_arrays(mosaic):
    assert not mosaic.has_band_weights and not mosaic.has_class_star
    assert mosaic.band_names is None and mosaic.class_star is None
    stored = set(os.listdir(mosaic.path))
    assert 'band_weights' not in stored and 'class_star' not in stored
    assert 'band_names' not in mosaic.attributes
    segmentation = mosaic.read()
    assert segmentation.band_weights is None
    assert segmentation.class_star == {}
    assert 'class_star' not in mosaic.catalog().colnames
