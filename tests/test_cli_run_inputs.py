"""
Tests of ``pais-deblend run`` on the inputs astronomers have: a cube in
one HDU, one file per band, error and weight maps, zero points, and the
provenance of the outputs.
"""

import json
import os
import re
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable

from pais_deblend.cli import UserError, main
from pais_deblend.cli.run import _shared_stem, read_image, read_images

from .test_cli_run import make_scene, make_wcs, tiny_model  # noqa: F401

DATA = os.path.join(os.path.dirname(__file__), 'data')
SHAPE = (64, 64)


@pytest.fixture(scope='module')
def three_band_model(tmp_path_factory):
    from pais_deblend.model import build_pais_model

    path = tmp_path_factory.mktemp('model') / 'three.keras'
    build_pais_model(n_bands=3, filters=[4, 8], attention_window=3,
                     seed=0).save(path)
    return path


def band_images():
    return [make_scene(seed=seed) * scale
            for seed, scale in ((0, 1.0), (1, 2.0), (2, 3.0))]


def run_quietly(args):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return main(args)


def common(model, output_dir, *extra):
    return ['--model', str(model), '--output-dir', str(output_dir),
            '--detection-threshold', '0.05', '--no-progress',
            '--background-subtracted', *extra]


class TestReading:
    def test_real_hsc_cube_band_axis(self):
        # (5, 50, 50) in numpy order: the bands lie along NAXIS3
        path = os.path.join(DATA, 'hsc_cutout_5band.fits')
        cube = fits.getdata(path)
        auto = read_image(path, bands=[0, 1, 3])
        named = read_image(path, band_axis=3, bands=[0, 1, 3])
        np.testing.assert_array_equal(auto['data'], named['data'])
        np.testing.assert_array_equal(
            auto['data'], np.moveaxis(cube[[0, 1, 3]], 0, -1))
        assert auto['wcs'] is not None and auto['wcs'].has_celestial
        assert read_image(path)['data'].shape == (50, 50, 5)
        one = read_image(path, bands=[2])
        np.testing.assert_array_equal(one['data'], cube[2])

    def test_band_last_cube(self, tmp_path):
        # the HLF layout: NAXIS1 = band, numpy (h, w, b)
        cube = np.stack(band_images(), axis=-1).astype(np.float32)
        path = tmp_path / 'last.fits'
        fits.PrimaryHDU(cube).writeto(path)
        np.testing.assert_array_equal(read_image(path)['data'], cube)
        np.testing.assert_array_equal(
            read_image(path, band_axis=1, bands=[2, 0])['data'],
            cube[..., [2, 0]])

    def test_ambiguous_cube_asks_for_the_axis(self, tmp_path):
        path = tmp_path / 'square.fits'
        fits.PrimaryHDU(np.zeros((40, 40, 40), np.float32)).writeto(path)
        with pytest.raises(UserError, match=r'cube \(NAXIS3=40, NAXIS2=40, '
                           r'NAXIS1=40\) without an obvious band axis; name '
                           'it with --band-axis'):
            read_image(path)

    def test_error_and_weight_maps(self, tmp_path):
        image = make_scene()
        error = np.full(SHAPE, 2.0, np.float32)
        weight = 1.0 / error ** 2
        weight[3, 4] = 0.0
        path = tmp_path / 'maps.fits'
        fits.HDUList([fits.PrimaryHDU(image),
                      fits.ImageHDU(error, name='ERR'),
                      fits.ImageHDU(weight, name='WHT')]).writeto(path)
        read = read_image(path, error_hdu='ERR')
        np.testing.assert_allclose(read['error'], 2.0)
        assert not read['mask'].any()
        read = read_image(path, weight_hdu='WHT')
        assert np.isnan(read['error'][3, 4]) and read['mask'][3, 4]
        assert read['mask'].sum() == 1
        np.testing.assert_allclose(read['error'][~read['mask']], 2.0)

    def test_files_of_other_shapes_or_units(self, tmp_path):
        first, second = tmp_path / 'a_g.fits', tmp_path / 'a_r.fits'
        fits.PrimaryHDU(make_scene()).writeto(first)
        fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(second)
        with pytest.raises(UserError, match=r'a_r.fits has shape \(8, 8\) but '
                           r'.*a_g.fits has \(64, 64\); the band images must '
                           'match pixel for pixel'):
            read_images([first, second])
        header = fits.Header({'BUNIT': 'adu'})
        fits.PrimaryHDU(make_scene(), header=header).writeto(second,
                                                             overwrite=True)
        with pytest.raises(UserError, match="a_r.fits is in 'adu' but "
                           '.*a_g.fits in None; give the bands in one unit'):
            read_images([first, second])

    @pytest.mark.parametrize('names, stem', [
        (['set0_g.fits', 'set0_r.fits', 'set0_z.fits'], 'set0'),
        (['g_band.fits', 'r_band.fits'], 'band'),
        (['alpha.fits', 'beta.fits'], 'alpha'),
        (['set0g.fits', 'set0r.fits'], 'set0g')])
    def test_output_stem_of_several_files(self, names, stem):
        assert _shared_stem(names) == stem


