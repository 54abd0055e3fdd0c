"""
Photometry and shapes of the sources of a `PartialSegmentationImage`,
with the column names of photutils' `~photutils.segmentation.SourceCatalog`.
"""

import enum
import functools
import math

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.utils import lazyproperty
from photutils.geometry import circular_overlap_grid, elliptical_overlap_grid

from ..utils._progress import progress_bar as _progress_bar
from ..utils._radial import flux_radius_sorted
from ..utils._validation import check_finite_float, check_same_shape
from .partial import PartialSegmentationImage

__all__ = ['PartialSourceCatalog', 'SourceFlags']

#: The columns of `PartialSourceCatalog.to_table` when none are named.
DEFAULT_COLUMNS = ('label', 'x_centroid', 'y_centroid', 'sky_centroid',
                   'bbox_xmin', 'bbox_xmax', 'bbox_ymin', 'bbox_ymax',
                   'area', 'effective_area', 'semimajor_axis',
                   'semiminor_axis', 'orientation', 'ellipticity',
                   'segment_flux', 'segment_flux_err', 'kron_radius',
                   'kron_flux', 'kron_flux_err', 'r90', 'blendedness',
                   'n_significant_contributors', 'segment_snr', 'flags')

# Every column `to_table` accepts (the per-source properties); multi-band
# catalogs add ``segment_flux_<band>`` (and ``segment_flux_err_<band>``).
_COLUMNS = DEFAULT_COLUMNS + ('eccentricity', 'elongation', 'covariance_xx',
                              'covariance_yy', 'covariance_xy', 'class_star')

# Per-source values measured in one pass over the cutouts, in order.
_MEASURED = ('area', 'effective_area', 'segment_flux', 'segment_flux_err',
             'x_centroid', 'y_centroid', 'covariance_xx', 'covariance_yy',
             'covariance_xy', 'kron_radius', 'kron_flux', 'kron_flux_err',
             'r90', 'blendedness', 'n_significant_contributors',
             'n_unusable')

#: The blendedness above which a source is flagged `SourceFlags.BLENDED`
#: (the "blended" cut of Bosch et al. 2018 and of the benchmarks page).
BLENDED_THRESHOLD = 0.1


class SourceFlags(enum.IntFlag):
    """
    The bits of `PartialSourceCatalog.flags`, in the spirit of
    SourceExtractor's ``FLAGS``: a source's value is the sum of the bits
    that apply, 0 for a clean measurement of a source the network
    detected. Test a bit with ``catalog.flags & SourceFlags.BLENDED``.

    The first three bits are measured by the catalog; the last two say
    how the source was found, and come from the segmentation image's
    `~pais_deblend.segmentation.PartialSegmentationImage.detection_flags`
    (set by `~pais_deblend.Deblender` and
    `~pais_deblend.mosaic.deblend_mosaic`).

    Attributes
    ----------
    BLENDED : 1
        The blendedness exceeds 0.1: more than about a tenth of the light
        in the source's pixels belongs to other sources, so its fluxes
        depend on how the pixels were shared.
    NEAR_EDGE : 2
        The source's pixels reach the edge of the image: its light may
        continue beyond it, and its fluxes and sizes are lower limits.
    MASKED : 4
        Some of the pixels the source has a share of are masked, not
        finite, or have a non-finite error: they are left out of its
        measurements.
    RESIDUAL : 8
        Found by the residual companion search (what the templates of the
        detected sources leave unexplained; the deblender's
        ``companion_threshold``), not by the network: typically a close
        companion the network merged with its neighbour.
    ADDED : 16
        A centre added, at the brightest pixel, to a segment of the given
        ``segmentation_image`` in which the network found none, so that
        every input segment yields a source.
    """

    BLENDED = 1
    NEAR_EDGE = 2
    MASKED = 4
    RESIDUAL = 8
    ADDED = 16


#: The `SourceFlags` bits that say how a source was found (those a
#: segmentation image's ``detection_flags`` may hold).
DETECTION_FLAGS = SourceFlags.RESIDUAL | SourceFlags.ADDED


# The aperture scale (in units of the moment ellipse) inside which the
# first-moment Kron radius is measured, as in SourceExtractor and photutils.
_KRON_MEASUREMENT_SCALE = 6.0


