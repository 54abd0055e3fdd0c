"""
Encoding per-source images into a Partial Contribution Representation.
"""

import numbers
import os

import numpy as np

from ..utils._validation import (as_image, check_finite_float, check_in,
                                 check_positive_int)
from .core import PCR, as_centers

__all__ = ['encode_pcr', 'encode_band_maps', 'center_of_mass_map']

CONTRIBUTOR_CHOICES = ('nearest', 'most_flux')


def encode_pcr(source_images, centers, *, n_contributors=3, sigma=8.0,
               contributor_choice='most_flux', shape=None, truncate=5.0):
    """
    Encode per-source images (or fraction maps) as a PCR.

    Implements the encoding of Hausen & Robertson (2022,
    arXiv:2201.04714, section 2) with the corrections listed on the PCR
    page: sub-pixel centres are used as given (never floored or merged), and
    sources whose centre lies outside the frame but whose light enters it
    are encoded like any other.

    - C^c: the maximum over sources of a unit-peak 2-D Gaussian of width
      ``sigma`` at the source centre, evaluated at pixel centres and only
      within ``truncate * sigma`` of the centre along each axis (the
      truncated tail is below exp(-truncate**2 / 2), 3.7e-6 for 5).
    - Contributors of pixel p: with ``contributor_choice='nearest'`` the
      ``n_contributors`` nearest centres (the paper's choice); with
      ``'most_flux'`` the ``n_contributors`` sources with the most
      positive flux at p (ties: lower index), completed by the nearest
      remaining sources when fewer have flux there. In both cases the
      slots are ordered nearest first (ties: lower index).
    - C^v: (dy, dx) = centre - pixel for every slot.
    - C^m: max(S_j(p), 0) / sum over the slots of max(S_k(p), 0), computed
      in float64; equal shares when that sum is 0.

    With fewer sources N than ``n_contributors`` the extra slots point at
    the pixel's nearest source with a fraction of 0. With no source at all
    C^c, C^v and C^m are all zero: nothing is attributed, and
    `decode_pcr` returns an empty segmentation.

    Parameters
    ----------
    source_images : ndarray or sequence of `~pais_deblend.segmentation.SourceCutout`
        An (N, h, w) array, or N cutouts. The per-source images S_i (flux
        units) or fraction maps M_i (any non-negative weights work: only the
        ratios between sources at a pixel matter). Negative, NaN and
        infinite values count as 0 (values above 1e300 count as 1e300). A
        sequence of N cutouts needs ``shape`` and costs memory proportional
        to the total cutout area; it is the form to use for large images.
    centers : array_like
        Shape (N, 2). The (y, x) source centres in pixels, in the order of
        ``source_images`` (source i gets label i + 1 after decoding). They
        may lie outside the frame.
    n_contributors : int, optional
        The number ``n`` of contributor slots per pixel (paper: 3).
    sigma : float, optional
        The width in pixels of the C^c Gaussians (paper: 8).
    contributor_choice : {'most_flux', 'nearest'}, optional
        How each pixel's contributors are chosen (see above). The default,
        ``'most_flux'``, is the more faithful in the encoding-efficacy
        benchmark (median relative flux error 5e-7 against 1.2e-3 with true
        centres on 2,068 Sersic-like sources; see the benchmarks page);
        ``'nearest'`` is the paper's choice.
    shape : tuple of 2 int, optional
        The (h, w) frame shape; required for cutouts, checked against the
        array otherwise.
    truncate : float, optional
        Half-size, in units of ``sigma``, of the square in which each
        Gaussian of C^c is drawn.

    Returns
    -------
    pcr : `~pais_deblend.pcr.PCR`
        With ``center_of_mass`` (h, w), ``contribution_vectors``
        (h, w, n, 2), ``contribution_maps`` (h, w, n) fractions, all
        float32, and ``centers`` set to the input centres.

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.

    Notes
    -----
    Time and memory are O(h w n + total cutout area): contributors are
    found with a tiled nearest-centre search (see `pais_deblend.pcr`),
    and C^c is drawn locally around each centre.
    """
    n = check_positive_int(n_contributors, 'n_contributors')
    sigma = _check_sigma(sigma)
    truncate = check_finite_float(truncate, 'truncate', minimum=0)
    check_in(contributor_choice, CONTRIBUTOR_CHOICES, 'contributor_choice')
    centers = as_centers(centers)
    shape = _check_shape(shape)
    cutouts, shape = _as_cutouts(source_images, shape)
    if len(cutouts) != len(centers):
        msg = (f'source_images holds {len(cutouts)} sources but centers '
               f'has {len(centers)} rows; they must match')
        raise ValueError(msg)

    height, width = shape
    _check_memory(height, width, n)
    n_sources = len(centers)
    if n_sources == 0:
        return PCR(np.zeros(shape, dtype=np.float32),
                   np.zeros((height, width, n, 2), dtype=np.float32),
                   np.zeros((height, width, n), dtype=np.float32),
                   centers=centers)

    from . import _encode_kernels, _index

    center_of_mass = _draw_center_of_mass(centers, shape, sigma, truncate)
    index = _index.TileIndex(centers, shape, n)
    nearest = _index.nearest_centers(height, width, n, *index.arguments)
    del index

    contributors, flux = _contributor_flux(cutouts, nearest,
                                           contributor_choice)
    del nearest
    vectors, maps = _encode_kernels.finalize_encoding(
        contributors, flux, centers, contributor_choice != 'nearest')
    return PCR(center_of_mass, vectors, maps, centers=centers)


