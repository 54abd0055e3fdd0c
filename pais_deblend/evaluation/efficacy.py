"""
Encoding efficacy of the Partial Contribution Representation: how well an
encode / decode round trip with true centres preserves each source's total
flux and radial flux distribution (Hausen & Robertson 2022,
arXiv:2201.04714, section 3.1 and Table 2;
:ref:`evaluation-encoding-efficacy`).
"""

import numpy as np
from astropy.table import Table

from pais_deblend.evaluation._utils import as_source_cutouts, paste
from pais_deblend.evaluation.conservation import flux_conservation
from pais_deblend.evaluation.photometry import blendedness
from pais_deblend.segmentation.cutout import SourceCutout
from pais_deblend.utils._radial import flux_radius_sorted
from pais_deblend.utils._validation import (as_image, as_positions,
                                            check_finite_float,
                                            check_in)

__all__ = ['flux_radius', 'r90_ks_test', 'encoding_efficacy',
           'efficacy_summary', 'PAPER_TABLE2']

#: Paper values (Hausen & Robertson 2022, Table 2): total source flux MAE
#: (e/s, mean +- std) and two-sample KS p-value (mean +- std).
PAPER_TABLE2 = {'flux_mae': 1.97, 'flux_mae_std': 15.43,
                'ks_pvalue_mean': 0.93, 'ks_pvalue_std': 0.22,
                'flux_conservation': 1.52e-5}


def _as_center(center):
    array = np.asarray(center)
    if array.dtype.kind not in 'biuf' or array.shape != (2,):
        msg = f'center must be a (y, x) pair of real numbers, got {center!r}'
        raise (TypeError if array.dtype.kind not in 'biuf' else ValueError)(
            msg)
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        msg = f'center must be finite, got {center!r}'
        raise ValueError(msg)
    return array


def _radial_sort(shape, center):
    yy, xx = np.indices(shape, dtype=np.float64)
    radius = np.hypot(yy - center[0], xx - center[1]).ravel()
    order = np.argsort(radius, kind='stable')
    return radius[order], order


def _ks_within(radius, reference, decoded, r90):
    """
    KS statistic and p-value of two radially sorted pixel lists inside r90.
    """
    from scipy.stats import kstwo

    n_pixels = int(np.searchsorted(radius, r90, side='right'))
    radius, reference, decoded = (radius[:n_pixels], reference[:n_pixels],
                                  decoded[:n_pixels])
    # one profile point per distinct radius (pixels at equal radius are
    # added together before comparing)
    ends = np.append(np.flatnonzero(np.diff(radius) > 0), n_pixels - 1)
    reference_cumulative = np.cumsum(reference)
    decoded_cumulative = np.cumsum(decoded)
    if not decoded_cumulative[-1] > 0:
        statistic = 1.0
    else:
        gap = (reference_cumulative[ends] / reference_cumulative[-1]
               - decoded_cumulative[ends] / decoded_cumulative[-1])
        statistic = float(min(np.max(np.abs(gap)), 1.0))
    # scipy.stats.ks_2samp(method='asymp') convention with n = m = n_pixels
    n_effective = max(1, int(np.round(n_pixels * n_pixels
                                      / (2.0 * n_pixels))))
    pvalue = float(np.clip(kstwo.sf(statistic, n_effective), 0.0, 1.0))
    return statistic, pvalue, n_pixels


def flux_radius(image, center, *, fraction=0.9):
    """
    Radius from ``center`` that holds ``fraction`` of the image's flux.

    Pixels are taken in order of increasing distance of their centres from
    ``center``; the radius is the distance of the first pixel at which the
    cumulative flux reaches ``fraction`` of the total. With ``fraction =
    0.9`` this is the r90 of the encoding-efficacy KS test.

    Parameters
    ----------
    image : array_like
        2-D image of one source, shape (h, w), any flux unit.
    center : tuple of float
        The (y, x) centre in the image's pixel coordinates (may lie
        outside it).
    fraction : float, optional
        The enclosed-flux fraction, in (0, 1].

    Returns
    -------
    radius : float
        The radius in pixels; NaN if the total flux is not positive.
    """
    data = as_image(image, 'image')
    if not np.all(np.isfinite(data)):
        msg = 'image must be finite, got non-finite pixels'
        raise ValueError(msg)
    center = _as_center(center)
    fraction = check_finite_float(fraction, 'fraction', minimum=0.0,
                                  maximum=1.0)
    radius, order = _radial_sort(data.shape, center)
    return flux_radius_sorted(radius, data.ravel()[order], fraction)