class PartialSourceCatalog:
    """
    Photometry and morphology of every source of a partial segmentation
    image, measured on its deblended image ``S_i = M_i * I``.

    Partial-attribution deblending (Hausen & Robertson 2022,
    arXiv:2201.04714) writes the image as ``I = sum_i M_i * I``; this
    catalog measures each source on its own share of the flux, so
    neighbours are removed by the weights rather than by masking or
    mirroring. The column names, units and definitions follow photutils'
    `~photutils.segmentation.SourceCatalog` (photutils 3.x): on a
    segmentation whose weights are all 0 or 1 (a disjoint segmentation)
    the centroids, segment fluxes, areas, shapes, Kron quantities and
    `flux_radius` equal those of ``SourceCatalog(data, segm)``.

    Every property is computed on first use from per-source cutouts over
    `~pais_deblend.segmentation.PartialSegmentationImage.partial_slices`
    (never full frames), the Kron and `flux_radius` apertures over their
    own boxes, in one pass that fills all the per-source
    columns at once.

    Multi-band images, shape (h, w, b), are measured in two ways. The
    positions, shapes, areas, Kron quantities, radii, blendedness and the
    band-less ``segment_flux`` / ``segment_flux_err`` are measured on the
    band-summed image ``sum_k I_k`` with the band-combined weights
    (``weights``); a pixel unusable in any band is unusable there. Each
    band ``k`` also gets a flux column ``segment_flux_<band>`` =
    ``sum_p M_{i,k}(p) I_k(p)`` over the pixels usable in that band, with
    that band's weights (`PartialSegmentationImage.band_weights`; without
    them the band-combined weights apply to every band), and, with an
    (h, w, b) ``error``, ``segment_flux_err_<band>`` =
    ``sqrt(sum_p (M_{i,k}(p) error_k(p))**2)``. The band names are the
    segmentation's ``band_names``, else ``band0``, ``band1``, ... These
    columns are in the default columns, and so is `class_star` when the
    segmentation has star probabilities.

    Parameters
    ----------
    data : array_like or `~astropy.units.Quantity`, shape (h, w) or (h, w, b)
        The image that was deblended (background-subtracted unless
        ``background`` is given), with an optional trailing band axis (b
        must equal the segmentation's ``n_bands`` when that is set). A
        masked array's mask is added to ``mask`` (per band for (h, w, b)
        data). Non-finite pixels are excluded like masked ones. Never
        modified.
    partial_segmentation_image : `PartialSegmentationImage`
        The partial segmentation of ``data``; one catalog row per label of
        its ``partial_labels``.
    error : array_like or `~astropy.units.Quantity`, optional
        The 1-sigma error of ``data``, shape (h, w) or, for multi-band
        data, (h, w, b) (non-negative; pixels where it is not finite are
        excluded like masked ones). It is propagated through the weights:
        ``segment_flux_err = sqrt(sum (M_i * error)**2)``. For multi-band
        data an (h, w) error is the error of the band-summed image; an
        (h, w, b) error gives the per-band errors and, for the summed
        image, ``sqrt(sum_k error_k**2)``.
    mask : array_like of bool, shape (h, w), optional
        `True` marks pixels to exclude from every measurement (in every
        band).
    background : float, array_like or `~astropy.units.Quantity`, optional
        A background subtracted from ``data`` before measuring: a scalar
        or an (h, w) array; for multi-band data also a (b,) array (one
        value per band) or an (h, w, b) array (a scalar or an (h, w)
        array is subtracted from every band).
    wcs : WCS object, optional
        A world coordinate system with ``pixel_to_world`` (e.g.
        `~astropy.wcs.WCS`); used for `sky_centroid`.
    kron_params : tuple of float, optional
        ``(scale, minimum_radius[, minimum_circular_radius])`` of the Kron
        aperture, as in photutils: the aperture is the moment ellipse
        scaled by ``scale * kron_radius``, with ``kron_radius`` at least
        ``minimum_radius``, and replaced by a circle of radius
        ``minimum_circular_radius`` when it would be smaller.
    contributor_threshold : float, optional
        The weight, in (0, 1], from which another source counts as a
        significant contributor (see `n_significant_contributors`).
    progress_bar : bool, optional
        Whether to show a progress bar while measuring.

    Raises
    ------
    TypeError
        If ``partial_segmentation_image`` is not a
        `PartialSegmentationImage`, ``data`` is not real-valued, ``mask``
        not boolean, or the units of ``data``, ``error`` and ``background``
        disagree.
    ValueError
        If a shape differs from the segmentation image's, the number of
        bands of ``data`` differs from its ``n_bands``, ``error`` is
        negative, a band name gives a column name that is already taken,
        or ``kron_params`` or ``contributor_threshold`` are out of range.

    Notes
    -----
    A source with no usable pixel (all masked or non-finite) gets NaN in
    every measured column (as in photutils); its label, bounding box and
    `n_significant_contributors` are still given.

    Examples
    --------
    >>> import numpy as np
    >>> from pais_deblend.segmentation import (PartialSegmentationImage,
    ...                                        PartialSourceCatalog)
    >>> contributors = np.array([[[1, 0], [1, 2], [2, 0]]])
    >>> weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0]]])
    >>> segm = PartialSegmentationImage(contributors, weights)
    >>> catalog = PartialSourceCatalog(np.array([[1.0, 4.0, 2.0]]), segm)
    >>> catalog.segment_flux
    array([4., 3.])
    >>> catalog.n_significant_contributors
    array([1, 1])
    """

    def __init__(self, data, partial_segmentation_image, *, error=None,
                 mask=None, background=None, wcs=None,
                 kron_params=(2.5, 1.4, 0.0), contributor_threshold=0.1,
                 progress_bar=False):
        if not isinstance(partial_segmentation_image,
                          PartialSegmentationImage):
            msg = ('partial_segmentation_image must be a '
                   'PartialSegmentationImage, got '
                   f'{type(partial_segmentation_image).__name__}')
            raise TypeError(msg)
        segm = partial_segmentation_image
        self._segmentation_image = segm
        array, self._data_unit, data_mask = _as_data(data, segm.shape)
        self._band_names = None
        self._band_data = self._band_bad = self._band_error = None
        self._band_columns = {}
        if array.ndim == 2:
            self._data = array
            self._error = _as_error(error, segm.shape, self._data_unit)
            self._background = _as_background(background, segm.shape,
                                              self._data_unit)
            self._mask = _as_mask(mask, segm.shape, data_mask)
        else:
            self._set_bands(array, data_mask, error, mask, background)
        self.wcs = wcs
        self.kron_params = _as_kron_params(kron_params)
        self.contributor_threshold = check_finite_float(
            contributor_threshold, 'contributor_threshold', minimum=0.0,
            maximum=1.0)
        self.progress_bar = bool(progress_bar)
        self.default_columns = list(DEFAULT_COLUMNS)
        if self._band_columns:
            at = self.default_columns.index('segment_flux_err') + 1
            self.default_columns[at:at] = list(self._band_columns)
        if segm.class_star:
            self.default_columns.append('class_star')
        self._labels = np.asarray(segm.partial_labels, dtype=np.int32)
        slices = segm.partial_slices
        self._slices = [slices[int(label)] for label in self._labels]
        self._scalar = False
        self._flux_radius_cache = {}
        from ..version import version
        self.meta = {'pais_deblend_version': version,
                     'kron_params': self.kron_params,
                     'contributor_threshold': self.contributor_threshold}

    def _set_bands(self, array, data_mask, error, mask, background):
        """
        Split (h, w, b) data into the band-summed image that the shape
        measurements use and the per-band arrays of the band fluxes.
        """
        segm = self._segmentation_image
        shape = segm.shape
        n_bands = array.shape[2]
        if segm.n_bands is not None and n_bands != segm.n_bands:
            msg = (f'data has {n_bands} band(s) (shape {array.shape}) but '
                   f'partial_segmentation_image has {segm.n_bands} '
                   '(band_weights or band_names); they must match')
            raise ValueError(msg)
        names = (segm.band_names if segm.band_names is not None
                 else tuple(f'band{k}' for k in range(n_bands)))
        summed_error, band_error = _as_band_error(error, shape, n_bands,
                                                  self._data_unit)
        background = _as_band_background(background, shape, n_bands,
                                          self._data_unit)
        user_mask = _as_mask(mask, shape, None)
        values = np.asarray(array, dtype=np.float64)
        if background is not None:
            values = values - background
        bad = ~np.isfinite(values)
        if data_mask is not None:
            bad |= data_mask
        if user_mask is not None:
            bad |= user_mask[..., np.newaxis]
        if band_error is not None:
            bad |= ~np.isfinite(band_error)
            with np.errstate(invalid='ignore'):
                summed_error = np.sqrt(np.sum(band_error ** 2, axis=-1))
        columns = {f'segment_flux_{name}': ('band_flux', k)
                   for k, name in enumerate(names)}
        if band_error is not None:
            columns.update({f'segment_flux_err_{name}': ('band_flux_err', k)
                            for k, name in enumerate(names)})
        taken = sorted(set(columns) & set(_COLUMNS))
        if taken or len(columns) != (1 + (band_error is not None)) * len(
                names):
            msg = (f'band_names {list(names)} give catalog columns that '
                   f'clash ({taken or list(columns)}); rename the bands')
            raise ValueError(msg)
        self._band_names = tuple(names)
        self._band_data = values
        self._band_bad = bad
        self._band_error = band_error
        self._band_columns = columns
        # the band-summed image: a pixel unusable in one band is unusable
        # there (the sum of a NaN band is NaN, so it drops out as usual)
        self._data = values.sum(axis=-1)
        self._error = summed_error
        self._background = None
        any_mask = None
        if data_mask is not None:
            any_mask = data_mask.any(axis=-1)
        self._mask = (any_mask if user_mask is None else
                      user_mask if any_mask is None else user_mask | any_mask)

    # --- container protocol (as photutils' SourceCatalog) ---------------

    @property
    def isscalar(self):
        """Whether the catalog is a single source (from an integer index)."""
        return self._scalar

    def __len__(self):
        if self._scalar:
            msg = f'Scalar {self.__class__.__name__!r} object has no len()'
            raise TypeError(msg)
        return int(self._labels.size)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]

    def __str__(self):
        cls_name = f'<{self.__class__.__module__}.{self.__class__.__name__}>'
        with np.printoptions(threshold=25, edgeitems=5):
            return (f'{cls_name}\nLength: {self.n_labels}\n'
                    f'labels: {self.labels}')

    def __repr__(self):
        return self.__str__()

    def __getitem__(self, index):
        """
        A catalog of a subset of the rows, by position (as photutils).

        An integer gives a scalar catalog (its properties are scalars);
        a slice, an integer array or a boolean array of length ``len(self)``
        gives a catalog of those rows. Use `select_labels` to select by
        label. Measured values already computed are carried over.
        """
        if self._scalar:
            msg = (f'A scalar {self.__class__.__name__!r} object cannot be '
                   'indexed')
            raise TypeError(msg)
        positions = np.arange(self._labels.size)[index]
        return self._subset(np.atleast_1d(positions),
                            scalar=np.ndim(positions) == 0)

    def select_labels(self, labels):
        """
        A catalog of the given labels, in the given order.

        Parameters
        ----------
        labels : int or array_like of int
            Labels from `labels`. A single int gives a scalar catalog.

        Raises
        ------
        ValueError
            If a label is not in the catalog.
        """
        wanted = np.asarray(labels)
        flat = np.atleast_1d(wanted).astype(np.int64)
        # a sub-catalog may hold its labels in any order
        order = np.argsort(self._labels, kind='stable')
        ordered = self._labels[order]
        found = np.zeros(flat.shape, dtype=bool)
        positions = np.zeros(flat.shape, dtype=np.intp)
        if ordered.size:
            where = np.minimum(np.searchsorted(ordered, flat),
                               ordered.size - 1)
            found = ordered[where] == flat
            positions = order[where]
        if not np.all(found):
            bad = sorted(set(flat[~found].tolist()))
            msg = (f'labels {bad} are not in the catalog; valid labels are '
                   'those of its labels attribute')
            raise ValueError(msg)
        return self._subset(positions, scalar=wanted.ndim == 0)

    def select_label(self, label):
        """A scalar catalog of one label; see `select_labels`."""
        return self.select_labels(int(label))

    def _subset(self, positions, *, scalar):
        new = object.__new__(self.__class__)
        for attribute in ('_segmentation_image', '_data', '_data_unit',
                          '_error', '_background', '_mask', 'wcs',
                          'kron_params', 'contributor_threshold',
                          'progress_bar', 'default_columns', 'meta',
                          '_band_names', '_band_data', '_band_bad',
                          '_band_error', '_band_columns'):
            setattr(new, attribute, getattr(self, attribute))
        new._labels = self._labels[positions]
        new._slices = [self._slices[p] for p in positions.tolist()]
        new._scalar = bool(scalar)
        new._flux_radius_cache = {fraction: values[positions] for
                                  fraction, values in
                                  self._flux_radius_cache.items()}
        if '_measurements' in self.__dict__:
            new.__dict__['_measurements'] = {
                key: values[positions]
                for key, values in self._measurements.items()}
        return new

    def _output(self, values, unit=None):
        if unit is not None:
            values = values << unit
        return values[0] if self._scalar else values

    # --- labels and boxes ---------------------------------------------

    @property
    def n_labels(self):
        """The number of sources (rows)."""
        return int(self._labels.size)

    @property
    def labels(self):
        """The labels of the sources, always as an array (int32)."""
        return self._labels

    @property
    def label(self):
        """The label of each source (a scalar for a scalar catalog)."""
        return self._output(self._labels)

    @property
    def slices(self):
        """
        The ``(slice_y, slice_x)`` box of the positive-weight pixels of
        each source (`PartialSegmentationImage.partial_slices`).
        """
        return self._slices[0] if self._scalar else list(self._slices)

    def _bbox_edges(self, axis, end):
        values = np.array([(box[axis].stop - 1) if end else box[axis].start
                           for box in self._slices], dtype=np.int64)
        return self._output(values)

    @lazyproperty
    def bbox_xmin(self):
        """The smallest x pixel index of each source's box."""
        return self._bbox_edges(1, False)

    @lazyproperty
    def bbox_xmax(self):
        """The largest x pixel index of each source's box (inclusive)."""
        return self._bbox_edges(1, True)

    @lazyproperty
    def bbox_ymin(self):
        """The smallest y pixel index of each source's box."""
        return self._bbox_edges(0, False)

    @lazyproperty
    def bbox_ymax(self):
        """The largest y pixel index of each source's box (inclusive)."""
        return self._bbox_edges(0, True)

    # --- the measurements ---------------------------------------------

    def _cutout(self, label, slices):
        """
        The arrays of one source over its box: (source image S_i, weight
        M_i, usable-pixel mask, background-subtracted data, sum of all the
        pixel's weights, error or None, contributors, weights).
        """
        contributors = self._segmentation_image.contributors[slices]
        weights = self._segmentation_image.weights[slices]
        weight = np.where(contributors == label, weights,
                          np.float32(0)).sum(axis=-1, dtype=np.float64)
        image, bad, error = self._image_values(slices)
        good = (weight > 0) & ~bad
        with np.errstate(invalid='ignore'):
            source = np.where(good, weight * image, 0.0)
        return source, weight, good, image, contributors, weights, error

    def _image_values(self, slices):
        """(background-subtracted data, unusable pixels, error or None)
        over a box of the image."""
        image = np.asarray(self._data[slices], dtype=np.float64)
        if self._background is not None:
            background = self._background
            if np.ndim(background) == 2:
                background = background[slices]
            image = image - background
        bad = ~np.isfinite(image)
        if self._mask is not None:
            bad |= self._mask[slices]
        error = None
        if self._error is not None:
            error = np.asarray(self._error[slices], dtype=np.float64)
            bad |= ~np.isfinite(error)
        return image, bad, error

    def _aperture_cutout(self, label, slices):
        """
        (data seen by the source's apertures, its weight, usable-pixel
        mask, error or None) over any box of the image.

        As photutils' ``aperture_mask_method='mask'``: the pixels that no
        source claims (the sky around the footprint) count in full, the
        other sources' shares drop out and the source's own pixels count
        with its weight M_i. On a 0/1 segmentation this is the data that
        photutils' Kron apertures and `flux_radius` see.
        """
        weights = self._segmentation_image.weights[slices]
        weight = np.where(
            self._segmentation_image.contributors[slices] == label,
            weights, np.float32(0)).sum(axis=-1, dtype=np.float64)
        unclaimed = ~(weights > 0).any(axis=-1)
        weight[unclaimed] = 1.0
        image, bad, error = self._image_values(slices)
        good = (weight > 0) & ~bad
        with np.errstate(invalid='ignore'):
            source = np.where(good, weight * image, 0.0)
        return source, weight, good, error

    @lazyproperty
    def _measurements(self):
        results = np.full((self._labels.size, len(_MEASURED)), np.nan)
        multi_band = self._band_data is not None
        if multi_band:
            n_bands = self._band_data.shape[-1]
            band_flux = np.full((self._labels.size, n_bands), np.nan)
            band_flux_err = np.full((self._labels.size, n_bands), np.nan)
        labels = _progress_bar(self._labels.tolist(), desc='sources',
                               enabled=self.progress_bar)
        for row, (label, slices) in enumerate(zip(labels, self._slices,
                                                  strict=True)):
            results[row] = self._measure_source(label, slices)
            if multi_band:
                band_flux[row], band_flux_err[row] = self._measure_bands(
                    label, slices)
        measured = dict(zip(_MEASURED, results.T, strict=True))
        for name in ('n_significant_contributors', 'n_unusable'):
            measured[name] = measured[name].astype(np.int64)
        if multi_band:
            measured['band_flux'] = band_flux
            measured['band_flux_err'] = band_flux_err
        return measured

    def _measure_bands(self, label, slices):
        """
        The flux (and its error) of one source in every band, with each
        band's weights; NaN in a band with no usable pixel.
        """
        segm = self._segmentation_image
        own = segm.contributors[slices] == label
        if segm.band_weights is not None:
            weight = np.where(own[..., np.newaxis],
                              segm.band_weights[slices],
                              np.float32(0)).sum(axis=2, dtype=np.float64)
        else:
            weight = np.where(own, segm.weights[slices], np.float32(0)).sum(
                axis=-1, dtype=np.float64)[..., np.newaxis]
        good = (weight > 0) & ~self._band_bad[slices]
        with np.errstate(invalid='ignore'):
            flux = np.where(good, weight * self._band_data[slices],
                            0.0).sum(axis=(0, 1))
        n_good = np.count_nonzero(good, axis=(0, 1))
        flux[n_good == 0] = np.nan
        flux_err = np.full(flux.shape, np.nan)
        if self._band_error is not None:
            with np.errstate(invalid='ignore'):
                flux_err = np.sqrt(np.sum(np.where(
                    good, weight * self._band_error[slices], 0.0) ** 2,
                    axis=(0, 1)))
            flux_err[n_good == 0] = np.nan
        return flux, flux_err

    def _measure_source(self, label, slices):
        (source, weight, good, image, contributors, weights,
         error) = self._cutout(label, slices)
        values = dict.fromkeys(_MEASURED, np.nan)
        values['n_significant_contributors'] = _n_significant(
            label, weight > 0, contributors, weights,
            self.contributor_threshold)
        n_good = int(np.count_nonzero(good))
        values['n_unusable'] = int(np.count_nonzero(weight > 0)) - n_good
        if n_good == 0:
            return [values[key] for key in _MEASURED]
        values['area'] = n_good
        values['effective_area'] = float(weight[good].sum())
        values['segment_flux'] = float(source.sum())
        if error is not None:
            values['segment_flux_err'] = math.sqrt(float(
                np.sum(np.where(good, weight * error, 0.0) ** 2)))
        # blendedness: the other sources' share of the pixel is the data
        # times the weights of the pixel's other contributors
        total = np.where(good, image * weights.sum(axis=-1,
                                                   dtype=np.float64), 0.0)
        cross = float(np.sum(source * total))
        if cross != 0:
            self_overlap = float(np.sum(source * source))
            values['blendedness'] = 1.0 - self_overlap / cross
        moments = _moments(source)
        if moments is None:
            return [values[key] for key in _MEASURED]
        y_center, x_center, covariance_xx, covariance_yy, covariance_xy = (
            moments)
        values['y_centroid'] = y_center + slices[0].start
        values['x_centroid'] = x_center + slices[1].start
        values['covariance_xx'] = covariance_xx
        values['covariance_yy'] = covariance_yy
        values['covariance_xy'] = covariance_xy
        values['r90'] = _discrete_flux_radius(source, good, y_center,
                                              x_center, 0.9)
        shape = _ellipse(covariance_xx, covariance_yy, covariance_xy)
        if shape is not None:
            kron_radius, kron_flux, kron_flux_err = _kron(
                functools.partial(self._aperture_cutout, label),
                self._segmentation_image.shape, values['y_centroid'],
                values['x_centroid'], shape, self.kron_params)
            values['kron_radius'] = kron_radius
            values['kron_flux'] = kron_flux
            values['kron_flux_err'] = kron_flux_err
        return [values[key] for key in _MEASURED]

    def _measured(self, name, unit=None):
        return self._output(self._measurements[name].copy(), unit)

    @lazyproperty
    def x_centroid(self):
        """
        The x coordinate of the centroid of ``S_i`` (pixels; first image
        moments of its positive pixels, as photutils).
        """
        return self._measured('x_centroid')

    @lazyproperty
    def y_centroid(self):
        """
        The y coordinate of the centroid of ``S_i`` (pixels; first image
        moments of its positive pixels, as photutils).
        """
        return self._measured('y_centroid')

    @lazyproperty
    def centroid(self):
        """The ``(x, y)`` centroids, shape (N, 2) (or (2,) if scalar)."""
        return np.transpose((self.x_centroid, self.y_centroid))

    @lazyproperty
    def sky_centroid(self):
        """
        The sky coordinates of the centroids (`None` without ``wcs``).
        """
        if self.wcs is None:
            return None
        return self.wcs.pixel_to_world(self.x_centroid, self.y_centroid)

    @lazyproperty
    def area(self):
        """
        The number of usable pixels (not masked, finite data and error)
        where the source has positive weight, in pix**2.
        """
        return self._measured('area', u.pix ** 2)

    @lazyproperty
    def effective_area(self):
        """
        The sum of the source's weights ``sum_p M_i(p)`` over the usable
        pixels, in pix**2 (`PartialSegmentationImage.effective_areas`
        without the excluded pixels).
        """
        return self._measured('effective_area', u.pix ** 2)

    @lazyproperty
    def segment_flux(self):
        """
        The flux of the source, ``sum_p M_i(p) I(p)`` over the usable
        pixels, in the unit of ``data``. Over all sources it adds up to
        the data over the attributed usable pixels (flux conservation).
        """
        return self._measured('segment_flux', self._data_unit)

    @lazyproperty
    def segment_flux_err(self):
        """
        The error of `segment_flux`, ``sqrt(sum_p (M_i(p) error(p))**2)``
        (NaN without ``error``), in the unit of ``data``.
        """
        return self._measured('segment_flux_err', self._data_unit)

    @property
    def band_names(self):
        """
        The names of the bands of multi-band data (the segmentation's
        ``band_names``, else ``band0``, ``band1``, ...); `None` for
        single-band data.
        """
        return self._band_names

    @lazyproperty
    def band_segment_flux(self):
        """
        The flux of each source in each band, ``sum_p M_{i,k}(p)
        I_k(p)`` over the pixels usable in band ``k``, shape (N, b) (or
        (b,) if scalar), in the unit of ``data``; `None` for single-band
        data. Column ``k`` is ``segment_flux_<band k>``. Over all sources
        it adds up, band by band, to the data over the attributed usable
        pixels.
        """
        if self._band_data is None:
            return None
        return self._measured('band_flux', self._data_unit)

    @lazyproperty
    def band_segment_flux_err(self):
        """
        The error of `band_segment_flux`, ``sqrt(sum_p (M_{i,k}(p)
        error_k(p))**2)``, shape (N, b); NaN without an (h, w, b)
        ``error``; `None` for single-band data.
        """
        if self._band_data is None:
            return None
        return self._measured('band_flux_err', self._data_unit)

    def __getattr__(self, name):
        # the per-band columns, e.g. ``segment_flux_g``
        columns = self.__dict__.get('_band_columns') or {}
        if name in columns:
            key, band = columns[name]
            values = self._measurements[key][:, band].copy()
            return self._output(values, self._data_unit)
        msg = f'{type(self).__name__!r} object has no attribute {name!r}'
        raise AttributeError(msg)

    @lazyproperty
    def class_star(self):
        """
        The probability that the source is a star, in [0, 1] (1 star,
        0 galaxy, as SourceExtractor's CLASS_STAR), from the
        segmentation's ``class_star``; NaN where unknown.
        """
        known = self._segmentation_image.class_star
        values = np.array([known.get(int(label), np.nan)
                           for label in self._labels], dtype=np.float64)
        return self._output(values)

    @lazyproperty
    def covariance_xx(self):
        """
        The x variance of the source's light (second central moment of
        its positive pixels over its flux), in pix**2, regularised for
        thin sources as in SourceExtractor and photutils.
        """
        return self._measured('covariance_xx', u.pix ** 2)

    @lazyproperty
    def covariance_yy(self):
        """The y variance of the source's light, in pix**2."""
        return self._measured('covariance_yy', u.pix ** 2)

    @lazyproperty
    def covariance_xy(self):
        """The x-y covariance of the source's light, in pix**2."""
        return self._measured('covariance_xy', u.pix ** 2)

    @lazyproperty
    def _eigenvalues(self):
        xx = self._measurements['covariance_xx']
        yy = self._measurements['covariance_yy']
        xy = self._measurements['covariance_xy']
        half_trace = 0.5 * (xx + yy)
        with np.errstate(invalid='ignore'):
            spread = np.hypot(0.5 * (xx - yy), xy)
            major, minor = half_trace + spread, half_trace - spread
            negative = minor < 0
        major[negative] = np.nan
        minor[negative] = np.nan
        return major, minor

    @lazyproperty
    def semimajor_axis(self):
        """
        The 1-sigma length of the major axis of the Gaussian with the
        source's second moments (SourceExtractor's A), in pix.
        """
        return self._output(np.sqrt(self._eigenvalues[0]), u.pix)

    @lazyproperty
    def semiminor_axis(self):
        """
        The 1-sigma length of the minor axis (SourceExtractor's B), in pix.
        """
        return self._output(np.sqrt(self._eigenvalues[1]), u.pix)

    @lazyproperty
    def orientation(self):
        """
        The angle from the x axis to the major axis, counter-clockwise, in
        [0, 360) deg.
        """
        xx = self._measurements['covariance_xx']
        yy = self._measurements['covariance_yy']
        xy = self._measurements['covariance_xy']
        radians = 0.5 * np.arctan2(2.0 * xy, xx - yy)
        return self._output(np.rad2deg(radians) % 360, u.deg)

    @lazyproperty
    def eccentricity(self):
        """``sqrt(1 - b**2 / a**2)`` of the moment ellipse."""
        major, minor = self._eigenvalues
        return self._output(np.sqrt(1.0 - minor / major))

    @lazyproperty
    def elongation(self):
        """``a / b`` of the moment ellipse."""
        major, minor = self._eigenvalues
        return self._output(np.sqrt(major / minor))

    @lazyproperty
    def ellipticity(self):
        """``1 - b / a`` of the moment ellipse."""
        major, minor = self._eigenvalues
        return self._output(1.0 - np.sqrt(minor / major))

    @lazyproperty
    def kron_radius(self):
        """
        The unscaled first-moment Kron radius of ``S_i`` (pix), measured
        as in photutils: ``sum r S / sum S`` over the pixels whose centres
        lie inside 6 times the moment ellipse, ``r`` the elliptical radius,
        where ``S`` is ``M_i * I`` on the pixels that sources claim and
        ``I`` on the unclaimed sky around them (as photutils' apertures
        see the unsegmented pixels, with the other sources masked);
        raised to ``kron_params[1]``, NaN above 6, and 0 where the Kron
        aperture becomes the minimum circle.
        """
        return self._measured('kron_radius', u.pix)

    @lazyproperty
    def kron_flux(self):
        """
        The flux of ``S_i`` in its Kron aperture (the moment ellipse
        scaled by ``kron_params[0] * kron_radius``, exact pixel overlap),
        in the unit of ``data``. Since ``S_i`` holds only this source's
        share, no neighbour masking or correction is needed.
        """
        return self._measured('kron_flux', self._data_unit)

    @lazyproperty
    def kron_flux_err(self):
        """
        The error of `kron_flux`, ``sqrt(sum_p A(p) (M_i(p) error(p))**2)``
        with ``A`` the aperture's pixel overlap (NaN without ``error``).
        Pixels of the aperture where the source has no weight add nothing
        (photutils adds their error).
        """
        return self._measured('kron_flux_err', self._data_unit)

    @lazyproperty
    def r90(self):
        """
        The radius holding 90 % of the source's flux (pix), as the r90 of
        the package's encoding-efficacy test
        (:ref:`evaluation-encoding-efficacy`,
        `pais_deblend.evaluation.flux_radius`): the pixels of ``S_i`` are
        taken in order of distance from the centroid, and r90 is the
        distance of the first pixel at which the cumulative flux reaches
        90 % of `segment_flux`. NaN where the flux is not positive. (Unlike
        ``flux_radius(0.9)``, which follows photutils: a fraction of the
        Kron flux, with exact circular apertures.)
        """
        return self._measured('r90', u.pix)

    @lazyproperty
    def blendedness(self):
        """
        The photometric blendedness of each source,
        ``beta_i = 1 - sum(S_i**2) / sum(S_i * sum_j S_j)``
        (Bosch et al. 2018; :ref:`evaluation-photometry`),
        with the deblended images ``S_j = M_j * I`` over the usable pixels,
        so ``sum_j S_j`` is the data times the pixel's total weight.
        Equal to `pais_deblend.evaluation.blendedness` of the source
        images. 0 for an isolated source, towards 1 as others dominate its
        pixels; NaN when the denominator is 0.
        """
        return self._measured('blendedness')

    @lazyproperty
    def n_significant_contributors(self):
        """
        The number of *other* labels that hold a weight of at least
        ``contributor_threshold`` (default 0.1) on at least one pixel
        where this source has positive weight (int). 0 for an isolated
        source; a faint source inside a bright one counts the bright one.
        It depends on the weights only (masked pixels included).
        """
        return self._output(
            self._measurements['n_significant_contributors'].copy())

    @lazyproperty
    def segment_snr(self):
        """
        The signal-to-noise ratio of each source's segment flux,
        ``segment_flux / segment_flux_err`` (dimensionless): how
        significant the source's share of the light is. NaN without an
        ``error`` or where the error is 0.
        """
        flux = self._measurements['segment_flux']
        flux_err = self._measurements['segment_flux_err']
        with np.errstate(invalid='ignore', divide='ignore'):
            snr = np.where(flux_err > 0, flux / flux_err, np.nan)
        return self._output(snr)

    @lazyproperty
    def flags(self):
        """
        The quality flags of each source (int): the sum of the
        `SourceFlags` bits that apply (BLENDED 1: blendedness above 0.1;
        NEAR_EDGE 2: pixels on the image edge; MASKED 4: unusable pixels
        among the source's own; RESIDUAL 8: found by the residual
        companion search, not by the network; ADDED 16: a centre added
        to a given segment the network had left without one), 0 for a
        clean measurement of a source the network detected. The last two
        bits are the segmentation image's
        `~pais_deblend.segmentation.PartialSegmentationImage.detection_flags`
        (none for a label without a value).
        """
        flags = np.zeros(self._labels.size, dtype=np.int64)
        detection_flags = self._segmentation_image.detection_flags
        if detection_flags:
            flags |= [detection_flags.get(int(label), 0)
                      for label in self._labels]
        with np.errstate(invalid='ignore'):
            blended = self._measurements['blendedness'] > BLENDED_THRESHOLD
        flags[blended] |= SourceFlags.BLENDED
        height, width = self._segmentation_image.shape
        for row, (rows, cols) in enumerate(self._slices):
            if (rows.start == 0 or cols.start == 0 or rows.stop == height
                    or cols.stop == width):
                flags[row] |= SourceFlags.NEAR_EDGE
        flags[self._measurements['n_unusable'] > 0] |= SourceFlags.MASKED
        return self._output(flags)

    # --- flux radius (photutils definition) ----------------------------

    def flux_radius(self, fraction):
        """
        The circular radius that holds ``fraction`` of the Kron flux,
        as photutils' `~photutils.segmentation.SourceCatalog.flux_radius`.

        The enclosed flux of ``S_i`` in a circle about the centroid
        (exact pixel overlap) is solved for ``fraction * kron_flux`` with
        Brent's method between 0.1 pix and the Kron aperture's semimajor
        axis (shrunk in 10 % steps when the bracket holds no sign change).

        Parameters
        ----------
        fraction : float
            The fraction of the Kron flux, in (0, 1] (0.5 for the
            half-light radius).

        Returns
        -------
        radius : `~astropy.units.Quantity`
            The radius in pix for each source; NaN where no solution was
            found or the Kron flux is zero or not finite.
        """
        fraction = check_finite_float(fraction, 'fraction', minimum=0.0,
                                      maximum=1.0)
        if fraction not in self._flux_radius_cache:
            self._flux_radius_cache[fraction] = self._flux_radii(fraction)
        return self._output(self._flux_radius_cache[fraction].copy(), u.pix)

    def _flux_radii(self, fraction):
        from scipy.optimize import root_scalar

        measured = self._measurements
        major = np.sqrt(self._eigenvalues[0])
        max_radii = major * measured['kron_radius'] * self.kron_params[0]
        max_radii[max_radii == 0] = self.kron_params[2]
        radii = np.full(self._labels.size, np.nan)
        rows = _progress_bar(range(self._labels.size), desc='flux_radius',
                             enabled=self.progress_bar)
        for row in rows:
            x_center = measured['x_centroid'][row]
            y_center = measured['y_centroid'][row]
            kron_flux = measured['kron_flux'][row]
            max_radius = max_radii[row]
            if (not np.all(np.isfinite((x_center, y_center, kron_flux,
                                        max_radius))) or kron_flux == 0):
                continue
            # the circles never reach beyond max_radius: only that box of
            # the image is cut out (the sky around the footprint counts,
            # as for kron_flux)
            height, width = self._segmentation_image.shape
            y0 = max(0, math.floor(y_center - max_radius + 0.5))
            y1 = min(height, math.ceil(y_center + max_radius + 0.5))
            x0 = max(0, math.floor(x_center - max_radius + 0.5))
            x1 = min(width, math.ceil(x_center + max_radius + 0.5))
            if y0 >= y1 or x0 >= x1:
                continue
            region = self._aperture_cutout(
                int(self._labels[row]), (slice(y0, y1), slice(x0, x1)))[0]
            grid = (x0 - 0.5 - x_center, x1 - 0.5 - x_center,
                    y0 - 0.5 - y_center, y1 - 0.5 - y_center,
                    x1 - x0, y1 - y0)
            target = kron_flux * fraction

            def residual(radius, region=region, grid=grid, target=target):
                overlap = circular_overlap_grid(*grid, radius, 1, 1)
                return 1.0 - float(np.sum(region * overlap)) / target

            min_radius = 0.1
            step = 0.1 * max_radius
            while max_radius > min_radius:
                try:
                    radii[row] = root_scalar(
                        residual, bracket=[min_radius, max_radius],
                        method='brentq').root
                    break
                except ValueError:
                    max_radius -= step
        return radii

    # --- table ----------------------------------------------------------

    @property
    def properties(self):
        """
        The names of the per-source properties `to_table` accepts
        (multi-band catalogs add the per-band flux columns).
        """
        return list(_COLUMNS) + list(self._band_columns)

    def to_table(self, columns=None):
        """
        A `~astropy.table.QTable` of source properties, one row per source.

        Parameters
        ----------
        columns : str or list of str, optional
            The columns, in order; any of `properties`. Default:
            ``default_columns`` (`DEFAULT_COLUMNS` of this module).

        Returns
        -------
        table : `~astropy.table.QTable`

        Raises
        ------
        ValueError
            If a column name is not a property of the catalog.
        TypeError
            If ``columns`` is not a string or a sequence of strings.
        """
        if columns is None:
            names = list(self.default_columns)
        elif isinstance(columns, str):
            names = [columns]
        else:
            try:
                names = list(columns)
            except TypeError:
                names = None
            if names is None or not all(isinstance(n, str) for n in names):
                msg = ('columns must be a column name or a list of column '
                       f'names, got {columns!r}')
                raise TypeError(msg)
        valid = self.properties
        unknown = [name for name in names if name not in valid]
        if unknown:
            msg = (f'columns {unknown} are not properties of '
                   f'PartialSourceCatalog; valid columns: {valid}')
            raise ValueError(msg)
        table = QTable()
        table.meta.update(self.meta)
        for name in names:
            values = getattr(self, name)
            if values is None:
                values = [None] * self.n_labels
            elif self._scalar:
                values = [values]
            table[name] = values
        return table


