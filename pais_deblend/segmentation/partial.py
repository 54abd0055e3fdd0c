"""
The partial segmentation image: a photutils `SegmentationImage` whose
pixels may be shared by several sources with continuous weights.
"""

import contextlib
import numbers
import warnings

import numpy as np
from astropy.utils import lazyproperty
from photutils.segmentation import SegmentationImage

from ..utils._validation import as_image, check_nonnegative_int
from ..utils.exceptions import PaisDeblendWarning
from . import _kernels
# FITS_FORMAT_VERSION stays importable from here
from ._fits_io import FITS_FORMAT_VERSION  # noqa: F401
from ._fits_io import read_partial, write_partial
from .cutout import SourceCutout

__all__ = ['PartialSegmentationImage']

# Tolerance on "weights sum to 1" for user-supplied arrays; float32 sums of
# three values are exact to ~1e-7, so this only admits rounding.
_SUM_TOLERANCE = 1e-4

#: The largest label accepted. Label look-ups use tables indexed by label
#: (O(largest label) memory: 2**24 labels cost ~0.4 GB at most), so a label
#: such as 10**9 would allocate gigabytes; 2**24 - 1 is also the largest
#: integer every float32 image holds exactly. Relabel larger catalogue
#: identifiers consecutively (e.g. with photutils) first.
MAX_LABEL = 2**24 - 1


def remap_and_merge(contributors, weights, label_map, *, in_place=False):
    """
    The ``(contributors, weights)`` arrays (h, w, n) after relabelling the
    contributors through ``label_map`` (an int32 array indexed by old
    label): slots whose new label is 0 hand their weight to the pixel's
    other slots, slots that end up with the same label are merged, and the
    weights are renormalised to sum to 1 (pixels left without a
    contributor get all-zero slots). ``contributors`` must be C-contiguous
    int32 and ``weights`` C-contiguous float32. With ``in_place`` the two
    arrays are overwritten and returned (no new frame is allocated).
    """
    if in_place:
        new = contributors, weights
    else:
        new = np.empty_like(contributors), np.empty_like(weights)
    _kernels.for_frame(_kernels.remap_and_merge, contributors)(
        contributors, weights, label_map, *new)
    return new


def remap_band_weights(contributors, band_weights, label_map):
    """
    The per-band weights (h, w, n, b) after relabelling ``contributors``
    (h, w, n) through ``label_map``: each band is remapped like the
    combined weights (``_kernels.remap_and_merge``: removed labels hand
    their weight to the pixel's other contributors, merged slots add up,
    the band is renormalised). The contributors come out the same for
    every band (they depend on the labels only), so they are not returned.
    """
    kernel = _kernels.for_frame(_kernels.remap_and_merge, contributors)
    scratch = np.empty_like(contributors)
    bands = []
    for band in range(band_weights.shape[-1]):
        weights = np.array(band_weights[..., band], dtype=np.float32,
                           order='C')
        kernel(contributors, weights, label_map, scratch, weights)
        bands.append(weights)
    return np.stack(bands, axis=-1)


