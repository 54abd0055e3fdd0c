"""
Image-based partial attribution with symmetric, monotonic templates.

After detection (the centres come from the network), every pixel's flux
is shared among the overlapping sources in proportion to their templates,
as in Lupton's SDSS deblender (symmetric templates; Lupton 2005; Bosch et
al. 2018, PASJ 70, S5, for the LSST ``meas_deblender``), with the radial
monotonicity and the SED x morphology factorisation of scarlet (Melchior
et al. 2018, Astronomy and Computing 24, 129).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..utils._validation import (describe as _describe, as_image, as_positions,
                                 check_finite_float, check_in,
                                 check_positive_int, check_same_shape)

__all__ = ['TemplateAttribution', 'attribute_with_templates',
           'refine_centers', 'source_templates', 'smoothed_noise_factor']

_BAND_TEMPLATES = ('per_band', 'sed')


@dataclass(frozen=True)
class TemplateAttribution:
    """
    The result of `attribute_with_templates`.

    Source i (0-based, in the order of ``centers``) has label i + 1.

    Attributes
    ----------
    contributors : (h, w, n) int32 `~numpy.ndarray`
        Labels of the sources sharing each pixel, by decreasing weight;
        empty slots (label 0) come last.
    weights : (h, w, n) float32 `~numpy.ndarray`
        Their fractions of the pixel's flux (dimensionless); on a covered
        pixel they are > 0 and sum to 1 to float32 rounding, elsewhere 0.
    band_weights : (h, w, n, b) float32 `~numpy.ndarray` or None
        Per-band fractions for the same contributors (each band's sum is 1
        on covered pixels); None for a 2-D image.
    dominant : (h, w) int32 `~numpy.ndarray`
        Label of the largest weight (``contributors[..., 0]``), 0 where
        the pixel is not covered.
    covered : (h, w) bool `~numpy.ndarray`
        Pixels that received a contributor. Pixels of a segment that no
        template reaches are not covered: fill them from another
        attribution.
    centers : (N, 2) float64 `~numpy.ndarray`
        The (y, x) centres the templates used (refined unless
        ``refine=False``), in pixels.
    """

    contributors: np.ndarray
    weights: np.ndarray
    band_weights: object
    dominant: np.ndarray
    covered: np.ndarray
    centers: np.ndarray


def attribute_with_templates(image, centers, segments, *, noise_sigma,
                             n_contributors=3, smoothing=1.0, refine=True,
                             max_shift=1.5, monotonic=True, max_radius=64,
                             threshold=0.0, band_templates='per_band',
                             detection=None):
    """
    Share every pixel's flux among the sources whose templates cover it.

    The symmetric-template deblender of the SDSS photometric pipeline
    (Lupton 2005; its LSST successor ``meas_deblender`` is described by
    Bosch et al. 2018, PASJ 70, S5), with the monotonicity constraint and
    the SED x morphology model of scarlet (Melchior et al. 2018, Astronomy
    and Computing 24, 129):

    1. Each band is smoothed with a Gaussian of ``smoothing`` pixels
       (truncated at 4 sigma, 0 beyond the frame: the kernel and edges of
       ``scipy.ndimage.gaussian_filter`` with ``mode='constant'``) after
       setting non-finite pixels (allowed only outside the segments) to
       0. The detection image is the noise-weighted band sum
       ``D = sum_b S_b / noise_sigma_b`` (for one band, ``S`` itself).
    2. With ``refine``, the centres move to the nearby peak of ``D``
       (`refine_centers`, confined to the centre's segment).
    3. Source i's template in a band is, over the pixels x of the centre's
       segment within ``R_i`` (Chebyshev) of the centre's nearest pixel,
       ``T(x) = max(0, min(S(x), S(2c - x)))`` with ``S(2c - x)``
       bilinearly interpolated (``S(x)`` alone if the mirror point is
       outside the frame or its interpolation touches a pixel that was not
       finite in ``image``: a masked pixel is unknown, not 0). ``R_i`` is
       the smaller of ``max_radius`` and the distance from the centre to
       the farthest edge of its segment's bounding box (the box holds the
       pixels within ``ceil(R_i)``). A centre on a pixel of segment 0 (or
       outside the frame) has no template.
    4. With ``monotonic``, the template is made non-increasing outwards
       from the centre's nearest pixel: ring by ring in Chebyshev distance,
       ``T(p) = min(T(p), T(parent(p)))`` where the parent of the pixel
       at offset (dy, dx) is at (dy - sy, dx - sx), ``sy = sign(dy)`` if
       ``2 |dy| >= |dx|`` else 0 and likewise for ``sx`` (always on the
       previous ring). A pixel outside the segment
       is transparent: it passes its parent's bound on to its children
       unchanged (so a masked pixel or a notch of the segment does not
       shadow the pixels behind it, and the template is non-increasing
       along every parent chain of segment pixels).
    5. Values below ``threshold`` times the band's smoothed noise,
       ``noise_sigma_b / (2 sqrt(pi) smoothing)`` (at most
       ``noise_sigma_b``), are set to 0.
    6. With ``band_templates='sed'`` the templates are
       ``T_ib = SED_ib m_i`` where the morphology ``m_i`` is the template
       of ``D`` (steps 3-5, threshold relative to ``D``'s smoothed noise,
       ``sqrt(b)`` times that of a unit-noise band) and
       ``SED_ib = sum_x T_ib(x) / sum_x m_i(x)`` with the per-band
       templates ``T_ib`` of steps 3-5 (0 if ``m_i`` sums to 0).
    7. The combined template is ``C_i = sum_b T_ib / noise_sigma_b`` (for
       one band, ``T_i`` itself), rounded to float32. Each pixel of a
       segment keeps the ``n_contributors`` sources of largest ``C_i > 0``
       (ties to the lower label) with weights ``C_i / sum_kept C_j``
       computed in float64 and stored as float32: weights that round to 0
       are dropped and the largest is set to one minus the sum of the
       others, as `~pais_deblend.pcr.decode_pcr` does. Band b's weights
       are the shares of ``T_ib`` among the same contributors (the
       combined weights where these are all 0).

    Parameters
    ----------
    image : array_like
        Shape (h, w) or (h, w, b), flux per pixel. Non-finite values are
        allowed only on pixels of segment 0. Not modified.
    centers : array_like
        Shape (N, 2), the (y, x) source centres in pixels (sub-pixel);
        source i gets label i + 1. N may be 0.
    segments : array_like of int or `~photutils.segmentation.SegmentationImage`
        Shape (h, w). 0 for pixels that are not attributed (background,
        masked), otherwise the id of the footprint region the pixel belongs
        to. A source's template stays inside the segment of its centre.
    noise_sigma : float or array_like
        The image's noise standard deviation per band (b values or one for
        all bands), > 0, in image units.
    n_contributors : int, optional
        Maximum number of sources per pixel (>= 1).
    smoothing : float, optional
        Gaussian sigma in pixels (>= 0; 0 for no smoothing).
    refine : bool, optional
        Whether to move the centres to the peaks of the smoothed image.
    max_shift : float, optional
        Largest refinement shift in pixels (>= 0).
    monotonic : bool, optional
        Whether to make the templates radially monotonic.
    max_radius : float, optional
        Largest template half-width in pixels (>= 0).
    threshold : float, optional
        Template floor in units of the smoothed noise (>= 0).
    band_templates : {'per_band', 'sed'}, optional
        A template per band, or one morphology times a per-source SED.
    detection : array_like, optional
        Shape (h, w), finite: the detection image ``D`` of step 1 when the
        caller already has it (a pipeline's smoothed, noise-weighted band
        sum, with non-finite pixels as 0), to save smoothing the frame
        again. For one band the templates are then made from
        ``D = S / noise_sigma``, which gives the same weights up to float32
        rounding (shares and thresholds do not depend on the unit).

    Returns
    -------
    result : `TemplateAttribution`

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.

    Notes
    -----
    Templates are computed in parallel into one float32 buffer holding
    each source's box (memory: the sum of the box areas times the number
    of template planes, never N x h x w); the top-n selection is a serial
    scatter into the output arrays and the normalisation a parallel pass
    over the pixels.
    """
    inputs = _prepare(image, centers, segments, noise_sigma=noise_sigma,
                      smoothing=smoothing, refine=refine,
                      max_shift=max_shift, monotonic=monotonic,
                      max_radius=max_radius, threshold=threshold,
                      band_templates=band_templates, detection=detection)
    n = check_positive_int(n_contributors, 'n_contributors')
    height, width = inputs.segments.shape
    n_bands = inputs.n_bands
    contributors = _zeros((height, width, n), np.int32)
    weights = _zeros((height, width, n), np.float32)
    dominant = _zeros((height, width), np.int32)
    covered = np.zeros((height, width), dtype=bool)
    band_weights = (_zeros((height, width, n, n_bands), np.float32)
                    if inputs.multiband else None)
    if len(inputs.centers) == 0:
        return TemplateAttribution(contributors, weights, band_weights,
                                   dominant, covered, inputs.centers)

    from . import _kernels

    buffer, offsets, boxes, n_planes, sed = _templates(inputs)
    band_scale = (sed if sed is not None
                  else np.ones((len(inputs.centers), n_bands)))
    coefficients = band_scale * inputs.band_coefficients
    if sed is not None:
        coefficients = coefficients.sum(axis=1, keepdims=True)
    _kernels.scatter_top(buffer, n_planes, offsets, boxes,
                         np.ascontiguousarray(coefficients), contributors,
                         weights)
    with_bands = band_weights is not None
    _kernels.pick(_kernels.normalise_shares, height * width)(
        contributors, weights, buffer, offsets, boxes, n_planes,
        np.ascontiguousarray(band_scale), with_bands,
        band_weights if with_bands else _NO_BAND_WEIGHTS, dominant, covered)
    return TemplateAttribution(contributors, weights, band_weights, dominant,
                               covered, inputs.centers)


def source_templates(image, centers, segments, *, noise_sigma,
                     smoothing=1.0, refine=True, max_shift=1.5,
                     monotonic=True, max_radius=64, threshold=0.0,
                     band_templates='per_band'):
    """
    The template of every source, as cutouts (for plots and checks).

    The templates are those `attribute_with_templates` shares the pixels
    with, for the same parameters (see there).

    Parameters
    ----------
    image, centers, segments, noise_sigma, smoothing, refine, max_shift, \