# --- per-source helpers ---------------------------------------------------

def _moments(source):
    """
    Centroid (y, x) and covariance (xx, yy, xy) of the positive pixels of
    a cutout, as photutils (negative pixels set to 0; the SourceExtractor
    1/12 regularisation of thin sources); None without positive flux.
    """
    positive = np.where(source > 0, source, 0.0)
    total = float(positive.sum())
    if not total > 0:
        return None
    y = np.arange(source.shape[0], dtype=np.float64)
    x = np.arange(source.shape[1], dtype=np.float64)
    along_y = positive.sum(axis=1)
    along_x = positive.sum(axis=0)
    y_center = float(along_y @ y) / total
    x_center = float(along_x @ x) / total
    dy = y - y_center
    dx = x - x_center
    covariance_yy = float(along_y @ (dy * dy)) / total
    covariance_xx = float(along_x @ (dx * dx)) / total
    covariance_xy = float(dy @ positive @ dx) / total
    determinant = covariance_xx * covariance_yy - covariance_xy ** 2
    if determinant < 0:
        return y_center, x_center, np.nan, np.nan, np.nan
    delta = 1.0 / 12
    while determinant < delta ** 2:
        covariance_xx += delta
        covariance_yy += delta
        determinant = covariance_xx * covariance_yy - covariance_xy ** 2
    return y_center, x_center, covariance_xx, covariance_yy, covariance_xy