class PartialSegmentationImage(SegmentationImage):
    """
    A segmentation image in which each pixel's flux is shared among up to
    ``n`` sources with continuous weights.

    This is the output of Partial-Attribution Instance Segmentation
    (Hausen & Robertson 2022, arXiv:2201.04714): the image is written as
    ``I = sum_i M_i * I`` with fraction maps ``M_i`` in [0, 1] that sum to 1
    on every attributed pixel. The maps are stored in a sparse form of
    ``n`` slots per pixel, so memory is O(h * w * n) whatever the number of
    sources.

    The object is a `~photutils.segmentation.SegmentationImage` whose
    ``data`` is the *dominant-source* label map (each pixel labelled by its
    largest-weight contributor), so it works wherever photutils expects a
    segmentation image (`~photutils.segmentation.SourceCatalog`, ``imshow``,
    ``to_regions``, ...; ``to_regions`` and ``polygons`` need the
    ``regions`` extra: ``pip install "pais_deblend[regions]"``, which
    brings regions, shapely and rasterio). The partial form is available through
    `contributors`, `weights`, `weight_map` and `source_image`.

    Parameters
    ----------
    contributors : array_like of int, shape (h, w, n)
        The labels of each pixel's contributors; 0 means an empty slot.
        A label appears at most once per pixel.
    weights : array_like of float, shape (h, w, n)
        The fraction of each pixel's flux that belongs to the contributor in
        the same slot: in [0, 1], zero in empty slots, summing to 1 over the
        slots of every attributed pixel (a pixel with at least one
        contributor). Stored as float32.
    centers : dict, optional
        The source centres as ``{label: (y, x)}`` in pixel coordinates
        (pixel centres at integer values).
    check : bool, optional
        Whether to validate the arrays (costs a few passes over them).
        Code that guarantees a valid partial form may pass `False`; the
        shapes and dtypes of ``band_weights``, the ``class_star`` and
        ``detection_flags`` values and ``band_names`` are checked in any
        case (cheap).
    band_weights : array_like of float, shape (h, w, n, b), optional
        Per-band weights for multi-band images, aligned with
        ``contributors``: ``band_weights[..., k]`` obeys, for every band
        ``k``, the rules of ``weights`` (in [0, 1], zero in empty slots,
        summing to 1 over the slots of every attributed pixel), so the
        colours of blended sources are recovered. ``weights`` stays the
        band-combined attribution (dominant map, single-band use). Stored
        as float32.
    class_star : dict, optional
        ``{label: probability}``: the probability in [0, 1] that the
        source is a star (as SourceExtractor's CLASS_STAR: 1 star, 0
        galaxy). Every label must be one of `partial_labels` (checked when
        ``check`` is `True`). Sources without a value are unknown.
    detection_flags : dict, optional
        ``{label: int}``: how each source was found, as the detection
        bits of `~pais_deblend.segmentation.SourceFlags` (0: a network
        detection; ``RESIDUAL`` 8: found by the residual companion
        search; ``ADDED`` 16: a centre added to a given segment that had
        none), which `~pais_deblend.segmentation.PartialSourceCatalog`
        adds to its ``flags``. Every label must be one of
        `partial_labels` (checked when ``check`` is `True`). Sources
        without a value count as 0.
    band_names : sequence of str, optional
        The names of the bands (e.g. ``('g', 'r', 'z')``): distinct,
        non-empty strings, one per band of ``band_weights`` when given.
        Used to select bands by name (`weight_map`) and to name catalog
        columns.

    Raises
    ------
    TypeError
        If ``contributors`` is not integer, ``weights`` or
        ``band_weights`` not real, ``class_star`` or ``detection_flags``
        not a dict (or a ``detection_flags`` value not an integer) or
        ``band_names`` not a sequence of str.
    ValueError
        If the arrays' shapes differ or are not 3-D, a label is negative,
        above 2**24 - 1 or repeated within a pixel, or weights are out of
        [0, 1], set on an empty slot, or do not sum to 1 on an attributed
        pixel; the same for each band of ``band_weights`` (shape
        (h, w, n, b) required); a ``class_star`` value is not in [0, 1] or
        its label is unknown; a ``detection_flags`` value is negative or
        has bits other than the detection bits (8, 16), or its label is
        unknown; ``band_names`` are empty, repeated, or not one per band.

    Examples
    --------
    Two sources sharing the middle column of a 1 x 3 image:

    >>> import numpy as np
    >>> from pais_deblend.segmentation import PartialSegmentationImage
    >>> contributors = np.array([[[1, 0], [1, 2], [2, 0]]])
    >>> weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0]]])
    >>> segm = PartialSegmentationImage(contributors, weights)
    >>> segm.data
    array([[1, 1, 2]], dtype=int32)
    >>> segm.weight_map(2)
    array([[0.  , 0.25, 1.  ]], dtype=float32)

    Two bands in which the shared pixel is split differently, and a star
    probability for each source:

    >>> band_weights = np.stack([weights, [[[1.0, 0.0], [0.5, 0.5],
    ...                                      [1.0, 0.0]]]], axis=-1)
    >>> segm = PartialSegmentationImage(contributors, weights,
    ...                                 band_weights=band_weights,
    ...                                 class_star={1: 0.9, 2: 0.1},
    ...                                 band_names=('g', 'r'))
    >>> segm.weight_map(2, band='r')
    array([[0. , 0.5, 1. ]], dtype=float32)
    """

    def __init__(self, contributors, weights, *, centers=None, check=True,
                 band_weights=None, class_star=None, band_names=None,
                 detection_flags=None):
        contributors, weights = _as_partial_arrays(contributors, weights,
                                                   check=check)
        band_weights = _as_band_weights(band_weights, contributors,
                                        check=check)
        dominant = _kernels.for_frame(_kernels.dominant_labels,
                                      contributors)(contributors, weights)
        self._set_partial_form(contributors, weights, dominant,
                               centers, band_weights=band_weights,
                               class_star=class_star, band_names=band_names,
                               detection_flags=detection_flags)
        if check:
            self._check_source_value_labels()

    @classmethod
    def _from_valid_arrays(cls, contributors, weights, dominant, *,
                           centers=None, label_bound=None, labels=None,
                           centers_checked=False, band_weights=None,
                           class_star=None, band_names=None,
                           detection_flags=None):
        """
        Build from arrays a kernel guarantees to be valid, including the
        dominant map it computed with the same rule (saves a pass over the
        frame on survey-size images), and optionally an upper bound of the
        labels (saves another), the sorted int32 labels present in
        ``dominant`` (saves a third) and, with ``centers_checked``,
        ``centers`` already in the normalised form ``{int: (float,
        float)}`` (saves a per-centre conversion).

        ``band_weights``, ``class_star``, ``band_names`` and
        ``detection_flags`` are as in the constructor; the caller
        guarantees the band weights' values and that the ``class_star``
        and ``detection_flags`` labels are labels of the image (only
        shapes, dtypes and the values of class_star and detection_flags
        are checked here).
        """
        self = cls.__new__(cls)
        band_weights = _as_band_weights(band_weights, contributors,
                                        check=False)
        self._set_partial_form(contributors, weights, dominant, centers,
                               label_bound=label_bound, labels=labels,
                               centers_checked=centers_checked,
                               band_weights=band_weights,
                               class_star=class_star, band_names=band_names,
                               detection_flags=detection_flags)
        return self

    def _set_partial_form(self, contributors, weights, dominant, centers, *,
                          label_bound=None, labels=None,
                          centers_checked=False, band_weights=None,
                          class_star=None, band_names=None,
                          detection_flags=None):
        self._contributors = contributors
        self._weights = weights
        self._band_weights = band_weights
        self._band_names = _as_band_names(band_names, band_weights)
        self._class_star = _as_class_star(class_star)
        self._detection_flags = _as_detection_flags(detection_flags)
        self._centers = (dict(centers) if centers_checked
                         else _as_centers(centers))
        self._deblend_label_map = {}
        self._set_dominant(dominant, label_bound=label_bound, labels=labels)
        for name, values in self._source_values():
            too_large = [label for label in values
                         if label > self._label_bound]
            if too_large:
                msg = (f'{name} has labels {sorted(too_large)} that are not '
                       'labels of the image (largest contributor label '
                       f'{self._label_bound})')
                raise ValueError(msg)

    def _source_values(self):
        """The per-label dicts, as (parameter name, dict)."""
        return (('class_star', self._class_star),
                ('detection_flags', self._detection_flags))

    def _check_source_value_labels(self):
        known = None
        for name, values in self._source_values():
            if not values:
                continue
            if known is None:
                known = set(self.partial_labels.tolist())
            unknown = sorted(set(values) - known)
            if unknown:
                msg = (f'{name} has labels {unknown} that are not in '
                       'partial_labels (labels with positive weight)')
                raise ValueError(msg)

    def _set_dominant(self, dominant, *, label_bound=None, labels=None):
        # photutils finds labels with np.unique, ~0.5 s on a 4096**2 map;
        # a presence table over the known label range is ~30x faster.
        self._reset_lazyproperties()
        if label_bound is None:
            label_bound = (int(self._contributors.max())
                           if self._contributors.size else 0)
        # an upper bound of the labels, so that the per-label tables need
        # no further pass over the contributors
        self._label_bound = int(label_bound)
        if labels is None:
            present = _kernels.present_labels(dominant, self._label_bound)
            labels = np.flatnonzero(present).astype(np.int32)
        self.__dict__['_data'] = dominant
        self.__dict__['labels'] = labels

    def _max_partial_label(self):
        return self._label_bound

    def __str__(self):
        cls_info = [('Type', self.__class__.__name__),
                    ('Shape', self.shape),
                    ('n_contributors', self.n_contributors),
                    ('n_labels (dominant)', self.n_labels),
                    ('n_partial_labels', len(self.partial_labels))]
        return '\n'.join(f'{key}: {value}' for key, value in cls_info)

    # photutils' data setter would desynchronise data and the partial form.
    @property
    def data(self):
        """
        The dominant-source label map, shape (h, w), int32.

        Derived from the partial form; read-only (use the label operations
        or build a new object to change it).
        """
        return self._data

    @data.setter
    def data(self, value):
        msg = ('the data of a PartialSegmentationImage is derived from its '
               'contributors and weights and cannot be set; build a new '
               'PartialSegmentationImage instead')
        raise AttributeError(msg)

    @property
    def contributors(self):
        """The contributor labels, shape (h, w, n), int32 (0 = none)."""
        return self._contributors

    @property
    def weights(self):
        """The contributor weights, shape (h, w, n), float32."""
        return self._weights

    @property
    def n_contributors(self):
        """The number of contributor slots per pixel, ``n``."""
        return self._contributors.shape[-1]

    @property
    def centers(self):
        """
        The source centres, ``{label: (y, x)}`` (empty if unknown): 0-based
        pixel coordinates, row ``y`` then column ``x``, with the centre of
        the first pixel at (0, 0) as in numpy and photutils (FITS and DS9
        count from 1: add 1 to each). The ``CENTERS`` table of `write`.
        """
        return dict(self._centers)

    @property
    def band_weights(self):
        """
        The per-band contributor weights, shape (h, w, n, b), float32, or
        `None` when the image has none (single-band attribution).
        """
        return self._band_weights

    @property
    def n_bands(self):
        """
        The number of bands ``b``: that of `band_weights`, else the number
        of `band_names`; `None` when neither is set.
        """
        if self._band_weights is not None:
            return int(self._band_weights.shape[-1])
        if self._band_names is not None:
            return len(self._band_names)
        return None

    @property
    def band_names(self):
        """The names of the bands (tuple of str), or `None`."""
        return self._band_names

    @property
    def class_star(self):
        """
        The star probability of the sources, ``{label: float in [0, 1]}``
        (1 star, 0 galaxy, as SourceExtractor's CLASS_STAR); empty when
        unknown. Labels without a value are unknown.
        """
        return dict(self._class_star)

    @property
    def detection_flags(self):
        """
        How the sources were found, ``{label: int}`` (a copy): the
        detection bits of `~pais_deblend.segmentation.SourceFlags`, 0 for
        a network detection, ``RESIDUAL`` (8) for a source of the
        residual companion search, ``ADDED`` (16) for a centre added to
        a given segment that held none; empty when unknown. Labels
        without a value count as 0 in
        `~pais_deblend.segmentation.PartialSourceCatalog.flags`.
        """
        return dict(self._detection_flags)

    @lazyproperty
    def _weight_sums(self):
        return _kernels.label_weight_sums(self._contributors, self._weights,
                                          int(self._max_partial_label()))

    @lazyproperty
    def _presence_weights(self):
        # positive where a slot has positive weight in `weights` or in any
        # band, so that the slices (and labels) of a source cover every
        # pixel where one of its band images is non-zero
        if self._band_weights is None:
            return self._weights
        return np.maximum(self._weights, self._band_weights.max(axis=-1))

    @lazyproperty
    def _presence_sums(self):
        if self._band_weights is None:
            return self._weight_sums
        return _kernels.label_weight_sums(self._contributors,
                                          self._presence_weights,
                                          int(self._max_partial_label()))

    @lazyproperty
    def partial_labels(self):
        """
        Every label with positive weight somewhere, sorted (int32).

        A faint source inside a brighter one may never be dominant, so it
        is in `partial_labels` but not in ``labels``. With `band_weights`,
        positive weight in any band counts too.
        """
        return np.flatnonzero(self._presence_sums > 0).astype(np.int32)

    @lazyproperty
    def effective_areas(self):
        """
        The weighted area of each of `partial_labels`, sum_p M_i(p), in
        pixels (float64 array).
        """
        return self._weight_sums[self.partial_labels]

    def get_effective_area(self, label):
        """
        The weighted area sum_p M_label(p) of one label, in pixels.
        """
        self._check_partial_labels(label)
        return float(self._weight_sums[label])

    @lazyproperty
    def partial_slices(self):
        """
        ``{label: (slice_y, slice_x)}``: the minimal box holding every
        pixel where the label has positive weight (in ``weights`` or, with
        `band_weights`, in any band).
        """
        boxes = _kernels.label_bounding_boxes(
            self._contributors, self._presence_weights,
            int(self._max_partial_label()))
        boxes = boxes.tolist()
        return {int(label): (slice(boxes[label][0], boxes[label][1] + 1),
                             slice(boxes[label][2], boxes[label][3] + 1))
                for label in self.partial_labels}

    def _check_partial_labels(self, labels):
        labels = np.atleast_1d(labels)
        if labels.dtype.kind not in 'biuf':
            msg = (f'labels must be integers, got {labels.tolist()!r:.60} '
                   f'(dtype {labels.dtype})')
            raise TypeError(msg)
        known = self.partial_labels
        positions = np.searchsorted(known, labels)
        found = positions < known.size
        found[found] = known[positions[found]] == labels[found]
        if not np.all(found):
            bad = sorted(set(labels[~found].tolist()))
            noun = 'label' if len(bad) == 1 else 'labels'
            msg = (f'{noun} {bad} not found: valid labels are those in '
                   'partial_labels')
            raise ValueError(msg)
        # every label equals a known (int32) label, so this is exact; it
        # makes float (1.0) or bool labels usable as indices
        return labels.astype(np.int64)

    def weight_map(self, label, band=None):
        """
        The fraction map M_label over the whole frame.

        Parameters
        ----------
        label : int
            A label from `partial_labels`.
        band : int or str, optional
            A band of `band_weights`, by index (0 to b - 1) or by name
            (one of `band_names`): the map of that band. By default the
            band-combined map (from ``weights``).

        Returns
        -------
        weight_map : `~numpy.ndarray`
            Shape (h, w), float32 in [0, 1].

        Raises
        ------
        ValueError
            If the label is unknown, or ``band`` is given but the image
            has no `band_weights`, or is out of range or an unknown name.
        TypeError
            If ``band`` is neither an integer nor a string.
        """
        self._check_partial_labels(label)
        if band is None:
            return _kernels.for_frame(_kernels.weight_map,
                                      self._contributors)(
                self._contributors, self._weights, np.int32(label))
        index = self._band_index(band)
        return _kernels.for_frame(_kernels.weight_map, self._contributors)(
            self._contributors,
            np.ascontiguousarray(self._band_weights[..., index]),
            np.int32(label))

    def _band_index(self, band):
        if self._band_weights is None:
            msg = (f'band={band!r} was given but this '
                   'PartialSegmentationImage has no band_weights')
            raise ValueError(msg)
        n_bands = self._band_weights.shape[-1]
        if isinstance(band, str):
            if self._band_names is None:
                msg = (f'band={band!r} is a name but this '
                       'PartialSegmentationImage has no band_names; give '
                       f'an index from 0 to {n_bands - 1}')
                raise ValueError(msg)
            if band not in self._band_names:
                msg = (f'band={band!r} is not one of the band_names '
                       f'{list(self._band_names)}')
                raise ValueError(msg)
            return self._band_names.index(band)
        if isinstance(band, bool) or not isinstance(band, numbers.Integral):
            msg = (f'band must be an integer index or a band name, got '
                   f'{band!r}')
            raise TypeError(msg)
        if not 0 <= band < n_bands:
            msg = (f'band={band} is out of range: the image has {n_bands} '
                   f'band(s), indices 0 to {n_bands - 1}')
            raise ValueError(msg)
        return int(band)

    def _check_data(self, data):
        # validate without converting the whole frame: only each source's
        # cutout is converted, so a loop over thousands of sources stays
        # O(total cutout area)
        image = np.asanyarray(data)
        if image.dtype.kind not in 'biuf':
            msg = f'data must hold real numbers, got dtype {image.dtype}'
            raise TypeError(msg)
        if image.ndim not in (2, 3):
            msg = (f'data must be 2 or 3-dimensional, got shape '
                   f'{image.shape} ({image.ndim} dimensions)')
            raise ValueError(msg)
        if image.shape[:2] != self.shape:
            msg = (f'data has shape {image.shape} but the segmentation image '
                   f'has shape {self.shape}; the first two axes must match')
            raise ValueError(msg)
        n_bands = self.n_bands
        if image.ndim == 3 and n_bands is not None and (
                image.shape[2] != n_bands):
            msg = (f'data has {image.shape[2]} band(s) (shape {image.shape}) '
                   f'but the segmentation image has {n_bands} (band_weights '
                   'or band_names); they must match')
            raise ValueError(msg)
        return image

    def _source_cutout(self, label, image):
        slices = self.partial_slices[label]
        if image.ndim == 3 and self._band_weights is not None:
            # labels are distinct within a pixel: at most one slot matches
            fractions = np.where(
                (self._contributors[slices] == label)[..., None],
                self._band_weights[slices], np.float32(0)).sum(axis=2)
        else:
            fractions = _kernels.for_frame(
                _kernels.weight_map, self._contributors[slices])(
                self._contributors[slices], self._weights[slices],
                np.int32(label))
            if image.ndim == 3:
                fractions = fractions[..., None]
        cutout = as_image(image[slices], 'data', ndim=(2, 3))
        # unattributed (e.g. NaN or masked) pixels carry weight 0 and stay 0
        values = np.where(fractions > 0, fractions * cutout, 0.0)
        return SourceCutout(values, slices)

    def source_image(self, label, data):
        """
        The deblended image of one source, M_label * data, as a cutout.

        Parameters
        ----------
        label : int
            A label from `partial_labels`.
        data : array_like, shape (h, w) or (h, w, b)
            The (background-subtracted) image that was deblended. With
            `band_weights` set and (h, w, b) data, band ``k`` is multiplied
            by that band's map (``band_weights[..., k]``); otherwise every
            band by the band-combined map. ``b`` must equal `n_bands` when
            that is set.

        Returns
        -------
        cutout : `~pais_deblend.segmentation.SourceCutout`
            The source image over `partial_slices` [label] and its slices.
        """
        self._check_partial_labels(label)
        return self._source_cutout(int(label), self._check_data(data))

    def source_images(self, data):
        """
        The deblended images of every source, as cutouts.

        Parameters
        ----------
        data : array_like, shape (h, w) or (h, w, b)
            The (background-subtracted) image that was deblended; bands
            as in `source_image`.

        Returns
        -------
        cutouts : dict
            ``{label: SourceCutout}`` for every label in `partial_labels`.
            Summed back into a frame they reproduce ``data`` on every
            attributed pixel (in every band).
        """
        image = self._check_data(data)
        return {int(label): self._source_cutout(int(label), image)
                for label in self.partial_labels}

    def imshow_blended(self, ax=None, *, seed=0, background_color='#000000',
                       data=None, percentile=99.5, alpha=None):
        """
        Show the image with each pixel coloured by the weight-averaged
        random colour of its contributors.

        The inherited ``imshow`` shows the dominant-source map. See
        `~pais_deblend.segmentation.plot_blended` for the parameters.

        Returns
        -------
        image : `matplotlib.image.AxesImage`
        """
        from .plotting import plot_blended

        return plot_blended(self, ax, seed=seed,
                            background_color=background_color, data=data,
                            percentile=percentile, alpha=alpha)

    def to_segmentation_image(self):
        """
        The dominant-source map as a plain
        `~photutils.segmentation.SegmentationImage` (a copy).
        """
        return SegmentationImage(self.data.copy())

    def __getitem__(self, key):
        """
        A new `PartialSegmentationImage` for a 2-D slice of this one.

        Centres are shifted to the cutout's coordinates; `band_weights`
        are cut alike, and `class_star` and `detection_flags` keep the
        labels present in the cutout.
        """
        if not (isinstance(key, tuple) and len(key) == 2
                and all(isinstance(k, slice) for k in key)):
            msg = f'{key!r} is not a valid 2D slice object'
            raise TypeError(msg)
        contributors = self._contributors[key].copy()
        if contributors.size == 0:
            msg = ('The sliced result is empty; cannot create a '
                   'PartialSegmentationImage with zero size')
            raise ValueError(msg)
        y0, _, _ = key[0].indices(self.shape[0])
        x0, _, _ = key[1].indices(self.shape[1])
        centers = {label: (y - y0, x - x0)
                   for label, (y, x) in self._centers.items()}
        band_weights = (None if self._band_weights is None
                        else self._band_weights[key].copy())
        result = PartialSegmentationImage(contributors,
                                          self._weights[key].copy(),
                                          centers=centers, check=False,
                                          band_weights=band_weights,
                                          band_names=self._band_names)
        present = set(result.partial_labels.tolist())
        result._class_star = {label: value for label, value
                              in self._class_star.items()
                              if label in present}
        result._detection_flags = {label: value for label, value
                                   in self._detection_flags.items()
                                   if label in present}
        return result

    # --- label operations: they keep the partial form consistent ---------

    #: Whether label operations overwrite the arrays rather than copy
    #: them (see `_editing_in_place`).
    _in_place = False

    @contextlib.contextmanager
    def _editing_in_place(self):
        """
        Label operations inside overwrite the image's arrays instead of
        making new ones: for arrays no one else holds, such as those a
        deblender has just made (a survey-size frame then needs no second
        set of arrays).
        """
        self._in_place = True
        try:
            yield self
        finally:
            self._in_place = False

    def _apply_label_map(self, label_map):
        # everything read from the old contributors comes first: an
        # in-place remap overwrites them
        self._class_star = self._remapped_class_star(label_map)
        self._detection_flags = self._remapped_detection_flags(label_map)
        if self._band_weights is not None:
            self._band_weights = remap_band_weights(
                self._contributors, self._band_weights, label_map)
        contributors, weights = remap_and_merge(
            self._contributors, self._weights, label_map,
            in_place=self._in_place)
        self._contributors = contributors
        self._weights = weights
        centers = {}
        for label, center in self._centers.items():
            new_label = int(label_map[label]) if label < len(label_map) else 0
            if new_label > 0 and new_label not in centers:
                centers[new_label] = center
        self._centers = centers
        self._set_dominant(_kernels.for_frame(
            _kernels.dominant_labels, contributors)(contributors, weights))
        self._update_deblend_label_map(label_map)

    def _remapped_class_star(self, label_map):
        # merged labels get the mean of their known values weighted by
        # their effective areas (band-combined weight sums before the
        # merge); removed labels lose theirs
        if not self._class_star:
            return {}
        areas = self._weight_sums
        groups = {}
        for label, value in self._class_star.items():
            new_label = int(label_map[label]) if label < len(label_map) else 0
            if new_label > 0:
                groups.setdefault(new_label, []).append(
                    (float(areas[label]), value))
        result = {}
        for new_label, members in groups.items():
            if len(members) == 1:
                result[new_label] = members[0][1]
                continue
            total = sum(area for area, _ in members)
            if total > 0:
                value = sum(area * value for area, value in members) / total
            else:
                value = sum(value for _, value in members) / len(members)
            result[new_label] = min(max(value, 0.0), 1.0)
        return result

    def _remapped_detection_flags(self, label_map):
        # merged labels get the union (bitwise OR) of their parts' flags;
        # removed labels lose theirs
        result = {}
        for label, value in self._detection_flags.items():
            new_label = int(label_map[label]) if label < len(label_map) else 0
            if new_label > 0:
                result[new_label] = result.get(new_label, 0) | value
        return result

    def _identity_label_map(self):
        # indexed by the current labels only: a large new label must not
        # size the map (new_label=10**9 would allocate 4 GB)
        return np.arange(int(self._max_partial_label()) + 1, dtype=np.int32)

    def reassign_labels(self, labels, new_label, *, relabel=False):
        """
        Reassign one or more labels to ``new_label``.

        Where several merged labels share a pixel their weights are added.
        With ``new_label=0`` the labels are removed and, in every pixel, their
        weight is handed to the pixel's remaining contributors
        (renormalised); pixels left with no contributor become unattributed.

        `band_weights` are updated the same way, band by band (each band
        renormalised on its own). `class_star` follows the labels: a
        removed label loses its value, and labels merged into one get the
        mean of their known values weighted by their effective areas
        (band-combined ``sum_p M_i(p)`` before the merge); a merged label
        none of whose parts had a value has none. `detection_flags`
        follow alike, a merged label taking the union (bitwise OR) of its
        parts' flags.

        Parameters
        ----------
        labels : int or array_like of int
            Labels from `partial_labels`.
        new_label : int
            The label they take (0 removes them).
        relabel : bool, optional
            Whether to relabel consecutively from 1 afterwards.
        """
        labels = self._check_partial_labels(labels)
        new_label = check_nonnegative_int(new_label, 'new_label')
        if new_label > MAX_LABEL:
            msg = f'new_label must be at most {MAX_LABEL}, got {new_label}'
            raise ValueError(msg)
        if labels.size == 0:
            return
        label_map = self._identity_label_map()
        label_map[labels] = new_label
        if relabel:
            label_map = _consecutive(label_map)
        self._apply_label_map(label_map)

    def reassign_label(self, label, new_label, *, relabel=False):
        """
        Reassign one label to ``new_label``; see `reassign_labels`.
        """
        self.reassign_labels(label, new_label, relabel=relabel)

    def remove_labels(self, labels, *, relabel=False):
        """
        Remove labels, handing their weight to each pixel's other
        contributors; see `reassign_labels`.
        """
        self.reassign_labels(labels, 0, relabel=relabel)

    def remove_label(self, label, *, relabel=False):
        """
        Remove one label; see `remove_labels`.
        """
        self.remove_labels(label, relabel=relabel)

    def keep_labels(self, labels, *, relabel=False):
        """
        Keep only the given labels; every other label is removed as in
        `remove_labels`.
        """
        labels = self._check_partial_labels(labels)
        self.remove_labels(np.setdiff1d(self.partial_labels, labels),
                           relabel=relabel)

    def keep_label(self, label, *, relabel=False):
        """
        Keep only one label; see `keep_labels`.
        """
        self.keep_labels(label, relabel=relabel)

    def remove_masked_labels(self, mask, *, partial_overlap=True,
                             relabel=False):
        """
        Remove the labels with positive weight inside a masked region.

        Parameters
        ----------
        mask : array_like of bool, shape (h, w)
            `True` marks the masked pixels.
        partial_overlap : bool, optional
            If `True`, a label with any weight in the mask is removed;
            otherwise only labels whose weight lies entirely in the mask.
        relabel : bool, optional
            Whether to relabel consecutively from 1 afterwards.
        """
        mask = np.asarray(mask)
        if mask.shape != self.shape:
            msg = (f'mask has shape {mask.shape} but the segmentation image '
                   f'has shape {self.shape}; they must match')
            raise ValueError(msg)
        if mask.dtype != bool:
            msg = f'mask must be a boolean array, got dtype {mask.dtype}'
            raise TypeError(msg)
        inside = self._labels_with_weight(mask)
        if not partial_overlap:
            inside = np.setdiff1d(inside, self._labels_with_weight(~mask))
        self.remove_labels(inside, relabel=relabel)

    def _labels_with_weight(self, pixel_mask):
        contributors = self._contributors[pixel_mask]
        weights = self._presence_weights[pixel_mask]
        return np.unique(contributors[(contributors > 0) & (weights > 0)])

    def relabel_consecutive(self, start_label=1):
        """
        Renumber every label of `partial_labels` consecutively from
        ``start_label``, keeping their order.
        """
        start_label = check_nonnegative_int(start_label, 'start_label')
        if start_label == 0:
            msg = 'start_label must be > 0, got 0'
            raise ValueError(msg)
        labels = self.partial_labels
        if labels.size == 0:
            warnings.warn('Cannot relabel a segmentation image with no '
                          'non-zero labels', PaisDeblendWarning)
            return
        if start_label + labels.size - 1 > MAX_LABEL:
            msg = (f'start_label={start_label} with {labels.size} labels '
                   f'exceeds the largest label {MAX_LABEL}')
            raise ValueError(msg)
        label_map = np.zeros(int(self._max_partial_label()) + 1,
                             dtype=np.int32)
        label_map[labels] = np.arange(labels.size, dtype=np.int32) + start_label
        self._apply_label_map(label_map)

    # --- FITS round trip -------------------------------------------------

    def write(self, filename, *, overwrite=False, header=None, cards=None):
        """
        Write the partial segmentation image to a multi-extension FITS file.

        Extensions: ``DOMINANT`` (h, w) int32, ``CONTRIBUTORS`` (n, h, w)
        int32, ``WEIGHTS`` (n, h, w) float32 and ``CENTERS`` (a table of
        label, y, x: the source centres in 0-based pixel coordinates, row
        then column, the centre of the first pixel at (0, 0) as in numpy
        and photutils; add 1 for FITS/DS9 pixel coordinates); when set,
        ``BAND_WEIGHTS`` (b, n, h, w) float32, ``CLASS_STAR`` (a table of
        label, class_star) and ``DETECTION_FLAGS`` (a table of label,
        detection_flags). The primary header
        records ``NCONTRIB`` (n) and ``PDFORMAT`` (the format version),
        the package version and, when set, ``BANDNAMS`` (the band names as
        a JSON list) and ``NBANDS``. Files without the optional parts
        (e.g. written by earlier versions) read as before; every
        HDU carries ``CHECKSUM`` and ``DATASUM`` cards, which `read`
        verifies. The file is written to a temporary name and moved into
        place, so a failure never leaves a partial file.

        Parameters
        ----------
        filename : str or path-like
            The output file.
        overwrite : bool, optional
            Whether to replace an existing file.
        header : `~astropy.io.fits.Header`, optional
            The header of the image that was segmented. Its world
            coordinate system (``astropy.wcs.WCS(header)``, with SIP
            distortion; first two axes) is written to the primary and the
            ``DOMINANT`` headers, so the dominant map displays with sky
            coordinates. Other cards are not copied, nor are lookup-table
            distortions. Nothing is added when it holds no WCS.
        cards : `~astropy.io.fits.Header`, optional
            Cards added to the primary header as they are (e.g. the
            provenance of the segmentation).

        Raises
        ------
        FileExistsError
            If ``filename`` exists and ``overwrite`` is `False`.
        TypeError
            If ``header`` is not a `~astropy.io.fits.Header`.
        """
        write_partial(self, filename, overwrite=overwrite, header=header,
                      cards=cards)

    @classmethod
    def read(cls, filename):
        """
        Read a partial segmentation image written by `write`.

        Parameters
        ----------
        filename : str or path-like
            The FITS file.

        Returns
        -------
        result : `PartialSegmentationImage`

        Raises
        ------
        FileNotFoundError
            If ``filename`` does not exist.
        OSError
            If the file is not FITS, or is truncated or corrupt: a file
            shorter than its headers declare, or an HDU whose CHECKSUM or
            DATASUM (written by `write`) does not match, is refused, never
            read in part or with altered values.
        ValueError
            If the file lacks one of the extensions `write` always writes,
            an extension holds no or malformed data (including the
            optional ``BAND_WEIGHTS``, ``CLASS_STAR``,
            ``DETECTION_FLAGS`` and ``BANDNAMS``),
            or the format version is unknown.
        """
        return read_partial(cls, filename)


