"""The bundled PhoSim DECam g, r, z images."""

import numpy as np
from astropy.io import fits

from pais_deblend.datasets import load_phosim_decam


def test_load_phosim_decam_matches_files():
    from importlib import resources

    field = load_phosim_decam()
    assert field.image.shape == (512, 512, 3)
    assert field.image.dtype == np.float32
    assert field.image.dtype.byteorder in ('=', '|')
    assert field.bands == ('g', 'r', 'z')
    assert field.pixel_scale == 0.262
    for index, band in enumerate(field.bands):
        path = resources.files('pais_deblend.datasets').joinpath(
            'data', f'phosim_decam_set0_{band}.fits')
        np.testing.assert_array_equal(field.image[..., index],
                                      fits.getdata(path))
    # the WCS maps the reference pixel to the header's reference position
    ra, dec = field.wcs.wcs_pix2world([[255.5, 255.5]], 0)[0]
    assert np.isclose(ra, 197.860331) and np.isclose(dec, -1.413151)


def test_load_phosim_decam_returns_fresh_arrays():
    first = load_phosim_decam()
    first.image[...] = 0
    assert load_phosim_decam().image.any()