def r90_ks_test(reference_image, decoded_image, center):
    """
    Two-sample KS test of the cumulative radial flux profiles of a source's
    reference and decoded images within r90.

    This is the spatial part of the paper's PCR encoding-efficacy test
    (Hausen & Robertson 2022, section 3.1, Table 2: KS p = 0.93 +- 0.22),
    made precise as follows:

    1. r90 is `flux_radius` of the *reference* image around ``center``
       with fraction 0.9 (the distance of the first pixel, in order of
       distance, at which the cumulative reference flux reaches 90 %).
    2. The n pixels whose centres lie within r90 (distance <= r90) are
       kept. For each image, the cumulative flux as a function of radius
       (pixels at the same radius added together) is divided by that
       image's own flux within r90, giving a normalised cumulative
       surface-brightness profile that reaches 1 at r90.
    3. The statistic D is the largest absolute gap between the two
       normalised profiles over the distinct radii (clipped to 1; D = 1 if
       the decoded flux within r90 is not positive).
    4. **p-value convention**: both samples are taken to have size n, the
       number of pixels within r90, and p is the two-sided asymptotic
       two-sample KS p-value exactly as `scipy.stats.ks_2samp` computes it
       with ``method='asymp'``: ``scipy.stats.kstwo.sf(D, round(n * m / (n +
       m)))`` with n = m, i.e. ``kstwo.sf(D, max(1, round(n / 2)))``.

    Identical images give D = 0 and p = 1.

    Parameters
    ----------
    reference_image : array_like
        2-D reference image of the source (e.g. M_i * I from the truth),
        shape (h, w); its flux must be positive.
    decoded_image : array_like
        2-D decoded image of the same source on the same pixel grid.
    center : tuple of float
        The source's true (y, x) centre in those pixel coordinates.

    Returns
    -------
    statistic : float
        The KS statistic D in [0, 1].
    pvalue : float
        The p-value in [0, 1].
    r90 : float
        The r90 radius, pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from pais_deblend.evaluation import r90_ks_test
    >>> yy, xx = np.indices((21, 21))
    >>> source = np.exp(-((yy - 10) ** 2 + (xx - 10) ** 2) / 8.0)
    >>> statistic, pvalue, r90 = r90_ks_test(source, 2 * source, (10, 10))
    >>> print(statistic, pvalue, round(r90, 2))
    0.0 1.0 4.24
    """
    reference = as_image(reference_image, 'reference_image')
    decoded = as_image(decoded_image, 'decoded_image')
    if decoded.shape != reference.shape:
        msg = (f'decoded_image has shape {decoded.shape} but reference_image '
               f'has shape {reference.shape}; they must match')
        raise ValueError(msg)
    for name, array in (('reference_image', reference),
                        ('decoded_image', decoded)):
        if not np.all(np.isfinite(array)):
            msg = f'{name} must be finite, got non-finite pixels'
            raise ValueError(msg)
    center = _as_center(center)
    radius, order = _radial_sort(reference.shape, center)
    reference_sorted = reference.ravel()[order]
    r90 = flux_radius_sorted(radius, reference_sorted, 0.9)
    if not np.isfinite(r90):
        msg = 'reference_image must have a positive total flux'
        raise ValueError(msg)
    statistic, pvalue, _ = _ks_within(radius, reference_sorted,
                                      decoded.ravel()[order], r90)
    return statistic, pvalue, r90


def _r90_window(r90, center, shape):
    """Frame window holding every pixel within r90 of center."""
    y0 = int(np.clip(np.ceil(center[0] - r90), 0, shape[0]))
    y1 = int(np.clip(np.floor(center[0] + r90) + 1, y0, shape[0]))
    x0 = int(np.clip(np.ceil(center[1] - r90), 0, shape[1]))
    x1 = int(np.clip(np.floor(center[1] + r90) + 1, x0, shape[1]))
    return (slice(y0, y1), slice(x0, x1))


def _efficacy_inputs(source_images, centers, data, shape):
    """The checked image (None without ``data``), cutouts, frame shape
    and centres of `encoding_efficacy`."""
    image = None
    if data is not None:
        image = as_image(data, 'data')
        if not np.all(np.isfinite(image)):
            msg = 'data must be finite, got non-finite pixels'
            raise ValueError(msg)
        if shape is not None and tuple(shape) != image.shape:
            msg = (f'data has shape {image.shape} but shape is '
                   f'{tuple(shape)}; they must match')
            raise ValueError(msg)
        shape = image.shape
    cutouts, shape = as_source_cutouts(source_images, 'source_images',
                                       shape=shape)
    centers = as_positions(centers, 'centers')
    if len(centers) != len(cutouts):
        msg = (f'centers has {len(centers)} rows but source_images has '
               f'{len(cutouts)} sources; they must match')
        raise ValueError(msg)
    return image, cutouts, shape, centers