def _check_sigma(sigma):
    sigma = check_finite_float(sigma, 'sigma', minimum=0)
    if sigma < _MIN_SIGMA:
        # 1 / (2 sigma**2) overflows for sigma < ~1e-154
        msg = f'sigma must be at least {_MIN_SIGMA:g} pixels, got {sigma:g}'
        raise ValueError(msg)
    return sigma


def _contributor_flux(cutouts, nearest, contributor_choice):
    """
    The contributors (h, w, n) int32 of every pixel and their flux (h, w,
    n) float64: the ``nearest`` centres with their flux, or, for
    ``'most_flux'``, the sources of most flux merged with the nearest
    (the contributors are then to be sorted by distance).
    """
    from . import _encode_kernels

    flux = np.zeros(nearest.shape, dtype=np.float64)
    if contributor_choice == 'nearest':
        for source, (data, y0, x0) in enumerate(cutouts):
            if data is not None:
                _encode_kernels.gather_flux(_as_float64(data), y0, x0,
                                            source, nearest, flux)
        return nearest, flux
    contributors = np.full(nearest.shape, -1, dtype=np.int32)
    for source, (data, y0, x0) in enumerate(cutouts):
        if data is not None:
            _encode_kernels.insert_top_flux(_as_float64(data), y0, x0,
                                            source, contributors, flux)
    _encode_kernels.merge_most_flux(contributors, flux, nearest)
    return contributors, flux


def _draw_center_of_mass(centers, shape, sigma, truncate):
    from . import _encode_kernels

    height, width = shape
    if len(centers) == 0:
        return np.zeros(shape, dtype=np.float32)
    order = np.argsort(centers[:, 0], kind='stable')
    # beyond the frame and every centre a larger radius draws nothing more;
    # the bound keeps truncate * sigma from overflowing the kernel's ints
    radius = min(truncate * sigma,
                 height + width + 2.0 * float(np.abs(centers).max()) + 2.0)
    return _encode_kernels.draw_center_of_mass(
        height, width, np.ascontiguousarray(centers[order]), sigma, radius)


