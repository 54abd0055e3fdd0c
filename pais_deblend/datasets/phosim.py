"""
The PhoSim DECam g, r, z images of the Mask R-CNN deblender (Burke et al.
2019, MNRAS 490, 3952).
"""

from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ['PhoSimDECam', 'load_phosim_decam']

#: Band order of the image cube.
PHOSIM_BANDS = ('g', 'r', 'z')

_FILE = 'phosim_decam_set0_{band}.fits'


class PhoSimDECam(NamedTuple):
    """
    A PhoSim simulation of a DECam field, in g, r and z.

    Attributes
    ----------
    image : `~numpy.ndarray`
        Shape (512, 512, 3), float32, native byte order; bands in the
        order of `bands`. Background-subtracted sky in the DECaLS image
        unit (nanomaggies).
    bands : tuple of str
        ``('g', 'r', 'z')``.
    wcs : `~astropy.wcs.WCS`
        The celestial WCS of the images (TAN, all bands alike).
    pixel_scale : float
        Arcseconds per pixel (0.262, DECam), from the WCS.
    """

    image: np.ndarray
    bands: tuple
    wcs: object
    pixel_scale: float


def load_phosim_decam():
    """
    Load the bundled PhoSim DECam g, r, z images (set 0 of the Mask R-CNN
    deblender's examples, repository burke86/astro_rcnn, MIT licence).

    Returns
    -------
    field : `PhoSimDECam`

    Examples
    --------
    >>> from pais_deblend.datasets import load_phosim_decam
    >>> field = load_phosim_decam()
    >>> field.image.shape, field.bands
    ((512, 512, 3), ('g', 'r', 'z'))
    """
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    planes = []
    header = None
    for band in PHOSIM_BANDS:
        path = resources.files(__package__).joinpath(
            'data', _FILE.format(band=band))
        with fits.open(path, memmap=False) as hdus:
            planes.append(np.asarray(hdus[0].data, dtype=np.float32))
            if header is None:
                header = hdus[0].header.copy()
    wcs = WCS(header)
    scale = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)
    return PhoSimDECam(image=np.stack(planes, axis=-1), bands=PHOSIM_BANDS,
                       wcs=wcs, pixel_scale=round(scale, 4))