def _reference_images(cutouts, image, shape):
    """
    The image I (``sum_i S_i`` when ``image`` is None) and the reference
    source images ``R_i = M_i * I``, M_i the positive fraction maps.
    """
    positive_total = np.zeros(shape)
    for cutout in cutouts:
        positive_total[cutout.slices] += np.maximum(cutout.data, 0.0)
    if image is None:
        image = np.zeros(shape)
        for cutout in cutouts:
            image[cutout.slices] += cutout.data
    references = []
    for cutout in cutouts:
        total = positive_total[cutout.slices]
        fraction = np.divide(np.maximum(cutout.data, 0.0), total,
                             out=np.zeros_like(total), where=total > 0)
        references.append(SourceCutout(fraction * image[cutout.slices],
                                       cutout.slices))
    return image, references


def _source_efficacy(reference, decoded_cutout, center, shape):
    """
    The columns of `encoding_efficacy` for one source, as a dict; the
    relative difference, r90 and KS columns only where they are defined.
    """
    true_flux = float(reference.data.sum())
    decoded_flux = float(np.asarray(decoded_cutout.data,
                                    dtype=np.float64).sum())
    values = {'true_flux': true_flux, 'decoded_flux': decoded_flux,
              'flux_difference': decoded_flux - true_flux,
              'abs_flux_difference': abs(decoded_flux - true_flux)}
    if not true_flux > 0 or reference.data.size == 0:
        return values
    values['relative_flux_difference'] = ((decoded_flux - true_flux)
                                          / true_flux)
    # r90 from the reference cutout (zero outside it), then the KS test
    # on a window holding every frame pixel within r90
    origin = np.array([reference.slices[0].start,
                       reference.slices[1].start], dtype=np.float64)
    radius, order = _radial_sort(reference.data.shape, center - origin)
    r90 = flux_radius_sorted(radius, reference.data.ravel()[order], 0.9)
    if not np.isfinite(r90):
        return values
    window = _r90_window(r90, center, shape)
    window_origin = np.array([window[0].start, window[1].start],
                             dtype=np.float64)
    reference_window = paste(reference, window)
    decoded_window = paste(
        SourceCutout(np.asarray(decoded_cutout.data, dtype=np.float64),
                     decoded_cutout.slices), window)
    radius, order = _radial_sort(reference_window.shape,
                                 center - window_origin)
    statistic, pvalue, n_pixels = _ks_within(
        radius, reference_window.ravel()[order],
        decoded_window.ravel()[order], r90)
    values.update(r90=r90, ks_statistic=statistic, ks_pvalue=pvalue,
                  n_pixels_r90=n_pixels)
    return values