def _ellipse(covariance_xx, covariance_yy, covariance_xy):
    """(a, b, theta) of the moment ellipse, or None if undefined."""
    if not np.isfinite(covariance_xx):
        return None
    half_trace = 0.5 * (covariance_xx + covariance_yy)
    spread = math.hypot(0.5 * (covariance_xx - covariance_yy), covariance_xy)
    minor = half_trace - spread
    if minor < 0:
        return None
    theta = math.radians(math.degrees(0.5 * math.atan2(
        2.0 * covariance_xy, covariance_xx - covariance_yy)) % 360)
    return math.sqrt(half_trace + spread), math.sqrt(minor), theta


def _ellipse_window(shape, y_center, x_center, major, minor, theta, *,
                    extra=0.0):
    """
    The slices of a cutout of ``shape`` covering the pixels whose area
    meets an ellipse (photutils' aperture box rule, clipped to the cutout),
    and the grid edges of that window relative to the centre.
    """
    cos_theta, sin_theta = math.cos(theta), math.sin(theta)
    half_width = math.hypot(major * cos_theta, minor * sin_theta)
    half_height = math.hypot(major * sin_theta, minor * cos_theta)
    x0 = max(0, math.floor(x_center - half_width + 0.5))
    x1 = min(shape[1], math.floor(x_center + half_width + 0.5 + extra) + 1)
    y0 = max(0, math.floor(y_center - half_height + 0.5))
    y1 = min(shape[0], math.floor(y_center + half_height + 0.5 + extra) + 1)
    if x0 >= x1 or y0 >= y1:
        return None, None
    grid = (x0 - 0.5 - x_center, x1 - 0.5 - x_center,
            y0 - 0.5 - y_center, y1 - 0.5 - y_center, x1 - x0, y1 - y0)
    return (slice(y0, y1), slice(x0, x1)), grid


