"""
Per-source photometric quality metrics: relative flux error,
reconstruction error and blendedness (:ref:`evaluation-photometry`).
"""

import numpy as np
from astropy.table import Table

from pais_deblend.evaluation._utils import (as_source_cutouts, paste,
                                            union_window)
from pais_deblend.segmentation.cutout import SourceCutout
from pais_deblend.utils._validation import check_finite_float

__all__ = ['relative_flux_error', 'reconstruction_error', 'blendedness',
           'flux_error_summary', 'median_error_ratio']


def _real_array(values, name):
    """``values`` as a float64 array; TypeError unless they are real."""
    array = np.asarray(values)
    if array.dtype.kind not in 'biuf':
        msg = f'{name} must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    return np.asarray(array, dtype=np.float64)


def _as_finite_vector(values, name):
    array = _real_array(values, name)
    if array.ndim > 1:
        msg = f'{name} must be a scalar or 1-D, got shape {array.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f'{name} must be finite, got non-finite values'
        raise ValueError(msg)
    return array


def relative_flux_error(recovered_flux, true_flux):
    """
    Relative flux error ``(F_rec - F_true) / F_true`` per source.

    Parameters
    ----------
    recovered_flux : float or array_like
        Recovered (deblended) fluxes, shape () or (N,), any flux unit.
    true_flux : float or array_like
        True fluxes in the same unit and shape; must be nonzero.

    Returns
    -------
    error : float or `~numpy.ndarray`
        The signed relative errors (dimensionless), same shape as the
        inputs (a float for scalar inputs).
    """
    recovered = _as_finite_vector(recovered_flux, 'recovered_flux')
    true = _as_finite_vector(true_flux, 'true_flux')
    if recovered.shape != true.shape:
        msg = (f'recovered_flux has shape {recovered.shape} but true_flux '
               f'has shape {true.shape}; they must match')
        raise ValueError(msg)
    if np.any(true == 0):
        msg = 'true_flux must be nonzero, got a zero flux'
        raise ValueError(msg)
    error = (recovered - true) / true
    return float(error) if error.ndim == 0 else error


def reconstruction_error(recovered_image, true_image):
    """
    Reconstruction error ``||S_rec - S_true||_1 / ||S_true||_1`` of one
    source.

    Parameters
    ----------
    recovered_image, true_image : array_like or `SourceCutout`
        The recovered and true images of the source: either two arrays of
        the same shape (2-D, or 3-D with a band axis), or two
        `~pais_deblend.segmentation.SourceCutout` in the same frame (the
        L1 norms are then taken over the union of their boxes, with zero
        outside each cutout).

    Returns
    -------
    error : float
        The L1 reconstruction error (dimensionless, >= 0; 0 is perfect).
    """
    cutouts = [isinstance(im, SourceCutout)
               for im in (recovered_image, true_image)]
    if any(cutouts) and not all(cutouts):
        msg = ('recovered_image and true_image must both be arrays or both '
               'be SourceCutout')
        raise TypeError(msg)
    if all(cutouts):
        (recovered_cut, true_cut), _ = as_source_cutouts(
            [recovered_image, true_image], 'recovered_image/true_image')
        window = union_window(recovered_cut, true_cut)
        if window is None:
            msg = 'true_image must have a positive L1 norm, got an empty image'
            raise ValueError(msg)
        recovered = paste(recovered_cut, window)
        true = paste(true_cut, window)
    else:
        recovered = np.asarray(recovered_image, dtype=np.float64)
        true = np.asarray(true_image, dtype=np.float64)
        if recovered.shape != true.shape:
            msg = (f'recovered_image has shape {recovered.shape} but '
                   f'true_image has shape {true.shape}; they must match')
            raise ValueError(msg)
        for name, array in (('recovered_image', recovered),
                            ('true_image', true)):
            if not np.all(np.isfinite(array)):
                msg = f'{name} must be finite, got non-finite pixels'
                raise ValueError(msg)
    norm = np.abs(true).sum()
    if norm == 0:
        msg = 'true_image must have a positive L1 norm, got an all-zero image'
        raise ValueError(msg)
    return float(np.abs(recovered - true).sum() / norm)


