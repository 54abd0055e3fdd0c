"""
Which labels occur in a label image, how many pixels each has, and
keeping some of them, each in one pass (numba): shared by the partial
segmentation image and the deblending pipeline, where a bincount or a
fancy-indexed ``np.where`` of a survey-size frame costs a large share of
a step (``np.bincount`` first copies an int32 frame to int64).
"""

import numba
import numpy as np

from ._numba_cache import install_cache_locator
from ._numba_serial import serial_twins

__all__ = ['present_labels', 'label_sizes', 'keep_labels']

install_cache_locator()


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
    present = label_sizes(labels_2d, max_label) > 0
    present[0] = False
    return present


@numba.njit(cache=True)
def label_sizes(labels_2d, max_label):
    """
    The number of pixels of every label of an integer image,
    ``np.bincount(labels_2d.ravel(), minlength=max_label + 1)``.

    Parameters
    ----------
    labels_2d : (h, w) int `~numpy.ndarray`
        Values in [0, ``max_label``] (not checked).
    max_label : int

    Returns
    -------
    sizes : (max_label + 1,) int64 `~numpy.ndarray`
    """
    sizes = np.zeros(max_label + 1, dtype=np.int64)
    height, width = labels_2d.shape
    for y in range(height):
        for x in range(width):
            sizes[labels_2d[y, x]] += 1
    return sizes


@numba.njit(parallel=True, cache=True)
def keep_labels(labels_2d, keep):
    """
    Set, in place, the pixels of every label ``l`` with ``keep[l]`` False
    to 0 (``np.where(keep[labels], labels, 0)`` without a new frame).

    Parameters
    ----------
    labels_2d : (h, w) int `~numpy.ndarray`
        Values in [0, ``len(keep) - 1``] (not checked). Overwritten.
    keep : (max_label + 1,) bool `~numpy.ndarray`
    """
    height, width = labels_2d.shape
    for y in numba.prange(height):
        for x in range(width):
            if not keep[labels_2d[y, x]]:
                labels_2d[y, x] = 0


serial_twins(keep_labels)