def _kron(fetch, image_shape, y_center, x_center, shape, kron_params):
    """
    Kron radius, flux and flux error of one source (photutils rules).

    ``fetch(slices)`` gives (data, weight, usable mask, error or None)
    over a box of the image of shape ``image_shape``; the centre is in
    image pixels. The apertures reach beyond the source's own box: the
    first moment is taken over 6 times the moment ellipse, the sky
    around the footprint included, as SourceExtractor and photutils do.
    """
    major, minor, theta = shape
    if major == 0 or minor == 0:
        return np.nan, np.nan, np.nan
    # the first-moment radius, over the pixel centres inside 6 times the
    # moment ellipse (only that window of the image is visited)
    window, _ = _ellipse_window(image_shape, y_center, x_center,
                                _KRON_MEASUREMENT_SCALE * major,
                                _KRON_MEASUREMENT_SCALE * minor, theta)
    numerator = denominator = 0.0
    if window is not None:
        source = fetch(window)[0]
        cos_theta, sin_theta = math.cos(theta), math.sin(theta)
        cxx = (cos_theta / major) ** 2 + (sin_theta / minor) ** 2
        cyy = (sin_theta / major) ** 2 + (cos_theta / minor) ** 2
        cxy = (2.0 * cos_theta * sin_theta
               * (1.0 / major ** 2 - 1.0 / minor ** 2))
        dy = (np.arange(window[0].start, window[0].stop)
              - y_center)[:, np.newaxis]
        dx = (np.arange(window[1].start, window[1].stop)
              - x_center)[np.newaxis, :]
        radius = np.sqrt(np.maximum(cxx * dx * dx + cxy * dx * dy
                                    + cyy * dy * dy, 0.0))
        inside = radius <= _KRON_MEASUREMENT_SCALE
        values = source[inside]
        numerator = float(np.sum(values * radius[inside]))
        denominator = float(np.sum(values))
    scale, minimum_radius = kron_params[0], kron_params[1]
    if numerator <= 0 or denominator <= 0:
        kron_radius = minimum_radius
    else:
        kron_radius = numerator / denominator
    if kron_radius > _KRON_MEASUREMENT_SCALE:
        return np.nan, np.nan, np.nan
    kron_radius = max(kron_radius, minimum_radius)
    minimum_circle = kron_params[2] if len(kron_params) == 3 else 0.0
    circular = (len(kron_params) == 3
                and scale * kron_radius * math.sqrt(major * minor)
                <= minimum_circle)
    if circular:
        kron_radius = 0.0
        if minimum_circle <= 0:
            return kron_radius, np.nan, np.nan
        axes = (minimum_circle, minimum_circle)
    else:
        axes = (major * kron_radius * scale, minor * kron_radius * scale)
    # the aperture's exact pixel overlap, over its own window only
    window, grid = _ellipse_window(image_shape, y_center, x_center, *axes,
                                   theta, extra=1.0)
    if window is None:
        return kron_radius, 0.0, np.nan
    source, weight, good, error = fetch(window)
    if circular:
        overlap = circular_overlap_grid(*grid, minimum_circle, 1, 1)
    else:
        overlap = elliptical_overlap_grid(*grid, *axes, theta, 1, 1)
    flux = float(np.sum(overlap * source))
    flux_err = np.nan
    if error is not None:
        variance = np.where(good, weight * error, 0.0) ** 2
        flux_err = math.sqrt(float(np.sum(overlap * variance)))
    return kron_radius, flux, flux_err