def center_of_mass_map(centers, shape, *, sigma=8.0, truncate=5.0):
    """
    The C^c map of `encode_pcr` for the given centres alone: the maximum
    over sources of unit-peak Gaussians of width ``sigma``.

    Used to give centre-of-mass peaks to a subset of the sources (e.g.
    only those bright enough to be detected) while every source keeps its
    contribution vectors and maps.

    Parameters
    ----------
    centers : array_like
        Shape (N, 2), (y, x) pixels; may lie outside the frame.
    shape : tuple of 2 int
        The (h, w) frame shape.
    sigma, truncate : float, optional
        As for `encode_pcr`.

    Returns
    -------
    center_of_mass : `~numpy.ndarray`, shape (h, w), float32
    """
    sigma = check_finite_float(sigma, 'sigma', minimum=0)
    if sigma < _MIN_SIGMA:
        msg = f'sigma must be at least {_MIN_SIGMA:g} pixels, got {sigma:g}'
        raise ValueError(msg)
    truncate = check_finite_float(truncate, 'truncate', minimum=0)
    shape = _check_shape(shape)
    if shape is None:
        msg = 'shape must be given as (h, w)'
        raise ValueError(msg)
    return _draw_center_of_mass(as_centers(centers), shape, sigma, truncate)


#: The smallest C^c Gaussian width accepted, pixels.
_MIN_SIGMA = 1e-6

# bytes per pixel and slot of the encoder's arrays: vectors (2 float32),
# maps (float32), flux (float64), contributors (int32), and the float64
# distances of the nearest-centre search
_BYTES_PER_SLOT = 8 + 4 + 8 + 4 + 8


def _check_memory(height, width, n):
    """
    Refuse a frame whose PCR cannot fit in this machine's memory, before
    allocating it (a huge declared ``shape`` would otherwise fail late, or
    be killed by the operating system).
    """
    needed = height * width * (n * _BYTES_PER_SLOT + 4)
    try:
        available = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (AttributeError, ValueError, OSError):  # not POSIX
        return
    if needed > available:
        msg = (f'shape ({height}, {width}) with n_contributors={n} needs '
               f'about {needed / 2**30:.3g} GiB, more than this machine\'s '
               f'{available / 2**30:.3g} GiB of memory')
        raise ValueError(msg)


# values above this are clipped so that the float64 sum of a pixel's n
# fluxes never overflows (inf / inf gave NaN fractions)
_MAX_FLUX = 1e300


