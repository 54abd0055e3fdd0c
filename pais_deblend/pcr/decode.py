"""
Decoding a Partial Contribution Representation into a partial
segmentation image.
"""

import math
from typing import NamedTuple

import numpy as np

from ..utils._validation import as_image, check_same_shape
from .core import PCR, as_centers
from .peaks import find_centers

__all__ = ['decode_pcr', 'decode_arrays', 'decode_at_pixels',
           'decode_band_weights', 'DecodedPCR', 'partial_segmentation']


def decode_pcr(pcr, data, *, centers=None, footprint=None, mask=None,
               threshold=0.5, min_separation=2):
    """
    Decode a PCR into a `~pais_deblend.segmentation.PartialSegmentationImage`.

    The non-learned PCR decoder of Hausen & Robertson (2022,
    arXiv:2201.04714, Fig. 1), as described on the PCR page:

    1. Centres: ``centers`` if given, else the peaks of
       ``pcr.center_of_mass`` found by `find_centers` (with
       ``threshold`` and ``min_separation``). Source i (0-based, in the
       order of the centres) gets label i + 1.
    2. When ``pcr.maps_are_logits`` the contribution maps go through a
       softmax over the ``n`` slots; otherwise they are used as
       fractions (negative or non-finite values count as 0).
    3. For each pixel p and slot k the target p + v_k is assigned to the
       nearest centre (exactly, in float64, ties to the lower label; the
       targets and the centres may lie outside the frame).
    4. Slots reaching the same centre add their weights (so at most ``n``
       contributors remain); the weights are renormalised to sum to 1 in
       float64 and stored as float32, the largest set to one minus the
       others so that their sum is 1 to float32 rounding. Contributors
       keep the order in which they first appear among the slots (nearest
       first for a PCR from `encode_pcr`); empty slots come last.

    The nearest-centre look-up uses per-tile candidate lists (see
    `pais_deblend.pcr._index`), so decoding is O(h w n) and runs in a
    parallel numba kernel.

    Parameters
    ----------
    pcr : `~pais_deblend.pcr.PCR`
        The representation to decode (from `encode_pcr` or a network).
    data : array_like
        Shape (h, w) or (h, w, b). The image. Only used to find pixels that
        cannot be attributed: NaN pixels (in any band; and masked pixels of a
        masked array) get no contributor. Multiply the result's weights by
        ``data`` (e.g. with ``source_images(data)``) to get the deblended
        sources.
    centers : array_like, optional
        Shape (N, 2). Known (y, x) centres; skips peak finding (use the true
        centres to measure the encoding efficacy).
    footprint : array_like or `~photutils.segmentation.SegmentationImage`, optional
        Shape (h, w). Pixels outside the footprint (False / label 0) are not
        attributed.
    mask : array_like of bool, optional
        Shape (h, w). Masked (True) pixels are not attributed.
    threshold, min_separation : optional
        Peak-finding options passed to `find_centers` when ``centers`` is
        None.

    Returns
    -------
    segmentation : `~pais_deblend.segmentation.PartialSegmentationImage`
        With ``n = pcr.n_contributors`` slots and ``centers`` =
        {label: (y, x)} for every centre. Pixels that are invalid, outside
        the footprint or masked have all contributors 0.

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.
    """
    return partial_segmentation(decode_arrays(
        pcr, data, centers=centers, footprint=footprint, mask=mask,
        threshold=threshold, min_separation=min_separation))


class DecodedPCR(NamedTuple):
    """
    The arrays of a decoded PCR (`decode_arrays`).

    Attributes
    ----------
    contributors : `~numpy.ndarray`, shape (h, w, n), int32
        Label i + 1 is ``centers[i]``; 0 in unused slots.
    weights : `~numpy.ndarray`, shape (h, w, n), float32
        Summing to 1 on attributed pixels.
    dominant : `~numpy.ndarray`, shape (h, w), int32
        The label of each pixel's largest weight (0: not attributed).
    centers : `~numpy.ndarray`, shape (N, 2), float64
        The (y, x) centres.
    labels : `~numpy.ndarray`, shape (k,), int32
        The sorted labels present in ``dominant``.
    """

    contributors: np.ndarray
    weights: np.ndarray
    dominant: np.ndarray
    centers: np.ndarray
    labels: np.ndarray