def blendedness(source_images, *, shape=None):
    """
    Blendedness of each source: one minus the overlap of the source with
    itself over its overlap with the whole scene.

    ``beta_i = 1 - (S_i . S_i) / (S_i . sum_j S_j)``.

    beta_i is 0 for an isolated source and grows towards 1 as the other
    sources dominate the pixels where source i has flux (Bosch et al. 2018
    definition; :ref:`evaluation-photometry`). The dot products run over all
    pixels of the frame.

    Parameters
    ----------
    source_images : array_like or sequence of `SourceCutout`
        The noiseless per-source images S_i: an (N, h, w) array or N
        cutouts in one frame.
    shape : tuple of int, optional
        The (h, w) frame shape (for cutouts; defaults to the largest slice
        stops).

    Returns
    -------
    beta : `~numpy.ndarray`
        (N,) float64 blendedness; NaN for a source with ``S_i . sum_j S_j
        == 0`` (e.g. an all-zero or fully off-frame source).
    """
    cutouts, shape = as_source_cutouts(source_images, 'source_images',
                                       shape=shape)
    total = np.zeros(shape)
    for cutout in cutouts:
        total[cutout.slices] += cutout.data
    beta = np.full(len(cutouts), np.nan)
    for i, cutout in enumerate(cutouts):
        self_dot = float(np.sum(cutout.data * cutout.data))
        cross = float(np.sum(cutout.data * total[cutout.slices]))
        if cross != 0:
            beta[i] = 1.0 - self_dot / cross
    return beta


def flux_error_summary(relative_errors, values, *,
                       bins=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
                       name='blendedness'):
    """
    Summarise relative flux errors in bins of a per-source quantity.

    The benchmarks report the per-source relative flux error as median
    absolute error and bias binned by blendedness (`blendedness`) and, for
    pairs, by separation (in PSF FWHM) and flux ratio
    (:ref:`evaluation-photometry`); this helper does any of these.

    Parameters
    ----------
    relative_errors : array_like
        (N,) signed relative flux errors (see `relative_flux_error`).
    values : array_like
        (N,) the binning quantity of the same sources (e.g. their
        blendedness). Sources where either value is non-finite are
        ignored.
    bins : array_like, optional
        Increasing bin edges; bins are half-open ``[low, high)`` except
        the last, which includes its upper edge. Sources outside all bins
        are left out of the rows but counted in ``meta``.
    name : str, optional
        Name of the quantity, used for the bin-edge columns.

    Returns
    -------
    summary : `~astropy.table.Table`
        One row per bin with columns ``<name>_min``, ``<name>_max``,
        ``n_sources``, ``median_abs_error`` (median of the absolute error), ``bias``
        (median signed error), ``mean_error`` and ``std_error``; NaN where
        a bin is empty. ``meta`` holds ``n_sources``,
        ``median_abs_error`` and ``bias`` over all (finite) sources.
    """
    errors = np.asarray(relative_errors, dtype=np.float64)
    quantity = np.asarray(values, dtype=np.float64)
    if errors.ndim != 1:
        msg = f'relative_errors must be 1-D, got shape {errors.shape}'
        raise ValueError(msg)
    if quantity.shape != errors.shape:
        msg = (f'values has shape {quantity.shape} but relative_errors has '
               f'shape {errors.shape}; they must match')
        raise ValueError(msg)
    if not isinstance(name, str) or not name:
        msg = f'name must be a non-empty string, got {name!r}'
        raise TypeError(msg)
    edges = np.asarray(bins, dtype=np.float64)
    if (edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges))
            or np.any(np.diff(edges) <= 0)):
        msg = f'bins must be at least two finite increasing edges, got {bins!r}'
        raise ValueError(msg)
    good = np.isfinite(errors) & np.isfinite(quantity)
    errors, quantity = errors[good], quantity[good]
    rows = []
    for k in range(edges.size - 1):
        low, high = edges[k], edges[k + 1]
        last = k == edges.size - 2
        inside = (quantity >= low) & ((quantity <= high) if last
                                      else (quantity < high))
        rows.append((low, high) + _stats(errors[inside]))
    table = Table(rows=rows, names=(f'{name}_min', f'{name}_max',
                                    'n_sources', 'median_abs_error', 'bias',
                                    'mean_error', 'std_error'),
                  dtype=(float, float, int, float, float, float, float))
    n_all, median_abs, bias, _, _ = _stats(errors)
    table.meta.update(n_sources=n_all, median_abs_error=median_abs, bias=bias)
    return table