def encoding_efficacy(source_images, centers, *, data=None, shape=None,
                      n_contributors=3, sigma=8.0,
                      contributor_choice='most_flux', **encode_kwargs):
    """
    Encoding efficacy of the PCR on one image, one row per source.

    Following the paper (Hausen & Robertson 2022, section 3.1, Table 2;
    :ref:`evaluation-encoding-efficacy`):

    1. Reference fraction maps ``M_i = max(S_i, 0) / sum_j max(S_j, 0)``
       (0 where the sum is 0) and reference source images ``R_i = M_i *
       I`` are built from the given images S_i and the image I (``data``;
       by default ``I = sum_i S_i``, and then ``R_i = S_i`` for
       non-negative S_i). Passing fraction maps M_i together with
       ``data`` works the same way.
    2. The S_i are encoded with `pais_deblend.pcr.encode_pcr` at the true
       centres (``n_contributors``, ``sigma``, ``contributor_choice`` and
       any ``encode_kwargs`` are passed on) and decoded with
       `pais_deblend.pcr.decode_pcr` (``centers=`` the true centres, so no
       peak finding), giving decoded images ``D_i = M_i' * I``.
    3. Per source: total flux of R_i and D_i in the frame, their signed,
       absolute and relative difference, r90 of R_i and the r90 KS test of
       R_i against D_i (see `r90_ks_test` for the exact definition and the
       p-value convention: sample sizes n = m = the number of frame pixels
       within r90), and the blendedness of R_i (see
       `~pais_deblend.evaluation.blendedness`).

    A source with no positive reference flux in the frame (e.g. a centre
    far outside it) gets NaN in the relative difference, r90 and KS
    columns and is left out of the KS and relative-error summaries.

    Parameters
    ----------
    source_images : array_like or sequence of `SourceCutout`
        The reference per-source images S_i (or fraction maps M_i): an
        (N, h, w) array or N 2-D cutouts (then ``shape`` or ``data`` gives
        the frame shape).
    centers : array_like
        (N, 2) true (y, x) centres, pixels; may lie outside the frame.
    data : array_like, optional
        The (h, w) image I; default ``sum_i S_i``. Non-finite pixels are
        not allowed.
    shape : tuple of int, optional
        The (h, w) frame shape, for cutout input without ``data``.
    n_contributors : int, optional
        Contributors per pixel, n (paper: 3).
    sigma : float, optional
        Width of the centre-of-mass Gaussians, pixels (paper: 8). It does
        not affect the round trip with true centres.
    contributor_choice : {'most_flux', 'nearest'}, optional
        How `~pais_deblend.pcr.encode_pcr` picks each pixel's contributors.
    **encode_kwargs
        Further keyword arguments for `~pais_deblend.pcr.encode_pcr`.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``label`` (i + 1), ``y_center``, ``x_center``,
        ``true_flux``, ``decoded_flux``, ``flux_difference`` (decoded -
        true), ``abs_flux_difference``, ``relative_flux_difference``
        ((decoded - true) / true), ``r90`` (pixels), ``ks_statistic``,
        ``ks_pvalue``, ``n_pixels_r90`` and ``blendedness``. ``meta``
        holds `efficacy_summary` of the table plus ``flux_conservation``
        (`~pais_deblend.evaluation.flux_conservation` of the decoded
        segmentation), ``n_contributors``, ``sigma`` and
        ``contributor_choice``.
    """
    from pais_deblend.pcr import decode_pcr, encode_pcr

    check_in(contributor_choice, ('nearest', 'most_flux'),
             'contributor_choice')
    image, cutouts, shape, centers = _efficacy_inputs(source_images, centers,
                                                      data, shape)
    image, references = _reference_images(cutouts, image, shape)

    n_sources = len(cutouts)
    pcr = encode_pcr(cutouts, centers, n_contributors=n_contributors,
                     sigma=sigma, contributor_choice=contributor_choice,
                     shape=shape, **encode_kwargs)
    segmentation = decode_pcr(pcr, image, centers=centers)
    decoded = segmentation.source_images(image)

    columns = {name: np.full(n_sources, np.nan) for name in (
        'true_flux', 'decoded_flux', 'flux_difference',
        'abs_flux_difference', 'relative_flux_difference', 'r90',
        'ks_statistic', 'ks_pvalue')}
    n_pixels_r90 = np.zeros(n_sources, dtype=np.int64)
    empty = SourceCutout(np.zeros((0, 0)), (slice(0, 0), slice(0, 0)))
    for i, reference in enumerate(references):
        values = _source_efficacy(reference, decoded.get(i + 1, empty),
                                  centers[i], shape)
        n_pixels_r90[i] = values.pop('n_pixels_r90', 0)
        for name, value in values.items():
            columns[name][i] = value

    table = Table()
    table['label'] = np.arange(1, n_sources + 1, dtype=np.int64)
    table['y_center'] = centers[:, 0]
    table['x_center'] = centers[:, 1]
    for name, values in columns.items():
        table[name] = values
    table['n_pixels_r90'] = n_pixels_r90
    table['blendedness'] = (blendedness(references, shape=shape)
                            if n_sources else np.zeros(0))
    table.meta.update(efficacy_summary(table))
    table.meta.update(
        flux_conservation=flux_conservation(segmentation, image),
        n_contributors=n_contributors, sigma=sigma,
        contributor_choice=contributor_choice)
    return table


def efficacy_summary(table):
    """
    Summary statistics of an `encoding_efficacy` table (or of several
    stacked with `astropy.table.vstack`).

    Parameters
    ----------
    table : `~astropy.table.Table`
        With the columns of `encoding_efficacy`.

    Returns
    -------
    summary : dict
        ``n_sources``; ``n_evaluated`` (sources with positive reference
        flux); ``flux_mae`` and ``flux_mae_std`` (mean and standard
        deviation of the absolute decoded-minus-true total flux, the paper's "Total Source
        Flux (MAE)", over all sources); ``median_abs_relative_error``,
        ``mean_abs_relative_error`` and ``median_relative_error`` (bias);
        ``ks_statistic_mean``; ``ks_pvalue_mean`` and ``ks_pvalue_std``
        (the paper's "Two-Sample KS Test p-value"). NaN where no source
        qualifies.
    """
    def stat(function, values):
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(function(values)) if values.size else float('nan')

    relative = np.asarray(table['relative_flux_difference'], dtype=float)
    return {
        'n_sources': len(table),
        'n_evaluated': int(np.isfinite(relative).sum()),
        'flux_mae': stat(np.mean, table['abs_flux_difference']),
        'flux_mae_std': stat(np.std, table['abs_flux_difference']),
        'median_abs_relative_error': stat(np.median, np.abs(relative)),
        'mean_abs_relative_error': stat(np.mean, np.abs(relative)),
        'median_relative_error': stat(np.median, relative),
        'ks_statistic_mean': stat(np.mean, table['ks_statistic']),
        'ks_pvalue_mean': stat(np.mean, table['ks_pvalue']),
        'ks_pvalue_std': stat(np.std, table['ks_pvalue']),
    }
