"""
A cutout of a full-frame image together with its location.
"""

from typing import NamedTuple

import numpy as np

__all__ = ['SourceCutout']


class SourceCutout(NamedTuple):
    """
    A cutout array and the slices that place it in the full frame.

    Per-source images are stored as cutouts rather than full frames so that
    memory grows with the total source area, not with N times the image
    size.

    Attributes
    ----------
    data : `~numpy.ndarray`
        The cutout, shape (ny, nx) or (ny, nx, n_bands).
    slices : tuple of slice
        ``(slice_y, slice_x)`` such that ``frame[slices]`` has the shape of
        ``data`` (first two axes). Always clipped to the frame.
    """

    data: object
    slices: tuple

    @property
    def bbox_shape(self):
        """The (ny, nx) shape of the cutout."""
        return tuple(s.stop - s.start for s in self.slices)

    @property
    def origin(self):
        """The (y, x) frame index of the cutout's first pixel."""
        return (self.slices[0].start, self.slices[1].start)

    def to_frame(self, shape, dtype=None):
        """
        Return the cutout pasted into a zero frame of the given shape.

        Parameters
        ----------
        shape : tuple of int
            The (h, w) shape of the full frame.
        dtype : dtype, optional
            The type of the frame; defaults to the cutout's type.

        Returns
        -------
        frame : `~numpy.ndarray`
            Shape ``shape + data.shape[2:]``.
        """
        data = np.asarray(self.data)
        frame = np.zeros(tuple(shape) + data.shape[2:],
                         dtype=dtype or data.dtype)
        frame[self.slices] = data
        return frame
