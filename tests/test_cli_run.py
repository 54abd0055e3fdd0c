"""Tests of ``pais-deblend run`` on small FITS images and a tiny model."""

import re
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from pais_deblend.cli import main
from pais_deblend.segmentation import PartialSegmentationImage

SHAPE = (64, 64)
# (y, x, peak) of the seeded Gaussian sources; two of them blended
SOURCES = [(20.0, 22.0, 60.0), (26.0, 29.0, 40.0), (45.0, 40.0, 50.0)]


def make_wcs(shape=SHAPE):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [53.16, -27.78]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-1.667e-5, 1.667e-5]
    return wcs


def make_scene(seed=0, shape=SHAPE, noise=1.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for cy, cx, peak in SOURCES:
        image += peak * np.exp(-((y - cy)**2 + (x - cx)**2) / (2 * 2.5**2))
    return (image + rng.normal(0.0, noise, shape)).astype(np.float32)


def write_image_file(path, image):
    """
    An empty primary, the image (SCI, with WCS and BUNIT), a DQ mask, a
    3-D cube and a table.
    """
    header = make_wcs(image.shape).to_header()
    header['BUNIT'] = 'electron/s'
    quality = np.zeros(image.shape, dtype=np.int16)
    quality[0, :3] = 4
    fits.HDUList([
        fits.PrimaryHDU(),
        fits.ImageHDU(image, header=header, name='SCI'),
        fits.ImageHDU(quality, name='DQ'),
        fits.ImageHDU(np.zeros((2, 8, 8), dtype=np.float32), name='CUBE'),
        fits.BinTableHDU.from_columns(
            [fits.Column(name='a', format='E', array=np.ones(3))],
            name='TAB'),
    ]).writeto(path)
    return path


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    from pais_deblend.model import build_pais_model

    path = tmp_path_factory.mktemp('model') / 'tiny.keras'
    build_pais_model(filters=[4, 8], attention_window=3, seed=0).save(path)
    return path


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('data') / 'field.fits'
    return write_image_file(path, make_scene())


def run_args(image_file, tiny_model, output_dir, *extra):
    return ['run', str(image_file), '--model', str(tiny_model),
            '--output-dir', str(output_dir), '--detection-threshold', '0.05',
            '--no-progress', *extra]


@pytest.fixture(scope='module')
def outputs(image_file, tiny_model, tmp_path_factory):
    """One run with --cutouts on the (already flat) image."""
    output_dir = tmp_path_factory.mktemp('out') / 'results'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        status = main(run_args(image_file, tiny_model, output_dir,
                               '--cutouts', '--background-subtracted',
                               '--mask-hdu', 'DQ'))
    return status, output_dir


def test_run_writes_every_output(outputs):
    status, output_dir = outputs
    assert status == 0
    assert sorted(path.name for path in output_dir.iterdir()) == [
        'field_catalog.ecsv', 'field_cutouts.fits', 'field_overview.png',
        'field_partial.fits']
    png = (output_dir / 'field_overview.png').read_bytes()
    assert png.startswith(b'\x89PNG')


def test_partial_round_trips_with_the_wcs(outputs):
    _, output_dir = outputs
    path = output_dir / 'field_partial.fits'
    partial = PartialSegmentationImage.read(path)
    assert partial.shape == SHAPE
    assert partial.n_contributors == 3
    assert len(partial.partial_labels) >= 1
    assert set(partial.centers) == set(partial.partial_labels.tolist())
    written = WCS(fits.getheader(path, 'DOMINANT'))
    x, y = np.array([0.0, 10.5, 63.0]), np.array([5.0, 33.0, 60.0])
    separation = written.pixel_to_world(x, y).separation(
        make_wcs().pixel_to_world(x, y))
    assert separation.max().arcsec < 1e-9


def test_catalog_columns_units_and_sky_centroid(outputs):
    _, output_dir = outputs
    table = QTable.read(output_dir / 'field_catalog.ecsv')
    partial = PartialSegmentationImage.read(output_dir / 'field_partial.fits')
    assert list(table['label']) == partial.partial_labels.tolist()
    for name in ('x_centroid', 'y_centroid', 'segment_flux',
                 'segment_flux_err', 'kron_flux', 'blendedness', 'x_peak',
                 'y_peak', 'sky_centroid'):
        assert name in table.colnames
    assert table['segment_flux'].unit == u.electron / u.s
    assert np.all(table['segment_flux_err'] > 0)
    expected = make_wcs().pixel_to_world(table['x_centroid'].value,
                                         table['y_centroid'].value)
    assert table['sky_centroid'].separation(expected).max().arcsec < 1e-6


def test_cutouts_are_the_deblended_sources(outputs):
    _, output_dir = outputs
    partial = PartialSegmentationImage.read(output_dir / 'field_partial.fits')
    image = make_scene()
    frame = np.zeros(SHAPE)
    with fits.open(output_dir / 'field_cutouts.fits') as hdus:
        assert len(hdus) == 1 + len(partial.partial_labels)
        assert hdus[0].header['NSOURCES'] == len(partial.partial_labels)
        for hdu in hdus[1:]:
            label = hdu.header['LABEL']
            x0, y0 = hdu.header['XMIN'], hdu.header['YMIN']
            expected = partial.source_image(label, image)
            assert expected.slices[0].start == y0
            assert expected.slices[1].start == x0
            np.testing.assert_allclose(hdu.data, expected.data, rtol=1e-6,
                                       atol=1e-6)
            frame[expected.slices] += hdu.data
            # the cutout WCS is the image WCS shifted to the cutout origin
            sky = WCS(hdu.header).pixel_to_world(0, 0)
            assert sky.separation(make_wcs().pixel_to_world(
                x0, y0)).arcsec < 1e-9
    attributed = (partial.contributors > 0).any(axis=-1)
    attributed[0, :3] = False  # the DQ-masked pixels
    np.testing.assert_allclose(frame[attributed], image[attributed],
                               rtol=1e-5, atol=1e-4)


def test_summary_and_overwrite(image_file, tiny_model, tmp_path, capsys):
    output_dir = tmp_path / 'out'
    args = run_args(image_file, tiny_model, output_dir)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert 'sources deblended' in out
    assert str(output_dir / 'field_catalog.ecsv') in out
    assert not (output_dir / 'field_cutouts.fits').exists()

    # without --overwrite: exit 2, one line, nothing touched
    before = {path.name: path.read_bytes() for path in output_dir.iterdir()}
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith('pais-deblend run: error: output ')
    assert 'already exists' in error and '--overwrite' in error
    assert len(error.strip().splitlines()) == 1
    assert {path.name: path.read_bytes()
            for path in output_dir.iterdir()} == before

    # one existing output is enough to stop before anything is written
    (output_dir / 'field_overview.png').unlink()
    assert main(args) == 2
    assert 'field_partial.fits already exists' in capsys.readouterr().err
    assert not (output_dir / 'field_overview.png').exists()

    assert main(args + ['--overwrite']) == 0
    assert (output_dir / 'field_overview.png').exists()
    # same input, same model: the same (deterministic) result
    assert (output_dir / 'field_catalog.ecsv').read_bytes().splitlines()[
        -3:] == before['field_catalog.ecsv'].splitlines()[-3:]


def _not_fits(tmp_path):
    path = tmp_path / 'notes.fits'
    path.write_text('this is not a FITS file\n' * 10)
    return path


@pytest.mark.parametrize('extra, message', [
    (['--hdu', '0'], r'HDU 0 \(PRIMARY\) of .*field.fits has no data'),
    (['--hdu', '9'], '--hdu 9 is out of range: .*field.fits has 5 HDU'),
    (['--hdu', 'NOPE'], "--hdu 'NOPE': .*field.fits has no HDU of that name"),
    (['--hdu', 'CUBE'], r"model 'tiny.keras' reads 1 band\(s\) but the image "
     'has 2; give exactly 1: one file per band, --band-hdus, or --bands'),
    (['--hdu', 'CUBE', '--bands', '2'], r'--bands 2 is out of range: HDU 3 '
     r'\(CUBE\) of .*field.fits has 2 band planes along NAXIS3'),
    (['--hdu', 'CUBE', '--band-axis', '4'], '--band-axis must be 1, 2 or 3'),
    (['--hdu', 'SCI', '--bands', '0'], r'--bands and --band-axis pick the '
     r'planes of a cube, but HDU 1 \(SCI\) of .*field.fits is 2-D'),
    (['--band-hdus', 'SCI', '--bands', '0'], '--band-axis and --bands pick '
     'the planes of one cube; --band-hdus stacks 2-D HDUs'),
    (['--error-hdu', 'DQ', '--weight-hdu', 'DQ'], None),
    (['--error-hdu', 'CUBE'], r'--error-hdu HDU 3 \(CUBE\) of .*field.fits '
     r'has shape \(8, 8, 2\) but the image has shape \(64, 64\)'),
    (['--zero-point', 'nan'], '--zero-point must be finite'),
    (['--hdu', 'TAB'], r'HDU 4 \(TAB\) of .*field.fits is a table'),
    (['--mask-hdu', 'CUBE'], r'HDU 3 \(CUBE\) of .*holds 3-D data'),
    (['--band-hdus', 'SCI', 'SCI'], "model 'tiny.keras' reads 1 band"),
    (['--model', 'no_such_model'], 'no_such_model'),
    (['--model', 'missing.keras'], "model file 'missing.keras' does not "
     'exist'),
    (['--n-contributors', '4'], 'n_contributors must be at most 3'),
    (['--background-filter', '2'], '--background-filter must be odd'),
])
def test_user_errors_exit_2_with_one_line(image_file, tiny_model, tmp_path,
                                          capsys, extra, message):
    output_dir = tmp_path / 'out'
    if message is None:  # refused by argparse
        with pytest.raises(SystemExit, match='2'):
            main(run_args(image_file, tiny_model, output_dir, *extra))
        assert 'not allowed with argument' in capsys.readouterr().err
        return
    status = main(run_args(image_file, tiny_model, output_dir, *extra))
    assert status == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert error.startswith('pais-deblend run: error: ')
    assert re.search(message, error), error
    assert not output_dir.exists()


@pytest.mark.parametrize('make_input, message', [
    (lambda tmp_path: tmp_path / 'absent.fits', 'absent.fits: no such file'),
    (_not_fits, 'notes.fits is not a readable FITS file'),
    (lambda tmp_path: tmp_path, 'is a directory, not a FITS file'),
])
def test_unreadable_inputs_exit_2(tmp_path, capsys, make_input, message):
    output_dir = tmp_path / 'out'
    status = main(['run', str(make_input(tmp_path)), '--output-dir',
                   str(output_dir), '--no-progress'])
    assert status == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert message in error
    assert not output_dir.exists()


def test_first_2d_hdu_is_the_default_and_no_image_is_an_error(tmp_path,
                                                              capsys):
    from pais_deblend.cli.run import read_image

    path = write_image_file(tmp_path / 'field.fits', make_scene())
    image = read_image(path)
    assert image['hdus'] == [1]
    assert image['unit'] == u.electron / u.s
    assert image['wcs'] is not None and image['wcs'].has_celestial
    assert read_image(path, hdu='sci')['hdus'] == [1]
    stacked = read_image(path, band_hdus=['SCI', '1'], mask_hdu='DQ')
    assert stacked['data'].shape == SHAPE + (2,)
    assert stacked['mask'].sum() == 3

    empty = tmp_path / 'empty.fits'
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(np.zeros(5), name='LINE')]).writeto(empty)
    assert main(['run', str(empty), '--output-dir', str(tmp_path / 'o'),
                 '--no-progress']) == 2
    error = capsys.readouterr().err
    assert 'empty.fits has no HDU with a 2-D image or a 3-D cube' in error


