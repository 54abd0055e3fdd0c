"""
Turning what an astronomer passes in (ndarray, masked array, `NDData`,
`CCDData`, `Quantity`, a FITS HDU or `HDUList`) into the plain arrays the
deblender works on, and checking that the image suits the model.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ..utils._validation import as_image, check_boolean, check_same_shape
from ..utils.exceptions import ModelMismatchWarning

__all__ = ['PreparedImage', 'prepare_image', 'check_image_suits_model',
           'image_model_mismatches', 'image_pixel_scale',
           'PIXEL_SCALE_TOLERANCE',
           'PEDESTAL_THRESHOLD']

#: The largest relative difference between the image's pixel scale and
#: the model's before `check_image_suits_model` warns (0.35: DECam's
#: 0.262"/pixel passes for a model trained at 0.2"/pixel, HSC's 0.168"
#: too; an HST image at 0.03"/pixel does not for one at 0.06").
PIXEL_SCALE_TOLERANCE = 0.35

#: An image whose median exceeds this many times its robust noise
#: (1.4826 x the median absolute deviation) holds a background pedestal.
PEDESTAL_THRESHOLD = 3.0


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
        The flux unit of a `~astropy.units.Quantity` or `NDData` input,
        or the ``BUNIT`` of a FITS HDU.
    wcs : object or None
        The WCS of an `NDData` input or of a FITS HDU's header.
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


def _fits_parts(data, name, n_bands):
    """(array, unit, wcs) of a FITS image HDU or the first HDU of an
    `HDUList` holding data; a FITS cube (b, h, w) is turned band-last."""
    from astropy.io import fits

    if isinstance(data, fits.HDUList):
        with_data = [hdu for hdu in data
                     if getattr(hdu, 'is_image', False)
                     and hdu.data is not None]
        if not with_data:
            kinds = ', '.join(type(hdu).__name__ for hdu in data) or 'none'
            msg = (f'{name} is an HDUList without an image HDU holding data '
                   f'(HDUs: {kinds}); pass the HDU to deblend')
            raise ValueError(msg)
        data = with_data[0]
    if not getattr(data, 'is_image', False):
        msg = (f'{name} is a {type(data).__name__}, a table; pass an image '
               'HDU')
        raise TypeError(msg)
    if data.data is None:
        msg = f'{name} is a {type(data).__name__} without data'
        raise ValueError(msg)
    array = data.data
    if array.ndim == 3 and n_bands > 1 and (
            array.shape[0] == n_bands != array.shape[2]):
        array = np.moveaxis(array, 0, -1)  # FITS order: NAXIS3 = band
    elif array.ndim == 3 and n_bands == 1 and array.shape[0] == 1:
        array = array[0]
    return array, _header_unit(data.header), _header_wcs(data.header)


def _header_unit(header):
    from astropy import units as u

    bunit = str(header.get('BUNIT', '')).strip()
    if not bunit:
        return None
    try:
        return u.Unit(bunit, format='fits')
    except ValueError:
        try:
            return u.Unit(bunit)
        except ValueError:
            return None


def _header_wcs(header):
    """The celestial WCS of a header, or None."""
    from astropy.wcs import WCS

    try:
        wcs = WCS(header).celestial
    except Exception:  # a broken WCS is not a reason to stop
        return None
    return wcs if wcs.has_celestial else None


def _is_fits(data):
    from astropy.io import fits

    return isinstance(data, (fits.HDUList, fits.hdu.base._BaseHDU))


def _check_band_axis(shape, n_bands, name):
    """Refuse a band-first (b, h, w) array with the fix in the message."""
    if len(shape) != 3 or shape[2] == n_bands:
        return
    if shape[0] == n_bands and min(shape[1], shape[2]) > n_bands:
        msg = (f'{name} of shape {shape} looks band-first (b, h, w); this '
               f'model reads (h, w, {n_bands}), bands last: pass '
               'np.moveaxis(data, 0, -1)')
        raise ValueError(msg)


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


def prepare_image(data, *, mask=None, n_bands=1, name='data',
                  mask_name='mask'):
    """
    Reduce an input image to a float64 array, a bad-pixel mask and its
    metadata.

    Parameters
    ----------
    data : array_like, `~numpy.ma.MaskedArray`, `~astropy.units.Quantity`, `~astropy.nddata.NDData`, `~astropy.io.fits.ImageHDU`, `~astropy.io.fits.PrimaryHDU` or `~astropy.io.fits.HDUList`
        The background-subtracted image, shape (h, w) for a one-band
        model or (h, w, b) with b = ``n_bands``. `NDData` (and so
        `~astropy.nddata.CCDData`) carries its mask, uncertainty, WCS and
        unit through. A FITS HDU (of an `HDUList`, the first holding
        image data) carries its ``BUNIT`` and celestial WCS; a FITS cube
        of b planes, NAXIS3 = b (numpy shape (b, h, w)), is read bands
        last. Integer and big-endian (FITS) arrays are accepted. Never
        modified.
    mask : array_like of bool, optional
        Shape (h, w). True for pixels to ignore; combined with the mask
        of a masked array or `NDData` and with the non-finite pixels.
    n_bands : int, optional
        The number of bands the model expects.
    name : str, optional
        The parameter name used in error messages.
    mask_name : str, optional
        The name of ``mask`` in error messages.

    Returns
    -------
    image : `PreparedImage`

    Raises
    ------
    TypeError
        For data that is not an array of real numbers (or a table HDU),
        or a mask that is not boolean.
    ValueError
        For a wrong number of dimensions or bands (an array that looks
        band-first is named so), an empty image, a mask of another
        shape, an `HDUList` without image data, or an image without a
        single usable pixel.
    """
    from astropy.nddata import NDData

    unit = wcs = uncertainty = None
    masks = []
    if _is_fits(data):
        from astropy.utils.exceptions import AstropyWarning

        # non-standard cards (e.g. ESO-LOG) are for the file's author
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', AstropyWarning)
            data, unit, wcs = _fits_parts(data, name, n_bands)
    elif isinstance(data, NDData):
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
    _check_band_axis(array.shape, n_bands, name)
    if array.ndim == 3 and array.shape[2] != n_bands:
        msg = (f'{name} must have {n_bands} band(s) along its last axis for '
               f'this model, got shape {array.shape}')
        raise ValueError(msg)
    bad = _as_mask(mask, array.shape[:2], mask_name)
    for extra in masks:
        bad |= extra
    finite = np.isfinite(array)
    bad |= ~(finite if array.ndim == 2 else finite.all(axis=2))
    if bad.all():
        msg = (f'{name} has no usable pixel: every pixel is masked, NaN or '
               f'infinite')
        raise ValueError(msg)
    array = _own_float64(array, bad)
    if uncertainty is not None and uncertainty.shape != array.shape:
        uncertainty = None
    return PreparedImage(array, bad, unit, wcs, uncertainty)


def _own_float64(array, bad):
    """
    ``array`` as float64 with its ``bad`` pixels 0: the input itself, as
    a read-only view, when it already is float64 without a bad pixel (a
    survey-size frame then needs no copy, and no step can write into the
    user's data), otherwise a copy.
    """
    if array.dtype == np.float64 and not bad.any():
        view = array.view()
        view.flags.writeable = False
        return view
    array = np.array(array, dtype=np.float64)
    array[bad] = 0.0
    return array


def image_pixel_scale(wcs):
    """
    The mean pixel scale of a celestial WCS, arcsec per pixel, or None.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS` or None

    Returns
    -------
    scale : float or None
        From `~astropy.wcs.utils.proj_plane_pixel_scales`; None without a
        celestial WCS or with a degenerate one.
    """
    from astropy import units as u
    from astropy.wcs.utils import proj_plane_pixel_scales

    celestial = getattr(wcs, 'celestial', None)
    if celestial is None or not celestial.has_celestial:
        return None
    try:
        scales = proj_plane_pixel_scales(celestial)
        unit = u.Unit(celestial.wcs.cunit[0] or 'deg')
        scale = float(np.mean(scales) * unit.to(u.arcsec))
    except Exception:  # odd units or matrices: no check
        return None
    return scale if np.isfinite(scale) and scale > 0 else None


def _model_pixel_scale(model_name):
    from ..model.bundled import BUNDLED_MODELS

    entry = BUNDLED_MODELS.get(model_name)
    return None if entry is None else entry.get('pixel_scale')


def image_model_mismatches(image, model_name):
    """
    The ways ``image`` does not look like the images the model was
    trained on, one sentence each (with the numbers).

    Parameters
    ----------
    image : `PreparedImage`
    model_name : str
        A bundled model's name (its pixel scale is known); other models
        get the pedestal check only.

    Returns
    -------
    problems : list of str
    """
    problems = []
    model_scale = _model_pixel_scale(model_name)
    scale = image_pixel_scale(image.wcs)
    if model_scale is not None and scale is not None:
        ratio = scale / model_scale
        if max(ratio, 1 / ratio) > 1 + PIXEL_SCALE_TOLERANCE:
            problems.append(
                f'the image has {scale:.3g}"/pixel (from its WCS) but model '
                f'{model_name!r} was trained at {model_scale:g}"/pixel '
                f'(a factor {ratio:.2f}): each source spans {1 / ratio:.2g} '
                'times as many pixels across as in training; resample the '
                'image to the model\'s scale')
    data = image.data if image.data.ndim == 3 else image.data[..., None]
    # a sample of about a million pixels is enough: every k-th row
    step = max(1, data.shape[0] * data.shape[1] // 1_000_000)
    rows = slice(None, None, step)
    good = ~image.mask[rows]
    for band in range(data.shape[-1]):
        values = data[rows, :, band][good]
        if values.size < 16:
            continue
        median = float(np.median(values))
        noise = 1.4826 * float(np.median(np.abs(values - median)))
        if noise > 0 and median > PEDESTAL_THRESHOLD * noise:
            where = f' (band {band})' if data.shape[-1] > 1 else ''
            problems.append(
                f'the image{where} has a median of {median:.4g}, '
                f'{median / noise:.3g} times its robust noise {noise:.3g}: '
                'it looks not background-subtracted; subtract the '
                'background first (pais-deblend run does unless given '
                '--background-subtracted)')
    return problems


def check_image_suits_model(image, model_name):
    """
    Warn (`~pais_deblend.utils.ModelMismatchWarning`) for
    each way the image does not suit the model: a WCS pixel scale more
    than `PIXEL_SCALE_TOLERANCE` away from the bundled model's, or a
    median pedestal above `PEDESTAL_THRESHOLD` times the robust noise.

    Parameters
    ----------
    image : `PreparedImage`
    model_name : str

    Returns
    -------
    problems : list of str
        The warnings' messages.
    """
    problems = image_model_mismatches(image, model_name)
    for problem in problems:
        warnings.warn(problem, ModelMismatchWarning, stacklevel=3)
    return problems


def no_detection_message(image, model_name, n_bands, band_names=None):
    """
    The "no sources were detected" message, with the likely causes.
    """
    causes = image_model_mismatches(image, model_name)
    bands = f'{n_bands} band(s)'
    if band_names:
        bands += f' ({", ".join(band_names)}, in that order)'
    causes.append(f'model {model_name!r} reads {bands}: check the band '
                  'order, and that the image is not dominated by noise')
    return 'no sources were detected; likely causes: ' + '; '.join(causes)
