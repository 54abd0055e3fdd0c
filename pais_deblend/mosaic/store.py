"""
The Zarr store of a deblended mosaic and `MosaicSegmentation`, its
reader: any region comes back as a
`~pais_deblend.segmentation.PartialSegmentationImage` without reading the
rest.

Layout of the store (a Zarr group, a directory):

``contributors``
    (h, w, n) int32, the partial form's labels (0 = none), chunked along
    the tile cores.
``weights``
    (h, w, n) float32, the matching weights.
``band_weights``
    (h, w, n, b) float32, each band's weights aligned with
    ``contributors`` (`PartialSegmentationImage.band_weights`), chunked
    like ``weights``; only for a model with per-band contribution maps
    (e.g. the bundled ``ground_grz``).
``labels``, ``centers``, ``effective_areas``
    (N,) int32, (N, 2) float64 (y, x) frame pixels, (N,) float64 pixels:
    one entry per source, labels 1..N.
``class_star``
    (N,) float64 in [0, 1], the star probability of each source; only
    for a model with the star/galaxy head.
attributes
    ``format``, ``format_version``, ``shape``, ``n_contributors``,
    ``n_sources``, ``plan`` (`TilePlan.to_dict`), ``model``,
    ``noise_sigma``, ``detection_noise`` and the decoding settings; with
    ``band_weights`` also ``band_names`` (b str, or None when the model
    names no bands).

A single-band model writes neither ``band_weights`` nor ``class_star``
(stores of earlier versions read as before).
"""

import os

import numpy as np

from ..utils._optional_deps import require
from .plan import TilePlan

__all__ = ['MosaicSegmentation', 'read_mosaic']

FORMAT = 'pais_deblend.mosaic'
FORMAT_VERSION = 1


def _zarr():
    return require('zarr')


def chunk_side(tile_size):
    """Chunk side of the pixel arrays: a divisor of the tile size, so that
    each tile writes only its own chunks (no two tasks share a chunk)."""
    for side in (1024, 512):
        if tile_size > side and tile_size % side == 0:
            return side
    return tile_size


def create_store(path, shape, n_contributors, tile_size, *, n_bands=None):
    """
    Create the group and its two (h, w, n) pixel arrays at ``path``, and
    the (h, w, n, b) ``band_weights`` array when ``n_bands`` is given.
    """
    zarr = _zarr()
    group = zarr.open_group(path, mode='w')
    side = chunk_side(tile_size)
    for name, dtype in (('contributors', 'int32'), ('weights', 'float32')):
        _create_array(group, name, tuple(shape) + (n_contributors,),
                      (side, side, n_contributors), dtype)
    if n_bands is not None:
        _create_array(group, 'band_weights',
                      tuple(shape) + (n_contributors, n_bands),
                      (side, side, n_contributors, n_bands), 'float32')
    return group


def _create_array(group, name, shape, chunks, dtype):
    chunks = tuple(max(1, min(c, s)) for c, s in zip(chunks, shape))
    create = getattr(group, 'create_array', None)
    if create is None:  # zarr 2
        return group.create_dataset(name, shape=shape, chunks=chunks,
                                    dtype=dtype, fill_value=0)
    return create(name, shape=shape, chunks=chunks, dtype=dtype,
                  fill_value=0)


def open_pixel_array(path, name, mode='r'):
    """One of the pixel arrays of the store at ``path``."""
    return _zarr().open_array(store=os.fspath(path), path=name, mode=mode)


def write_sources(group, labels, centers, effective_areas, *,
                  class_star=None):
    """Store the source table (``class_star`` only when given)."""
    n_sources = len(labels)
    columns = [
        ('labels', np.asarray(labels, dtype=np.int32), 'int32'),
        ('centers', np.asarray(centers, dtype=np.float64).reshape(-1, 2),
         'float64'),
        ('effective_areas', np.asarray(effective_areas, dtype=np.float64),
         'float64')]
    if class_star is not None:
        columns.append(('class_star',
                        np.asarray(class_star, dtype=np.float64), 'float64'))
    for name, values, dtype in columns:
        array = _create_array(group, name, values.shape,
                              (max(n_sources, 1),) + values.shape[1:],
                              dtype)
        if n_sources:
            array[...] = values