def _stats(errors):
    if errors.size == 0:
        return (0, np.nan, np.nan, np.nan, np.nan)
    return (int(errors.size), float(np.median(np.abs(errors))),
            float(np.median(errors)), float(np.mean(errors)),
            float(np.std(errors)))


def median_error_ratio(errors, reference_errors, *, confidence=0.95,
                       n_resamples=2000, seed=0):
    """
    Ratio of median absolute errors of two methods on the same sources,
    with a paired bootstrap confidence interval.

    The benchmark targets compare ``median|e_ours| / median|e_peer|`` on a
    few tens of blended sources, where one sample's ratio can differ from
    another's by tens of per cent; the interval says how far. Sources are
    resampled with replacement, each keeping both methods' errors (a
    paired bootstrap, Efron & Tibshirani 1993, percentile interval).

    Parameters
    ----------
    errors, reference_errors : array_like
        (N,) signed or absolute errors of the method and of the reference
        method on the same N sources (e.g. colour errors in mag, relative
        flux errors). Pairs where either is non-finite are left out.
    confidence : float, optional
        The central probability of the interval, in (0, 1).
    n_resamples : int, optional
        Number of bootstrap resamples (>= 100).
    seed : int, optional
        Seed of the resampling (the interval is reproducible).

    Returns
    -------
    ratio, low, high : float
        The ratio on the sample and the interval's bounds; all NaN when no
        pair is left or the reference's median is 0. Bootstrap resamples
        whose reference median is 0 are left out of the interval (NaN
        bounds if that is all of them).

    Raises
    ------
    ValueError
        If the shapes differ or are not 1-D, or ``confidence`` or
        ``n_resamples`` are out of range.
    TypeError
        If the errors or ``confidence`` are not real numbers.

    Examples
    --------
    >>> from pais_deblend.evaluation import median_error_ratio
    >>> ratio, low, high = median_error_ratio([0.1, -0.2, 0.1],
    ...                                       [0.2, 0.4, -0.2])
    >>> ratio
    0.5
    """
    ours = _as_error_vector(errors, 'errors')
    theirs = _as_error_vector(reference_errors, 'reference_errors')
    if ours.shape != theirs.shape:
        msg = (f'errors has shape {ours.shape} but reference_errors has '
               f'shape {theirs.shape}; they must match')
        raise ValueError(msg)
    confidence = check_finite_float(confidence, 'confidence')
    if not 0.0 < confidence < 1.0:
        msg = f'confidence must be in (0, 1), got {confidence!r}'
        raise ValueError(msg)
    if (isinstance(n_resamples, bool)
            or not isinstance(n_resamples, (int, np.integer))
            or n_resamples < 100):
        msg = f'n_resamples must be an integer >= 100, got {n_resamples!r}'
        raise ValueError(msg)
    keep = np.isfinite(ours) & np.isfinite(theirs)
    ours, theirs = np.abs(ours[keep]), np.abs(theirs[keep])
    nan = (float('nan'),) * 3
    if ours.size == 0 or np.median(theirs) == 0:
        return nan
    ratio = float(np.median(ours) / np.median(theirs))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, ours.size, size=(n_resamples, ours.size))
    denominators = np.median(theirs[draws], axis=1)
    usable = denominators > 0
    if not usable.any():
        return ratio, float('nan'), float('nan')
    ratios = np.median(ours[draws[usable]], axis=1) / denominators[usable]
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return ratio, float(low), float(high)


def _as_error_vector(values, name):
    array = _real_array(values, name)
    if array.ndim != 1:
        msg = f'{name} must be 1-D, got shape {array.shape}'
        raise ValueError(msg)
    return array
