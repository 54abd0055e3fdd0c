"""
Label-consistent data augmentation: the 8 flips and 90-degree rotations of
the square (the dihedral group D4), applied to an input image and its PCR
labels together (pure NumPy, no TensorFlow).

Moving pixels is not enough for the contribution vectors C^v: each vector
(dy, dx) = centre - pixel must be rotated or reflected with the image, so
that ``augment(encode(truth)) == encode(augment(truth))``
(Hausen & Robertson 2022, arXiv:2201.04714, section 2 defines the PCR).

Transform ``t`` in 0..7 is ``k = t % 4`` counter-clockwise quarter turns
(`numpy.rot90` on the first two axes) followed, when ``t >= 4``, by a
flip of the first (y) axis. A pixel (y, x) of an (h, w) image moves to

- quarter turn: (w - 1 - x, y), a vector (dy, dx) becomes (-dx, dy);
- y flip: (h - 1 - y, x), a vector (dy, dx) becomes (-dy, dx).
"""

import numbers

import numpy as np

__all__ = ['N_TRANSFORMS', 'augment_sample', 'augment_array',
           'augment_vectors', 'augment_centers', 'random_transform']

#: The number of distinct flips/rotations (the order of D4).
N_TRANSFORMS = 8

# sample keys holding (h, w, ..., 2) (dy, dx) vectors
VECTOR_KEYS = ('contribution_vectors',)


def _check_transform(transform):
    if isinstance(transform, bool) or not isinstance(transform,
                                                     numbers.Integral):
        msg = f'transform must be an integer in 0..7, got {transform!r}'
        raise TypeError(msg)
    if not 0 <= transform < N_TRANSFORMS:
        msg = f'transform must be an integer in 0..7, got {transform}'
        raise ValueError(msg)
    return int(transform) % 4, int(transform) >= 4


def augment_array(array, transform):
    """
    Apply flip/rotation ``transform`` to the first two (y, x) axes.

    Parameters
    ----------
    array : array_like, shape (h, w, ...)
        A per-pixel array (image, C^c, C^m, weights). Not modified.
    transform : int
        The transform index, 0..7 (0 is the identity).

    Returns
    -------
    result : `~numpy.ndarray`, shape (h, w, ...) or (w, h, ...)
        A new C-contiguous array (height and width swap for odd quarter
        turns).
    """
    turns, flip = _check_transform(transform)
    array = np.asarray(array)
    if array.ndim < 2:
        msg = f'array must have at least 2 dimensions, got shape {array.shape}'
        raise ValueError(msg)
    result = np.rot90(array, k=turns, axes=(0, 1))
    if flip:
        result = result[::-1]
    return np.ascontiguousarray(result)


def _turn_vectors(vectors, turns, flip):
    """Rotate/reflect the (dy, dx) components in the last axis."""
    dy = vectors[..., 0]
    dx = vectors[..., 1]
    for _ in range(turns):
        dy, dx = -dx, dy
    if flip:
        dy = -dy
    return np.stack([dy, dx], axis=-1).astype(vectors.dtype, copy=False)


def augment_vectors(vectors, transform):
    """
    Apply ``transform`` to a per-pixel vector field such as C^v.

    The pixels move like `augment_array` and each (dy, dx) vector in the
    last axis is rotated/reflected with the image.

    Parameters
    ----------
    vectors : array_like, shape (h, w, ..., 2)
        Offsets (dy, dx) in pixels. Not modified.
    transform : int
        The transform index, 0..7.

    Returns
    -------
    result : `~numpy.ndarray`
        The transformed field, a new array.
    """
    turns, flip = _check_transform(transform)
    vectors = np.asarray(vectors)
    if vectors.ndim < 3 or vectors.shape[-1] != 2:
        msg = ('vectors must have shape (h, w, ..., 2), got shape '
               f'{vectors.shape}')
        raise ValueError(msg)
    moved = augment_array(vectors, transform)
    return np.ascontiguousarray(_turn_vectors(moved, turns, flip))


def augment_centers(centers, shape, transform):
    """
    Move (y, x) positions (e.g. source centres) with ``transform``.

    Parameters
    ----------
    centers : array_like, shape (N, 2)
        (y, x) positions in pixels of an image of shape ``shape``.
    shape : tuple of 2 int
        The (h, w) shape of the image *before* the transform.
    transform : int
        The transform index, 0..7.

    Returns
    -------
    result : `~numpy.ndarray`, shape (N, 2) float64
        The positions in the transformed image.
    """
    turns, flip = _check_transform(transform)
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    height, width = (int(s) for s in shape)
    y = centers[:, 0].copy()
    x = centers[:, 1].copy()
    for _ in range(turns):
        y, x = (width - 1) - x, y
        height, width = width, height
    if flip:
        y = (height - 1) - y
    return np.stack([y, x], axis=1)


def augment_sample(sample, transform):
    """
    Apply ``transform`` to every array of a training sample.

    Parameters
    ----------
    sample : dict of str to array_like
        Per-pixel arrays whose first two axes are (y, x): the input
        ``image`` (h, w, b) and the labels ``center_of_mass`` (h, w),
        ``contribution_vectors`` (h, w, n, 2), ``contribution_maps``
        (h, w, n), ``pixel_weight`` (h, w), ... Arrays under the keys in
        ``VECTOR_KEYS`` (``contribution_vectors``) also get their
        (dy, dx) components rotated. Non-array entries (scalars, e.g. a
        seed) are copied unchanged. Not modified.
    transform : int
        The transform index, 0..7.

    Returns
    -------
    result : dict
        A new dict with the transformed arrays.
    """
    _check_transform(transform)
    result = {}
    for key, value in sample.items():
        array = np.asarray(value)
        if array.ndim < 2:
            result[key] = value
        elif key in VECTOR_KEYS:
            result[key] = augment_vectors(array, transform)
        else:
            result[key] = augment_array(array, transform)
    return result


def random_transform(rng):
    """
    Draw a transform index uniformly from 0..7.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        The random generator.

    Returns
    -------
    transform : int
    """
    return int(rng.integers(N_TRANSFORMS))
