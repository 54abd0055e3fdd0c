"""
Finding source centres in a PCR centre-of-mass map.
"""

import numpy as np

from ..utils._validation import as_image, check_finite_float, check_positive_int

__all__ = ['find_centers']


def find_centers(center_of_mass, *, threshold=0.5, min_separation=2,
                 subpixel=True):
    """
    Find source centres as the sub-pixel peaks of a centre-of-mass map.

    This is step 1 of PCR decoding (Hausen & Robertson 2022,
    arXiv:2201.04714; see the PCR page), with two bugs of the authors'
    code fixed: plateaus give exactly one peak and the first and last
    rows and columns are searched like any other pixel.

    A pixel is a candidate when its value is >= ``threshold`` and no pixel
    of the ``(2 min_separation + 1)``-wide square window around it
    (clipped at the frame edges) is larger. Candidates touching each other
    (8-connectivity) necessarily share one value and form one plateau,
    which yields one peak. Remaining peaks closer than ``min_separation``
    (Chebyshev distance, between representative pixels) are suppressed
    greedily, keeping the higher one (ties: the first in raster order).

    Sub-pixel refinement: a single-pixel peak is refined along each axis
    by fitting a parabola to the logarithm of the three values around it,
    which is exact for a sampled Gaussian such as the C^c drawn by
    `encode_pcr` (a parabola through the values themselves when one of
    them is not positive); the offset is clipped to [-0.5, 0.5] and is 0
    along an axis where the peak touches the frame edge. A plateau's
    position is the mean position of its pixels.

    Parameters
    ----------
    center_of_mass : array_like
        Shape (h, w). The C^c map (truth from `encode_pcr` or a network
        prediction in [0, 1]). It is not modified. NaN pixels are never peaks.
    threshold : float, optional
        The lowest peak value kept. C^c peaks are near 1 at sources (a
        unit-peak Gaussian sampled at most 0.71 px from its centre with
        sigma = 8 is above 0.996), and the Gaussians fall to 0.5 at 1.18
        sigma, so 0.5 keeps every well-predicted centre while rejecting
        the wings and weak spurious bumps of a network output; lower it
        for under-confident predictions.
    min_separation : int, optional
        Half-width in pixels of the non-maximum-suppression window: peaks
        within this Chebyshev distance of a higher peak are dropped.
    subpixel : bool, optional
        Whether to refine the integer peak positions.

    Returns
    -------
    centers : `~numpy.ndarray`
        Shape (N, 2), float64. The (y, x) peak positions in pixels, in raster
        order of their integer (representative) pixels; shape (0, 2) when
        there are none.

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.
    """
    image = as_image(center_of_mass, 'center_of_mass', ndim=(2,), dtype=None)
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    threshold = check_finite_float(threshold, 'threshold')
    half_window = check_positive_int(min_separation, 'min_separation')
    if not isinstance(subpixel, (bool, np.bool_)):
        msg = f'subpixel must be a bool, got {subpixel!r}'
        raise TypeError(msg)

    from ..utils._numba_serial import pick
    from . import _peak_kernels

    ys, xs = pick(_peak_kernels.local_maxima_positions, image.size)(
        image, threshold, half_window)
    return _peaks_from_positions(image, ys, xs, half_window, subpixel)


def _peaks_from_candidates(image, candidates, half_window, subpixel):
    """
    Group candidate pixels into plateaus, suppress close peaks and refine.
    Kept separate so the tests can feed it the reference candidate mask.
    """
    ys, xs = np.nonzero(candidates)
    return _peaks_from_positions(image, ys, xs, half_window, subpixel)