def _discrete_flux_radius(source, good, y_center, x_center, fraction):
    """
    The package's r90 rule (evaluation.flux_radius) on the source's usable
    pixels; pixels outside them hold no flux and cannot change it.
    """
    rows, columns = np.nonzero(good)
    radius = np.hypot(rows - y_center, columns - x_center)
    order = np.argsort(radius, kind='stable')
    return flux_radius_sorted(radius[order], source[rows, columns][order],
                               fraction)


def _n_significant(label, own, contributors, weights, threshold):
    """Other labels with weight >= threshold where ``own`` (M_i > 0)."""
    others = contributors[own]
    significant = ((others != label) & (others > 0)
                   & (weights[own] >= threshold))
    return np.unique(others[significant]).size


# --- input checks ----------------------------------------------------------

def _split_unit(value, name):
    if isinstance(value, u.Quantity):
        return value.value, value.unit
    return value, None


def _as_data(data, shape):
    if isinstance(data, (str, bytes)) or data is None:
        msg = f'data must be an array, got {data!r}'
        raise TypeError(msg)
    values, unit = _split_unit(data, 'data')
    array = np.asanyarray(values)
    mask = None
    if isinstance(array, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(array)
        array = array.data
    if array.dtype.kind not in 'biuf':
        msg = f'data must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.ndim not in (2, 3) or (array.ndim == 3
                                    and array.shape[2] == 0):
        msg = (f'data must be 2-dimensional (h, w) or 3-dimensional '
               f'(h, w, b) with b >= 1, got shape {array.shape} '
               f'({array.ndim} dimensions)')
        raise ValueError(msg)
    check_same_shape(array.shape[:2], shape, 'data',
                     'partial_segmentation_image')
    return array, unit, mask


