"""
Slow pure-NumPy references of the kernels in ``_kernels.py``, used only by
the tests.
"""

import numpy as np

__all__ = []


def dominant_labels_reference(contributors, weights):
    masked = np.where(contributors > 0, weights, 0.0)
    slot = np.argmax(masked, axis=-1)
    best = np.take_along_axis(contributors, slot[..., None], axis=-1)[..., 0]
    best_weight = np.take_along_axis(masked, slot[..., None], axis=-1)[..., 0]
    return np.where(best_weight > 0, best, 0).astype(np.int32)


def label_weight_sums_reference(contributors, weights, max_label):
    return np.bincount(contributors.ravel(), weights=weights.ravel(),
                       minlength=max_label + 1)[:max_label + 1] * (
        np.arange(max_label + 1) > 0)


def label_bounding_boxes_reference(contributors, weights, max_label):
    boxes = np.full((max_label + 1, 4), -1, dtype=np.int64)
    for label in range(1, max_label + 1):
        present = ((contributors == label) & (weights > 0)).any(axis=-1)
        ys, xs = np.nonzero(present)
        if ys.size:
            boxes[label] = ys.min(), ys.max(), xs.min(), xs.max()
    return boxes


def weight_map_reference(contributors, weights, label):
    return np.where(contributors == label, weights, 0).sum(axis=-1).astype(
        np.float32)


def remap_and_merge_reference(contributors, weights, label_map):
    height, width, n_slots = contributors.shape
    new_contributors = np.zeros_like(contributors)
    new_weights = np.zeros_like(weights)
    for y in range(height):
        for x in range(width):
            merged = {}
            changed = False
            for k in range(n_slots):
                old = contributors[y, x, k]
                if old == 0:
                    continue
                label = label_map[old]
                if label == 0 or label in merged:
                    changed = True
                if label == 0:
                    continue
                merged[label] = merged.get(label, 0.0) + float(weights[y, x, k])
            if not merged:
                continue
            if not changed:
                kept = contributors[y, x] > 0
                new_contributors[y, x, kept] = label_map[contributors[y, x, kept]]
                new_weights[y, x] = weights[y, x]
                continue
            labels = list(merged)
            values = np.array([merged[label] for label in labels])
            total = values.sum()
            values = values / total if total > 0 else np.full(
                len(values), 1.0 / len(values))
            new_contributors[y, x, :len(labels)] = labels
            new_weights[y, x, :len(labels)] = values
    return new_contributors, new_weights