def _peaks_from_positions(image, ys, xs, half_window, subpixel):
    """
    `_peaks_from_candidates` from the candidates' (y, x) positions in
    raster order.
    """
    height, width = image.shape
    n_candidates = len(ys)
    if n_candidates == 0:
        return np.zeros((0, 2), dtype=np.float64)
    linear = ys.astype(np.int64) * width + xs

    # plateaus: connected components of the candidate mask (8-connected)
    rows, cols = [], []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny < height) & (nx >= 0) & (nx < width)
        target = ny[inside].astype(np.int64) * width + nx[inside]
        pos = np.minimum(np.searchsorted(linear, target), n_candidates - 1)
        hit = linear[pos] == target
        rows.append(np.nonzero(inside)[0][hit])
        cols.append(pos[hit])
    rows = np.concatenate(rows)
    if len(rows) == 0:
        component = np.arange(n_candidates)
        n_components = n_candidates
    else:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        graph = coo_matrix((np.ones(len(rows), dtype=np.int8),
                            (rows, np.concatenate(cols))),
                           shape=(n_candidates, n_candidates))
        n_components, component = connected_components(graph,
                                                        directed=False)
    size = np.bincount(component, minlength=n_components)
    mean_y = np.bincount(component, weights=ys, minlength=n_components) / size
    mean_x = np.bincount(component, weights=xs, minlength=n_components) / size
    # representative pixel: the member nearest the plateau's mean position
    # (ties: first in raster order, as members are in raster order)
    d2 = (ys - mean_y[component]) ** 2 + (xs - mean_x[component]) ** 2
    order = np.lexsort((np.arange(n_candidates), d2, component))
    first = np.ones(n_candidates, dtype=bool)
    first[1:] = component[order[1:]] != component[order[:-1]]
    representative = order[first]  # one candidate index per component
    rep_y = ys[representative]
    rep_x = xs[representative]
    value = image[rep_y, rep_x].astype(np.float64)
    plateau_size = size[component[representative]]
    center_y = mean_y[component[representative]]
    center_x = mean_x[component[representative]]

    # greedy non-maximum suppression: highest first, ties in raster order
    rep_linear = rep_y.astype(np.int64) * width + rep_x
    priority = np.lexsort((rep_linear, -value))
    keep = np.zeros(len(representative), dtype=bool)
    if len(representative) == 1:
        keep[:] = True
    else:
        taken = np.zeros((height, width), dtype=bool)
        for i in priority:
            y, x = rep_y[i], rep_x[i]
            if taken[y, x]:
                continue
            keep[i] = True
            taken[max(y - half_window, 0):y + half_window + 1,
                  max(x - half_window, 0):x + half_window + 1] = True
    keep = np.nonzero(keep)[0]
    keep = keep[np.argsort(rep_linear[keep], kind='stable')]

    centers = np.stack([center_y[keep], center_x[keep]], axis=-1)
    if subpixel:
        single = plateau_size[keep] == 1
        if np.any(single):
            sy = rep_y[keep][single]
            sx = rep_x[keep][single]
            centers[single, 0] = sy + _axis_offset(image, sy, sx, axis=0)
            centers[single, 1] = sx + _axis_offset(image, sy, sx, axis=1)
    return np.ascontiguousarray(centers, dtype=np.float64)


def _axis_offset(image, ys, xs, axis):
    """Sub-pixel offset of the peaks at (ys, xs) along one axis."""
    size = image.shape[axis]
    position = ys if axis == 0 else xs
    interior = (position > 0) & (position < size - 1)
    offset = np.zeros(len(ys), dtype=np.float64)
    if not np.any(interior):
        return offset
    iy, ix = ys[interior], xs[interior]
    if axis == 0:
        lower = image[iy - 1, ix]
        upper = image[iy + 1, ix]
    else:
        lower = image[iy, ix - 1]
        upper = image[iy, ix + 1]
    center = image[iy, ix]
    lower, center, upper = (np.asarray(a, dtype=np.float64)
                            for a in (lower, center, upper))
    positive = (lower > 0) & (center > 0) & (upper > 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        log_l = np.log(np.where(positive, lower, 1.0))
        log_c = np.log(np.where(positive, center, 1.0))
        log_u = np.log(np.where(positive, upper, 1.0))
        a_l = np.where(positive, log_l, lower)
        a_c = np.where(positive, log_c, center)
        a_u = np.where(positive, log_u, upper)
        curvature = a_l - 2.0 * a_c + a_u
        shift = np.where(curvature < 0, 0.5 * (a_l - a_u) / curvature, 0.0)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    offset[interior] = np.clip(shift, -0.5, 0.5)
    return offset
