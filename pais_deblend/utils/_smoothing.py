"""
Gaussian smoothing of whole frames, in parallel.

The deblending pipeline smooths every frame by a Gaussian of about one
pixel (the detection image, the companion search and the templates).
`scipy.ndimage.gaussian_filter` runs on one core, about 0.19 s per axis
on a 4096 x 4096 frame on the 2-core reference machine; this numba
version runs both passes on all cores (serial on small frames, see
`pais_deblend.utils._numba_serial`). The kernel is scipy's (a sampled
Gaussian truncated at 4 sigma, normalised to a unit sum) and the edges
are treated as scipy's ``mode='constant'`` (0 outside the frame); the
sums are float64, so the result equals scipy's to float rounding, not
bit for bit.
"""

import numpy as np

__all__ = ['gaussian_weights', 'smooth_gaussian']

#: The kernel's half-width in units of sigma (scipy's default
#: ``truncate``).
TRUNCATE = 4.0


def gaussian_weights(sigma):
    """
    The normalised 1-D Gaussian kernel of ``sigma`` pixels (> 0), float64,
    ``2 r + 1`` taps with ``r = int(4 sigma + 0.5)``.
    """
    radius = int(TRUNCATE * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 / float(sigma) ** 2 * offsets ** 2)
    return weights / weights.sum()


def smooth_gaussian(image, sigma, *, scale=1.0, out=None):
    """
    ``scale`` times ``image`` smoothed by a circular Gaussian of ``sigma``
    pixels, with zeros beyond the frame.

    Parameters
    ----------
    image : `~numpy.ndarray`, shape (h, w), float32 or float64
        Finite values. Not modified.
    sigma : float
        >= 0, pixels; 0 returns a (scaled) copy.
    scale : float, optional
        A factor folded into the kernel (no pass over the image of its
        own).
    out : `~numpy.ndarray`, shape (h, w), float32 or float64, optional
        C-contiguous; receives the result (it may not be ``image``).

    Returns
    -------
    smoothed : `~numpy.ndarray`, shape (h, w)
        ``out``, or a new array of ``image``'s dtype.
    """
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    if out is None:
        out = np.empty(image.shape, dtype=image.dtype)
    if sigma == 0:
        np.multiply(image, scale, out=out, casting='unsafe')
        return out
    from ._numba_serial import pick
    from ._smoothing_kernels import smooth_columns, smooth_rows

    image = np.ascontiguousarray(image)
    weights = gaussian_weights(sigma)
    # the row pass is stored in the output's precision, as scipy does
    across = np.empty(image.shape, dtype=out.dtype)
    pick(smooth_rows, image.size)(image, weights, across)
    pick(smooth_columns, image.size)(across, weights * scale, out)
    return out