monotonic, max_radius, threshold, band_templates :
        As in `attribute_with_templates`.

    Returns
    -------
    templates : list of tuple
        One ``(slice_y, slice_x, array)`` per centre: ``image[slice_y,
        slice_x]`` is the template's box and ``array`` (float32, shape
        (box_h, box_w) for a 2-D image, (box_h, box_w, b) otherwise) its
        values in image flux units, 0 outside the source's segment. A
        source without a template has empty slices and an empty array.
    """
    inputs = _prepare(image, centers, segments, noise_sigma=noise_sigma,
                      smoothing=smoothing, refine=refine,
                      max_shift=max_shift, monotonic=monotonic,
                      max_radius=max_radius, threshold=threshold,
                      band_templates=band_templates)
    n_bands = inputs.n_bands
    if len(inputs.centers) == 0:
        return []
    buffer, offsets, boxes, n_planes, sed = _templates(inputs)
    result = []
    for i, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        if y1 < y0:
            shape = (0, 0, n_bands) if inputs.multiband else (0, 0)
            result.append((slice(0, 0), slice(0, 0),
                           np.zeros(shape, dtype=np.float32)))
            continue
        box_shape = (y1 - y0 + 1, x1 - x0 + 1)
        values = buffer[offsets[i]:offsets[i + 1]].reshape(
            (n_planes,) + box_shape)
        if sed is not None:
            values = (values[0][np.newaxis] * sed[i][:, np.newaxis,
                                                     np.newaxis])
        values = np.moveaxis(values, 0, -1).astype(np.float32)
        if not inputs.multiband:
            values = values[..., 0]
        result.append((slice(y0, y1 + 1), slice(x0, x1 + 1),
                       np.ascontiguousarray(values)))
    return result


def refine_centers(image, centers, *, max_shift=1.5, segments=None):
    """
    Move centres to the nearby peak of a (smoothed) image.

    From each centre's nearest pixel (``floor(c + 0.5)``) the centre climbs
    by steepest ascent over the 8 neighbours (strictly larger values only,
    the first in raster order on ties) to a local maximum, then a parabola
    through the peak and its two neighbours in y, and in x, gives the
    sub-pixel offset (clipped to +-0.5; 0 where the values are not
    concave). The original centre is kept if the refined one is more than
    ``max_shift`` pixels from it, if the peak is on the frame edge, or if
    the centre's nearest pixel is outside the frame (or, with
    ``segments``, on segment 0). This is the peak refinement of Lupton's
    SDSS deblender (Bosch et al. 2018, PASJ 70, S5).

    Parameters
    ----------
    image : array_like
        Shape (h, w), finite. The detection image, usually smoothed and,
        for several bands, the noise-weighted band sum.
    centers : array_like
        Shape (N, 2), (y, x) positions in pixels.
    max_shift : float, optional
        Largest allowed shift in pixels (>= 0).
    segments : array_like of int, optional
        Shape (h, w). When given, the climb stays in the segment of the
        centre's nearest pixel.

    Returns
    -------
    refined : (N, 2) float64 `~numpy.ndarray`
        The new centres (a new array).
    """
    image = as_image(image, 'image', ndim=(2,), dtype=None)
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    if not np.all(np.isfinite(image)):
        msg = 'image must be finite, got non-finite values'
        raise ValueError(msg)
    centers = as_positions(centers, 'centers')
    max_shift = check_finite_float(max_shift, 'max_shift', minimum=0,
                                   include_minimum=True)
    if segments is not None:
        segments, _ = _as_segments(segments, image.shape)
    if len(centers) == 0:
        return centers
    return _refine(image, centers, max_shift, segments)


# --------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------

#: Placeholders of the kernels' unused arrays.
_NO_SEGMENTS = np.zeros((1, 1), dtype=np.int64)
_NO_BAND_WEIGHTS = np.zeros((1, 1, 1, 1), dtype=np.float32)
_NO_MASK = np.zeros((1, 1), dtype=bool)


def _zeros(shape, dtype):
    """A zeroed frame of ``shape`` (h, ...), written by all cores."""
    from . import _kernels

    array = np.empty(shape, dtype=dtype)
    _kernels.pick(_kernels.zero_rows, shape[0] * shape[1])(
        array.reshape(shape[0], -1))
    return array


def _refine(image, centers, max_shift, segments):
    from . import _kernels

    use_segments = segments is not None
    return _kernels.pick(_kernels.refine_centers, image.size)(
        image, centers, max_shift,
        segments if use_segments else _NO_SEGMENTS, use_segments)


@dataclass(frozen=True)
class _Inputs:
    """Validated, smoothed inputs shared by the public functions."""

    planes: np.ndarray       # (b, h, w) float32 smoothed bands
    detection: np.ndarray    # (h, w) float32 noise-weighted band sum
    segments: np.ndarray     # (h, w) int32 or int64
    max_id: int
    centers: np.ndarray      # (N, 2) float64, refined
    noise: np.ndarray        # (b,) float64
    smoothed_noise: np.ndarray  # (b,) float64
    detection_noise: float   # smoothed noise of `detection`
    masked: object           # (h, w) bool non-finite input pixels, or None
    monotonic: bool
    max_radius: float
    threshold: float
    sed: bool
    multiband: bool

    @property
    def n_bands(self):
        return self.planes.shape[0]

    @property
    def band_coefficients(self):
        """(b,) weights of the bands in the combined template."""
        if self.n_bands == 1:
            return np.ones(1)
        return 1.0 / self.noise


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        msg = f'{name} must be True or False, got {_describe(value)}'
        raise TypeError(msg)
    return bool(value)


def _as_segments(segments, shape):
    """(h, w) int32/int64 segment ids (a view when possible) and the
    largest id."""
    if isinstance(segments, (str, bytes)) or segments is None:
        msg = f'segments must be an integer array, got {_describe(segments)}'
        raise TypeError(msg)
    if (hasattr(segments, 'data') and not isinstance(segments, np.ndarray)
            and hasattr(segments, 'labels')):
        segments = segments.data  # a photutils SegmentationImage
    segments = np.asarray(segments)
    if segments.dtype.kind not in 'iu':
        msg = ('segments must be an integer array, got dtype '
               f'{segments.dtype}')
        raise TypeError(msg)
    if segments.ndim != 2:
        msg = (f'segments must be 2-dimensional, got shape {segments.shape} '
               f'({segments.ndim} dimensions)')
        raise ValueError(msg)
    check_same_shape(segments.shape, shape, 'segments', 'image')
    max_id = int(segments.max()) if segments.size else 0
    if segments.dtype.kind == 'i' and segments.size and segments.min() < 0:
        msg = (f'segments must be >= 0 (0 for no segment), got '
               f'{int(segments.min())}')
        raise ValueError(msg)
    if max_id > 2 * segments.size + 1:
        # sparse ids: relabel compactly (keeping 0) for dense id tables
        ids, inverse = np.unique(segments, return_inverse=True)
        inverse = inverse.reshape(segments.shape)
        if ids[0] != 0:
            inverse += 1
        segments = inverse.astype(np.int64)
        max_id = int(segments.max())
    elif segments.dtype not in (np.int32, np.int64):
        segments = segments.astype(np.int64)
    return np.ascontiguousarray(segments), max_id


def _as_noise(noise_sigma, n_bands):
    if isinstance(noise_sigma, (str, bytes)) or noise_sigma is None:
        msg = (f'noise_sigma must be a positive number or an array of '
               f'{n_bands} per band, got {_describe(noise_sigma)}')
        raise TypeError(msg)
    if isinstance(noise_sigma, bool):
        msg = f'noise_sigma must be a positive number, got {noise_sigma!r}'
        raise TypeError(msg)
    noise = np.asarray(noise_sigma)
    if noise.dtype.kind not in 'iuf':
        msg = f'noise_sigma must hold real numbers, got dtype {noise.dtype}'
        raise TypeError(msg)
    noise = noise.astype(np.float64)
    if noise.ndim == 0:
        noise = np.full(n_bands, float(noise))
    if noise.shape != (n_bands,):
        msg = (f'noise_sigma must be a number or have shape ({n_bands},) '
               f'(one value per band), got shape {noise.shape}')
        raise ValueError(msg)
    if not np.all(np.isfinite(noise)) or np.any(noise <= 0):
        msg = (f'noise_sigma must be finite and > 0, got '
               f'{_describe(noise.tolist())}')
        raise ValueError(msg)
    return noise


def smoothed_noise_factor(smoothing):
    """
    The noise of white noise of unit sigma after a Gaussian of
    ``smoothing`` pixels, ``1 / (2 sqrt(pi) smoothing)``, at most 1 (no
    smoothing: 1).
    """
    if smoothing == 0:
        return 1.0
    return min(1.0, 1.0 / (2.0 * math.sqrt(math.pi) * smoothing))


def _masked_pixels(band, b, segments, in_segment):
    """
    The non-finite pixels of ``band`` (band ``b``) as a bool map, or None
    when there are none; raises if one lies on a segment.
    ``in_segment`` is ``[segments > 0]`` once computed (a one-item list
    shared by the bands), else ``[None]``.
    """
    if band.dtype.kind != 'f':
        return None
    bad = ~np.isfinite(band)
    if not bad.any():
        return None
    if in_segment[0] is None:
        in_segment[0] = segments > 0
    if np.any(bad & in_segment[0]):
        y, x = np.argwhere(bad & in_segment[0])[0]
        msg = (f'image must be finite on the pixels of the segments, got '
               f'{band[y, x]} at pixel (y={y}, x={x}) (band {b})')
        raise ValueError(msg)
    return bad


def _as_detection(detection, shape):
    """The caller's detection image as a finite (h, w) float32 array."""
    detection = as_image(detection, 'detection', ndim=(2,), dtype=None)
    check_same_shape(detection.shape, shape, 'detection', 'image')
    detection = np.ascontiguousarray(detection, dtype=np.float32)
    if not np.all(np.isfinite(detection)):
        msg = 'detection must be finite, got non-finite values'
        raise ValueError(msg)
    return detection


