"""
Slow, pure-NumPy reference implementations of the PCR kernels.

They follow the definitions of the PCR documentation page (Hausen &
Robertson 2022, arXiv:2201.04714, section 2) as literally as possible, with brute-force
distances to every centre, full-frame per-source images and no tiling.
The tests compare each numba kernel (`._index`, `._encode_kernels`,
`._decode_kernels`, `._peak_kernels`) with its reference on random
inputs. Memory is O(h w n N): use them on small images only.
"""

import numpy as np

__all__ = []


def _squared_distances(qy, qx, centers):
    """(..., N) squared distances, computed like the kernels do."""
    dy = qy[..., None] - centers[:, 0]
    dx = qx[..., None] - centers[:, 1]
    return dy * dy + dx * dx


def reference_nearest_centers(shape, k, centers):
    """
    (h, w, k) int32 indices of the k centres nearest to each pixel centre,
    nearest first, ties to the lower index, -1 beyond the number of
    centres.
    """
    height, width = shape
    out = np.full((height, width, k), -1, dtype=np.int32)
    n_centers = len(centers)
    if n_centers == 0:
        return out
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    d2 = _squared_distances(yy, xx, np.asarray(centers, dtype=np.float64))
    order = np.argsort(d2, axis=-1, kind='stable')
    m = min(k, n_centers)
    out[..., :m] = order[..., :m]
    return out