def _consecutive(label_map):
    """Compose ``label_map`` with a consecutive renumbering from 1."""
    # np.unique rather than a table indexed by label: the targets may be
    # large (up to the int32 maximum) while the map stays small
    targets, inverse = np.unique(label_map, return_inverse=True)
    offset = 1 if targets[0] > 0 else 0  # 0 stays 0
    return (inverse.reshape(label_map.shape) + offset).astype(np.int32)


def _as_centers(centers):
    if centers is None:
        return {}
    if not isinstance(centers, dict):
        msg = ('centers must be a dict {label: (y, x)}, got '
               f'{type(centers).__name__}')
        raise TypeError(msg)
    result = {}
    for label, center in centers.items():
        position = np.asarray(center, dtype=np.float64)
        if position.shape != (2,):
            msg = (f'centers[{label!r}] must be a (y, x) pair, got '
                   f'{center!r}')
            raise ValueError(msg)
        result[int(label)] = (float(position[0]), float(position[1]))
    return result


def _as_band_weights(band_weights, contributors, *, check):
    """
    ``band_weights`` as a float32 (h, w, n, b) array (None stays None);
    shape and dtype always checked, values when ``check``.
    """
    if band_weights is None:
        return None
    if isinstance(band_weights, (str, bytes)):
        msg = f'band_weights must be an array, got {band_weights!r:.60}'
        raise TypeError(msg)
    array = np.asarray(band_weights)
    if array.dtype.kind not in 'iuf':
        msg = f'band_weights must be a real array, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.ndim != 4 or array.shape[:3] != contributors.shape or (
            array.shape[3] < 1):
        msg = (f'band_weights must have shape (h, w, n, b) = '
               f'{contributors.shape + ("b",)} with b >= 1 (aligned with '
               f'contributors), got shape {array.shape}')
        raise ValueError(msg)
    array = array.astype(np.float32, copy=False)
    if check:
        _check_band_weights(contributors, array)
    return array