def _smoothed_planes(image, segments, smoothing):
    """
    The (b, h, w) float32 bands of ``image`` (validated, (h, w) or
    (h, w, b)) with non-finite pixels set to 0 and smoothed by
    ``smoothing`` pixels, and the map of those non-finite pixels (or
    None).
    """
    from ..utils._smoothing import smooth_gaussian

    multiband = image.ndim == 3
    n_bands = image.shape[2] if multiband else 1
    planes = np.empty((n_bands,) + image.shape[:2], dtype=np.float32)
    # with smoothing, each band is read into one scratch plane and
    # smoothed straight into its own
    scratch = (np.empty(image.shape[:2], dtype=np.float32) if smoothing > 0
               else None)
    in_segment = [None]
    masked = None
    for b in range(n_bands):
        band = image[..., b] if multiband else image
        plane = planes[b] if scratch is None else scratch
        plane[...] = band
        bad = _masked_pixels(plane, b, segments, in_segment)
        if bad is not None:
            plane[bad] = 0.0
            masked = bad if masked is None else masked | bad
        if scratch is not None:
            smooth_gaussian(plane, smoothing, out=planes[b])
    return planes, masked


def _prepare(image, centers, segments, *, noise_sigma, smoothing, refine,
             max_shift, monotonic, max_radius, threshold, band_templates,
             detection=None):
    """Validate the inputs, smooth the bands and refine the centres."""
    image = as_image(image, 'image', ndim=(2, 3), dtype=None)
    multiband = image.ndim == 3
    height, width = image.shape[:2]
    n_bands = image.shape[2] if multiband else 1
    centers = as_positions(centers, 'centers')
    segments, max_id = _as_segments(segments, (height, width))
    noise = _as_noise(noise_sigma, n_bands)
    smoothing = check_finite_float(smoothing, 'smoothing', minimum=0,
                                   include_minimum=True)
    refine = _check_bool(refine, 'refine')
    max_shift = check_finite_float(max_shift, 'max_shift', minimum=0,
                                   include_minimum=True)
    monotonic = _check_bool(monotonic, 'monotonic')
    max_radius = check_finite_float(max_radius, 'max_radius', minimum=0,
                                    include_minimum=True)
    threshold = check_finite_float(threshold, 'threshold', minimum=0,
                                   include_minimum=True)
    if not isinstance(band_templates, str):
        msg = (f"band_templates must be 'per_band' or 'sed', got "
               f'{_describe(band_templates)}')
        raise TypeError(msg)
    check_in(band_templates, _BAND_TEMPLATES, 'band_templates')
    if detection is not None:
        detection = _as_detection(detection, (height, width))
    if detection is not None and n_bands == 1:
        # the plane is the given detection image itself, in units of the
        # noise
        planes = detection[np.newaxis]
        noise = np.ones(1)
        masked = _masked_pixels(image, 0, segments, [None])
    else:
        planes, masked = _smoothed_planes(image, segments, smoothing)
    if detection is None and n_bands == 1:
        detection = planes[0]
    elif detection is None:
        detection = np.zeros((height, width), dtype=np.float32)
        for b in range(n_bands):
            detection += planes[b] / np.float32(noise[b])
    if refine and len(centers):
        centers = _refine(detection, centers, max_shift, segments)
    factor = smoothed_noise_factor(smoothing)
    # detection is S (one band) or sum_b S_b / noise_b (unit noise per band)
    detection_noise = (noise[0] * factor if n_bands == 1
                       else math.sqrt(n_bands) * factor)
    return _Inputs(planes=planes, detection=detection, segments=segments,
                   max_id=max_id, centers=centers, noise=noise,
                   smoothed_noise=noise * factor,
                   detection_noise=detection_noise, masked=masked,
                   monotonic=monotonic,
                   max_radius=max_radius, threshold=threshold,
                   sed=band_templates == 'sed', multiband=multiband)