def reference_draw_center_of_mass(shape, centers, sigma, radius):
    """
    (h, w) float32 maximum over sources of exp(-r^2 / (2 sigma^2)), each
    restricted to the square |y - cy| <= radius, |x - cx| <= radius.
    """
    height, width = shape
    out = np.zeros((height, width), dtype=np.float64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    for cy, cx in np.asarray(centers, dtype=np.float64).reshape(-1, 2):
        dy = yy - cy
        dx = xx - cx
        value = np.exp(-(dy * dy + dx * dx) * (1.0 / (2.0 * sigma * sigma)))
        inside = (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
        np.maximum(out, np.where(inside, value, 0.0), out=out)
    return out.astype(np.float32)


def reference_encode(images, centers, n, contributor_choice):
    """
    Brute-force C^v and C^m from full-frame source images.

    Parameters
    ----------
    images : (N, h, w) ndarray
        Per-source images or fraction maps; NaN counts as 0.
    centers : (N, 2) ndarray
    n : int
    contributor_choice : {'nearest', 'most_flux'}

    Returns
    -------
    vectors : (h, w, n, 2) float32
    maps : (h, w, n) float32
    """
    images = np.asarray(images, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    n_sources, height, width = images.shape
    if n_sources == 0:
        return (np.zeros((height, width, n, 2), dtype=np.float32),
                np.zeros((height, width, n), dtype=np.float32))
    flux = np.where(images > 0, images, 0.0)  # NaN -> 0 as well
    flux = np.moveaxis(flux, 0, -1)  # (h, w, N)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    d2 = _squared_distances(yy, xx, centers)
    by_distance = np.argsort(d2, axis=-1, kind='stable')
    m = min(n, n_sources)
    if contributor_choice == 'nearest':
        chosen = by_distance[..., :m]
    else:
        chosen = np.empty((height, width, m), dtype=np.int64)
        by_flux = np.argsort(-flux, axis=-1, kind='stable')
        for y in range(height):
            for x in range(width):
                picked = [i for i in by_flux[y, x, :m] if flux[y, x, i] > 0]
                for i in by_distance[y, x]:
                    if len(picked) == m:
                        break
                    if i not in picked:
                        picked.append(i)
                # nearest first, ties to the lower index
                picked.sort(key=lambda i: (d2[y, x, i], i))
                chosen[y, x] = picked
    values = np.take_along_axis(flux, chosen, axis=-1)
    total = values.sum(axis=-1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        fractions = np.where(total > 0, values / total, 1.0 / m)
    chosen_centers = centers[chosen]  # (h, w, m, 2)
    pixel = np.stack([yy, xx], axis=-1)[:, :, None, :]
    vectors = np.empty((height, width, n, 2), dtype=np.float32)
    maps = np.zeros((height, width, n), dtype=np.float32)
    vectors[:, :, :m] = chosen_centers - pixel
    vectors[:, :, m:] = vectors[:, :, :1]
    maps[:, :, :m] = fractions
    return vectors, maps


def reference_softmax(maps):
    """Softmax over the last axis with the kernels' NaN/inf conventions."""
    maps = np.asarray(maps, dtype=np.float64)
    finite_inf = maps == np.inf
    clean = np.where(np.isnan(maps), -np.inf, maps)
    clean = np.where(finite_inf, -np.inf, clean)
    top = clean.max(axis=-1, keepdims=True)
    with np.errstate(invalid='ignore'):
        e = np.where(clean > -np.inf, np.exp(clean - top), 0.0)
        out = e / e.sum(axis=-1, keepdims=True)
    out = np.where(top == -np.inf, 0.0, out)
    n_inf = finite_inf.sum(axis=-1, keepdims=True)
    return np.where(n_inf > 0, finite_inf / np.maximum(n_inf, 1), out)


def reference_decode(vectors, maps, valid, maps_are_logits, centers, *,
                     chunk_rows=16):
    """
    Brute-force decoding (steps 2-4 of the decoding on the PCR page).

    Every target is compared with every centre; slots reaching the same
    centre are merged by looping over slot pairs. Processes
    ``chunk_rows`` rows at a time so memory is O(chunk_rows w n N).

    Returns
    -------
    contributors : (h, w, n) int32
    weights : (h, w, n) float32
    """
    vectors = np.asarray(vectors)
    maps = np.asarray(maps)
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    height, width, n = maps.shape
    contributors = np.zeros((height, width, n), dtype=np.int32)
    weights = np.zeros((height, width, n), dtype=np.float32)
    if len(centers) == 0:
        return contributors, weights
    for y0 in range(0, height, chunk_rows):
        rows = slice(y0, min(y0 + chunk_rows, height))
        v = vectors[rows].astype(np.float64)
        mp = maps[rows].astype(np.float64)
        ok = np.asarray(valid[rows], dtype=bool)
        if maps_are_logits:
            slot_w = reference_softmax(mp)
        else:
            slot_w = np.where((mp > 0) & (mp < np.inf), mp, 0.0)
        yy, xx = np.mgrid[rows, 0:width].astype(np.float64)
        qy = yy[..., None] + v[..., 0]
        qx = xx[..., None] + v[..., 1]
        finite = np.isfinite(qy) & np.isfinite(qx)
        d2 = _squared_distances(np.where(finite, qy, 0.0),
                                np.where(finite, qx, 0.0), centers)
        labels = np.argmin(d2, axis=-1) + 1  # first minimum: lowest index
        slot_w = np.where(finite & ok[..., None], slot_w, 0.0)
        labels = np.where(slot_w > 0, labels, 0)
        total = np.zeros(slot_w.shape[:-1] + (1,))
        for k in range(n):  # in slot order, as the kernel adds them
            total[..., 0] += slot_w[..., k]
        # merge slots that reach the same centre into the earliest slot
        for k in range(n):
            for j in range(k):
                same = (labels[..., k] == labels[..., j]) & (labels[..., j] > 0)
                slot_w[..., j] += np.where(same, slot_w[..., k], 0.0)
                slot_w[..., k] = np.where(same, 0.0, slot_w[..., k])
                labels[..., k] = np.where(same, 0, labels[..., k])
        good = (total > 0) & np.isfinite(total)
        slot_w = np.where(good, slot_w, 0.0)
        labels = np.where(good & (slot_w > 0), labels, 0)
        with np.errstate(invalid='ignore', divide='ignore'):
            w32 = np.where(good, slot_w / total, 0.0).astype(np.float32)
        # the largest weight (first on ties) absorbs the float32 rounding
        best = np.argmax(slot_w, axis=-1)[..., None]
        is_best = np.arange(n) == best
        labels = np.where((w32 > 0) | is_best, labels, 0)
        w32 = np.where(labels > 0, w32, np.float32(0))
        others = np.where(is_best, 0.0, w32.astype(np.float64))
        rest = np.zeros(others.shape[:-1])
        for k in range(n):  # in slot order, as the kernel adds them
            rest += others[..., k]
        w32 = np.where(is_best, (1.0 - rest)[..., None].astype(np.float32),
                       w32)
        w32 = np.where(good, w32, np.float32(0))
        labels = np.where(good, labels, 0)
        # drop empty slots, keeping the order of the others
        order = np.argsort(labels == 0, axis=-1, kind='stable')
        labels = np.take_along_axis(labels, order, axis=-1)
        w32 = np.take_along_axis(w32, order, axis=-1)
        contributors[rows] = labels
        weights[rows] = w32
    return contributors, weights


def reference_local_maxima(image, threshold, half_window):
    """
    Mask of pixels >= threshold equal to the maximum of their window,
    computed with `scipy.ndimage.maximum_filter` (NaN -> -inf, outside
    the frame -> -inf).
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    clean = np.where(np.isnan(image), -np.inf, image)
    size = 2 * half_window + 1
    window_max = ndimage.maximum_filter(clean, size=size, mode='constant',
                                        cval=-np.inf)
    return (clean >= threshold) & (clean == window_max)