def _check_weight_values(contributors, weights, name):
    """
    ``weights`` (h, w, n[, b]) finite, in [0, 1] and 0 in empty slots;
    returns the (h, w, n) map of empty slots.
    """
    if not np.all(np.isfinite(weights)):
        msg = f'{name} must be finite, got NaN or infinite values'
        raise ValueError(msg)
    if weights.min() < 0 or weights.max() > 1 + _SUM_TOLERANCE:
        msg = (f'{name} must lie in [0, 1], got range [{weights.min()}, '
               f'{weights.max()}]')
        raise ValueError(msg)
    empty = contributors == 0
    if np.any(weights[empty] != 0):
        msg = f'{name} must be 0 in slots whose contributor is 0'
        raise ValueError(msg)
    return empty


def _check_band_weights(contributors, band_weights):
    empty = _check_weight_values(contributors, band_weights, 'band_weights')
    attributed = ~empty.all(axis=-1)
    sums = band_weights.sum(axis=2, dtype=np.float64)
    bad = attributed[..., None] & (np.abs(sums - 1) > _SUM_TOLERANCE)
    if np.any(bad):
        y, x, band = np.argwhere(bad)[0]
        msg = (f'band_weights must sum to 1 over the slots of attributed '
               f'pixels in every band, got {sums[y, x, band]:.6g} in band '
               f'{band} at pixel (y={y}, x={x})')
        raise ValueError(msg)