class MosaicSegmentation:
    """
    A deblended mosaic on disk (written by `deblend_mosaic`), read by
    region.

    Parameters
    ----------
    path : str or path-like
        The Zarr store (a directory).

    Attributes
    ----------
    path : str
    shape : tuple of 2 int
        The (h, w) mosaic shape, pixels.
    n_contributors : int
        The contributor slots per pixel.
    n_sources : int
        The number of sources, labelled 1..N.
    plan : `TilePlan`
        The tiles the mosaic was deblended in.
    has_band_weights : bool
        Whether the store holds per-band weights (a model with per-band
        contribution maps, e.g. ``ground_grz``).
    has_class_star : bool
        Whether the store holds a star probability per source (a model
        with the star/galaxy head).
    band_names : tuple of str or None
        The band names of the per-band weights (None without them, or
        when the model names no bands).
    attributes : dict
        Every stored attribute (model, noise, settings).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a store written by `deblend_mosaic`.
    """

    def __init__(self, path):
        zarr = _zarr()
        self.path = os.fspath(path)
        if not os.path.isdir(self.path):
            msg = f'mosaic store {self.path!r} does not exist'
            raise FileNotFoundError(msg)
        try:
            group = zarr.open_group(self.path, mode='r')
            attributes = dict(group.attrs)
        except Exception as exc:  # zarr raises several types
            msg = (f'{self.path!r} is not a pais_deblend mosaic store '
                   f'({type(exc).__name__}: {exc})')
            raise ValueError(msg) from exc
        if attributes.get('format') != FORMAT:
            msg = (f'{self.path!r} is not a pais_deblend mosaic store (no '
                   f'format attribute {FORMAT!r})')
            raise ValueError(msg)
        if attributes.get('format_version', 0) > FORMAT_VERSION:
            msg = (f'{self.path!r} has format version '
                   f'{attributes["format_version"]}; this pais_deblend '
                   f'reads up to {FORMAT_VERSION}')
            raise ValueError(msg)
        self._group = group
        self.attributes = attributes
        self.shape = tuple(attributes['shape'])
        self.n_contributors = int(attributes['n_contributors'])
        self.n_sources = int(attributes['n_sources'])
        self.plan = TilePlan.from_dict(attributes['plan'])
        self.has_band_weights = 'band_weights' in group
        self.has_class_star = 'class_star' in group
        names = attributes.get('band_names')
        self.band_names = (tuple(names) if self.has_band_weights
                           and names is not None else None)

    def __repr__(self):
        return (f'MosaicSegmentation({self.path!r}, shape={self.shape}, '
                f'n_sources={self.n_sources})')

    def _table_array(self, name):
        if self.n_sources == 0:
            return None
        return np.asarray(self._group[name][...])

    @property
    def labels(self):
        """The source labels 1..N, (N,) int32."""
        values = self._table_array('labels')
        return (np.zeros(0, dtype=np.int32) if values is None
                else values.astype(np.int32))

    @property
    def centers(self):
        """The (y, x) source centres in mosaic pixels, (N, 2) float64."""
        values = self._table_array('centers')
        return (np.zeros((0, 2)) if values is None
                else values.reshape(-1, 2))

    @property
    def effective_areas(self):
        """The weighted area sum_p M_i(p) of each source, (N,) pixels."""
        values = self._table_array('effective_areas')
        return np.zeros(0) if values is None else values

    @property
    def class_star(self):
        """
        The star probability of each source, (N,) float64 in [0, 1]
        (label i + 1 at index i), or None when the store has none.
        """
        if not self.has_class_star:
            return None
        values = self._table_array('class_star')
        return np.zeros(0) if values is None else values

    def catalog(self):
        """
        The source table.

        Returns
        -------
        table : `~astropy.table.Table`
            Columns ``label``, ``y``, ``x`` (mosaic pixels, pixel centres
            at integers) and ``effective_area`` (pixels), and
            ``class_star`` (the star probability, in [0, 1]) when the
            store has it.
        """
        from astropy.table import Table

        centers = self.centers
        columns = {'label': self.labels, 'y': centers[:, 0],
                   'x': centers[:, 1],
                   'effective_area': self.effective_areas}
        if self.has_class_star:
            columns['class_star'] = self.class_star
        table = Table(columns)
        table['y'].unit = table['x'].unit = 'pix'
        table['effective_area'].unit = 'pix2'
        table.meta['model'] = self.attributes.get('model')
        table.meta['noise_sigma'] = self.attributes.get('noise_sigma')
        return table

    def read(self, region=None):
        """
        The partial segmentation of a region of the mosaic.

        Parameters
        ----------
        region : tuple of 2 slice, optional
            The (y, x) region, e.g. ``np.s_[1000:1500, 2000:2600]``
            (steps of 1). Default: the whole mosaic (only when it fits in
            memory: about 24 bytes per pixel for n = 3, plus 12 per band
            with per-band weights, plus the dominant map).

        Returns
        -------
        segmentation : `~pais_deblend.segmentation.PartialSegmentationImage`
            Labels are the mosaic's; ``centers`` holds every source with
            weight in the region, in the region's pixel coordinates
            (which may lie outside it). When the store has them it also
            carries ``band_weights`` (h, w, n, b) with ``band_names``,
            and ``class_star`` for the labels present in the region.
        """
        from ..segmentation import PartialSegmentationImage

        region = self._check_region(region)
        contributors = np.asarray(
            open_pixel_array(self.path, 'contributors')[region],
            dtype=np.int32)
        weights = np.asarray(open_pixel_array(self.path, 'weights')[region],
                             dtype=np.float32)
        present = np.unique(contributors[contributors > 0])
        centers = {}
        if present.size:
            # labels are 1..N in table order
            positions = self.centers[present - 1]
            origin = np.array([region[0].start, region[1].start])
            centers = {int(label): (float(y), float(x)) for label, (y, x) in
                       zip(present, positions - origin)}
        band_weights = None
        if self.has_band_weights:
            band_weights = np.asarray(
                open_pixel_array(self.path, 'band_weights')[region],
                dtype=np.float32)
        class_star = None
        if self.has_class_star and present.size:
            values = self.class_star[present - 1]
            class_star = {int(label): float(value)
                          for label, value in zip(present, values)}
        return PartialSegmentationImage(contributors, weights,
                                        centers=centers, check=False,
                                        band_weights=band_weights,
                                        class_star=class_star,
                                        band_names=self.band_names)

    def _check_region(self, region):
        if region is None:
            return (slice(0, self.shape[0]), slice(0, self.shape[1]))
        if (not isinstance(region, tuple) or len(region) != 2
                or not all(isinstance(s, slice) for s in region)):
            msg = (f'region must be a tuple of two slices (y, x), e.g. '
                   f'np.s_[0:100, 0:100], got {region!r}')
            raise TypeError(msg)
        resolved = []
        for item, size, axis in zip(region, self.shape, 'yx'):
            start, stop, step = item.indices(size)
            if step != 1:
                msg = f'region slices must have step 1, got {item!r}'
                raise ValueError(msg)
            if stop <= start:
                msg = (f'region is empty along {axis} ({item!r} of a mosaic '
                       f'of shape {self.shape})')
                raise ValueError(msg)
            resolved.append(slice(start, stop))
        return tuple(resolved)


def read_mosaic(path, region=None):
    """
    Read a region of a deblended mosaic (see `MosaicSegmentation.read`).

    Parameters
    ----------
    path : str or path-like
        The Zarr store written by `deblend_mosaic`.
    region : tuple of 2 slice, optional
        Default: the whole mosaic.

    Returns
    -------
    segmentation : `~pais_deblend.segmentation.PartialSegmentationImage`
    """
    return MosaicSegmentation(path).read(region)
