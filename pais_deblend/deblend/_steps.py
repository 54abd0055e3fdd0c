"""
The steps of `Deblender.__call__` for one tile of a mosaic
(`pais_deblend.mosaic`), with the two image-wide statistics -- the noise
of the image and the noise of the detection image -- given rather than
estimated, so that every tile uses the values of the whole mosaic.

Kept apart from ``core.py`` so that the single-image path stays as it is;
the steps themselves (`_keep_top_slots`, `_detection_image`,
`_footprint_from_flux` with the mosaic's detection noise,
`_pixel_of`, `_structure`) are the ones the `Deblender` uses.
"""

import numpy as np

from .core import (_detection_image, _footprint_from_flux, _keep_top_slots,
                   _pixel_of, _structure, _unmasked_centers)
from .inputs import prepare_image

__all__ = []


def detection_image(deblender, data, noise_sigma):
    """
    The smoothed noise-weighted detection image of ``data`` (h, w) and
    its bad-pixel mask (h, w), as the `Deblender` builds it.
    """
    image = prepare_image(data, n_bands=deblender.n_bands)
    return (_detection_image(image.data, noise_sigma, image.mask,
                             deblender.footprint_smoothing), image.mask)


def deblend_tile(deblender, data, *, core, exact, noise_sigma,
                 detection_noise, n_pixels=5, connectivity=8,
                 return_heads=False):
    """
    Run the `Deblender` pipeline on the extended region of a tile and
    decode its core.

    Parameters
    ----------
    deblender : `~pais_deblend.deblend.Deblender`
        Holds the model and the decoding settings.
    data : `~numpy.ndarray`, shape (h, w) or (h, w, b)
        The extended region (core plus margin); NaN pixels are masked.
    core : tuple of 2 slice
        The core within ``data``.
    exact : tuple of 2 slice
        The part of ``data`` where the network output is that of a
        single pass over the whole image (the region minus the network's
        receptive field on every side that is not a frame edge): only
        centres found there are used to decode the core.
    noise_sigma : `~numpy.ndarray`, shape (b,)
        The noise of the whole image, per band, in the image's unit.
    detection_noise : float
        The robust noise of the whole image's detection image.
    n_pixels : int, optional
        Smallest footprint region kept, pixels.
    connectivity : {8, 4}, optional
        Connectivity of the footprint regions.
    return_heads : bool, optional
        Also return what the model's optional heads give (see ``heads``).

    Returns
    -------
    contributors : `~numpy.ndarray`, shape (hc, wc, n), int32
        The core's contributors; label i + 1 is ``centers[i]``.
    weights : `~numpy.ndarray`, shape (hc, wc, n), float32
    centers : `~numpy.ndarray`, shape (m, 2), float64
        (y, x) centres in the coordinates of ``data``.
    heads : dict
        Only with ``return_heads=True``: ``band_weights`` (hc, wc, n, b)
        float32 aligned with ``contributors`` (when the model has the
        per-band maps) and ``class_star`` (m,) float64, the star
        probability of every centre (when it has the star/galaxy head),
        as `Deblender` computes them.
    """
    from ..model import predict_pcr
    from ..pcr import PCR
    from ..pcr.decode import _decode_arrays

    structure = _structure(connectivity)
    core_shape = tuple(s.stop - s.start for s in core)
    n = deblender.n_contributors
    empty = (np.zeros(core_shape + (n,), dtype=np.int32),
             np.zeros(core_shape + (n,), dtype=np.float32),
             np.zeros((0, 2), dtype=np.float64))
    if return_heads:
        empty_heads = {}
        if getattr(deblender.model, 'band_maps', False):
            empty_heads['band_weights'] = np.zeros(
                core_shape + (n, deblender.n_bands), dtype=np.float32)
        if getattr(deblender.model, 'classify', False):
            empty_heads['class_star'] = np.zeros(0)
        empty = empty + (empty_heads,)
    bands = data if data.ndim == 3 else data[..., np.newaxis]
    if not np.isfinite(bands).all(axis=2).any():
        return empty  # a blank part of the mosaic (e.g. outside the survey)
    image = prepare_image(data, n_bands=deblender.n_bands)
    with deblender._lock:
        pcr = predict_pcr(deblender.model, image.data,
                          tile_size=deblender.tile_size,
                          noise_sigma=noise_sigma, mask=image.mask,
                          progress_bar=False, return_heads=return_heads,
                          normalization=deblender.normalization)
    if return_heads:
        pcr, heads = pcr
    centers = _unmasked_centers(pcr, image.mask, deblender)
    detection = _detection_image(image.data, noise_sigma, image.mask,
                                 deblender.footprint_smoothing)
    # every centre of the region decides which footprint regions are
    # kept, as in a single pass; only the exact ones are decoded with
    footprint = _footprint_from_flux(detection, image.mask, centers,
                                     deblender.footprint_threshold, n_pixels,
                                     structure, detection_noise=detection_noise)
    iy, ix = _pixel_of(centers, image.shape)
    inside = np.zeros(image.shape, dtype=bool)
    inside[exact] = True
    centers = centers[footprint[iy, ix] & inside[iy, ix]]
    if len(centers) == 0:
        return empty
    # decoding is per pixel: only the core is decoded, against the
    # region's centres (which may lie outside the core)
    all_slots = PCR(np.ascontiguousarray(pcr.center_of_mass[core]),
                    np.ascontiguousarray(pcr.contribution_vectors[core]),
                    np.ascontiguousarray(pcr.contribution_maps[core]),
                    maps_are_logits=pcr.maps_are_logits)
    core_pcr = _keep_top_slots(all_slots, n)
    origin = np.array([core[0].start, core[1].start], dtype=np.float64)
    contributors, weights, _, _ = _decode_arrays(
        core_pcr, image.data[core], centers=centers - origin,
        footprint=footprint[core], mask=image.mask[core])
    if not return_heads:
        return contributors, weights, centers
    return contributors, weights, centers, _tile_heads(
        heads, all_slots, core_pcr, contributors, weights, image, core,
        centers, origin, footprint)


def _tile_heads(heads, all_slots, core_pcr, contributors, weights, image,
                core, centers, origin, footprint):
    """
    The per-band weights of the core and the star probability of every
    centre, as `Deblender._decode_with_heads` computes them.
    """
    from . import _heads

    result = {}
    if 'band_contribution_maps' in heads:
        band_maps = _heads.keep_top_band_slots(
            all_slots,
            np.ascontiguousarray(heads['band_contribution_maps'][core]),
            core_pcr.n_contributors)
        result['band_weights'] = _heads.band_weights(
            core_pcr, band_maps, contributors, weights, image.data[core],
            centers=centers - origin, footprint=footprint[core],
            mask=image.mask[core])
    if 'star_probability' in heads:
        # every centre gets a value, also those without pixels in this
        # core (the one-label-per-centre array below makes every label
        # count as present); centres lie in the exact zone, so the box
        # around each one sees the network output of a single pass
        values = _heads.class_star(
            heads['star_probability'], centers,
            np.arange(1, len(centers) + 1, dtype=np.int32))
        result['class_star'] = np.array(
            [values[label] for label in range(1, len(centers) + 1)],
            dtype=np.float64)
    return result
