"""
Tests of `pais_deblend.deblend.inputs`: the inputs astronomers have (FITS
HDUs, HDU lists, CCDData, band-first cubes) and the checks that an image
suits the model (pixel scale, background pedestal).
"""

import os
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.wcs import WCS

from pais_deblend.deblend.inputs import (check_image_suits_model,
                                         image_pixel_scale,
                                         no_detection_message, prepare_image)
from pais_deblend.model.bundled import BUNDLED_MODELS, bundled_model_card
from pais_deblend.utils.exceptions import ModelMismatchWarning

DATA = os.path.join(os.path.dirname(__file__), 'data')


def celestial_wcs(scale_arcsec, shape=(40, 50)):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return wcs


def sky(shape=(40, 50), seed=0, level=0.0):
    rng = np.random.default_rng(seed)
    return level + rng.normal(0, 1.0, shape).astype('>f4')


class TestFits:
    def test_image_hdu_carries_unit_and_wcs(self):
        data = sky()
        header = celestial_wcs(0.06).to_header()
        header['BUNIT'] = 'electron/s'
        image = prepare_image(fits.ImageHDU(data, header=header))
        np.testing.assert_allclose(image.data, data.astype(np.float64))
        assert image.unit == u.electron / u.s
        assert image.wcs.has_celestial
        assert image_pixel_scale(image.wcs) == pytest.approx(0.06)

    def test_hdulist_uses_the_first_hdu_with_data(self):
        data = sky()
        hdul = fits.HDUList([fits.PrimaryHDU(),
                             fits.ImageHDU(data, name='SCI'),
                             fits.ImageHDU(np.zeros((2, 2)), name='DQ')])
        image = prepare_image(hdul)
        np.testing.assert_allclose(image.data, data)

    def test_hdulist_without_image_data(self):
        table = fits.BinTableHDU.from_columns(
            [fits.Column(name='a', format='E', array=np.zeros(3))])
        with pytest.raises(ValueError, match='HDUList without an image HDU '
                           r'holding data \(HDUs: PrimaryHDU, BinTableHDU\)'):
            prepare_image(fits.HDUList([fits.PrimaryHDU(), table]))

    def test_table_hdu_is_refused(self):
        table = fits.BinTableHDU.from_columns(
            [fits.Column(name='a', format='E', array=np.zeros(3))])
        with pytest.raises(TypeError, match='BinTableHDU, a table'):
            prepare_image(table)

    def test_hdu_without_data(self):
        with pytest.raises(ValueError, match='PrimaryHDU without data'):
            prepare_image(fits.PrimaryHDU())

    def test_real_hsc_cube_is_read_bands_last(self):
        with fits.open(os.path.join(DATA, 'hsc_cutout_5band.fits')) as hdul:
            cube = hdul[0].data.copy()
            image = prepare_image(hdul, n_bands=5)
        assert image.data.shape == (50, 50, 5)
        np.testing.assert_array_equal(image.data, np.moveaxis(cube, 0, -1))
        # PC x CDELT: 4.67e-5 deg = 0.168"/pixel
        assert image_pixel_scale(image.wcs) == pytest.approx(0.168, rel=1e-3)

    def test_ccddata(self):
        data = sky()
        ccd = CCDData(data, unit='adu', wcs=celestial_wcs(0.2),
                      mask=np.zeros(data.shape, bool))
        ccd.mask[3, 4] = True
        image = prepare_image(ccd)
        assert image.unit == u.adu
        assert image.mask[3, 4] and image.data[3, 4] == 0
        assert image_pixel_scale(image.wcs) == pytest.approx(0.2)


