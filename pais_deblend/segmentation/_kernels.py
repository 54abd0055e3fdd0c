"""
numba kernels for the sparse partial form of a segmentation image.

Each kernel has a slow pure-NumPy twin in ``_reference.py`` that the tests
compare it with.
"""

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator
from ..utils._labels import present_labels  # noqa: F401  (re-exported)
from ..utils._numba_serial import pick, serial_twins

__all__ = ['dominant_labels', 'label_weight_sums', 'label_bounding_boxes',
           'weight_map', 'remap_and_merge', 'present_labels', 'for_frame']

# before the first @numba.njit(cache=True): never cache inside the package
install_cache_locator()


@numba.njit(parallel=True, cache=True)
def dominant_labels(contributors, weights):
    """
    Label of the largest-weight contributor of each pixel (0 if none).

    Ties go to the earlier slot, which holds the nearer source.
    """
    height, width, n_slots = contributors.shape
    result = np.empty((height, width), dtype=np.int32)  # all written
    for y in numba.prange(height):
        for x in range(width):
            best_weight = 0.0
            best_label = 0
            for k in range(n_slots):
                label = contributors[y, x, k]
                weight = weights[y, x, k]
                if label > 0 and weight > best_weight:
                    best_weight = weight
                    best_label = label
            result[y, x] = best_label
    return result


# The three reductions below scatter into per-label arrays; a parallel loop
# would race on those, and one pass over h*w*n values is already fast.
@numba.njit(cache=True)
def label_weight_sums(contributors, weights, max_label):
    """
    Sum of the weights of every label (its effective area in pixels).
    """
    sums = np.zeros(max_label + 1, dtype=np.float64)
    height, width, n_slots = contributors.shape
    for y in range(height):
        for x in range(width):
            for k in range(n_slots):
                label = contributors[y, x, k]
                if label > 0:
                    sums[label] += weights[y, x, k]
    return sums


@numba.njit(cache=True)
def label_bounding_boxes(contributors, weights, max_label):
    """
    Inclusive bounding box (y_min, y_max, x_min, x_max) of the pixels where
    each label has positive weight; y_min = -1 for absent labels.
    """
    boxes = np.full((max_label + 1, 4), -1, dtype=np.int64)
    height, width, n_slots = contributors.shape
    for y in range(height):
        for x in range(width):
            for k in range(n_slots):
                label = contributors[y, x, k]
                if label > 0 and weights[y, x, k] > 0:
                    if boxes[label, 0] < 0:
                        boxes[label, 0] = y
                        boxes[label, 1] = y
                        boxes[label, 2] = x
                        boxes[label, 3] = x
                    else:
                        boxes[label, 1] = y
                        if x < boxes[label, 2]:
                            boxes[label, 2] = x
                        if x > boxes[label, 3]:
                            boxes[label, 3] = x
    return boxes


@numba.njit(parallel=True, cache=True)
def weight_map(contributors, weights, label):
    """
    The (h, w) fraction map M_label.
    """
    height, width, n_slots = contributors.shape
    result = np.empty((height, width), dtype=np.float32)  # all written
    for y in numba.prange(height):
        for x in range(width):
            total = 0.0
            for k in range(n_slots):
                if contributors[y, x, k] == label:
                    total += weights[y, x, k]
            result[y, x] = total
    return result


@numba.njit(parallel=True, cache=True)
def remap_and_merge(contributors, weights, label_map, new_contributors,
                    new_weights):
    """
    Relabel contributors through ``label_map`` and restore consistency,
    writing every slot of ``new_contributors`` and ``new_weights``, which
    may be ``contributors`` and ``weights`` themselves (in place).

    Slots whose new label is 0 lose their weight to the remaining slots of
    the pixel; slots that end up with the same label are merged (weights
    added, first slot kept); weights are then renormalised to sum to 1.
    Pixels where nothing was dropped or merged keep their weights bit for
    bit. A pixel with no remaining contributor gets all-zero slots.
    """
    height, width, n_slots = contributors.shape
    for y in numba.prange(height):
        # each pixel's old slots are read before any is written, which
        # is what lets the outputs be the inputs
        old_labels = np.empty(n_slots, dtype=contributors.dtype)
        old_weights = np.empty(n_slots, dtype=weights.dtype)
        for x in range(width):
            for k in range(n_slots):
                old_labels[k] = contributors[y, x, k]
                old_weights[k] = weights[y, x, k]
            n_kept = 0
            total = 0.0
            changed = False
            for k in range(n_slots):
                old = old_labels[k]
                if old == 0:
                    continue
                label = label_map[old]
                weight = old_weights[k]
                if label == 0:
                    changed = True
                    continue
                merged = False
                for j in range(n_kept):
                    if new_contributors[y, x, j] == label:
                        new_weights[y, x, j] += weight
                        merged = True
                        changed = True
                        break
                if not merged:
                    new_contributors[y, x, n_kept] = label
                    new_weights[y, x, n_kept] = weight
                    n_kept += 1
                total += weight
            for j in range(n_kept, n_slots):
                new_contributors[y, x, j] = 0
                new_weights[y, x, j] = 0.0
            if n_kept == 0 or not changed:
                continue
            if total > 0:
                for j in range(n_kept):
                    new_weights[y, x, j] = new_weights[y, x, j] / total
            else:
                # every remaining contributor had weight 0: share equally
                for j in range(n_kept):
                    new_weights[y, x, j] = 1.0 / n_kept


# serial twins of the parallel kernels, for small frames
serial_twins(dominant_labels, weight_map, remap_and_merge)


def for_frame(kernel, contributors):
    """The parallel ``kernel`` or its serial twin, for the frame of
    ``contributors`` (h, w, n) (`pais_deblend.utils._numba_serial.pick`)."""
    return pick(kernel, contributors.shape[0] * contributors.shape[1])