def test_no_detection_and_failed_write_leave_nothing(image_file, tmp_path,
                                                     capsys, monkeypatch):
    from pais_deblend.cli import run as run_module
    from pais_deblend.utils.exceptions import NoDetectionWarning

    class FakeDeblender:
        """Stands in for the network: one source covering the frame."""
        model_name = 'fake'
        n_bands = 1

        def __init__(self, result):
            self.result = result

        def __call__(self, data, n_pixels=5, *, mask=None):
            if self.result is None:
                warnings.warn('no sources were detected', NoDetectionWarning)
            return self.result

    monkeypatch.setattr(run_module, '_load_deblender',
                        lambda model, **options: FakeDeblender(None))
    output_dir = tmp_path / 'out'
    args = ['run', str(image_file), '--output-dir', str(output_dir),
            '--no-progress']
    assert main(args) == 2
    error = capsys.readouterr().err
    assert 'no source detected' in error and '--detection-threshold' in error
    assert len(error.strip().splitlines()) == 1
    assert not output_dir.exists()

    whole = PartialSegmentationImage(np.ones(SHAPE + (1,), dtype=np.int32),
                                     np.ones(SHAPE + (1,)),
                                     centers={1: (30.0, 30.0)})
    monkeypatch.setattr(run_module, '_load_deblender',
                        lambda model, **options: FakeDeblender(whole))

    def broken(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(run_module, '_write_overview', broken)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert 'No space left on device' in error
    # the partial FITS and the catalog were complete but are not kept
    assert not output_dir.exists()


def test_a_broken_model_file_is_one_line(image_file, tmp_path, capsys):
    model = tmp_path / 'broken.keras'
    model.write_text('not a Keras archive\n')
    output_dir = tmp_path / 'out'
    status = main(['run', str(image_file), '--model', str(model),
                   '--output-dir', str(output_dir), '--no-progress'])
    assert status == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert error.startswith('pais-deblend run: error: ')
    assert not output_dir.exists()


def test_band_hdus_feed_a_multi_band_model(image_file, tmp_path, capsys):
    from pais_deblend.model import build_pais_model

    model = tmp_path / 'two_band.keras'
    build_pais_model(n_bands=2, filters=[4, 8], attention_window=3,
                     seed=0).save(model)
    output_dir = tmp_path / 'out'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        status = main(run_args(image_file, model, output_dir, '--band-hdus',
                               'SCI', '1', '--cutouts'))
    assert status == 0, capsys.readouterr().err
    partial = PartialSegmentationImage.read(output_dir / 'field_partial.fits')
    table = QTable.read(output_dir / 'field_catalog.ecsv')
    assert list(table['label']) == partial.partial_labels.tolist()
    # per-band fluxes and errors, summing to the band-summed flux
    assert {'segment_flux_band0', 'segment_flux_band1',
            'segment_flux_err_band0'} <= set(table.colnames)
    np.testing.assert_allclose(
        table['segment_flux_band0'] + table['segment_flux_band1'],
        table['segment_flux'], rtol=1e-6)
    with fits.open(output_dir / 'field_cutouts.fits') as hdus:
        # (bands, h, w) cubes, one per source
        assert all(hdu.data.ndim == 3 and hdu.data.shape[0] == 2
                   for hdu in hdus[1:])

    # a one-band image for the two-band model names the remedy
    assert main(run_args(image_file, model, tmp_path / 'other')) == 2
    assert "reads 2 band(s) but the image has 1; give exactly 2: one file " \
        'per band, --band-hdus' in capsys.readouterr().err
