"""
Slow, literal reference implementations of the template-attribution
kernels in `._kernels`, used only by the tests.

They follow the definitions in `attribute_with_templates` as directly as
possible: segment bounding boxes from ``np.nonzero``, pixel-by-pixel
Python loops, the monotonic projection over pixels sorted by their
Chebyshev distance, and the per-pixel sharing with Python sorting. Use
them on small images only.
"""

import math

import numpy as np

__all__ = []


def reference_refine_centers(image, centers, max_shift, segments=None):
    """(N, 2) refined centres, as `._kernels.refine_centers`."""
    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape
    refined = np.array(centers, dtype=np.float64).reshape(-1, 2)
    for i, (cy, cx) in enumerate(np.asarray(centers, dtype=np.float64)):
        y, x = math.floor(cy + 0.5), math.floor(cx + 0.5)
        if not (0 <= y < height and 0 <= x < width):
            continue
        if segments is not None and segments[y, x] <= 0:
            continue
        moved_away = False
        while True:
            neighbours = [(y + dy, x + dx) for dy in (-1, 0, 1)
                          for dx in (-1, 0, 1)
                          if 0 <= y + dy < height and 0 <= x + dx < width
                          and (segments is None
                               or segments[y + dy, x + dx]
                               == segments[math.floor(cy + 0.5),
                                           math.floor(cx + 0.5)])]
            best = (y, x)
            for ny, nx in neighbours:  # raster order, strictly larger
                if image[ny, nx] > image[best]:
                    best = (ny, nx)
            if best == (y, x):
                break
            y, x = best
            if math.hypot(y - cy, x - cx) > max_shift + 1:
                moved_away = True
                break
        if moved_away or y in (0, height - 1) or x in (0, width - 1):
            continue

        def vertex(below, peak, above):
            curvature = below - 2 * peak + above
            if not curvature < 0:
                return 0.0
            return float(np.clip(0.5 * (below - above) / curvature, -0.5,
                                 0.5))

        ry = y + vertex(image[y - 1, x], image[y, x], image[y + 1, x])
        rx = x + vertex(image[y, x - 1], image[y, x], image[y, x + 1])
        if math.hypot(ry - cy, rx - cx) <= max_shift:
            refined[i] = ry, rx
    return refined


def reference_boxes(centers, segments, max_radius):
    """
    (N, 4) boxes ``(y0, y1, x0, x1)`` of the templates and the segment of
    each centre (0 without a template).
    """
    height, width = segments.shape
    boxes = np.tile([0, -1, 0, -1], (len(centers), 1)).astype(np.int64)
    source_segments = np.zeros(len(centers), dtype=np.int64)
    for i, (cy, cx) in enumerate(centers):
        py, px = math.floor(cy + 0.5), math.floor(cx + 0.5)
        if not (0 <= py < height and 0 <= px < width) or segments[py, px] == 0:
            continue
        segment = segments[py, px]
        source_segments[i] = segment
        ys, xs = np.nonzero(segments == segment)
        reach = max(cy - ys.min(), ys.max() - cy, cx - xs.min(),
                    xs.max() - cx)
        half = math.ceil(min(reach, max_radius))
        boxes[i] = (max(py - half, ys.min()), min(py + half, ys.max()),
                    max(px - half, xs.min()), min(px + half, xs.max()))
    return boxes, source_segments


def _bilinear(plane, y, x):
    height, width = plane.shape
    y0 = min(math.floor(y), height - 1)
    x0 = min(math.floor(x), width - 1)
    y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
    fy, fx = y - y0, x - x0
    top = (1 - fx) * float(plane[y0, x0]) + fx * float(plane[y0, x1])
    bottom = (1 - fx) * float(plane[y1, x0]) + fx * float(plane[y1, x1])
    return (1 - fy) * top + fy * bottom


def _touches(masked, y, x):
    height, width = masked.shape
    y0 = min(math.floor(y), height - 1)
    x0 = min(math.floor(x), width - 1)
    rows = {y0, min(y0 + 1, height - 1)}
    columns = {x0, min(x0 + 1, width - 1)}
    return any(masked[r, c] for r in rows for c in columns)


def reference_symmetric(plane, center, box, masked=None):
    """float64 symmetric template ``max(0, min(S(x), S(2c - x)))`` over the
    whole box (segments ignored); ``S(x)`` alone where the mirror point is
    outside the frame or next to a ``masked`` pixel."""
    height, width = plane.shape
    cy, cx = center
    y0, y1, x0, x1 = box
    out = np.zeros((y1 - y0 + 1, x1 - x0 + 1))
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            value = float(plane[y, x])
            my, mx = 2 * cy - y, 2 * cx - x
            if 0 <= my <= height - 1 and 0 <= mx <= width - 1 and not (
                    masked is not None and _touches(masked, my, mx)):
                value = min(value, _bilinear(plane, my, mx))
            out[y - y0, x - x0] = max(value, 0.0)
    return out