def partial_segmentation(decoded, **extras):
    """
    The `~pais_deblend.segmentation.PartialSegmentationImage` of a
    `DecodedPCR` (or of arrays with its guarantees: a valid partial form,
    ``dominant`` computed with the image's rule, ``labels`` those present
    in it, finite centres), with optional ``band_weights``,
    ``class_star`` and ``band_names`` as in its constructor.
    """
    from ..segmentation import PartialSegmentationImage

    contributors, weights, dominant, centers, labels = decoded
    center_dict = dict(enumerate(map(tuple, centers.tolist()), 1))
    return PartialSegmentationImage._from_valid_arrays(
        contributors, weights, dominant, centers=center_dict,
        label_bound=len(center_dict), labels=labels, centers_checked=True,
        **extras)


def decode_arrays(pcr, data, *, centers=None, footprint=None, mask=None,
                  segments=None, threshold=0.5, min_separation=2):
    """
    The work of `decode_pcr` as plain arrays, without building the
    segmentation object (for pipelines that add to them first).

    Parameters
    ----------
    pcr, data, centers, footprint, mask, threshold, min_separation
        As for `decode_pcr`.
    segments : array_like of int, optional
        Shape (h, w), 0 for no segment. Confines the attribution to
        segments: a pixel of segment k keeps only the contributors whose
        centre lies in segment k (renormalised), and a pixel left with
        none goes to the nearest centre of its segment, as photutils
        deblends each segment on its own.

    Returns
    -------
    decoded : `DecodedPCR`
    """
    segments = _checked_segments(segments, pcr)
    return DecodedPCR(*_decode(pcr, data, centers=centers,
                               footprint=footprint, mask=mask,
                               threshold=threshold,
                               min_separation=min_separation,
                               segments=segments))


def decode_at_pixels(pcr, data, ys, xs, *, centers, footprint=None,
                     mask=None, segments=None):
    """
    `decode_arrays` on a list of pixels only.

    Each listed pixel gets exactly what `decode_arrays` gives it on the
    whole frame (a pixel's decode depends only on its own slots and the
    centres), without decoding or allocating the rest of the frame: for
    filling the few pixels another attribution leaves open.

    Parameters
    ----------
    pcr, data, footprint, mask, segments
        As for `decode_arrays` (whole frames).
    ys, xs : array_like of int
        Shape (m,), the rows and columns of the pixels, inside the frame.
    centers : array_like
        Shape (N, 2), the (y, x) centres (required: a list of pixels
        cannot find the peaks of the centre-of-mass map).

    Returns
    -------
    decoded : `DecodedPCR`
        ``contributors`` (1, m, n), ``weights`` (1, m, n) and
        ``dominant`` (1, m): pixel j of the list is element (0, j), a
        one-row frame that `decode_band_weights` accepts with the same
        ``pixels``.
    """
    if centers is None:
        msg = 'centers must be given to decode a list of pixels, got None'
        raise TypeError(msg)
    if not isinstance(pcr, PCR):
        msg = f'pcr must be a PCR instance, got {type(pcr).__name__}'
        raise TypeError(msg)
    pixels = _as_pixels(ys, xs, pcr.shape)
    segments = _checked_segments(segments, pcr)
    return DecodedPCR(*_decode(pcr, data, centers=centers,
                               footprint=footprint, mask=mask,
                               segments=segments, pixels=pixels))


def _checked_segments(segments, pcr):
    """``segments`` as an integer array of the PCR's shape (or None)."""
    if segments is None:
        return None
    segments = np.asarray(segments)
    if segments.dtype.kind not in 'iu':
        msg = ('segments must be an integer label array, got dtype '
               f'{segments.dtype}')
        raise TypeError(msg)
    if isinstance(pcr, PCR):
        check_same_shape(segments.shape, pcr.shape, 'segments', 'pcr')
    return segments


