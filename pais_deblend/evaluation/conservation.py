"""
Flux conservation of a partial segmentation
(:ref:`evaluation-flux-conservation`).
"""

import numpy as np

from pais_deblend.utils._validation import as_image

__all__ = ['flux_conservation']


def flux_conservation(partial_segmentation_image, data):
    """
    Relative L1 flux-conservation error of a partial segmentation.

    With ``S_i = M_i * I`` the deblended source images, this is::

        L1 = sum_p |sum_i S_i(p) - I(p)| / sum_p |I(p)|

    where both sums run over the *attributed* pixels p (pixels with at
    least one contributor > 0) at which ``data`` is finite. PAIS conserves
    flux by construction (Hausen & Robertson 2022, arXiv:2201.04714,
    Fig. 1 reports L1 = 1.52e-5), so a correct decoder gives float
    rounding only.

    ``sum_i S_i`` is computed from the sparse partial form directly,
    ``sum_i S_i(p) = sum_k weights[p, k] * I(p)`` over the slots k whose
    contributor is > 0, in O(h * w * n) time and memory; no per-source
    frame is built. The weights (float32) are promoted to float64 first.

    Parameters
    ----------
    partial_segmentation_image : `~pais_deblend.segmentation.PartialSegmentationImage`
        The partial segmentation (any object with ``contributors`` and
        ``weights`` arrays of shape (h, w, n)).
    data : array_like
        The image that was deblended, shape (h, w) or (h, w, b) (the same
        weights are applied to every band).

    Returns
    -------
    l1 : float
        The relative L1 error (dimensionless, >= 0). 0.0 if there is no
        attributed pixel with nonzero flux and nothing was lost
        (numerator 0), ``inf`` if the denominator is 0 but the numerator
        is not.
    """
    try:
        contributors = np.asarray(partial_segmentation_image.contributors)
        weights = np.asarray(partial_segmentation_image.weights)
    except AttributeError:
        msg = ('partial_segmentation_image must be a PartialSegmentationImage '
               '(with contributors and weights), got '
               f'{type(partial_segmentation_image).__name__}')
        raise TypeError(msg) from None
    image = as_image(data, 'data', ndim=(2, 3), dtype=np.float64)
    if contributors.ndim != 3 or weights.shape != contributors.shape:
        msg = (f'partial_segmentation_image has contributors of shape '
               f'{contributors.shape} and weights of shape {weights.shape}; '
               'both must be (h, w, n)')
        raise ValueError(msg)
    if image.shape[:2] != contributors.shape[:2]:
        msg = (f'data has shape {image.shape} but partial_segmentation_image '
               f'has shape {contributors.shape[:2]}; the first two axes must '
               'match')
        raise ValueError(msg)
    used = contributors > 0
    attributed = used.any(axis=-1)
    weight_sum = np.zeros(attributed.shape)
    for slot in range(contributors.shape[-1]):
        weight_sum += np.where(used[..., slot],
                               weights[..., slot].astype(np.float64), 0.0)
    if image.ndim == 3:
        attributed = attributed[..., None]
        weight_sum = weight_sum[..., None]
    valid = attributed & np.isfinite(image)
    flux = np.where(valid, image, 0.0)
    numerator = float(np.abs(flux * weight_sum - flux).sum())
    denominator = float(np.abs(flux).sum())
    if denominator == 0:
        return 0.0 if numerator == 0 else float('inf')
    return numerator / denominator