class TestBandFirst:
    def test_band_first_array_gets_the_fix(self):
        cube = np.zeros((3, 40, 50))
        with pytest.raises(ValueError, match=r'looks band-first \(b, h, w\).*'
                           r'np\.moveaxis\(data, 0, -1\)'):
            prepare_image(cube, n_bands=3)

    def test_band_last_array_is_read(self):
        cube = np.ones((40, 50, 3))
        assert prepare_image(cube, n_bands=3).data.shape == (40, 50, 3)

    def test_other_band_count_keeps_the_generic_error(self):
        with pytest.raises(ValueError, match='must have 3 band'):
            prepare_image(np.ones((40, 50, 4)), n_bands=3)


class TestModelMismatch:
    def test_bundled_pixel_scales_are_the_model_cards(self):
        for name, entry in BUNDLED_MODELS.items():
            card = bundled_model_card(name)
            preset = card['dataset']['manifest']['preset_parameters']
            assert entry['pixel_scale'] == preset['pixel_scale']

    def test_pixel_scale_warning_has_the_numbers(self):
        image = prepare_image(fits.ImageHDU(
            sky(), header=celestial_wcs(0.03).to_header()))
        with pytest.warns(ModelMismatchWarning,
                          match=r'0\.03"/pixel .* trained at 0\.06"/pixel '
                          r'\(a factor 0\.50\)'):
            check_image_suits_model(image, 'hst_f160w')

    @pytest.mark.parametrize('scale, model', [(0.06, 'hst_f160w'),
                                              (0.262, 'ground_grz'),
                                              (0.168, 'ground_grz')])
    def test_near_scales_pass(self, scale, model):
        image = prepare_image(fits.ImageHDU(
            sky(), header=celestial_wcs(scale).to_header()))
        with warnings.catch_warnings():
            warnings.simplefilter('error', ModelMismatchWarning)
            assert check_image_suits_model(image, model) == []

    @pytest.mark.filterwarnings('ignore:The following header keyword')
    def test_real_raw_frame_has_a_pedestal(self):
        # the ESO EMMI frame: median ~6856 ADU, noise ~69 ADU
        with fits.open(os.path.join(DATA, 'eso_emmi_image.fits')) as hdul:
            image = prepare_image(hdul)
        with pytest.warns(ModelMismatchWarning,
                          match=r'median of 68\d\d, 9\d\.?\d* times its '
                          r'robust noise .* not background-subtracted'):
            check_image_suits_model(image, 'hst_f160w')

    def test_subtracted_image_passes(self):
        image = prepare_image(sky())
        assert check_image_suits_model(image, 'hst_f160w') == []
        assert check_image_suits_model(prepare_image(sky(level=2.0)),
                                       'hst_f160w') == []

    def test_no_detection_message_names_the_causes(self):
        image = prepare_image(fits.ImageHDU(
            sky(level=50.0), header=celestial_wcs(0.5).to_header()))
        message = no_detection_message(image, 'ground_grz', 3,
                                       ('g', 'r', 'z'))
        assert message.startswith('no sources were detected; likely causes')
        assert '0.5"/pixel' in message and 'background' in message
        assert "reads 3 band(s) (g, r, z, in that order)" in message


@pytest.mark.parametrize('dtype, bad_pixel, copied', [
    (np.float64, False, False), (np.float64, True, True),
    (np.float32, False, True)])
def test_prepared_data_is_a_read_only_view_or_a_copy(dtype, bad_pixel,
                                                     copied):
    # clean float64 input is used in place, read-only, so that no step can
    # write into it; anything else is converted into a copy
    data = np.arange(20.0).reshape(4, 5).astype(dtype)
    if bad_pixel:
        data[1, 2] = np.nan
    before = data.copy()
    image = prepare_image(data)
    assert image.data.dtype == np.float64
    assert np.shares_memory(image.data, data) is not copied
    if not copied:
        assert not image.data.flags.writeable
        with pytest.raises(ValueError, match='read-only'):
            image.data[0, 0] = 1.0
    np.testing.assert_array_equal(image.data[~image.mask],
                                  before[~image.mask])
    assert np.all(image.data[image.mask] == 0)
    np.testing.assert_array_equal(data, before)
    assert data.flags.writeable
