"""
Input normalisation for the PAIS network (pure NumPy, no TensorFlow).

Flux images span orders of magnitude and arrive in any unit (electrons/s,
ADU, nJy, ...). The network sees each band after an asinh stretch
(Lupton, Blanton, Fekete et al. 2004, PASP 116, 133) softened by a robust
estimate of that band's noise:

    x_norm = asinh(x / (softening * sigma_band))

so that the noise is mapped to the linear part of the stretch (about
+-1/softening) and bright cores are compressed logarithmically. Scaling an
image by any positive constant scales ``sigma_band`` by the same constant,
so the normalised image -- and therefore the network's output -- does not
depend on the image unit.

With ``method='lupton'`` the stretch is instead applied to a band
combination, as Lupton et al. (2004) do to keep colours: every band is
scaled to noise units, ``s_b = x_b / (softening * sigma_b)``, their mean
``I`` is stretched, and every band is multiplied by the same factor
``asinh(I) / I``, so that the ratios between bands (the colours of a
source) are preserved where the per-band stretch would compress the
brighter band more. For one band both methods are identical.

The noise estimate must be computed once for the whole image (not per
tile) so that tiled inference sees exactly the same normalised pixels as a
single pass; `normalize_image` therefore takes an optional precomputed
``noise_sigma``.
"""

import numbers

import numpy as np

from ..utils._validation import (as_image, check_finite_float, check_in,
                                 check_same_shape)

__all__ = ['estimate_noise', 'normalize_image', 'DEFAULT_SOFTENING',
           'NORMALIZATION_METHODS']

#: The default softening of the asinh stretch, in units of the noise sigma.
DEFAULT_SOFTENING = 3.0

#: The normalisation methods of `normalize_image`: ``'asinh'`` (per band,
#: the default) and ``'lupton'`` (Lupton et al. 2004 colour-preserving
#: stretch of the band mean).
NORMALIZATION_METHODS = ('asinh', 'lupton')

# below this |I| the factor asinh(I) / I is computed from its Taylor series
# 1 - I^2 / 6 + 3 I^4 / 40 (relative error < 1e-17 there)
_SMALL_INTENSITY = 1e-3

# 1 / Phi^-1(3/4): MAD -> Gaussian standard deviation
_MAD_TO_SIGMA = 1.482602218505602

# images larger than this are subsampled (deterministically) for the noise
# estimate: the MAD of a million Gaussian pixels estimates sigma to 0.12 %
# (1 sigma; the MAD's efficiency is 37 %), and the two medians of 4
# million took 0.3 s per band on the reference machine
_MAX_NOISE_PIXELS = 1_000_000


def _as_bands(image, name='image'):
    """Return ``image`` as an (h, w, b) float64 array (always a copy)."""
    array = as_image(image, name, ndim=(2, 3))
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return np.array(array, dtype=np.float64)


