"""
Reading a mosaic region by region, whatever holds it: an in-memory
array, a NumPy memory map or ``.npy`` file, a FITS file, or a dask array.

Sources that a worker can open itself (files) are *portable*: they are
pickled into the tasks (a few hundred bytes) and each task reads its own
region, so no pixel goes through the client. The others (an in-memory
array, a dask array) are read on the client and the region is sent with
the task.
"""

import contextlib
import mmap
import os
import warnings
import zlib

import numpy as np

from ..utils._fits import find_hdu

__all__ = []

_FITS_SUFFIXES = ('.fits', '.fit', '.fts', '.fits.gz', '.fit.gz')


class _ArraySource:
    """An array in this process's memory (not portable)."""

    portable = False

    def __init__(self, array):
        self.array = array
        self.shape = tuple(array.shape)

    def read(self, slices):
        return np.array(self.array[slices], dtype=np.float64)


class _MemmapSource:
    """A raw memory-mapped array on disk (``np.memmap`` or ``.npy``)."""

    portable = True

    def __init__(self, filename, dtype, shape, offset, order):
        self.filename = os.path.abspath(os.fspath(filename))
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.offset = int(offset)
        self.order = order

    def read(self, slices):
        array = np.memmap(self.filename, dtype=self.dtype, mode='r',
                          shape=self.shape, offset=self.offset,
                          order=self.order)
        try:
            return np.array(array[slices], dtype=np.float64)
        finally:
            del array  # closes the map


@contextlib.contextmanager
def _fits_damage(filename, what):
    """
    Turn astropy's warning that a file is shorter than its headers
    declare, and the errors of reading a cut or garbled file, into an
    `OSError` naming the file (astropy's own, e.g. "cannot reshape array
    of size ...", name neither the file nor the cause).
    """
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='.*truncated',
                                category=AstropyUserWarning)
        try:
            yield
        except (AstropyUserWarning, OSError, ValueError, TypeError,
                EOFError, IndexError, zlib.error) as error:
            if isinstance(error, FileNotFoundError):
                raise
            msg = (f'image {filename!r} is truncated or corrupt: {what} '
                   f'failed ({type(error).__name__}: {error})')
            raise OSError(msg) from error


class _FitsSource:
    """One image HDU of a FITS file, read by section (portable)."""

    portable = True

    def __init__(self, filename, hdu):
        from astropy.io import fits

        self.filename = os.path.abspath(os.fspath(filename))
        hdulist = None
        try:
            with _fits_damage(self.filename, 'reading its headers'):
                hdulist = fits.open(self.filename, memmap=True)
                len(hdulist)  # loads every header: a cut file warns here
        except OSError:
            if hdulist is not None:
                hdulist.close()
            raise
        with hdulist:
            self.hdu = _image_hdu(hdulist, hdu, self.filename)
            header = hdulist[self.hdu].header
            self.shape = tuple(header[f'NAXIS{axis}']
                               for axis in range(header['NAXIS'], 0, -1))

    def read(self, slices):
        from astropy.io import fits

        with _fits_damage(self.filename, f'reading region {slices}'), \
                fits.open(self.filename, memmap=True) as hdulist:
            # .section reads only the rows of the region
            region = hdulist[self.hdu].section[slices]
            return np.array(region, dtype=np.float64)


class _DaskSource:
    """A dask array, computed region by region on the client."""

    portable = False

    def __init__(self, array):
        self.array = array
        self.shape = tuple(int(size) for size in array.shape)

    def read(self, slices):
        return np.array(self.array[slices].compute(), dtype=np.float64)


def _image_hdu(hdulist, hdu, filename):
    """The index of the requested (or first) image HDU with 2-D data."""
    if hdu is None:
        for index, candidate in enumerate(hdulist):
            if candidate.is_image and candidate.header.get('NAXIS', 0) == 2:
                return index
        msg = f'image {filename!r} has no 2-dimensional image HDU'
        raise ValueError(msg)
    index = find_hdu(hdulist, hdu)
    if index is None:
        msg = f'hdu {hdu!r} is not in {filename!r}'
        raise ValueError(msg)
    header = hdulist[index].header
    if not hdulist[index].is_image or header.get('NAXIS', 0) != 2:
        msg = (f'hdu {hdu!r} of {filename!r} must hold a 2-dimensional '
               f'image, got NAXIS={header.get("NAXIS", 0)}')
        raise ValueError(msg)
    return index


def _memmap_source(array):
    """A portable source for a memory map that starts its file mapping."""
    # a view of a memmap keeps the parent's offset attribute although it
    # starts elsewhere; only a map made from the file itself (its base is
    # the mmap) can be reopened by a worker
    if (array.filename is None or not isinstance(array.base, mmap.mmap)
            or not (array.flags.c_contiguous or array.flags.f_contiguous)):
        return None
    order = 'C' if array.flags.c_contiguous else 'F'
    return _MemmapSource(array.filename, array.dtype, array.shape,
                         array.offset, order)


def open_source(data, *, hdu=None):
    """
    The source object for ``data`` (see the module).

    Raises
    ------
    TypeError
        For a type that is not an image.
    ValueError, FileNotFoundError
        For a bad file, HDU or shape.
    OSError
        For a truncated or corrupt FITS file (the message names it).
    """
    if isinstance(data, (str, os.PathLike)):
        filename = os.fspath(data)
        if not os.path.isfile(filename):
            msg = f'image file {filename!r} does not exist'
            raise FileNotFoundError(msg)
        if filename.lower().endswith('.npy'):
            array = np.load(filename, mmap_mode='r')
            source = _memmap_source(array)
            if source is None:  # pragma: no cover - np.load maps whole files
                source = _ArraySource(array)
        elif filename.lower().endswith(_FITS_SUFFIXES):
            source = _FitsSource(filename, hdu)
        else:
            msg = (f'data file {filename!r} must be a FITS (.fits, .fit, '
                   f'.fts) or NumPy (.npy) file')
            raise ValueError(msg)
    elif isinstance(data, np.memmap):
        source = _memmap_source(data) or _ArraySource(data)
    elif isinstance(data, np.ndarray):
        source = _ArraySource(data)
    elif type(data).__module__.startswith('dask.') and hasattr(
            data, 'compute'):
        source = _DaskSource(data)
    else:
        msg = (f'data must be a numpy array, a dask array or the path of a '
               f'FITS or .npy file, got {type(data).__name__}')
        raise TypeError(msg)
    _check_source(source)
    return source


def _check_source(source):
    shape = source.shape
    dtype = getattr(getattr(source, 'array', None), 'dtype', None) or (
        getattr(source, 'dtype', None))
    if dtype is not None and np.dtype(dtype).kind not in 'biuf':
        msg = f'data must hold real numbers, got dtype {np.dtype(dtype)}'
        raise TypeError(msg)
    if len(shape) not in (2, 3):
        msg = (f'data must be 2-dimensional (or 3-dimensional with a '
               f'trailing band axis), got shape {shape}')
        raise ValueError(msg)
    if min(shape) == 0:
        msg = f'data must not be empty, got shape {shape}'
        raise ValueError(msg)
