"""Tests of PartialSegmentationImage.write(header=...): the image's WCS."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from pais_deblend.segmentation import PartialSegmentationImage


def tan_header(shape=(24, 30), *, sip=False):
    """A TAN (optionally TAN-SIP) header for an image of ``shape``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [53.16, -27.78]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cd = [[-1.667e-5, 2e-7], [3e-7, 1.667e-5]]
    header = fits.Header()
    header['OBJECT'] = 'GOODS-S'
    header['EXPTIME'] = 1200.0
    header.update(wcs.to_header())
    if sip:
        header['CTYPE1'] = 'RA---TAN-SIP'
        header['CTYPE2'] = 'DEC--TAN-SIP'
        header['A_ORDER'] = 2
        header['B_ORDER'] = 2
        header['A_2_0'] = 1e-6
        header['B_0_2'] = -2e-6
    return header


@pytest.fixture
def segmentation(partial_form):
    contributors, weights = partial_form
    return PartialSegmentationImage(contributors, weights,
                                    centers={1: (2.5, 3.25), 4: (-1, 40)})


@pytest.mark.filterwarnings('ignore:The WCS transformation has more axes')
@pytest.mark.parametrize('sip', [False, True])
def test_wcs_written_to_primary_and_dominant(tmp_path, segmentation, sip):
    header = tan_header(segmentation.shape, sip=sip)
    path = tmp_path / 'partial.fits'
    segmentation.write(path, header=header)
    expected = WCS(header)
    y, x = np.mgrid[0:24:5, 0:30:7]
    reference = expected.pixel_to_world(x, y)
    with fits.open(path) as hdus:
        for name in ('PRIMARY', 'DOMINANT'):
            written = WCS(hdus[name].header)
            assert written.has_celestial
            assert (written.sip is not None) == sip
            separation = written.pixel_to_world(x, y).separation(reference)
            assert separation.max().arcsec < 1e-9
        # only the WCS travels, not the other cards of the image
        assert 'OBJECT' not in hdus[0].header
        assert 'EXPTIME' not in hdus['DOMINANT'].header
        assert hdus[0].header['PDFORMAT'] == 1
        np.testing.assert_array_equal(hdus['DOMINANT'].data,
                                      segmentation.data)


def test_round_trip_lossless_with_header(tmp_path, segmentation):
    path = tmp_path / 'partial.fits'
    segmentation.write(path, header=tan_header(segmentation.shape))
    again = PartialSegmentationImage.read(path)
    np.testing.assert_array_equal(again.contributors,
                                  segmentation.contributors)
    np.testing.assert_array_equal(again.weights, segmentation.weights)
    np.testing.assert_array_equal(again.data, segmentation.data)
    assert again.centers == segmentation.centers


def test_header_without_wcs_adds_nothing(tmp_path, segmentation):
    plain = tmp_path / 'plain.fits'
    with_header = tmp_path / 'with_header.fits'
    segmentation.write(plain)
    segmentation.write(with_header, header=fits.Header({'OBJECT': 'x'}))
    for name in ('PRIMARY', 'DOMINANT'):
        assert (list(fits.getheader(with_header, name))
                == list(fits.getheader(plain, name)))


def test_cube_header_keeps_the_first_two_axes(tmp_path, segmentation):
    header = tan_header(segmentation.shape)
    header['WCSAXES'] = 3
    header['CTYPE3'] = 'WAVE'
    header['CRVAL3'] = 1.6e-6
    header['CDELT3'] = 1e-7
    header['CRPIX3'] = 1.0
    path = tmp_path / 'partial.fits'
    segmentation.write(path, header=header)
    written = WCS(fits.getheader(path, 'DOMINANT'))
    assert written.naxis == 2
    assert written.has_celestial


def test_header_must_be_a_header(tmp_path, segmentation):
    path = tmp_path / 'partial.fits'
    with pytest.raises(TypeError, match='header must be an astropy.io.fits'
                       '.Header, got dict'):
        segmentation.write(path, header={'CTYPE1': 'RA---TAN'})
    assert not path.exists()