def _checked_mask(mask, shape):
    """``mask`` as a boolean (h, w) array of the image's ``shape`` (h, w),
    or None."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    check_same_shape(mask.shape, shape, 'mask', 'image')
    return mask


def _blank_masked_pixels(bands, mask):
    """Set the masked pixels of the (h, w, b) copy ``bands`` to NaN."""
    mask = _checked_mask(mask, bands.shape[:2])
    if mask is not None:
        bands[mask] = np.nan


def _asinh_stretch(array, divisors, mask):
    """`normalize_image`'s asinh stretch of the (h, w) or (h, w, b)
    ``array`` by the (b,) ``divisors`` in one numba pass (the same
    values)."""
    from ..utils._numba_serial import pick
    from ._normalization_kernels import asinh_stretch

    bands = array[:, :, np.newaxis] if array.ndim == 2 else array
    mask = _checked_mask(mask, bands.shape[:2])
    use_mask = mask is not None
    return pick(asinh_stretch, bands.shape[0] * bands.shape[1])(
        bands, np.asarray(divisors, dtype=np.float64),
        mask if use_mask else np.zeros((1, 1), dtype=bool), use_mask)


def _robust_sigma(values):
    """
    1.4826 * MAD of the finite ``values`` (1-D), falling back to the MAD of
    the non-zero values, then to the largest absolute value, then to 1.
    Every branch is proportional to the data, so the result scales with it.
    """
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size > _MAX_NOISE_PIXELS:
        step = int(np.ceil(values.size / _MAX_NOISE_PIXELS))
        values = values[::step]
    for subset in (values, None):
        if subset is None:
            # only needed when the MAD of all the values is 0
            subset = values[values != 0]
        if subset.size:
            median = np.median(subset)
            mad = np.median(np.abs(subset - median))
            if mad > 0:
                return _MAD_TO_SIGMA * mad
    if values.size and np.max(np.abs(values)) > 0:
        return float(np.max(np.abs(values)))
    return 1.0


def estimate_noise(image, *, mask=None):
    """
    Estimate the noise standard deviation of every band robustly.

    The estimate is 1.4826 times the median absolute deviation (MAD) of
    the finite, unmasked pixels of each band about their median. Sources
    occupy a minority of the pixels of a typical extragalactic image, so
    the MAD follows the noise; in very crowded fields it overestimates it
    slightly, which only softens the stretch a little. When the MAD is 0
    (for instance a noiseless simulation that is mostly exactly 0) the MAD
    of the non-zero pixels is used, then the largest absolute value, then
    1 (an all-zero band). Every branch is proportional to the data, so
    ``estimate_noise(c * image) == c * estimate_noise(image)`` for any
    ``c > 0``.

    Parameters
    ----------
    image : array_like, shape (h, w) or (h, w, b)
        The background-subtracted image, any flux unit. NaN pixels and
        masked-array masked pixels are ignored.
    mask : array_like of bool, shape (h, w), optional
        True for pixels to ignore.

    Returns
    -------
    noise_sigma : `~numpy.ndarray`, shape (b,)
        The noise standard deviation of each band, in the image's unit;
        always > 0.
    """
    # no copy of the image: each band is read in place (a view when it is
    # contiguous), without its masked pixels
    array = as_image(image, 'image', ndim=(2, 3))
    bands = array if array.ndim == 3 else array[:, :, np.newaxis]
    keep = None
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        check_same_shape(mask.shape, bands.shape[:2], 'mask', 'image')
        if mask.any():
            keep = ~mask.ravel()
    sigmas = []
    for band in range(bands.shape[2]):
        values = bands[:, :, band].ravel()
        sigmas.append(_robust_sigma(values if keep is None
                                    else values[keep]))
    return np.array(sigmas, dtype=np.float64)


def check_noise_sigma(noise_sigma, n_bands):
    """
    Per-band noise values from a scalar or a sequence of ``n_bands``.

    Returns
    -------
    sigma : `~numpy.ndarray`, shape (n_bands,), float64

    Raises
    ------
    ValueError
        If the number of values is neither 1 nor ``n_bands``, or a value
        is not finite and positive.
    """
    if isinstance(noise_sigma, numbers.Real) and not isinstance(
            noise_sigma, bool):
        sigma = np.full(n_bands, float(noise_sigma))
    else:
        sigma = np.asarray(noise_sigma, dtype=np.float64).reshape(-1)
        if sigma.size == 1:
            sigma = np.full(n_bands, sigma[0])
    if sigma.size != n_bands:
        msg = (f'noise_sigma must be a scalar or hold one value per band '
               f'({n_bands}), got {sigma.size} values')
        raise ValueError(msg)
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        msg = f'noise_sigma must be finite and > 0, got {sigma.tolist()}'
        raise ValueError(msg)
    return sigma


def _asinh_ratio(intensity):
    """
    ``asinh(I) / I`` elementwise, 1 at ``I = 0``, even in ``I`` (so finite
    and positive for negative ``I`` too), NaN only where ``I`` is NaN.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    ratio = np.ones_like(intensity)
    small = np.abs(intensity) < _SMALL_INTENSITY
    large = ~small & np.isfinite(intensity)
    ratio[large] = np.arcsinh(intensity[large]) / intensity[large]
    squared = intensity[small] ** 2
    ratio[small] = 1.0 - squared / 6.0 + 3.0 * squared * squared / 40.0
    ratio[np.isnan(intensity)] = np.nan
    ratio[np.isinf(intensity)] = 0.0
    return ratio