def _convert_unit(array, unit, data_unit, name):
    if data_unit is None and unit is None:
        return array
    if data_unit is None or unit is None:
        msg = (f'{name} and data must both be Quantity or both be plain '
               f'arrays, got {name} unit {unit} and data unit {data_unit}')
        raise TypeError(msg)
    try:
        return unit.to(data_unit) * array if unit != data_unit else array
    except u.UnitConversionError:
        msg = (f'{name} has unit {unit}, which cannot be converted to the '
               f'unit of data, {data_unit}')
        raise TypeError(msg) from None


def _as_error(error, shape, data_unit):
    if error is None:
        return None
    values, unit = _split_unit(error, 'error')
    array = np.asanyarray(values)
    if isinstance(array, np.ma.MaskedArray):
        array = array.filled(np.nan)
    if array.dtype.kind not in 'biuf':
        msg = f'error must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    check_same_shape(array.shape, shape, 'error',
                     'partial_segmentation_image')
    array = _convert_unit(array, unit, data_unit, 'error')
    with np.errstate(invalid='ignore'):
        negative = array < 0
    if np.any(negative):
        msg = (f'error must be non-negative, got minimum '
               f'{array[negative].min()}')
        raise ValueError(msg)
    return array


def _as_band_error(error, shape, n_bands, data_unit):
    """
    The error of multi-band data: (summed-image error or None, per-band
    error or None) from an (h, w) or (h, w, b) ``error``.
    """
    if error is None:
        return None, None
    array = np.asanyarray(_split_unit(error, 'error')[0])
    if array.ndim == 3:
        return None, _as_error(error, shape + (n_bands,), data_unit)
    return _as_error(error, shape, data_unit), None