def _as_pixels(ys, xs, shape):
    """(ys, xs) as int64 arrays of one length inside ``shape``."""
    result = []
    for name, values, size in (('ys', ys, shape[0]), ('xs', xs, shape[1])):
        values = np.asarray(values)
        if values.dtype.kind not in 'iu':
            msg = (f'{name} must be integer pixel indices, got dtype '
                   f'{values.dtype}')
            raise TypeError(msg)
        if values.ndim != 1:
            msg = f'{name} must be 1-dimensional, got shape {values.shape}'
            raise ValueError(msg)
        if values.size and (values.min() < 0 or values.max() >= size):
            msg = (f'{name} must lie in [0, {size - 1}], got values from '
                   f'{values.min()} to {values.max()}')
            raise ValueError(msg)
        result.append(np.ascontiguousarray(values, dtype=np.int64))
    if result[0].size != result[1].size:
        msg = (f'ys and xs must have the same length, got {result[0].size} '
               f'and {result[1].size}')
        raise ValueError(msg)
    return tuple(result)


def decode_band_weights(pcr, band_maps, decoded, data, *, footprint=None,
                        mask=None, pixels=None):
    """
    Per-band weights from per-band contribution-map logits, aligned with
    the contributors of a band-combined decode.

    Which sources share a pixel does not depend on the band (the
    contributors follow the vectors and centres); each band's shares come
    from that band's own logits, so the flux of every band is conserved
    separately and blended sources keep their own colours.

    Parameters
    ----------
    pcr : `PCR`
        The band-combined PCR that gave ``decoded``.
    band_maps : `~numpy.ndarray`, shape (h, w, b, n)
        Per-band contribution-map logits with the slots of ``pcr``.
    decoded : `DecodedPCR`
        The band-combined decode (`decode_arrays`).
    data, footprint, mask
        As given to `decode_arrays`.
    pixels : tuple of 2 `~numpy.ndarray`, optional
        The (ys, xs) given to `decode_at_pixels` when ``decoded`` came
        from it (its one-row frame).

    Returns
    -------
    band_weights : `~numpy.ndarray`, shape (h, w, n, b), float32
        Band b's share of each contributor of ``decoded.contributors``,
        summing to 1 over the slots on attributed pixels; a pixel where
        no band share reaches a contributor takes the band-combined
        weights.
    """
    contributors, weights = decoded.contributors, decoded.weights
    height, width, n = contributors.shape
    n_bands = band_maps.shape[2]
    # float32 throughout: (h, w, n, b) is the largest array of the call
    result = np.zeros((height, width, n, n_bands), dtype=np.float32)
    for band in range(n_bands):
        band_pcr = PCR(pcr.center_of_mass, pcr.contribution_vectors,
                       np.ascontiguousarray(band_maps[:, :, band, :]),
                       maps_are_logits=True)
        band_contributors, band_weight = _decode(
            band_pcr, data, centers=decoded.centers, footprint=footprint,
            mask=mask, pixels=pixels)[:2]
        for j in range(n):
            slot = contributors[..., j:j + 1]
            same = (band_contributors == slot) & (slot > 0)
            result[..., j, band] = (band_weight * same).sum(axis=-1)
        del band_contributors, band_weight
    total = result.sum(axis=2, keepdims=True)
    missing = (total[..., 0, :] <= 0) & (contributors[..., :1] > 0)
    np.divide(result, total, out=result, where=total > 0)
    if missing.any():
        rows, cols, bands = np.nonzero(missing)
        result[rows, cols, :, bands] = weights[rows, cols]
    return result


#: Tile side of the nearest-centre look-up, as a fraction of the mean
#: distance between centres (and at least `_MIN_TILE` pixels). Decoding
#: looks a centre up only where a slot's centre changes from one pixel to
#: the next (the per-slot caches answer the rest), so coarser tiles cost
#: the kernel little while making the index several times cheaper to
#: build than fixed 12-pixel tiles on sparse frames (4096^2 pixels, 2,000
#: centres: 23-pixel tiles, 22k instead of 122k tiles).
_TILE_PER_SPACING = 0.25
_MIN_TILE = 12.0


