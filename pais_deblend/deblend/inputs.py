"""
Turning what an astronomer passes in (ndarray, masked array, `NDData`,
`CCDData`, `Quantity`) into the plain arrays the deblender works on.
"""

from dataclasses import dataclass

import numpy as np

from ..utils._validation import as_image, check_boolean, check_same_shape

__all__ = ['PreparedImage', 'prepare_image']


@dataclass(frozen=True)
class PreparedImage:
    """
    An input image reduced to arrays, with what it carried besides.

    Attributes
    ----------
    data : `~numpy.ndarray`, shape (h, w) or (h, w, b), float64
        The pixel values, a new array (never the caller's); unusable
        pixels (NaN, infinite or masked) hold 0.
    mask : `~numpy.ndarray`, shape (h, w), bool
        True for pixels that are masked, NaN or infinite (in any band).
    unit : `~astropy.units.UnitBase` or None
        The flux unit of a `~astropy.units.Quantity` or `NDData` input.
    wcs : object or None
        The WCS of an `NDData` input.
    uncertainty : `~numpy.ndarray` or None, shape (h, w) or (h, w, b)
        The 1-sigma uncertainty of an `NDData` input, when it could be
        converted to a standard deviation.
    """

    data: np.ndarray
    mask: np.ndarray
    unit: object = None
    wcs: object = None
    uncertainty: object = None

    @property
    def shape(self):
        """The (h, w) shape of the frame."""
        return self.data.shape[:2]


def _split_quantity(data, name):
    from astropy import units as u

    if isinstance(data, u.Quantity):
        return data.value, data.unit
    return data, None


def _nddata_parts(data, name):
    """(array, mask, unit, wcs, uncertainty) of an `NDData`."""
    array = data.data
    unit = data.unit
    mask = (None if data.mask is None
            else check_boolean(np.asarray(data.mask), f'{name}.mask'))
    uncertainty = None
    if data.uncertainty is not None:
        try:
            std = data.uncertainty.represent_as(
                _std_uncertainty_class()).array
        except (TypeError, ValueError, AttributeError):
            std = None
        if std is not None:
            uncertainty = np.array(std, dtype=np.float64)
    if mask is not None and mask.shape != np.shape(array)[:2]:
        if mask.shape == np.shape(array):
            mask = mask.reshape(mask.shape[:2] + (-1,)).any(axis=-1) if (
                mask.ndim == 3) else mask
        else:
            msg = (f'{name}.mask must have the shape of {name}.data '
                   f'{np.shape(array)}, got {mask.shape}')
            raise ValueError(msg)
    return array, mask, unit, data.wcs, uncertainty


def _std_uncertainty_class():
    from astropy.nddata import StdDevUncertainty

    return StdDevUncertainty


def _as_mask(mask, shape, name='mask'):
    if mask is None:
        return np.zeros(shape, dtype=bool)
    array = np.asanyarray(mask)
    if isinstance(array, np.ma.MaskedArray):
        array = array.filled(True)
    if array.dtype.kind != 'b':
        msg = f'{name} must be a boolean array, got dtype {array.dtype}'
        raise TypeError(msg)
    check_same_shape(array.shape, shape, name, 'the image (h, w)')
    return np.array(array, dtype=bool)


def prepare_image(data, *, mask=None, n_bands=1, name='data'):
    """
    Reduce an input image to a float64 array, a bad-pixel mask and its
    metadata.

    Parameters
    ----------
    data : array_like, `~numpy.ma.MaskedArray`, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The background-subtracted image, shape (h, w) for a one-band
        model or (h, w, b) with b = ``n_bands``. `NDData` (and so
        `~astropy.nddata.CCDData`) carries its mask, uncertainty, WCS and
        unit through. Integer and big-endian (FITS) arrays are accepted.
        Never modified.
    mask : array_like of bool, optional
        Shape (h, w). True for pixels to ignore; combined with the mask
        of a masked array or `NDData` and with the non-finite pixels.
    n_bands : int, optional
        The number of bands the model expects.
    name : str, optional
        The parameter name used in error messages.

    Returns
    -------
    image : `PreparedImage`

    Raises
    ------
    TypeError
        For data that is not an array of real numbers, or a mask that is
        not boolean.
    ValueError
        For a wrong number of dimensions or bands, an empty image, a mask
        of another shape, or an image without a single usable pixel.
    """
    from astropy.nddata import NDData

    unit = wcs = uncertainty = None
    masks = []
    if isinstance(data, NDData):
        data, nd_mask, unit, wcs, uncertainty = _nddata_parts(data, name)
        if nd_mask is not None:
            masks.append(np.asarray(nd_mask, dtype=bool))
    data, quantity_unit = _split_quantity(data, name)
    unit = quantity_unit if quantity_unit is not None else unit
    if isinstance(data, np.ma.MaskedArray):
        masks.append(np.ma.getmaskarray(data).reshape(
            data.shape[:2] + (-1,)).any(axis=-1))
    ndim = (2,) if n_bands == 1 else (3,)
    array = as_image(data, name, ndim=(2, 3) if n_bands == 1 else ndim)
    if array.ndim == 3 and array.shape[2] != n_bands:
        msg = (f'{name} must have {n_bands} band(s) along its last axis for '
               f'this model, got shape {array.shape}')
        raise ValueError(msg)
    array = np.array(array, dtype=np.float64)  # always our own copy
    bad = _as_mask(mask, array.shape[:2])
    for extra in masks:
        bad |= extra
    finite = np.isfinite(array)
    bad |= ~(finite if array.ndim == 2 else finite.all(axis=2))
    if bad.all():
        msg = (f'{name} has no usable pixel: every pixel is masked, NaN or '
               f'infinite')
        raise ValueError(msg)
    array[bad] = 0.0
    if uncertainty is not None and uncertainty.shape != array.shape:
        uncertainty = None
    return PreparedImage(array, bad, unit, wcs, uncertainty)
