"""
Reading the optional heads of a PAIS network into a partial segmentation:
per-band weights from the per-band contribution maps, and a star
probability per source from the star/galaxy head.

The per-band weights keep the contributors of the band-combined decode
(which pixel is shared by which sources does not depend on the band) and
take each band's shares from that band's C^m logits, so the flux of
every band is conserved separately and blended sources keep their own
colours.
"""

import numpy as np

__all__ = []

#: Half-side of the box, in pixels, over which the star probability is
#: averaged around a source's centre (3 x 3 pixels: robust to a centre
#: that falls between pixels, small against the PSF of the ground-based
#: preset, 3.5 pixels FWHM).
CLASS_BOX_HALF_WIDTH = 1


def keep_top_band_slots(pcr, band_maps, n_contributors):
    """
    ``band_maps`` (h, w, b, n) reduced to the slots that
    `~pais_deblend.deblend.core._keep_top_slots` keeps for ``pcr``.
    """
    from .core import _top_slot_order

    if n_contributors == band_maps.shape[-1]:
        return band_maps
    order = _top_slot_order(pcr, n_contributors)
    return np.take_along_axis(band_maps, order[:, :, np.newaxis, :], axis=-1)


def band_weights(pcr, band_maps, contributors, weights, data, *, centers,
                 footprint, mask):
    """
    Per-band weights (h, w, n, b) aligned with ``contributors``.

    Each band's logits are decoded with the same centres, footprint and
    mask as the band-combined decode, which gives the same contributors
    (they depend on the vectors and centres only); the band's weights are
    then moved to the slot of the same label in ``contributors`` and
    renormalised so that every band sums to 1 on attributed pixels.
    """
    from ..pcr import PCR
    from ..pcr.decode import _decode_arrays

    height, width, n = contributors.shape
    n_bands = band_maps.shape[2]
    # float32 throughout: (h, w, n, b) is the largest array of the call
    result = np.zeros((height, width, n, n_bands), dtype=np.float32)
    for band in range(n_bands):
        band_pcr = PCR(pcr.center_of_mass, pcr.contribution_vectors,
                       np.ascontiguousarray(band_maps[:, :, band, :]),
                       maps_are_logits=True)
        band_contributors, band_weight = _decode_arrays(
            band_pcr, data, centers=centers, footprint=footprint,
            mask=mask)[:2]
        for j in range(n):
            slot = contributors[..., j:j + 1]
            same = (band_contributors == slot) & (slot > 0)
            result[..., j, band] = (band_weight * same).sum(axis=-1)
        del band_contributors, band_weight
    total = result.sum(axis=2, keepdims=True)
    missing = (total[..., 0, :] <= 0) & (contributors[..., :1] > 0)
    np.divide(result, total, out=result, where=total > 0)
    if missing.any():
        # no band share reached a contributor: the band-combined weights
        rows, cols, bands = np.nonzero(missing)
        result[rows, cols, :, bands] = weights[rows, cols]
    return result


def class_star(star_probability, centers, contributors):
    """
    {label: star probability} for the labels that hold pixels: the mean
    of the star/galaxy head over the 3 x 3 pixels around each centre
    (label i + 1 for centre i).
    """
    height, width = star_probability.shape
    counts = np.bincount(contributors.ravel(), minlength=len(centers) + 1)
    result = {}
    half = CLASS_BOX_HALF_WIDTH
    for index, (y, x) in enumerate(centers):
        label = index + 1
        if counts[label] == 0:
            continue
        iy = int(np.clip(np.rint(y), 0, height - 1))
        ix = int(np.clip(np.rint(x), 0, width - 1))
        box = star_probability[max(iy - half, 0):iy + half + 1,
                               max(ix - half, 0):ix + half + 1]
        result[label] = float(np.clip(np.mean(box), 0.0, 1.0))
    return result