def test_one_file_per_band(three_band_model, tmp_path, capsys):
    header = make_wcs().to_header()
    header['BUNIT'] = 'nanomaggy'
    names = []
    for band, image in zip('grz', band_images()):
        names.append(str(tmp_path / f'field_{band}.fits'))
        fits.PrimaryHDU(image.astype(np.float32),
                        header=header).writeto(names[-1])
    output_dir = tmp_path / 'out'
    status = run_quietly(['run', *names, *common(three_band_model,
                                                  output_dir)])
    assert status == 0, capsys.readouterr().err
    table = QTable.read(output_dir / 'field_catalog.ecsv')
    assert {'segment_flux_band0', 'segment_flux_band2'} <= set(
        table.colnames)
    assert table['segment_flux_band0'].unit == u.nanomaggy
    primary = fits.getheader(output_dir / 'field_partial.fits')
    assert primary['PDINPUT'] == 'field_g.fits, field_r.fits, field_z.fits'
    # a cube given as several files, or --band-hdus with several files
    assert main(['run', *names, '--band-hdus', '0', *common(
        three_band_model, tmp_path / 'x')]) == 2
    assert 'several files are one band each' in capsys.readouterr().err
    assert main(['run', *names, '--bands', '0', *common(
        three_band_model, tmp_path / 'x')]) == 2
    assert ('with one file per band, --band-hdus, --band-axis and --bands '
            'do not apply') in capsys.readouterr().err


def test_cube_in_one_hdu(three_band_model, tmp_path, capsys):
    cube = np.stack(band_images()).astype(np.float32)  # (b, h, w)
    path = tmp_path / 'cube.fits'
    fits.PrimaryHDU(np.concatenate([cube, cube[:1]])).writeto(path)
    output_dir = tmp_path / 'out'
    status = run_quietly(['run', str(path), '--bands', '0', '1', '2',
                          *common(three_band_model, output_dir)])
    assert status == 0, capsys.readouterr().err
    assert (output_dir / 'cube_catalog.ecsv').exists()
    assert main(['run', str(path), *common(three_band_model,
                                           tmp_path / 'x')]) == 2
    assert re.search(r"reads 3 band\(s\) but the image has 4; give exactly "
                     '3: .* --bands to pick the planes of a cube',
                     capsys.readouterr().err)