def _as_band_background(background, shape, n_bands, data_unit):
    """
    The background of multi-band data as an array broadcastable to
    (h, w, b), or None.
    """
    if background is None:
        return None
    array, unit = _background_values(background)
    allowed = {(), (n_bands,), shape, shape + (n_bands,)}
    if array.shape not in allowed:
        msg = (f'background has shape {array.shape}; for data of shape '
               f'{shape + (n_bands,)} it must be a scalar, ({n_bands},), '
               f'{shape} or {shape + (n_bands,)}')
        raise ValueError(msg)
    array = np.asarray(_convert_unit(array, unit, data_unit, 'background'),
                       dtype=np.float64)
    if array.shape == shape:
        array = array[..., np.newaxis]
    return array


def _background_values(background):
    """The background's values (real numbers) and its unit."""
    values, unit = _split_unit(background, 'background')
    array = np.asanyarray(values)
    if array.dtype.kind not in 'biuf':
        msg = f'background must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    return array, unit


def _as_background(background, shape, data_unit):
    if background is None:
        return None
    array, unit = _background_values(background)
    if array.ndim != 0:
        check_same_shape(array.shape, shape, 'background',
                         'partial_segmentation_image')
    array = _convert_unit(array, unit, data_unit, 'background')
    return float(array) if np.ndim(array) == 0 else array


def _as_mask(mask, shape, data_mask):
    if mask is None:
        return data_mask
    array = np.asanyarray(mask)
    if array.dtype != bool:
        msg = f'mask must be a boolean array, got dtype {array.dtype}'
        raise TypeError(msg)
    check_same_shape(array.shape, shape, 'mask',
                     'partial_segmentation_image')
    array = np.asarray(array)
    return array if data_mask is None else (array | data_mask)


def _as_kron_params(kron_params):
    params = tuple(np.atleast_1d(np.asarray(kron_params, dtype=np.float64)))
    if len(params) not in (2, 3):
        msg = ('kron_params must have 2 or 3 elements (scale, '
               f'minimum_radius[, minimum_circular_radius]), got '
               f'{kron_params!r}')
        raise ValueError(msg)
    if not np.all(np.isfinite(params)):
        msg = f'kron_params must be finite, got {kron_params!r}'
        raise ValueError(msg)
    if params[0] <= 0 or params[1] <= 0:
        msg = ('kron_params[0] and kron_params[1] must be > 0, got '
               f'{kron_params!r}')
        raise ValueError(msg)
    if len(params) == 3 and params[2] < 0:
        msg = f'kron_params[2] must be >= 0, got {kron_params!r}'
        raise ValueError(msg)
    return tuple(float(p) for p in params)