def _decode_tile(shape, n_centers):
    """The tile side for decoding ``n_centers`` centres on a frame."""
    height, width = shape
    spacing = math.sqrt(height * width / max(n_centers, 1))
    return max(_MIN_TILE, _TILE_PER_SPACING * spacing)


def _decode(pcr, data, *, centers=None, footprint=None, mask=None,
            threshold=0.5, min_separation=2, segments=None, pixels=None):
    """
    The work of `decode_arrays` (and, with ``pixels``, of
    `decode_at_pixels`): (contributors, weights, dominant, centers,
    labels).
    """
    if not isinstance(pcr, PCR):
        msg = f'pcr must be a PCR instance, got {type(pcr).__name__}'
        raise TypeError(msg)
    data = as_image(data, 'data', ndim=(2, 3), dtype=None)
    check_same_shape(data.shape[:2], pcr.shape, 'data', 'pcr')
    if pixels is not None:
        return _decode_pixels(pcr, data, pixels, centers, footprint, mask,
                              segments)
    # the usual case (a 2-D float32/float64 image, no mask or footprint)
    # has the kernel test the pixels itself: no pass over the frame here
    direct = (data.ndim == 2 and data.dtype in (np.float32, np.float64)
              and mask is None and footprint is None)
    valid = None if direct else _valid_pixels(data, footprint, mask)
    if centers is None:
        centers = find_centers(pcr.center_of_mass, threshold=threshold,
                               min_separation=min_separation)
    else:
        centers = as_centers(centers)
    height, width = pcr.shape
    n = pcr.n_contributors
    if len(centers) == 0:
        return (np.zeros((height, width, n), dtype=np.int32),
                np.zeros((height, width, n), dtype=np.float32),
                np.zeros((height, width), dtype=np.int32), centers,
                np.zeros(0, dtype=np.int32))

    from . import _decode_kernels, _index

    index = _index.TileIndex(centers, pcr.shape, 1,
                             tile=_decode_tile(pcr.shape, len(centers)))
    contributors = np.empty((height, width, n), dtype=np.int32)
    weights = np.empty((height, width, n), dtype=np.float32)
    dominant = np.empty((height, width), dtype=np.int32)
    if direct:
        validity = (data, _NOTHING_MASKED, True, False)
    else:
        validity = (_decode_kernels._NO_DATA, valid, False, True)
    present = _decode_kernels.decode_frame(
        pcr.contribution_vectors, pcr.contribution_maps, *validity,
        pcr.maps_are_logits, *index.decode_arguments, contributors, weights,
        dominant)
    labels = _confined_labels(contributors, weights, dominant, centers,
                              segments, present)
    return contributors, weights, dominant, centers, labels


def _confined_labels(contributors, weights, dominant, centers, segments,
                     present, pixels=None):
    """Confine a decode to ``segments`` (when given, in place; see
    `_confine_to_segments`) and list the labels present in ``dominant``
    (the kernel's ``present`` table unless confining changed it)."""
    if segments is not None and _confine_to_segments(
            contributors, weights, dominant, centers, segments,
            pixels=pixels):
        present = np.bincount(dominant.ravel(),
                              minlength=len(centers) + 1) > 0
        present[0] = False
    return np.flatnonzero(present).astype(np.int32)


