"""
Decoding a Partial Contribution Representation into a partial
segmentation image.
"""

import math

import numpy as np

from ..utils._validation import as_image, check_same_shape
from .core import PCR, as_centers
from .peaks import find_centers

__all__ = ['decode_pcr']


def decode_pcr(pcr, data, *, centers=None, footprint=None, mask=None,
               threshold=0.5, min_separation=2):
    """
    Decode a PCR into a `~pais_deblend.segmentation.PartialSegmentationImage`.

    The non-learned PCR decoder of Hausen & Robertson (2022,
    arXiv:2201.04714, Fig. 1), following DESIGN section 2:

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
    `pais_deblend.pcr._kernels`), so decoding is O(h w n) and runs in a
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
    return _segmentation(*_decode(
        pcr, data, centers=centers, footprint=footprint, mask=mask,
        threshold=threshold, min_separation=min_separation))


def _segmentation(contributors, weights, dominant, centers, labels,
                  **extras):
    """
    The `~pais_deblend.segmentation.PartialSegmentationImage` of the
    arrays of `_decode`, with optional ``band_weights``, ``class_star``
    and ``band_names``.
    """
    from ..segmentation import PartialSegmentationImage

    # the kernel guarantees a valid partial form and returns the labels of
    # its dominant map; the centres are finite float64 (`as_centers`)
    center_dict = dict(enumerate(map(tuple, centers.tolist()), 1))
    return PartialSegmentationImage._from_valid_arrays(
        contributors, weights, dominant, centers=center_dict,
        label_bound=len(center_dict), labels=labels, centers_checked=True,
        **extras)


def _decode_arrays(pcr, data, *, centers=None, footprint=None, mask=None,
                   threshold=0.5, min_separation=2):
    """
    The work of `decode_pcr` without building the segmentation object.

    Returns
    -------
    contributors : (h, w, n) int32
    weights : (h, w, n) float32
    dominant : (h, w) int32
        The dominant-source label map.
    centers : (N, 2) float64
    """
    return _decode(pcr, data, centers=centers, footprint=footprint,
                   mask=mask, threshold=threshold,
                   min_separation=min_separation)[:4]


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
            threshold=0.5, min_separation=2):
    """
    `_decode_arrays`, also returning ``labels``: the sorted int32 labels
    present in the dominant map.
    """
    if not isinstance(pcr, PCR):
        msg = f'pcr must be a PCR instance, got {type(pcr).__name__}'
        raise TypeError(msg)
    data = as_image(data, 'data', ndim=(2, 3), dtype=None)
    check_same_shape(data.shape[:2], pcr.shape, 'data', 'pcr')
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

    from . import _kernels

    index = _kernels.TileIndex(centers, pcr.shape, 1,
                               tile=_decode_tile(pcr.shape, len(centers)))
    contributors = np.empty((height, width, n), dtype=np.int32)
    weights = np.empty((height, width, n), dtype=np.float32)
    dominant = np.empty((height, width), dtype=np.int32)
    if direct:
        validity = (data, _NOTHING_MASKED, True, False)
    else:
        validity = (_kernels._NO_DATA, valid, False, True)
    present = _kernels.decode_frame(
        pcr.contribution_vectors, pcr.contribution_maps, *validity,
        pcr.maps_are_logits, *index.decode_arguments, contributors, weights,
        dominant)
    labels = np.flatnonzero(present).astype(np.int32)
    return contributors, weights, dominant, centers, labels


#: Placeholder of the kernel's unused ``allowed`` map.
_NOTHING_MASKED = np.ones((1, 1), dtype=bool)


def _valid_pixels(data, footprint, mask):
    """Boolean (h, w) map of the pixels that may be attributed."""
    if data.dtype.kind == 'f':
        valid = np.isfinite(data)
        if data.ndim == 3:
            valid = valid.all(axis=-1)
    else:
        valid = np.ones(data.shape[:2], dtype=bool)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            msg = f'mask must be a boolean array, got dtype {mask.dtype}'
            raise TypeError(msg)
        check_same_shape(mask.shape, data.shape[:2], 'mask', 'data')
        valid &= ~mask
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
        valid &= footprint != 0
    return valid