def test_error_map_zero_point_and_provenance(tiny_model, tmp_path,
                                            capsys):
    image = make_scene()
    header = make_wcs().to_header()
    header['BUNIT'] = 'electron/s'
    header['MAGZERO'] = 25.0
    error = np.full(SHAPE, 0.5, np.float32)
    path = tmp_path / 'field.fits'
    fits.HDUList([fits.PrimaryHDU(image, header=header),
                  fits.ImageHDU(error, name='ERR')]).writeto(path)
    output_dir = tmp_path / 'out'
    status = run_quietly(['run', str(path), '--error-hdu', 'ERR',
                          '--cutouts', *common(tiny_model, output_dir)])
    assert status == 0, capsys.readouterr().err
    table = QTable.read(output_dir / 'field_catalog.ecsv')
    for name in ('segment_flux', 'segment_flux_err', 'kron_flux',
                 'kron_flux_err'):
        assert table[name].unit == u.electron / u.s, name
    # the error map, not the background RMS: sqrt(sum (M_i * 0.5)**2)
    from pais_deblend.segmentation import PartialSegmentationImage

    partial = PartialSegmentationImage.read(output_dir / 'field_partial.fits')
    label = int(table['label'][0])
    share = np.where(partial.contributors == label, partial.weights,
                     0).sum(axis=-1)
    expected = 0.5 * np.sqrt(np.sum(share ** 2))
    assert table['segment_flux_err'][0].value == pytest.approx(expected,
                                                               rel=1e-6)
    # magnitudes by hand: 25 - 2.5 log10(flux), error 1.0857 * err / flux
    flux = table['segment_flux'].value
    bright = flux > 0
    assert bright.any()
    assert table['segment_mag'].unit == u.ABmag
    np.testing.assert_allclose(table['segment_mag'].value[bright],
                               25.0 - 2.5 * np.log10(flux[bright]))
    np.testing.assert_allclose(
        table['segment_mag_err'].value[bright],
        1.0857362 * table['segment_flux_err'].value[bright] / flux[bright],
        rtol=1e-6)
    assert np.all(np.isnan(table['segment_mag'].value[~bright]))
    assert 'kron_mag' in table.colnames
    assert any('MAGZERO' in line for line in table.meta['comments'])
    # provenance in both FITS files
    for name in ('field_partial.fits', 'field_cutouts.fits'):
        primary = fits.getheader(output_dir / name)
        assert primary['PDMODEL'] == 'tiny.keras'
        assert len(primary['PDMODSHA']) == 64
        assert primary['PDINPUT'] == 'field.fits'
        assert primary['BUNIT'] == 'electron/s'
        assert primary['PHOTZP'] == 25.0
        options = json.loads(primary['PDOPTS'])
        assert options['error_hdu'] == 'ERR'
        assert options['background_subtracted'] is True
    # --zero-point wins over the header
    status = run_quietly(['run', str(path), '--zero-point', '20', '--overwrite',
                          *common(tiny_model, output_dir)])
    assert status == 0
    table = QTable.read(output_dir / 'field_catalog.ecsv')
    np.testing.assert_allclose(table['segment_mag'].value[bright],
                               20.0 - 2.5 * np.log10(flux[bright]),
                               rtol=1e-4)


def test_bundled_model_sha_in_provenance():
    from pais_deblend.cli.run import model_sha256
    from pais_deblend.model.bundled import BUNDLED_MODELS

    assert model_sha256('hst_f160w') == BUNDLED_MODELS['hst_f160w']['sha256']
    assert model_sha256('no_such_model') is None


def test_small_crowded_cube_gets_a_flat_background():
    from pais_deblend.cli.run import estimate_background
    from pais_deblend.utils.exceptions import PaisDeblendWarning

    band = fits.getdata(os.path.join(DATA, 'hsc_cutout_5band.fits'))[0]
    band = band.astype(np.float64)
    with pytest.warns(PaisDeblendWarning, match=r'no 50 x 50 background box '
                      'has enough sky pixels .* a constant background'):
        background, rms = estimate_background(band, np.zeros(band.shape,
                                                             bool))
    assert np.ptp(background) == 0 and np.ptp(rms) == 0
    assert 0.5 < rms[0, 0] < 1.5  # the band's robust noise is 1.1


@pytest.mark.filterwarnings('ignore:The following header keyword')
def test_raw_frame_warns_in_one_line(tiny_model, tmp_path, capsys):
    # the real ESO frame (median 6856 ADU) said to be background-subtracted
    path = os.path.join(DATA, 'eso_emmi_image.fits')
    main(['run', path, *common(tiny_model, tmp_path / 'out')])
    error = capsys.readouterr().err
    assert re.search(r'^pais-deblend run: warning: the image has a median of '
                     r'68\d\d, 9\d\.\d times its robust noise', error,
                     flags=re.MULTILINE), error


def test_background_of_an_empty_frame_is_an_error():
    from pais_deblend.cli.run import estimate_background

    data = np.full((20, 20), np.nan)
    with pytest.raises(UserError, match='the background could not be '
                       'estimated'):
        estimate_background(data, np.zeros(data.shape, bool))