def _decode_pixels(pcr, data, pixels, centers, footprint, mask, segments):
    """`_decode` of the listed pixels into a (1, m) frame."""
    centers = as_centers(centers)
    valid = _valid_pixels(data, footprint, mask, pixels=pixels)
    n = pcr.n_contributors
    m = pixels[0].size
    if len(centers) == 0 or m == 0:
        return (np.zeros((1, m, n), dtype=np.int32),
                np.zeros((1, m, n), dtype=np.float32),
                np.zeros((1, m), dtype=np.int32), centers,
                np.zeros(0, dtype=np.int32))

    from . import _decode_kernels, _index

    index = _index.TileIndex(centers, pcr.shape, 1,
                             tile=_decode_tile(pcr.shape, len(centers)))
    contributors = np.empty((1, m, n), dtype=np.int32)
    weights = np.empty((1, m, n), dtype=np.float32)
    dominant = np.empty((1, m), dtype=np.int32)
    present = _decode_kernels.decode_listed(
        pcr.contribution_vectors, pcr.contribution_maps, *pixels, valid,
        pcr.maps_are_logits, *index.decode_arguments, contributors, weights,
        dominant)
    labels = _confined_labels(contributors, weights, dominant, centers,
                              segments, present, pixels=pixels)
    return contributors, weights, dominant, centers, labels


def _confine_to_segments(contributors, weights, dominant, centers,
                         segments, pixels=None):
    """
    Confine the attribution to segments, in place: a pixel of segment k
    keeps only the contributors whose centre lies in segment k, their
    weights renormalised, and a pixel left with none goes wholly to the
    nearest centre of its segment (if it has one).

    The decoded contributors follow the contribution vectors, which may
    point past a segment boundary at a brighter neighbour; without this a
    segment whose only centre the network did not predict (a faint source
    in a bright galaxy's halo) could end up with no pixel, and photutils'
    contract that every segment is deblended on its own, into at least
    one source, would break. Pixels whose contributors all lie in their
    own segment keep their weights bit for bit. With ``pixels`` (the
    (ys, xs) of `decode_at_pixels`) the arrays are its one-row frame and
    ``segments`` the whole frame's. Returns whether anything changed.
    """
    height, width = segments.shape
    n_slots = contributors.shape[2]
    iy = np.clip(np.rint(centers[:, 0]).astype(np.intp), 0, height - 1)
    ix = np.clip(np.rint(centers[:, 1]).astype(np.intp), 0, width - 1)
    # segment of each label (label 0, no contributor, is never looked at)
    label_segment = np.concatenate([[0], segments[iy, ix]]).astype(
        segments.dtype)
    if pixels is not None:
        segments = segments[pixels][np.newaxis]
    # slot by slot: (h, w) temporaries rather than (h, w, n) ones
    crossing = np.zeros(contributors.shape[:2], dtype=bool)
    for k in range(n_slots):
        slot = contributors[..., k]
        crossing |= (slot > 0) & (label_segment[slot] != segments)
    ys, xs = np.nonzero(crossing)
    del crossing
    # where the pixels are on the image (for the nearest centre)
    positions = (ys, xs) if pixels is None else (pixels[0][xs],
                                                   pixels[1][xs])
    # in chunks, so that a frame crossed everywhere stays in memory bounds
    for start in range(0, ys.size, _CONFINE_CHUNK):
        chunk = slice(start, start + _CONFINE_CHUNK)
        _confine_pixels(contributors, weights, dominant, centers, segments,
                        label_segment, ys[chunk], xs[chunk],
                        positions[0][chunk], positions[1][chunk])
    return ys.size > 0


#: Pixels confined at a time by `_confine_to_segments`.
_CONFINE_CHUNK = 1 << 20


