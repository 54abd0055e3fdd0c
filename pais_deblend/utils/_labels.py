"""
Which labels occur in a label image, in one pass (numba): shared by the
partial segmentation image and the deblending pipeline, where a bincount
of a survey-size frame costs a large share of a step.
"""

import numba
import numpy as np

from ._numba_cache import install_cache_locator

__all__ = ['present_labels']

install_cache_locator()


@numba.njit(cache=True)
def present_labels(labels_2d, max_label):
    """
    Boolean array telling which labels occur in an integer image.

    Parameters
    ----------
    labels_2d : (h, w) int `~numpy.ndarray`
        Values in [0, ``max_label``] (not checked).
    max_label : int

    Returns
    -------
    present : (max_label + 1,) bool `~numpy.ndarray`
        ``present[0]`` is always False.
    """
    present = np.zeros(max_label + 1, dtype=np.bool_)
    height, width = labels_2d.shape
    for y in range(height):
        for x in range(width):
            present[labels_2d[y, x]] = True
    present[0] = False
    return present