def _template_boxes(centers, segments, max_id, max_radius):
    """
    Nearest pixels, segments, boxes and buffer offsets (per plane) of the
    templates.

    Returns
    -------
    pixels : (N, 2) int64
    source_segments : (N,) int64
    boxes : (N, 4) int64
        ``(y0, y1, x0, x1)``: pixels within ``ceil(R_i)`` (Chebyshev) of
        the nearest pixel, inside the bounding box of the segment; empty
        ``(0, -1, 0, -1)`` for a source without a template.
    areas : (N,) int64
    """
    from . import _kernels

    height, width = segments.shape
    pixels = np.floor(centers + 0.5).astype(np.int64)
    inside = ((pixels[:, 0] >= 0) & (pixels[:, 0] < height)
              & (pixels[:, 1] >= 0) & (pixels[:, 1] < width))
    source_segments = np.zeros(len(centers), dtype=np.int64)
    source_segments[inside] = segments[pixels[inside, 0], pixels[inside, 1]]
    boxes = np.tile(np.array([0, -1, 0, -1], dtype=np.int64),
                    (len(centers), 1))
    has = source_segments > 0
    if has.any():
        segment_boxes = _kernels.segment_bounding_boxes(segments, max_id)
        sbox = segment_boxes[source_segments[has]]
        cy, cx = centers[has, 0], centers[has, 1]
        reach = np.max(np.column_stack([cy - sbox[:, 0], sbox[:, 1] - cy,
                                        cx - sbox[:, 2], sbox[:, 3] - cx]),
                       axis=1)
        half = np.ceil(np.minimum(reach, max_radius)).astype(np.int64)
        py, px = pixels[has, 0], pixels[has, 1]
        boxes[has] = np.column_stack([
            np.maximum(py - half, sbox[:, 0]),
            np.minimum(py + half, sbox[:, 1]),
            np.maximum(px - half, sbox[:, 2]),
            np.minimum(px + half, sbox[:, 3])])
    areas = np.where(boxes[:, 1] >= boxes[:, 0],
                     (boxes[:, 1] - boxes[:, 0] + 1)
                     * (boxes[:, 3] - boxes[:, 2] + 1), 0)
    return pixels, source_segments, boxes, areas


