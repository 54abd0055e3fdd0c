"""
Private helpers shared by the evaluation modules: turning the accepted
forms of per-source images into cutouts, and checking positions.
"""

import numbers

import numpy as np

from pais_deblend.segmentation.cutout import SourceCutout

__all__ = []


def _is_cutout(value):
    return isinstance(value, SourceCutout)


def _check_slices(slices, shape, name):
    if (not isinstance(slices, tuple) or len(slices) != 2
            or not all(isinstance(s, slice) for s in slices)):
        msg = f'{name} must be a tuple of two slices, got {slices!r}'
        raise TypeError(msg)
    for axis, (s, size) in enumerate(zip(slices, shape)):
        start, stop = s.start, s.stop
        if (start is None or stop is None or s.step not in (None, 1)
                or start < 0 or stop < start
                or (size is not None and stop > size)):
            msg = (f'{name} axis {axis} slice {s!r} is not a clipped, '
                   f'unit-step slice inside a frame of shape {shape}')
            raise ValueError(msg)




def as_source_cutouts(source_images, name='source_images', *, shape=None):
    """
    Return per-source images as a list of float64 2-D `SourceCutout` and the
    frame shape.

    Parameters
    ----------
    source_images : array_like or sequence of `SourceCutout`
        Either an (N, h, w) array of full-frame per-source images or a
        sequence of N cutouts.
    name : str, optional
        The parameter name used in error messages.
    shape : tuple of int, optional
        The (h, w) frame shape. Required for cutouts unless it can be
        taken as the largest slice stops; checked against an array.

    Returns
    -------
    cutouts : list of `SourceCutout`
        Each cropped (for full-frame input) to the bounding box of its
        nonzero pixels.
    shape : tuple of int
        The (h, w) frame shape.
    """
    if shape is not None:
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(s, numbers.Integral) and s >= 0
                           for s in shape)):
            msg = f'shape must be a tuple of two integers >= 0, got {shape!r}'
            raise ValueError(msg)
        shape = tuple(int(s) for s in shape)
    if isinstance(source_images, (str, bytes)) or source_images is None:
        msg = (f'{name} must be an (N, h, w) array or a sequence of '
               f'SourceCutout, got {source_images!r}')
        raise TypeError(msg)
    if isinstance(source_images, np.ndarray) or not (
            len(source_images) > 0 and _is_cutout(source_images[0])):
        array = np.asarray(source_images)
        if array.dtype.kind not in 'biuf':
            msg = f'{name} must hold real numbers, got dtype {array.dtype}'
            raise TypeError(msg)
        if array.size == 0 and array.ndim < 3:
            if shape is None:
                msg = (f'{name} is empty; pass shape to give the frame '
                       'shape')
                raise ValueError(msg)
            return [], shape
        if array.ndim != 3:
            msg = (f'{name} must be an (N, h, w) array, got shape '
                   f'{array.shape}')
            raise ValueError(msg)
        if shape is not None and array.shape[1:] != shape:
            msg = (f'{name} has frame shape {array.shape[1:]} but shape is '
                   f'{shape}; they must match')
            raise ValueError(msg)
        array = np.asarray(array, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            msg = f'{name} must be finite, got non-finite pixels'
            raise ValueError(msg)
        cutouts = []
        for image in array:
            rows = np.flatnonzero(image.any(axis=1))
            cols = np.flatnonzero(image.any(axis=0))
            if rows.size == 0:
                slices = (slice(0, 0), slice(0, 0))
            else:
                slices = (slice(rows[0], rows[-1] + 1),
                          slice(cols[0], cols[-1] + 1))
            cutouts.append(SourceCutout(image[slices].copy(), slices))
        return cutouts, tuple(array.shape[1:])

    cutouts = []
    for index, cutout in enumerate(source_images):
        item = f'{name}[{index}]'
        if not _is_cutout(cutout):
            msg = (f'{item} must be a SourceCutout like the other items, got '
                   f'{type(cutout).__name__}')
            raise TypeError(msg)
        _check_slices(cutout.slices, shape or (None, None), f'{item}.slices')
        data = np.asarray(cutout.data)
        if data.dtype.kind not in 'biuf':
            msg = f'{item}.data must hold real numbers, got dtype {data.dtype}'
            raise TypeError(msg)
        if data.shape != cutout.bbox_shape:
            msg = (f'{item}.data has shape {data.shape} but its slices give '
                   f'{cutout.bbox_shape}; they must match (2-D only)')
            raise ValueError(msg)
        data = np.asarray(data, dtype=np.float64)
        if not np.all(np.isfinite(data)):
            msg = f'{item}.data must be finite, got non-finite pixels'
            raise ValueError(msg)
        cutouts.append(SourceCutout(data, cutout.slices))
    if shape is None:
        if not cutouts:
            msg = f'{name} is empty; pass shape to give the frame shape'
            raise ValueError(msg)
        shape = (max(c.slices[0].stop for c in cutouts),
                 max(c.slices[1].stop for c in cutouts))
    return cutouts, shape


def paste(cutout, window):
    """
    Return the part of ``cutout`` inside ``window`` (a tuple of two
    slices in frame coordinates) as an array of the window's shape.
    """
    out = np.zeros((window[0].stop - window[0].start,
                    window[1].stop - window[1].start))
    (sy, sx) = cutout.slices
    y0, y1 = max(sy.start, window[0].start), min(sy.stop, window[0].stop)
    x0, x1 = max(sx.start, window[1].start), min(sx.stop, window[1].stop)
    if y1 > y0 and x1 > x0:
        out[y0 - window[0].start:y1 - window[0].start,
            x0 - window[1].start:x1 - window[1].start] = np.asarray(
                cutout.data)[y0 - sy.start:y1 - sy.start,
                             x0 - sx.start:x1 - sx.start]
    return out


def union_window(*cutouts):
    """
    Return the smallest window (two slices) holding all non-empty cutouts,
    or `None` if all are empty.
    """
    boxes = [c.slices for c in cutouts
             if c.slices[0].stop > c.slices[0].start
             and c.slices[1].stop > c.slices[1].start]
    if not boxes:
        return None
    return (slice(min(b[0].start for b in boxes),
                  max(b[0].stop for b in boxes)),
            slice(min(b[1].start for b in boxes),
                  max(b[1].stop for b in boxes)))
