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
``detection_flags``
    (N,) int32, how each source was found: 0 by the network,
    ``SourceFlags.RESIDUAL`` (8) by the residual companion search
    (`~pais_deblend.segmentation.SourceFlags`); stores of earlier
    versions have none, and read as all 0.
attributes
    ``format``, ``format_version``, ``shape``, ``n_contributors``,
    ``n_sources``, ``plan`` (`TilePlan.to_dict`), ``model``,
    ``noise_sigma``, ``detection_noise`` and the decoding settings; with
    ``band_weights`` also ``band_names`` (b str, or None when the model
    names no bands); ``checksum`` (``'crc32c'``: every chunk ends with
    its CRC-32C, zarr's ``crc32c`` codec; None when written with zarr 2)
    and ``every_chunk_written`` (True: every chunk of every array is
    stored, blank ones included, so a missing chunk is damage).

A single-band model writes neither ``band_weights`` nor ``class_star``
(stores of earlier versions read as before, without the checks that
need the last two attributes).

Every read is checked: a chunk that is missing, fails its checksum or
cannot be decoded, and values a deblender never writes (weights outside
[0, 1] or not summing to 1 on an attributed pixel, labels outside 1..N)
raise an `OSError` naming the array and the chunk, never a silently
wrong region; `verify_mosaic` checks every chunk of a store.
"""

import itertools
import os

import numpy as np

from ..utils._optional_deps import require
from .plan import TilePlan

__all__ = ['MosaicSegmentation', 'read_mosaic', 'verify_mosaic']

FORMAT = 'pais_deblend.mosaic'
FORMAT_VERSION = 1

#: The arrays of one row per pixel, in reading order.
PIXEL_ARRAYS = ('contributors', 'weights', 'band_weights')

#: The source table arrays.
TABLE_ARRAYS = ('labels', 'centers', 'effective_areas', 'class_star',
                'detection_flags')

#: Largest departure from 1 of an attributed pixel's weight sum, and
#: above 1 of a weight, accepted on reading (as
#: `PartialSegmentationImage`'s own check).
SUM_TOLERANCE = 1e-4


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
    if create is None:  # zarr 2: no checksum codec; empty chunks written
        return group.create_dataset(name, shape=shape, chunks=chunks,
                                    dtype=dtype, fill_value=0,
                                    write_empty_chunks=True)
    from zarr.codecs import Crc32cCodec, ZstdCodec

    # zarr's default compressor, then a CRC-32C of the compressed chunk
    # (checked before it is decompressed)
    array = create(name, shape=shape, chunks=chunks, dtype=dtype,
                   fill_value=0, compressors=(ZstdCodec(), Crc32cCodec()))
    return _writing_empty_chunks(array)


def _writing_empty_chunks(array):
    """``array`` (zarr 3) set to store chunks of zeros too (zarr 2 does by
    default): then every chunk exists, and a missing one is damage."""
    with_config = getattr(array, 'with_config', None)
    return (array if with_config is None
            else with_config({'write_empty_chunks': True}))


def integrity_attributes():
    """The store attributes that tell readers what they can check."""
    zarr = _zarr()
    checksum = ('crc32c' if hasattr(zarr, 'create_array')
                and int(zarr.__version__.split('.')[0]) >= 3 else None)
    return {'checksum': checksum, 'every_chunk_written': True}


def open_pixel_array(path, name, mode='r'):
    """One of the pixel arrays of the store at ``path``."""
    array = _zarr().open_array(store=os.fspath(path), path=name, mode=mode)
    return array if mode == 'r' else _writing_empty_chunks(array)


def write_sources(group, labels, centers, effective_areas, *,
                  class_star=None, detection_flags=None):
    """Store the source table (``class_star`` only when given;
    ``detection_flags`` 0 for every source when not given)."""
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
    if detection_flags is None:
        detection_flags = np.zeros(n_sources, dtype=np.int32)
    columns.append(('detection_flags',
                    np.asarray(detection_flags, dtype=np.int32), 'int32'))
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
    has_detection_flags : bool
        Whether the store records how each source was found (stores of
        earlier versions do not).
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
        self.has_detection_flags = 'detection_flags' in group
        names = attributes.get('band_names')
        self.band_names = (tuple(names) if self.has_band_weights
                           and names is not None else None)

    def __repr__(self):
        return (f'MosaicSegmentation({self.path!r}, shape={self.shape}, '
                f'n_sources={self.n_sources})')

    def _table_array(self, name):
        if self.n_sources == 0:
            return None
        values = self._read_array(name)
        problem = _invalid_table(name, values, self.n_sources)
        if problem is not None:
            array = self._open(name)
            raise self._damaged(name, array, (0,) * array.ndim,
                                f'holds invalid values ({problem})')
        return values

    # --- integrity -------------------------------------------------------

    def _open(self, name):
        try:
            return open_pixel_array(self.path, name)
        except Exception as exc:  # zarr raises several types
            msg = (f'mosaic store {self.path!r} is damaged: the metadata of '
                   f'array {name!r} cannot be read ({type(exc).__name__}: '
                   f'{exc}); write the store again with deblend_mosaic')
            raise OSError(msg) from exc

    def _chunk_key(self, array, name, coords):
        """The key of a chunk in the store, e.g. ``'weights/c/2/2/0'``."""
        encode = getattr(getattr(array, 'metadata', None),
                         'encode_chunk_key', None)
        if encode is not None:  # zarr 3
            return f'{name}/{encode(tuple(coords))}'
        return array._chunk_key(tuple(coords))  # zarr 2: has the prefix

    def _damaged(self, name, array, coords, what):
        """The `OSError` for chunk ``coords`` of array ``name``."""
        extent = ', '.join(
            f'{axis} {c * size}:{min((c + 1) * size, n)}'
            for axis, c, size, n in zip('yx', coords, array.chunks,
                                        array.shape))
        where = f' (pixels {extent})' if name in PIXEL_ARRAYS else ''
        msg = (f'mosaic store {self.path!r} is damaged: array {name!r}, '
               f'chunk {self._chunk_key(array, name, coords)!r}{where} '
               f'{what}; write the store again with deblend_mosaic')
        return OSError(msg)

    def _read_array(self, name, region=()):
        """
        ``array[region]`` (leading axes; the rest whole) after checking
        that its chunks are there and decode (checksums included).
        """
        array = self._open(name)
        full = tuple(region) + tuple(
            slice(0, n) for n in array.shape[len(region):])
        chunks = list(itertools.product(*(
            range(s.start // c, -(-s.stop // c))
            for s, c in zip(full, array.chunks))))
        if self.attributes.get('every_chunk_written'):
            for coords in chunks:
                key = self._chunk_key(array, name, coords)
                if not os.path.isfile(os.path.join(self.path,
                                                   *key.split('/'))):
                    raise self._damaged(name, array, coords, 'is missing')
        try:
            return np.asarray(array[full])
        except Exception as exc:  # the codecs raise several types
            for coords in chunks:
                try:
                    array[tuple(slice(c * size, (c + 1) * size) for c, size
                                in zip(coords, array.chunks))]
                except Exception as error:
                    raise self._damaged(
                        name, array, coords,
                        f'cannot be read ({type(error).__name__}: {error})'
                    ) from error
            msg = (f'mosaic store {self.path!r}: array {name!r} cannot be '
                   f'read ({type(exc).__name__}: {exc})')
            raise OSError(msg) from exc

    def _read_pixels(self, region):
        """The checked (contributors, weights, band_weights or None) of
        ``region``."""
        contributors = self._read_array('contributors', region).astype(
            np.int32, copy=False)
        weights = self._read_array('weights', region).astype(
            np.float32, copy=False)
        band_weights = None
        if self.has_band_weights:
            band_weights = self._read_array('band_weights', region).astype(
                np.float32, copy=False)
        problem = _invalid_pixel(contributors, weights, band_weights,
                                 self.n_sources)
        if problem is not None:
            name, what, (y, x) = problem
            y, x = y + region[0].start, x + region[1].start
            array = self._open(name)
            coords = (y // array.chunks[0], x // array.chunks[1]) + (
                0,) * (array.ndim - 2)
            raise self._damaged(name, array, coords,
                                f'holds invalid values ({what} at mosaic '
                                f'pixel (y={y}, x={x}))')
        return contributors, weights, band_weights

    def verify(self):
        """
        Check every chunk of the store: present, its checksum right (a
        store written with zarr 3), decodable, and its values those of a
        deblended mosaic (labels in 1..N, weights finite in [0, 1],
        summing to 1 on every attributed pixel, per band too).

        Returns
        -------
        problems : list of str
            One message per damaged region of a chunk, naming the array
            and the chunk (the first problem found there), then one per
            damaged source-table array; empty when the store is intact.
        """
        problems = []
        names = ('contributors', 'weights') + (
            ('band_weights',) if self.has_band_weights else ())
        try:
            array = self._open('contributors')
            for name in names[1:]:
                self._open(name)
        except OSError as exc:
            return [str(exc)]
        side_y, side_x = array.chunks[:2]
        for y in range(0, self.shape[0], side_y):
            for x in range(0, self.shape[1], side_x):
                region = (slice(y, min(y + side_y, self.shape[0])),
                          slice(x, min(x + side_x, self.shape[1])))
                try:
                    self._read_pixels(region)
                except OSError as exc:
                    problems.append(str(exc))
        tables = [name for name in TABLE_ARRAYS if name in self._group]
        for name in tables:
            try:
                self._table_array(name)
            except OSError as exc:
                problems.append(str(exc))
        return problems

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

    @property
    def detection_flags(self):
        """
        How each source was found, (N,) int32 (label i + 1 at index i):
        the detection bits of `~pais_deblend.segmentation.SourceFlags`,
        0 for a network detection, ``RESIDUAL`` (8) for a source of the
        residual companion search. All 0 for a store of an earlier
        version, which did not record them.
        """
        values = (self._table_array('detection_flags')
                  if self.has_detection_flags else None)
        return (np.zeros(self.n_sources, dtype=np.int32) if values is None
                else values.astype(np.int32))

    def catalog(self):
        """
        The source table.

        Returns
        -------
        table : `~astropy.table.Table`
            Columns ``label``, ``y``, ``x`` (mosaic pixels, pixel centres
            at integers) and ``effective_area`` (pixels), ``class_star``
            (the star probability, in [0, 1]) when the store has it, and
            ``detection_flags`` (how the source was found, see
            `detection_flags`).
        """
        from astropy.table import Table

        centers = self.centers
        columns = {'label': self.labels, 'y': centers[:, 0],
                   'x': centers[:, 1],
                   'effective_area': self.effective_areas}
        if self.has_class_star:
            columns['class_star'] = self.class_star
        columns['detection_flags'] = self.detection_flags
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
            and ``class_star`` for the labels present in the region;
            ``detection_flags`` has those labels too (empty for a store
            of an earlier version).

        Raises
        ------
        OSError
            If a chunk the region needs is damaged: missing, failing its
            checksum, undecodable, or holding values no deblender writes
            (the message names the array and the chunk).
        """
        from ..segmentation import PartialSegmentationImage

        region = self._check_region(region)
        contributors, weights, band_weights = self._read_pixels(region)
        present = np.unique(contributors[contributors > 0])
        centers = {}
        if present.size:
            # labels are 1..N in table order
            positions = self.centers[present - 1]
            origin = np.array([region[0].start, region[1].start])
            centers = {int(label): (float(y), float(x)) for label, (y, x) in
                       zip(present, positions - origin)}
        class_star = None
        if self.has_class_star and present.size:
            values = self.class_star[present - 1]
            class_star = {int(label): float(value)
                          for label, value in zip(present, values)}
        detection_flags = None
        if self.has_detection_flags and present.size:
            values = self.detection_flags[present - 1]
            detection_flags = {int(label): int(value)
                               for label, value in zip(present, values)}
        return PartialSegmentationImage(contributors, weights,
                                        centers=centers, check=False,
                                        band_weights=band_weights,
                                        class_star=class_star,
                                        band_names=self.band_names,
                                        detection_flags=detection_flags)

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


def _first(mask):
    """The index of the first True of ``mask`` (a tuple), or None."""
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.any() else None


def _weight_problem(values, empty, name):
    """The first pixel where the (h, w, n) ``values`` break the weight
    rules, as (description, (y, x)), or None."""
    with np.errstate(invalid='ignore'):
        bad = (~np.isfinite(values) | (values < 0)
               | (values > 1 + SUM_TOLERANCE) | (empty & (values != 0)))
        pixel = _first(bad.any(axis=-1))
        if pixel is not None:
            return (f'{name} {values[pixel].tolist()} for contributors '
                    'outside [0, 1] or on an empty slot'), pixel
        sums = values.sum(axis=-1, dtype=np.float64)
        pixel = _first(~empty.all(axis=-1)
                       & ~(np.abs(sums - 1) <= SUM_TOLERANCE))
    if pixel is not None:
        return (f'{name} summing to {sums[pixel]:.6g}, not 1, on an '
                'attributed pixel'), pixel
    return None


def _invalid_pixel(contributors, weights, band_weights, n_sources):
    """
    The first value of a region that a deblended mosaic never holds, as
    (array name, description, (y, x)), or None.
    """
    pixel = _first(((contributors < 0) | (contributors > n_sources))
                   .any(axis=-1))
    if pixel is not None:
        return ('contributors', f'labels {contributors[pixel].tolist()} '
                f'outside 0..{n_sources}', pixel)
    n_slots = contributors.shape[-1]
    for k in range(n_slots):
        for j in range(k + 1, n_slots):
            pixel = _first((contributors[..., k] == contributors[..., j])
                           & (contributors[..., k] > 0))
            if pixel is not None:
                return ('contributors', f'label {contributors[pixel + (k,)]} '
                        'twice in one pixel', pixel)
    empty = contributors == 0
    problem = _weight_problem(weights, empty, 'weights')
    if problem is not None:
        return ('weights',) + problem
    for band in range(0 if band_weights is None else band_weights.shape[-1]):
        problem = _weight_problem(band_weights[..., band], empty,
                                  f'band {band} weights')
        if problem is not None:
            return ('band_weights',) + problem
    return None


def _invalid_table(name, values, n_sources):
    """What is wrong with the source-table array ``name``, or None."""
    if len(values) != n_sources:
        return f'{len(values)} rows for {n_sources} sources'
    if name == 'labels':
        if not np.array_equal(values, np.arange(1, n_sources + 1)):
            return f'labels that are not 1..{n_sources}'
        return None
    if name == 'detection_flags':
        from ..segmentation.catalog import DETECTION_FLAGS

        if values.dtype.kind not in 'iu':
            return f'dtype {values.dtype}, not integers'
        if np.any((values < 0) | ((values & ~int(DETECTION_FLAGS)) != 0)):
            return 'flags other than the detection bits (8, 16)'
        return None
    if not np.all(np.isfinite(values)):
        return 'NaN or infinite values'
    if name == 'effective_areas' and np.any(values < 0):
        return 'negative areas'
    if name == 'class_star' and np.any((values < 0) | (values > 1)):
        return 'probabilities outside [0, 1]'
    return None


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


def verify_mosaic(path):
    """
    Check every chunk of a deblended mosaic's store (see
    `MosaicSegmentation.verify`); ``pais-deblend mosaic --verify STORE``
    on the command line.

    Parameters
    ----------
    path : str or path-like
        The Zarr store written by `deblend_mosaic`.

    Returns
    -------
    problems : list of str
        One message per damaged chunk, naming the array and the chunk;
        empty when the store is intact.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a store written by `deblend_mosaic` (or its group
        metadata is unreadable).
    """
    return MosaicSegmentation(path).verify()