def _templates(inputs):
    """
    The templates of every source.

    Returns
    -------
    buffer : (M,) float32
    offsets : (N + 1,) int64
    boxes : (N, 4) int64
    n_planes : int
        b ('per_band') or 1 ('sed': the morphology).
    sed : (N, b) float64 or None
        ``SED_ib`` in the 'sed' mode.
    """
    from . import _kernels

    pixels, source_segments, boxes, areas = _template_boxes(
        inputs.centers, inputs.segments, inputs.max_id, inputs.max_radius)
    band_thresholds = inputs.threshold * inputs.smoothed_noise
    arguments = (inputs.segments, inputs.centers, pixels, source_segments,
                 boxes)
    if inputs.sed:
        planes = inputs.detection[np.newaxis]
        thresholds = np.array([inputs.threshold * inputs.detection_noise])
    else:
        planes = inputs.planes
        thresholds = band_thresholds
    n_planes = planes.shape[0]
    offsets = np.zeros(len(areas) + 1, dtype=np.int64)
    np.cumsum(areas * n_planes, out=offsets[1:])
    buffer = np.empty(offsets[-1], dtype=np.float32)
    use_mask = inputs.masked is not None
    masked = inputs.masked if use_mask else _NO_MASK
    n_pixels = planes[0].size
    _kernels.pick(_kernels.build_templates, n_pixels)(
        planes, *arguments, offsets, inputs.monotonic, thresholds, masked,
        use_mask, buffer)
    sed = None
    if inputs.sed:
        band_sums = _kernels.pick(_kernels.template_sums, n_pixels)(
            inputs.planes, *arguments, inputs.monotonic, band_thresholds,
            masked, use_mask)
        totals = np.array([buffer[start:stop].sum(dtype=np.float64)
                           for start, stop in zip(offsets[:-1], offsets[1:])])
        sed = np.divide(band_sums, totals[:, np.newaxis],
                        out=np.zeros_like(band_sums),
                        where=totals[:, np.newaxis] > 0)
    return buffer, offsets, boxes, n_planes, sed