def reference_monotonic(values, inside, pixel):
    """
    Radially monotonic projection of ``values`` (box array) about
    ``pixel`` (box coordinates); pixels where ``inside`` is False pass
    their parent's bound on unchanged. Returns a new array.
    """
    out = np.array(values, dtype=np.float64)
    py, px = pixel
    order = sorted(np.ndindex(out.shape),
                   key=lambda p: max(abs(p[0] - py), abs(p[1] - px)))
    for y, x in order:
        dy, dx = y - py, x - px
        if dy == 0 and dx == 0:
            continue
        sy = int(np.sign(dy)) if 2 * abs(dy) >= abs(dx) else 0
        sx = int(np.sign(dx)) if 2 * abs(dx) >= abs(dy) else 0
        bound = out[y - sy, x - sx]
        out[y, x] = min(out[y, x], bound) if inside[y, x] else bound
    return out


def reference_template(plane, segments, center, box, segment, monotonic,
                       threshold, masked=None):
    """float32 template of one source on one plane over its box."""
    y0, y1, x0, x1 = box
    values = reference_symmetric(plane, center, box, masked)
    inside = segments[y0:y1 + 1, x0:x1 + 1] == segment
    if monotonic:
        pixel = (math.floor(center[0] + 0.5) - y0,
                 math.floor(center[1] + 0.5) - x0)
        values = reference_monotonic(values, inside, pixel)
    values[~inside | (values < threshold)] = 0.0
    return values.astype(np.float32)


def reference_templates(planes, segments, centers, max_radius, monotonic,
                        thresholds, masked=None):
    """
    List of (box, (p, box_h, box_w) float32 templates or None) per
    centre.
    """
    boxes, source_segments = reference_boxes(centers, segments, max_radius)
    result = []
    for i, center in enumerate(centers):
        if source_segments[i] == 0:
            result.append((tuple(boxes[i]), None))
            continue
        result.append((tuple(boxes[i]), np.array([
            reference_template(plane, segments, center, boxes[i],
                               source_segments[i], monotonic, threshold,
                               masked)
            for plane, threshold in zip(planes, thresholds)])))
    return result


def _float32_shares(values):
    """float32 shares of ``values`` (float64), the largest (first on
    ties) set to one minus the others."""
    total = sum(values)
    best = int(np.argmax(values))
    shares = [np.float32(v / total) for v in values]
    rest = sum(float(s) for i, s in enumerate(shares) if i != best)
    shares[best] = np.float32(1.0 - rest)
    return shares


def reference_share(templates, shape, n, coefficients, band_scale,
                    with_bands):
    """
    Per-pixel sharing of the templates of `reference_templates`.

    Parameters
    ----------
    templates : list
        From `reference_templates`.
    shape : (h, w)
    n : int
    coefficients : (N, p) float64
        Combined value ``float32(sum_p coefficients[i, p] * T_ip)``.
    band_scale : (N, b) float64
        Band b's value is ``band_scale[i, b] * T_ib`` (plane 0 if there is
        one plane).
    with_bands : bool

    Returns
    -------
    contributors, weights, band_weights (or None), dominant, covered
    """
    height, width = shape
    n_bands = band_scale.shape[1]
    pixel_values = {}
    for i, (box, values) in enumerate(templates):
        if values is None:
            continue
        y0, _, x0, _ = box
        for (p_y, p_x) in np.ndindex(values.shape[1:]):
            combined = np.float32(sum(
                coefficients[i, p] * float(values[p, p_y, p_x])
                for p in range(values.shape[0])))
            if combined > 0:
                pixel_values.setdefault((y0 + p_y, x0 + p_x), []).append(
                    (combined, i))
    contributors = np.zeros((height, width, n), dtype=np.int32)
    weights = np.zeros((height, width, n), dtype=np.float32)
    band_weights = (np.zeros((height, width, n, n_bands), dtype=np.float32)
                    if with_bands else None)
    for (y, x), entries in pixel_values.items():
        kept = sorted(entries, key=lambda e: (-e[0], e[1]))[:n]
        total = sum(float(v) for v, _ in kept)
        shares = [float(v) / total for v, _ in kept]
        # the first (largest) absorbs the rounding; zeros are dropped
        stored = [np.float32(s) for s in shares]
        labels = [i + 1 for _, i in kept]
        keep = [0] + [m for m in range(1, len(kept)) if stored[m] > 0]
        labels = [labels[m] for m in keep]
        stored = [stored[m] for m in keep]
        stored[0] = np.float32(1.0 - sum(float(s) for s in stored[1:]))
        order = sorted(range(len(labels)), key=lambda m: -stored[m])
        labels = [labels[m] for m in order]
        stored = [stored[m] for m in order]
        contributors[y, x, :len(labels)] = labels
        weights[y, x, :len(labels)] = stored
        if not with_bands:
            continue
        for b in range(n_bands):
            values = []
            for label in labels:
                box, planes = templates[label - 1]
                plane = planes[b] if planes.shape[0] > 1 else planes[0]
                values.append(band_scale[label - 1, b]
                              * float(plane[y - box[0], x - box[2]]))
            if not sum(values) > 0:
                band_weights[y, x, :len(labels), b] = stored
            else:
                band_weights[y, x, :len(labels), b] = _float32_shares(values)
    dominant = contributors[..., 0].copy()
    covered = dominant > 0
    return contributors, weights, band_weights, dominant, covered
