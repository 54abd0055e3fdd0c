"""
`TilePlan`: how a mosaic is cut into tiles whose cores cover it exactly
once and whose extended regions (core plus margin) give each core pixel
the context a single pass over the whole image would give it.
"""

from typing import NamedTuple

import numpy as np

from ..utils._validation import (check_nonnegative_int, check_positive_int)

__all__ = ['Tile', 'TilePlan']


class Tile(NamedTuple):
    """
    One tile of a `TilePlan`.

    Attributes
    ----------
    index : int
        Position in the plan, row-major.
    row, column : int
        The tile's row and column in the grid of tiles.
    core : tuple of 2 slice
        The (y, x) pixels the tile owns, in the frame; the cores of a plan
        cover the frame exactly once.
    extended : tuple of 2 slice
        The core grown by the plan's margin on every side, clipped at the
        frame: the pixels read and processed for this tile.
    """

    index: int
    row: int
    column: int
    core: tuple
    extended: tuple

    @property
    def core_in_extended(self):
        """The core as slices of the extended region (tuple of 2 slice)."""
        return tuple(slice(c.start - e.start, c.stop - e.start)
                     for c, e in zip(self.core, self.extended))

    @property
    def origin(self):
        """The (y, x) frame position of the extended region's first pixel."""
        return (self.extended[0].start, self.extended[1].start)


class TilePlan:
    """
    A grid of square tile cores over an image, each extended by a margin.

    Sources are owned by the tile whose core holds their centre pixel,
    so that each source is deblended once; the margin is the context the
    network and the decoder need for the core pixels near the tile edge
    (see `deblend_mosaic`).

    Parameters
    ----------
    shape : tuple of 2 int
        The (h, w) shape of the image, pixels.
    tile_size : int
        The side of the tile cores, pixels (the last row and column of
        tiles are cut at the frame).
    margin : int
        The context added on every side of a core, pixels (>= 0).
    multiple_of : int, optional
        ``tile_size`` and ``margin`` must be multiples of it (the
        network's downsampling factor, so that every tile sees the pixel
        grid a single pass would see).

    Raises
    ------
    TypeError, ValueError
        For a bad shape, size or margin; the message names the parameter.

    Examples
    --------
    >>> from pais_deblend.mosaic import TilePlan
    >>> plan = TilePlan((1000, 700), 512, margin=64)
    >>> len(plan), plan.grid_shape
    (4, (2, 2))
    >>> plan[3].core
    (slice(512, 1000, None), slice(512, 700, None))
    >>> plan[3].extended
    (slice(448, 1000, None), slice(448, 700, None))
    """

    def __init__(self, shape, tile_size, *, margin, multiple_of=1):
        self.shape = _check_shape(shape)
        self.tile_size = check_positive_int(tile_size, 'tile_size')
        self.margin = check_nonnegative_int(margin, 'margin')
        self.multiple_of = check_positive_int(multiple_of, 'multiple_of')
        for name in ('tile_size', 'margin'):
            value = getattr(self, name)
            if value % self.multiple_of:
                msg = (f'{name} must be a multiple of {self.multiple_of} '
                       f'(the network downsampling factor), got {value}')
                raise ValueError(msg)

    def __repr__(self):
        return (f'TilePlan(shape={self.shape}, tile_size={self.tile_size}, '
                f'margin={self.margin}, multiple_of={self.multiple_of})')

    def __eq__(self, other):
        if not isinstance(other, TilePlan):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(tuple(sorted(self.to_dict().items())))

    @property
    def grid_shape(self):
        """The number of tile (rows, columns)."""
        return tuple(-(-size // self.tile_size) for size in self.shape)

    def __len__(self):
        rows, columns = self.grid_shape
        return rows * columns

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(
                index, (int, np.integer)):
            msg = f'tile index must be an integer, got {index!r}'
            raise TypeError(msg)
        if not -len(self) <= index < len(self):
            msg = (f'tile index must be in [0, {len(self)}), got {index}')
            raise IndexError(msg)
        index = int(index) % len(self)
        row, column = divmod(index, self.grid_shape[1])
        core = tuple(
            slice(i * self.tile_size, min((i + 1) * self.tile_size, size))
            for i, size in zip((row, column), self.shape))
        extended = tuple(
            slice(max(c.start - self.margin, 0),
                  min(c.stop + self.margin, size))
            for c, size in zip(core, self.shape))
        return Tile(index, row, column, core, extended)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]

    def tile_index_of(self, positions):
        """
        The index of the tile owning each position: the one whose core
        holds the position's nearest pixel (clipped into the frame).

        Parameters
        ----------
        positions : array_like, shape (N, 2)
            (y, x) positions, pixels.

        Returns
        -------
        indices : `~numpy.ndarray`, shape (N,), int64
        """
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        pixel = np.rint(positions).astype(np.int64)
        pixel[:, 0] = np.clip(pixel[:, 0], 0, self.shape[0] - 1)
        pixel[:, 1] = np.clip(pixel[:, 1], 0, self.shape[1] - 1)
        rows, columns = (pixel // self.tile_size).T
        return rows * self.grid_shape[1] + columns

    @property
    def overhead(self):
        """
        Pixels processed (extended regions) per image pixel, >= 1: the
        price of the margins.
        """
        processed = 0
        for tile in self:
            processed += int(np.prod([s.stop - s.start
                                      for s in tile.extended]))
        return processed / float(np.prod(self.shape))

    def to_dict(self):
        """The plan as a JSON-serialisable dict (see `from_dict`)."""
        return {'shape': list(self.shape), 'tile_size': self.tile_size,
                'margin': self.margin, 'multiple_of': self.multiple_of}

    @classmethod
    def from_dict(cls, mapping):
        """The plan described by a dict from `to_dict`."""
        return cls(tuple(mapping['shape']), mapping['tile_size'],
                   margin=mapping['margin'],
                   multiple_of=mapping.get('multiple_of', 1))


def _check_shape(shape):
    try:
        values = tuple(shape)
    except TypeError:
        msg = f'shape must be a pair of positive integers, got {shape!r}'
        raise TypeError(msg) from None
    if len(values) != 2:
        msg = f'shape must be a pair of positive integers, got {shape!r}'
        raise ValueError(msg)
    return tuple(check_positive_int(value, 'shape') for value in values)
