"""
The Hubble Legacy Fields GOODS-South cutout used by the PAIS paper.
"""

from importlib import resources
from typing import NamedTuple

import numpy as np
from astropy import units as u

__all__ = ['HLFCutout', 'load_hlf_goodss', 'get_path']

#: Band order of the flux cube.
HLF_BANDS = ('F160W', 'F125W', 'F606W', 'F850LP')

#: Pixel scale of the HLF mosaics, arcsec/pixel.
HLF_PIXEL_SCALE = 0.06

_FILES = {
    'flux': 'hlf_goodss_67_flux.fits',
    'center_of_mass': 'hlf_goodss_67_center_of_mass.fits',
    'background': 'hlf_goodss_67_background.fits',
}


class HLFCutout(NamedTuple):
    """
    The real HLF GOODS-South cutout (sample 67 of the PAIS authors' data).

    Attributes
    ----------
    flux : `~numpy.ndarray`
        Shape (256, 256, 4), float32, electrons/s, background-subtracted;
        bands in the order of `bands`.
    center_of_mass : `~numpy.ndarray`
        Shape (256, 256), the PAIS centre-of-mass label (Gaussians of sigma
        8 px and peak 1 at each 3D-HST catalog source).
    background : `~numpy.ndarray`
        Shape (256, 256), the Morpheus background classification
        (1 = background).
    centers : `~numpy.ndarray`
        Shape (7, 2), the (y, x) pixel positions of the catalog sources
        (the peaks of ``center_of_mass``, whose value is 1).
    bands : tuple of str
        The filter names of the flux bands.
    pixel_scale : float
        Arcseconds per pixel (0.06).
    unit : `~astropy.units.Unit`
        The unit of ``flux``, electron / s (the file has no BUNIT; the
        unit is that of the HLF v2.0 mosaics, as the data set states).
    """

    flux: np.ndarray
    center_of_mass: np.ndarray
    background: np.ndarray
    centers: np.ndarray
    bands: tuple
    pixel_scale: float
    unit: object = u.electron / u.s


def get_path(name):
    """
    The path of a bundled data file.

    Parameters
    ----------
    name : {'flux', 'center_of_mass', 'background'}
        Which HLF file.

    Returns
    -------
    path : `pathlib.Path`
    """
    if name not in _FILES:
        choices = ', '.join(repr(key) for key in _FILES)
        msg = f'name must be one of {choices}, got {name!r}'
        raise ValueError(msg)
    return resources.files(__package__).joinpath('data', _FILES[name])


def _read(name):
    from astropy.io import fits

    with fits.open(get_path(name), memmap=False) as hdus:
        return np.asarray(hdus[0].data, dtype=np.float32)


def _catalog_positions(center_of_mass):
    # The label is exactly 1 at each catalog source (Gaussian peaks
    # combined by maximum), so the positions are the pixels equal to 1.
    return np.argwhere(center_of_mass >= 1.0).astype(np.float64)


def load_hlf_goodss():
    """
    Load the bundled HLF GOODS-South cutout and its catalog positions.

    Returns
    -------
    cutout : `HLFCutout`

    Examples
    --------
    >>> from pais_deblend.datasets import load_hlf_goodss
    >>> hlf = load_hlf_goodss()
    >>> hlf.flux.shape, len(hlf.centers)
    ((256, 256, 4), 7)
    """
    flux = _read('flux')
    center_of_mass = _read('center_of_mass')[..., 0]
    background = _read('background')[..., 0]
    return HLFCutout(flux=flux, center_of_mass=center_of_mass,
                     background=background,
                     centers=_catalog_positions(center_of_mass),
                     bands=HLF_BANDS, pixel_scale=HLF_PIXEL_SCALE)