def _as_band_names(band_names, band_weights):
    if band_names is None:
        return None
    if isinstance(band_names, (str, bytes)) or not hasattr(
            band_names, '__iter__'):
        msg = ('band_names must be a sequence of str (e.g. '
               f"('g', 'r', 'z')), got {band_names!r:.60}")
        raise TypeError(msg)
    names = tuple(band_names)
    for band in names:
        if not isinstance(band, str):
            msg = f'band_names must hold str, got {band!r:.60}'
            raise TypeError(msg)
        if not band:
            msg = 'band_names must not hold empty strings'
            raise ValueError(msg)
    if not names:
        msg = 'band_names must not be empty (use None for no names)'
        raise ValueError(msg)
    if len(set(names)) != len(names):
        msg = f'band_names must be distinct, got {list(names)}'
        raise ValueError(msg)
    if band_weights is not None and len(names) != band_weights.shape[-1]:
        msg = (f'band_names has {len(names)} name(s) but band_weights has '
               f'{band_weights.shape[-1]} band(s); give one name per band')
        raise ValueError(msg)
    return names


def _as_per_label(values, name, what, check_value):
    """``values`` ({label: value} or None) checked as the per-label
    metadata ``name``, each value by ``check_value(label, value)``."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        msg = (f'{name} must be a dict {{label: {what}}}, got '
               f'{type(values).__name__}')
        raise TypeError(msg)
    result = {}
    for label, value in values.items():
        if isinstance(label, (bool, np.bool_)) or not isinstance(
                label, numbers.Integral):
            msg = f'{name} labels must be integers, got {label!r:.60}'
            raise TypeError(msg)
        if not 0 < label <= MAX_LABEL:
            msg = f'{name} labels must be in [1, {MAX_LABEL}], got {label}'
            raise ValueError(msg)
        result[int(label)] = check_value(label, value)
    return result


def _class_star_value(label, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        msg = (f'class_star[{label}] must be a real number in [0, 1], '
               f'got {value!r:.60}')
        raise TypeError(msg)
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        msg = (f'class_star[{label}] must be a probability in [0, 1], '
               f'got {value}')
        raise ValueError(msg)
    return value


def _detection_flags_value(label, value):
    from .catalog import DETECTION_FLAGS

    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Integral):
        msg = (f'detection_flags[{label}] must be an integer (a sum of '
               f'SourceFlags detection bits), got {value!r:.60}')
        raise TypeError(msg)
    value = int(value)
    if value < 0 or value & ~int(DETECTION_FLAGS):
        msg = (f'detection_flags[{label}] must be a sum of the '
               f'detection bits of SourceFlags (RESIDUAL 8, ADDED 16), '
               f'got {value}')
        raise ValueError(msg)
    return value


def _as_class_star(class_star):
    return _as_per_label(class_star, 'class_star', 'probability',
                         _class_star_value)


def _as_detection_flags(detection_flags):
    return _as_per_label(detection_flags, 'detection_flags', 'int',
                         _detection_flags_value)


def _as_partial_arrays(contributors, weights, *, check):
    contributors = np.asarray(contributors)
    weights = np.asarray(weights)
    if not check:
        return (contributors.astype(np.int32, copy=False),
                weights.astype(np.float32, copy=False))
    if contributors.dtype.kind not in 'iu':
        msg = ('contributors must be an integer array, got dtype '
               f'{contributors.dtype}')
        raise TypeError(msg)
    if weights.dtype.kind not in 'iuf':
        msg = f'weights must be a real array, got dtype {weights.dtype}'
        raise TypeError(msg)
    if contributors.ndim != 3:
        msg = ('contributors must be 3-dimensional (h, w, n), got shape '
               f'{contributors.shape}')
        raise ValueError(msg)
    if weights.shape != contributors.shape:
        msg = (f'weights has shape {weights.shape} but contributors has '
               f'shape {contributors.shape}; they must match')
        raise ValueError(msg)
    if 0 in contributors.shape:
        msg = f'contributors must not be empty, got shape {contributors.shape}'
        raise ValueError(msg)
    if contributors.min() < 0:
        msg = f'contributors must be >= 0, got minimum {contributors.min()}'
        raise ValueError(msg)
    if contributors.max() > MAX_LABEL:
        msg = (f'contributors must be <= {MAX_LABEL} (relabel large '
               f'identifiers consecutively first), got maximum '
               f'{contributors.max()}')
        raise ValueError(msg)
    contributors = contributors.astype(np.int32, copy=False)
    weights = weights.astype(np.float32, copy=False)
    _check_weights(contributors, weights)
    return contributors, weights


def _check_weights(contributors, weights):
    empty = _check_weight_values(contributors, weights, 'weights')
    n_slots = contributors.shape[-1]
    for k in range(n_slots):
        for j in range(k + 1, n_slots):
            repeated = (contributors[..., k] == contributors[..., j]) & ~empty[..., k]
            if np.any(repeated):
                y, x = np.argwhere(repeated)[0]
                msg = (f'contributors repeats label {contributors[y, x, k]} '
                       f'at pixel (y={y}, x={x}); each label may appear '
                       'once per pixel')
                raise ValueError(msg)
    attributed = ~empty.all(axis=-1)
    sums = weights.sum(axis=-1, dtype=np.float64)
    bad = attributed & (np.abs(sums - 1) > _SUM_TOLERANCE)
    if np.any(bad):
        y, x = np.argwhere(bad)[0]
        msg = (f'weights must sum to 1 on attributed pixels, got '
               f'{sums[y, x]:.6g} at pixel (y={y}, x={x})')
        raise ValueError(msg)