def normalize_image(image, *, noise_sigma=None, softening=DEFAULT_SOFTENING,
                    mask=None, method='asinh'):
    """
    Normalise an image for the network with a noise-softened asinh stretch.

    With ``method='asinh'`` (the default) computes, per band,
    ``asinh(image / (softening * noise_sigma))`` (Lupton et al. 2004
    stretch, softened at ``softening`` times the noise). With
    ``method='lupton'`` applies the colour-preserving form of Lupton et
    al. (2004, PASP 116, 133) to the band combination: with
    ``s_b = image_b / (softening * noise_sigma_b)`` and ``I`` the mean of
    ``s_b`` over the bands, every band becomes ``s_b * asinh(I) / I``
    (the factor is 1 at ``I = 0`` and even in ``I``), so the ratios
    between bands -- the colours -- are kept. For a single band both
    methods give the same result. Either way the result does not depend on
    the flux unit of ``image``: multiplying the image by a positive
    constant leaves it unchanged (when ``noise_sigma`` is estimated, or
    scaled along with the image).

    Parameters
    ----------
    image : array_like, shape (h, w) or (h, w, b)
        The background-subtracted image, any flux unit. Not modified.
    noise_sigma : float or array_like of shape (b,), optional
        The noise standard deviation of each band, in the image's unit.
        Estimated with `estimate_noise` when not given. Pass the value
        estimated on the full image when normalising tiles of it.
    softening : float, optional
        The softening of the stretch in units of the noise sigma (> 0).
    mask : array_like of bool, shape (h, w), optional
        True for pixels to ignore; they are set to 0 in the output, like
        NaN pixels.
    method : {'asinh', 'lupton'}, optional
        ``'asinh'``: stretch each band on its own; ``'lupton'``: stretch
        the band mean and scale every band by the same factor (colours
        preserved). A pixel that is masked or non-finite in any band is 0
        in every band with ``'lupton'`` (its band mean is undefined).
        The network must be fed the method it was trained with.

    Returns
    -------
    normalized : `~numpy.ndarray`, shape (h, w, b), float32
        The stretched image, always 3-dimensional; non-finite and masked
        pixels are 0.

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.
    """
    check_in(method, NORMALIZATION_METHODS, 'method')
    softening = check_finite_float(softening, 'softening', minimum=0)
    array = as_image(image, 'image', ndim=(2, 3))
    n_bands = 1 if array.ndim == 2 else array.shape[2]
    if noise_sigma is not None and (method == 'asinh' or n_bands == 1):
        return _asinh_stretch(array, check_noise_sigma(
            noise_sigma, n_bands) * softening, mask)
    bands = _as_bands(array)
    _blank_masked_pixels(bands, mask)
    if noise_sigma is None:
        sigma = estimate_noise(bands)
    else:
        sigma = check_noise_sigma(noise_sigma, n_bands)
    scaled = bands / (softening * sigma)
    if method == 'asinh' or n_bands == 1:
        out = np.arcsinh(scaled)
    else:
        intensity = scaled.mean(axis=2, keepdims=True)
        with np.errstate(invalid='ignore'):  # inf * 0 at infinite pixels
            out = scaled * _asinh_ratio(intensity)
    out[~np.isfinite(out)] = 0.0
    return out.astype(np.float32)