def _confine_pixels(contributors, weights, dominant, centers, segments,
                    label_segment, ys, xs, pixel_ys, pixel_xs):
    """The work of `_confine_to_segments` on the elements (ys, xs) of the
    arrays, which are the image pixels (pixel_ys, pixel_xs)."""
    pixel_segments = segments[ys, xs]
    labels = contributors[ys, xs]
    keep = (labels > 0) & (label_segment[labels]
                           == pixel_segments[:, np.newaxis])
    # kept slots first, in their order
    order = np.argsort(~keep, axis=1, kind='stable')
    shares = np.take_along_axis(
        np.where(keep, weights[ys, xs].astype(np.float64), 0.0), order,
        axis=1)
    labels = np.take_along_axis(np.where(keep, labels, 0), order, axis=1)
    total = shares.sum(axis=1)
    kept = total > 0
    shares[kept] /= total[kept, np.newaxis]
    # slots kept with zero weight share the pixel equally, as when labels
    # are removed (`remap_and_merge`)
    zero = ~kept & (labels[:, 0] > 0)
    n_kept = (labels > 0).sum(axis=1)
    shares[zero] = np.where(labels[zero] > 0,
                            1.0 / np.maximum(n_kept[zero], 1)[:, np.newaxis],
                            0.0)
    orphans = np.flatnonzero(labels[:, 0] == 0)
    if orphans.size:
        nearest = _nearest_segment_center(
            pixel_ys[orphans], pixel_xs[orphans], pixel_segments[orphans],
            centers,
            label_segment[1:])
        labels[orphans, 0] = nearest
        shares[orphans, 0] = np.where(nearest > 0, 1.0, 0.0)
    shares = _exact_float32_shares(shares, labels)
    contributors[ys, xs] = labels
    weights[ys, xs] = shares
    largest = np.take_along_axis(
        labels, np.argmax(shares, axis=1)[:, np.newaxis], axis=1)[:, 0]
    dominant[ys, xs] = np.where(labels[:, 0] > 0, largest, 0)


def _nearest_segment_center(ys, xs, pixel_segments, centers,
                            center_segments):
    """Label (index + 1) of the nearest centre in each pixel's segment,
    0 where the segment holds none."""
    from scipy.spatial import cKDTree

    result = np.zeros(ys.size, dtype=np.int32)
    for segment in np.unique(pixel_segments):
        candidates = np.flatnonzero(center_segments == segment)
        if candidates.size == 0:
            continue
        rows = np.flatnonzero(pixel_segments == segment)
        # a tree, not a pixels x centres distance matrix: a large segment
        # may hold many of both
        _, nearest = cKDTree(centers[candidates]).query(
            np.column_stack([ys[rows], xs[rows]]))
        result[rows] = candidates[nearest] + 1
    return result


def _exact_float32_shares(shares, labels):
    """float32 weights whose float64 sum is 1 to float32 rounding: the
    largest set to 1 - (sum of the others), as the decoding kernel
    does."""
    result = shares.astype(np.float32)
    attributed = labels[:, 0] > 0
    rows = np.flatnonzero(attributed)
    largest = np.argmax(result[rows], axis=1)
    others = (result[rows].astype(np.float64).sum(axis=1)
              - result[rows, largest])
    result[rows, largest] = (1.0 - others).astype(np.float32)
    return result


#: Placeholder of the kernel's unused ``allowed`` map.
_NOTHING_MASKED = np.ones((1, 1), dtype=bool)


def _valid_pixels(data, footprint, mask, pixels=None):
    """
    Boolean (h, w) map of the pixels that may be attributed; with
    ``pixels`` (the (ys, xs) index arrays of `decode_at_pixels`) only its
    (m,) values at those pixels (``mask`` and ``footprint`` are still
    checked as whole frames).
    """
    def at(frame):
        return frame if pixels is None else frame[pixels]

    if data.dtype.kind == 'f':
        valid = np.isfinite(at(data))
        if data.ndim == 3:
            valid = valid.all(axis=-1)
    else:
        valid = np.ones(at(data).shape[:1 if pixels is not None else 2],
                        dtype=bool)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            msg = f'mask must be a boolean array, got dtype {mask.dtype}'
            raise TypeError(msg)
        check_same_shape(mask.shape, data.shape[:2], 'mask', 'data')
        valid &= ~at(mask)
    if footprint is not None:
        if hasattr(footprint, 'data') and not isinstance(footprint,
                                                          np.ndarray):
            footprint = footprint.data  # a SegmentationImage
        footprint = np.asarray(footprint)
        if footprint.dtype.kind not in 'biu':
            msg = ('footprint must be a boolean or integer label array, got '
                   f'dtype {footprint.dtype}')
            raise TypeError(msg)
        check_same_shape(footprint.shape, data.shape[:2], 'footprint',
                         'data')
        valid &= at(footprint) != 0
    return valid