def _as_float64(data):
    """The cutout as float64; NaN and infinite values 0 (never a NaN
    fraction), values clipped to `_MAX_FLUX`."""
    array = np.ascontiguousarray(data, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all() or (array.size and array.max() > _MAX_FLUX):
        array = np.minimum(np.where(finite, array, 0.0), _MAX_FLUX)
    return array


def _check_shape(shape):
    if shape is None:
        return None
    if (not isinstance(shape, (tuple, list, np.ndarray)) or len(shape) != 2
            or not all(isinstance(s, numbers.Integral)
                       and not isinstance(s, bool) for s in shape)):
        msg = f'shape must be a tuple of two integers (h, w), got {shape!r}'
        raise TypeError(msg)
    shape = (int(shape[0]), int(shape[1]))
    if shape[0] < 1 or shape[1] < 1:
        msg = f'shape must be positive (an empty image is not allowed), got {shape}'
        raise ValueError(msg)
    return shape


def _is_cutout(item):
    return hasattr(item, 'data') and hasattr(item, 'slices')


def _as_cutouts(source_images, shape):
    """
    Normalise ``source_images`` to a list of (data or None, y0, x0) and
    the frame shape. ``data`` is None for a cutout that lies entirely
    outside the frame or has zero size.
    """
    if isinstance(source_images, (list, tuple)) and (
            len(source_images) == 0
            or all(_is_cutout(item) for item in source_images)):
        if shape is None:
            msg = ('shape must be given as (h, w) when source_images is a '
                   'sequence of SourceCutout')
            raise ValueError(msg)
        return [_check_cutout(item, i, shape)
                for i, item in enumerate(source_images)], shape
    if isinstance(source_images, (list, tuple)) and any(
            _is_cutout(item) for item in source_images):
        msg = ('source_images must be an (N, h, w) array or a sequence of '
               'SourceCutout, got a sequence mixing both')
        raise TypeError(msg)
    images = as_image(source_images, 'source_images', ndim=(3,),
                      allow_empty=True, dtype=None)
    frame = images.shape[1:]
    if frame[0] == 0 or frame[1] == 0:
        msg = (f'source_images must not be empty images, got shape '
               f'{images.shape}')
        raise ValueError(msg)
    if shape is not None and tuple(shape) != frame:
        msg = (f'shape is {tuple(shape)} but source_images has frames of '
               f'shape {frame}; they must match')
        raise ValueError(msg)
    return [(images[i], 0, 0) for i in range(images.shape[0])], frame


def _check_cutout(item, i, shape):
    name = f'source_images[{i}]'
    data = as_image(item.data, f'{name}.data', ndim=(2, 3), allow_empty=True,
                    dtype=None)
    if data.ndim == 3:
        msg = (f'{name}.data must be 2-dimensional: multi-band cutouts are '
               f'not supported by encode_pcr yet, got shape {data.shape}')
        raise ValueError(msg)
    slices = item.slices
    if (not isinstance(slices, tuple) or len(slices) != 2
            or not all(isinstance(s, slice) for s in slices)):
        msg = f'{name}.slices must be a tuple of two slices, got {slices!r}'
        raise TypeError(msg)
    bounds = []
    for axis, (s, size) in enumerate(zip(slices, shape)):
        if s.step not in (None, 1) or s.start is None or s.stop is None:
            msg = (f'{name}.slices[{axis}] must have explicit start and stop '
                   f'and step 1, got {s!r}')
            raise ValueError(msg)
        if not 0 <= s.start <= s.stop <= size:
            msg = (f'{name}.slices[{axis}] = {s!r} is not clipped to the '
                   f'frame of size {size}')
            raise ValueError(msg)
        bounds.append((s.start, s.stop))
    bbox = tuple(stop - start for start, stop in bounds)
    if bbox != data.shape:
        msg = (f'{name}.data has shape {data.shape} but its slices span '
               f'{bbox}; they must match')
        raise ValueError(msg)
    if data.size == 0:
        return None, 0, 0
    return data, bounds[0][0], bounds[1][0]


def _slot_sources(pcr, centers):
    """
    The index of the source each slot of ``pcr`` points at: the centre
    nearest to p + v_k, (h, w, n) int64 (the vectors of `encode_pcr` hit
    their centre to float32 rounding).
    """
    height, width = pcr.shape
    vectors = np.asarray(pcr.contribution_vectors, dtype=np.float64)
    rows, cols = np.mgrid[0:height, 0:width]
    target_y = rows[:, :, np.newaxis] + vectors[..., 0]
    target_x = cols[:, :, np.newaxis] + vectors[..., 1]
    best = np.full(target_y.shape, np.inf)
    sources = np.zeros(target_y.shape, dtype=np.int64)
    # one centre at a time keeps memory at O(h w n)
    for index, (y, x) in enumerate(centers):
        distance = (target_y - y) ** 2 + (target_x - x) ** 2
        closer = distance < best
        best[closer] = distance[closer]
        sources[closer] = index
    return sources


def _band_cutouts(source_images, shape):
    """(data (hc, wc, b) float64, slices) per source, and the band count."""
    if isinstance(source_images, np.ndarray) or not all(
            _is_cutout(item) for item in source_images):
        images = as_image(source_images, 'source_images', ndim=(4,),
                          dtype=None)
        if shape is not None and tuple(shape) != images.shape[1:3]:
            msg = (f'shape is {tuple(shape)} but source_images has frames '
                   f'of shape {images.shape[1:3]}; they must match')
            raise ValueError(msg)
        full = (slice(0, images.shape[1]), slice(0, images.shape[2]))
        return ([(images[i], full) for i in range(images.shape[0])],
                images.shape[3])
    cutouts = []
    n_bands = None
    for i, item in enumerate(source_images):
        data = as_image(item.data, f'source_images[{i}].data', ndim=(3,),
                        allow_empty=True, dtype=None)
        if n_bands is not None and data.shape[2] != n_bands:
            msg = (f'source_images[{i}].data has {data.shape[2]} bands but '
                   f'source_images[0].data has {n_bands}')
            raise ValueError(msg)
        n_bands = data.shape[2]
        cutouts.append((data, tuple(item.slices)))
    return cutouts, n_bands


def encode_band_maps(pcr, source_images, centers, *, shape=None):
    """
    Per-band contribution maps for the slots of a PCR.

    The colours of blended sources are only recovered if each band gets
    its own fractions: a red galaxy and a blue one overlapping share the
    z-band flux of a pixel differently from its g-band flux. This gives,
    for the contributors that `encode_pcr` chose from the band-summed
    images, the fraction of each band's flux:

        C^m_b(p, k) = max(S_{j_k, b}(p), 0) / sum_l max(S_{j_l, b}(p), 0)

    where j_k is the source that slot k points at (the centre nearest to
    p + v_k). A slot that repeats an earlier slot's source gets 0. Where
    a band has no positive flux in any slot, the band-summed fractions of
    ``pcr`` are used.

    Parameters
    ----------
    pcr : `~pais_deblend.pcr.PCR`
        The encoding of the band-summed source images (`encode_pcr`),
        shape (h, w).
    source_images : ndarray or sequence of `~pais_deblend.segmentation.SourceCutout`
        The per-source, per-band images: an (N, h, w, b) array, or N
        cutouts whose ``data`` has shape (hc, wc, b) and whose ``slices``
        locate them in the (h, w) frame.
    centers : array_like
        Shape (N, 2). The (y, x) source centres, as given to `encode_pcr`.
    shape : tuple of 2 int, optional
        The (h, w) frame shape, checked against ``pcr`` when given.

    Returns
    -------
    band_maps : `~numpy.ndarray`, shape (h, w, b, n), float32
        Fractions summing to 1 over the ``n`` slots of every band at
        every pixel where ``pcr``'s maps do.

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.
    """
    if not isinstance(pcr, PCR):
        msg = f'pcr must be a PCR instance, got {type(pcr).__name__}'
        raise TypeError(msg)
    if pcr.maps_are_logits:
        msg = 'pcr must hold fractions (from encode_pcr), not logits'
        raise ValueError(msg)
    shape = _check_shape(shape)
    if shape is not None and tuple(shape) != pcr.shape:
        msg = f'shape is {tuple(shape)} but pcr has shape {pcr.shape}'
        raise ValueError(msg)
    centers = as_centers(centers)
    cutouts, n_bands = _band_cutouts(source_images, pcr.shape)
    if len(cutouts) != len(centers):
        msg = (f'source_images holds {len(cutouts)} sources but centers has '
               f'{len(centers)} rows; they must match')
        raise ValueError(msg)
    height, width = pcr.shape
    n = pcr.n_contributors
    summed = np.asarray(pcr.contribution_maps, dtype=np.float32)
    if n_bands is None:
        return np.zeros((height, width, 0, n), dtype=np.float32)
    if len(centers) == 0:
        return np.repeat(summed[:, :, np.newaxis, :], n_bands, axis=2)
    sources = _slot_sources(pcr, centers)
    repeated = np.zeros(sources.shape, dtype=bool)
    for k in range(1, n):
        repeated[..., k] = (sources[..., :k] == sources[..., k:k + 1]).any(-1)
    flux = np.zeros((height, width, n_bands, n), dtype=np.float64)
    for index, (data, slices) in enumerate(cutouts):
        if data.size == 0:
            continue
        positive = np.maximum(_as_float64(data), 0.0)
        region = sources[slices] == index
        region &= ~repeated[slices]
        # (hc, wc, b, n): the source's band fluxes in the slots that hold it
        flux[slices] += positive[:, :, :, np.newaxis] * region[:, :, np.newaxis, :]
    total = flux.sum(axis=3, keepdims=True)
    fallback = np.broadcast_to(summed[:, :, np.newaxis, :], flux.shape)
    with np.errstate(invalid='ignore', divide='ignore'):
        maps = np.where(total > 0, flux / total, fallback)
    return maps.astype(np.float32)
