"""
Input checks shared by the public functions.

Every check raises `TypeError` or `ValueError` whose message names the
parameter and the offending value, so a user never gets a silent wrong
answer from bad input.
"""

import numbers

import numpy as np

__all__ = ['as_image', 'as_positions', 'check_positive_int',
           'check_nonnegative_int', 'check_finite_float', 'check_same_shape',
           'check_in', 'check_at_most', 'check_boolean']


def describe(value):
    """The ``repr`` of ``value`` for an error message, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def as_image(data, name='data', *, ndim=(2,), allow_empty=False,
             dtype=np.float64):
    """
    Return ``data`` as a read-only view or copy of a real-valued ndarray.

    The caller's array is never modified: a view is made read-only-safe by
    copying when a conversion is needed.

    Parameters
    ----------
    data : array_like
        The input image.
    name : str, optional
        The parameter name used in error messages.
    ndim : tuple of int, optional
        The allowed numbers of dimensions.
    allow_empty : bool, optional
        Whether an array with zero size is acceptable.
    dtype : dtype, optional
        The floating-point type of the result.

    Returns
    -------
    image : `~numpy.ndarray`
        The image as ``dtype`` (a copy unless it already had that type).
    """
    if isinstance(data, (str, bytes)) or data is None:
        msg = f'{name} must be an array, got {describe(data)}'
        raise TypeError(msg)
    array = np.asanyarray(data)
    if isinstance(array, np.ma.MaskedArray):
        array = array.filled(np.nan) if array.dtype.kind == 'f' else (
            array.astype(dtype).filled(np.nan))
    if array.dtype.kind not in 'biuf':
        msg = (f'{name} must hold real numbers, got an array of dtype '
               f'{array.dtype}')
        raise TypeError(msg)
    if array.ndim not in ndim:
        expected = ' or '.join(str(n) for n in ndim)
        msg = (f'{name} must be {expected}-dimensional, got shape '
               f'{array.shape} ({array.ndim} dimensions)')
        raise ValueError(msg)
    if array.size == 0 and not allow_empty:
        msg = f'{name} must not be empty, got shape {array.shape}'
        raise ValueError(msg)
    return np.asarray(array, dtype=dtype)


def check_positive_int(value, name):
    """
    Return ``value`` as an int after checking it is an integer >= 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f'{name} must be a positive integer, got {describe(value)}'
        raise TypeError(msg)
    if value < 1:
        msg = f'{name} must be a positive integer, got {value}'
        raise ValueError(msg)
    return int(value)


def check_nonnegative_int(value, name):
    """
    Return ``value`` as an int after checking it is an integer >= 0.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f'{name} must be a non-negative integer, got {describe(value)}'
        raise TypeError(msg)
    if value < 0:
        msg = f'{name} must be a non-negative integer, got {value}'
        raise ValueError(msg)
    return int(value)


def check_finite_float(value, name, *, minimum=None, maximum=None,
                       include_minimum=False):
    """
    Return ``value`` as a float after checking it is finite and in range.

    Parameters
    ----------
    value : float
        The value to check.
    name : str
        The parameter name used in error messages.
    minimum, maximum : float, optional
        Bounds; ``minimum`` is exclusive unless ``include_minimum``,
        ``maximum`` is inclusive.
    include_minimum : bool, optional
        Whether ``value == minimum`` is allowed.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f'{name} must be a real number, got {describe(value)}'
        raise TypeError(msg)
    value = float(value)
    if not np.isfinite(value):
        msg = f'{name} must be finite, got {value}'
        raise ValueError(msg)
    if minimum is not None:
        too_small = value < minimum if include_minimum else value <= minimum
        if too_small:
            relation = '>=' if include_minimum else '>'
            msg = f'{name} must be {relation} {minimum}, got {value}'
            raise ValueError(msg)
    if maximum is not None and value > maximum:
        msg = f'{name} must be <= {maximum}, got {value}'
        raise ValueError(msg)
    return value


def check_at_most(value, maximum, name, reason):
    """
    Return ``value`` after checking it is at most ``maximum``; the
    `ValueError` message gives ``reason``, why larger values are refused.
    """
    if value > maximum:
        msg = f'{name} must be at most {maximum} ({reason}), got {value}'
        raise ValueError(msg)
    return value


def check_boolean(array, name):
    """
    Return ``array`` after checking it is boolean: a mask of floats or
    integers (e.g. 0.5) is refused, never truncated to True.
    """
    if array.dtype.kind != 'b':
        msg = f'{name} must be a boolean array, got dtype {array.dtype}'
        raise TypeError(msg)
    return array


def check_same_shape(shape, expected, name, expected_name):
    """
    Raise `ValueError` unless ``shape == expected``.
    """
    if tuple(shape) != tuple(expected):
        msg = (f'{name} has shape {tuple(shape)} but {expected_name} has '
               f'shape {tuple(expected)}; they must match')
        raise ValueError(msg)


def check_in(value, allowed, name):
    """
    Raise `ValueError` unless ``value`` is one of ``allowed``.
    """
    if value not in allowed:
        choices = ', '.join(repr(a) for a in allowed)
        msg = f'{name} must be one of {choices}, got {describe(value)}'
        raise ValueError(msg)
    return value


def as_positions(positions, name):
    """
    Return ``positions`` as a new C-contiguous (N, 2) float64 array of
    finite pixel positions; an empty sequence gives shape (0, 2).

    Parameters
    ----------
    positions : array_like
        (N, 2) positions, e.g. (y, x) source centres.
    name : str
        The parameter name used in error messages.

    A dict is refused: its order need not be the label order.
    """
    if isinstance(positions, (str, bytes)) or positions is None:
        msg = f'{name} must be an (N, 2) array of positions, got {positions!r}'
        raise TypeError(msg)
    if isinstance(positions, dict):
        msg = (f'{name} must be an (N, 2) array of positions in label '
               'order, got a dict')
        raise TypeError(msg)
    array = np.asarray(positions)
    if array.dtype.kind not in 'biuf':
        msg = f'{name} must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        msg = f'{name} must have shape (N, 2), got shape {array.shape}'
        raise ValueError(msg)
    array = np.array(array, dtype=np.float64, order='C')
    if not np.all(np.isfinite(array)):
        msg = f'{name} must be finite, got non-finite positions'
        raise ValueError(msg)
    return array
