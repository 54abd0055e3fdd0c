"""
The deblending pipeline, one named function per step, and `run_pipeline`,
which chains them for `~pais_deblend.deblend.Deblender`, for every tile of
`~pais_deblend.mosaic.deblend_mosaic` and for the benchmarks:

1. `estimate_image_noise`: the robust noise of each band;
2. `network_pass`: the network's PCR of the image, in overlapping tiles
   whose cores are stitched (`pais_deblend.model.predict_pcr`), plus its
   optional heads (per-band contribution maps, star probability);
   `network_pass_batch` runs it on a batch of small images of one shape
   at once (`~pais_deblend.deblend.Deblender.batch`);
3. `detect_centers`: the peaks of the predicted centre-of-mass map on
   unmasked pixels (`pais_deblend.pcr.find_centers`);
4. `detection_image` and `footprint_from_flux`: the pixels whose flux is
   shared out -- the given segments, or the connected regions of
   significant flux that hold a detected centre;
5. `attribute`: each footprint pixel's flux shared among the centres --
   in proportion to symmetric, monotonic templates of the image around
   each centre (``'templates'``, `pais_deblend.attribution`), or by the
   network's PCR decode (``'network'``, `pais_deblend.pcr.decode_arrays`)
   -- with per-band weights, and a star probability per centre from the
   model's star/galaxy head.

A mosaic tile runs the same steps on its extended region with the noise
levels of the whole mosaic given, and attributes only its core, with the
centres found in the zone where the network output equals a single pass.
"""

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np

from ..utils._pages import small_pages
from ..utils._validation import check_in

__all__ = ['PipelineResult', 'run_pipeline', 'estimate_image_noise',
           'network_pass', 'network_pass_batch', 'detect_centers',
           'detection_image', 'footprint_from_flux', 'add_missing_centers', 'attribute',
           'star_probabilities', 'empty_result', 'ATTRIBUTION_METHODS',
           'TEMPLATE_OPTIONS', 'search_companions',
           'CLASS_BOX_HALF_WIDTH']

#: The ways a footprint pixel's flux can be shared among the detected
#: centres (see `attribute`).
ATTRIBUTION_METHODS = ('templates', 'network')

#: The options of `pais_deblend.attribution.attribute_with_templates`
#: used by ``attribution='templates'``, chosen on the tuning suites
#: (pairs and fields of master seed 5): smoothing by 1 pixel, centres
#: refined on the image and monotonic templates each lower the flux
#: errors of isolated sources; a floor of one smoothed-noise sigma keeps
#: the noise-level tails of distant sources in one footprint from taking
#: an isolated source's outskirts.
TEMPLATE_OPTIONS = {'smoothing': 1.0, 'refine': True, 'max_shift': 1.5,
                    'monotonic': True, 'max_radius': 64, 'threshold': 1.0,
                    'band_templates': 'per_band'}

#: Half-side of the box, in pixels, over which the star probability is
#: averaged around a source's centre (3 x 3 pixels: robust to a centre
#: that falls between pixels, small against the PSF of the ground-based
#: preset, 3.5 pixels FWHM).
CLASS_BOX_HALF_WIDTH = 1


@dataclass
class PipelineResult:
    """
    What `run_pipeline` gives for the attributed region.

    Attributes
    ----------
    contributors : `~numpy.ndarray`, shape (h, w, n), int32
        Label i + 1 is ``centers[i]``.
    weights : `~numpy.ndarray`, shape (h, w, n), float32
    dominant : `~numpy.ndarray`, shape (h, w), int32
    centers : `~numpy.ndarray`, shape (N, 2), float64
        (y, x) centres in the coordinates of the whole image (not of a
        ``core``).
    labels : `~numpy.ndarray`, shape (k,), int32
        The labels present in ``dominant``.
    band_weights : `~numpy.ndarray`, shape (h, w, n, b), float32, or None
        Each band's own shares (models with per-band maps).
    class_star : `~numpy.ndarray`, shape (N,), float64, or None
        The star probability of every centre (models with the
        star/galaxy head).
    origins : `~numpy.ndarray`, shape (N,), int32, or None
        How each centre was found, as
        `~pais_deblend.segmentation.SourceFlags` bits: 0 for a peak of
        the network's centre-of-mass map, ``RESIDUAL`` (8) for a source
        of the residual companion search (`search_companions`),
        ``ADDED`` (16) for a centre given to a segment that held none
        (`add_missing_centers`).
    """

    contributors: np.ndarray
    weights: np.ndarray
    dominant: np.ndarray
    centers: np.ndarray
    labels: np.ndarray
    band_weights: np.ndarray = None
    class_star: np.ndarray = None
    origins: np.ndarray = None

    @property
    def decoded(self):
        """The first five arrays as a `~pais_deblend.pcr.DecodedPCR`."""
        from ..pcr import DecodedPCR

        return DecodedPCR(self.contributors, self.weights, self.dominant,
                          self.centers, self.labels)


def estimate_image_noise(image):
    """The robust noise of each band of a prepared image, shape (b,)."""
    from ..model.normalization import estimate_noise

    return estimate_noise(image.data, mask=image.mask)


def network_pass(deblender, image, noise_sigma, *, progress_bar=False,
                 heads=True):
    """
    The network's PCR of a prepared image, with all of the model's slots.

    Parameters
    ----------
    deblender : `~pais_deblend.deblend.Deblender`
        Holds the model, its lock, the tile size and the normalisation.
    image : `~pais_deblend.deblend.inputs.PreparedImage`
    noise_sigma : `~numpy.ndarray`, shape (b,)
        The noise of each band, in the image's unit.
    progress_bar : bool, optional
    heads : bool, optional
        Also return the optional heads' outputs.

    Returns
    -------
    pcr : `~pais_deblend.pcr.PCR`
        With contribution-map logits.
    heads : dict
        ``band_contribution_maps`` (h, w, b, n) and ``star_probability``
        (h, w) when the model has them (empty without ``heads``).
    """
    from ..model import predict_pcr

    model, lock = deblender.network_model(image.shape)
    with lock:
        output = predict_pcr(model, image.data,
                             tile_size=deblender.tile_size,
                             noise_sigma=noise_sigma, mask=image.mask,
                             progress_bar=progress_bar, return_heads=heads,
                             normalization=deblender.normalization)
    return output if heads else (output, {})


def network_pass_batch(deblender, images, noise_sigmas, *, heads=True,
                       max_pixels=None):
    """
    `network_pass` of several prepared images of one shape, each within
    one tile, run through the network in batches of at most
    ``max_pixels`` pixels (default:
    `pais_deblend.model.inference.BATCH_PIXELS`; see
    `pais_deblend.model.predict_pcr_batch`).

    Returns
    -------
    outputs : list of tuple
        ``(pcr, heads)`` of every image, as `network_pass` gives them
        (to float rounding).
    """
    from ..model.inference import BATCH_PIXELS, predict_pcr_batch

    with deblender._lock:
        outputs = predict_pcr_batch(
            deblender.model, [image.data for image in images],
            tile_size=deblender.tile_size, noise_sigmas=noise_sigmas,
            masks=[image.mask for image in images], return_heads=heads,
            normalization=deblender.normalization,
            max_pixels=BATCH_PIXELS if max_pixels is None else max_pixels)
    return outputs if heads else [(output, {}) for output in outputs]


def _pixel_of(centers, shape):
    """Nearest in-frame pixel (iy, ix) of each centre."""
    iy = np.clip(np.rint(centers[:, 0]).astype(np.intp), 0, shape[0] - 1)
    ix = np.clip(np.rint(centers[:, 1]).astype(np.intp), 0, shape[1] - 1)
    return iy, ix


def detect_centers(center_of_mass, mask, *, threshold, min_separation):
    """
    The peaks of the centre-of-mass map (N, 2) that fall on unmasked
    pixels (`~pais_deblend.pcr.find_centers` with ``threshold`` and
    ``min_separation``).
    """
    from ..pcr import find_centers

    centers = find_centers(center_of_mass, threshold=threshold,
                           min_separation=min_separation)
    iy, ix = _pixel_of(centers, mask.shape)
    return centers[~mask[iy, ix]]


def detection_image(data, noise_sigma, mask, smoothing):
    """
    The bands in units of their noise, summed and smoothed by a Gaussian
    of ``smoothing`` pixels, shape (h, w); masked pixels count as 0.
    """
    from ..utils._smoothing import smooth_gaussian

    bands = data if data.ndim == 3 else data[..., np.newaxis]
    if bands.shape[2] == 1 and smoothing > 0 and not mask.any():
        # the division folded into the kernel: one pass fewer
        return smooth_gaussian(bands[..., 0], smoothing,
                               scale=1.0 / float(noise_sigma[0]))
    image = bands[..., 0] / float(noise_sigma[0])
    for band in range(1, bands.shape[2]):
        image += bands[..., band] / float(noise_sigma[band])
    if mask.any():
        image[mask] = 0.0
    if smoothing > 0:
        image = smooth_gaussian(image, smoothing)
    return image


def footprint_from_flux(detection, mask, centers, *, threshold, n_pixels,
                        connectivity=8, detection_noise=None):
    """
    The connected regions of significant flux that hold a centre, as a
    label image (h, w) int32 (0: not attributed).

    ``threshold`` is in units of the robust noise of the detection image
    (``detection_noise``, estimated when not given), so it means the same
    whatever the smoothing; regions smaller than ``n_pixels`` are
    dropped.
    """
    from scipy import ndimage

    from ..utils._labels import keep_labels, label_sizes
    from ..utils._numba_serial import pick

    if detection_noise is None:
        from ..model.normalization import estimate_noise

        detection_noise = estimate_noise(detection, mask=mask)[0]
    above = detection > threshold * detection_noise
    if mask.any():
        above &= ~mask
    regions = np.empty(above.shape, dtype=np.int32)
    n_regions = ndimage.label(above, structure=_structure(connectivity),
                              output=regions)
    del above
    sizes = label_sizes(regions, n_regions)
    iy, ix = _pixel_of(centers, mask.shape)
    holds_center = np.zeros(n_regions + 1, dtype=bool)
    holds_center[regions[iy, ix]] = True
    keep = holds_center & (sizes >= n_pixels)
    keep[0] = False
    pick(keep_labels, regions.size)(regions, keep)
    return regions


def _structure(connectivity):
    from scipy import ndimage

    check_in(connectivity, (4, 8), 'connectivity')
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4
                                             else 2)


def add_missing_centers(centers, segments, detection):
    """
    One centre (the brightest pixel of ``detection``) for each segment
    that holds none, so that every input segment yields at least one
    source, as in photutils.
    """
    from scipy import ndimage

    labels = np.unique(segments)
    labels = labels[labels > 0]
    iy, ix = _pixel_of(centers, segments.shape)
    covered = np.unique(segments[iy, ix])
    missing = np.setdiff1d(labels, covered)
    if missing.size == 0:
        return centers
    positions = ndimage.maximum_position(detection, segments, missing)
    extra = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([centers, extra])


def star_probabilities(star_probability, centers):
    """
    The star probability of every centre (N,): the mean of the
    star/galaxy head over the 3 x 3 pixels around it, clipped to [0, 1].
    """
    height, width = star_probability.shape
    half = CLASS_BOX_HALF_WIDTH
    result = np.zeros(len(centers), dtype=np.float64)
    for index, (y, x) in enumerate(centers):
        iy = int(np.clip(np.rint(y), 0, height - 1))
        ix = int(np.clip(np.rint(x), 0, width - 1))
        box = star_probability[max(iy - half, 0):iy + half + 1,
                               max(ix - half, 0):ix + half + 1]
        result[index] = float(np.clip(np.mean(box), 0.0, 1.0))
    return result


def attribute(pcr, band_maps, data, centers, *, segments, mask,
              confine=False, method='templates', noise_sigma=None,
              region=None, detection=None):
    """
    Share the flux of every footprint pixel among the centres.

    Parameters
    ----------
    pcr : `~pais_deblend.pcr.PCR`
        The network's PCR of ``region``, reduced to the slots kept.
    band_maps : `~numpy.ndarray`, shape (h, w, b, n), or None
        Per-band contribution-map logits with the slots of ``pcr``.
    data : `~numpy.ndarray`, shape (H, W) or (H, W, b)
        The whole image (templates read it beyond ``region``).
    centers : `~numpy.ndarray`, shape (N, 2)
        (y, x) centres in the coordinates of ``data``.
    segments : `~numpy.ndarray`, shape (H, W), int
        The footprint as labelled regions (0: not attributed).
    mask : `~numpy.ndarray`, shape (H, W), bool
    confine : bool, optional
        Share each pixel only among the centres of its own segment (the
        templates always are).
    method : {'templates', 'network'}, optional
        ``'network'``: the PCR decode of Hausen & Robertson (2022): each
        pixel goes to the centres its contribution vectors point at, in
        the proportions of its contribution maps. ``'templates'``: each
        source's template is the image, smoothed, made symmetric about
        the source's centre (Lupton's SDSS deblender: the smaller of a
        pixel and its mirror image) and radially non-increasing (as
        scarlet constrains, Melchior et al. 2018), and a pixel's flux is
        shared in proportion to the templates covering it (one per band
        for multi-band images, so blended sources keep their colours);
        the pixels no template covers take the network decode.
    noise_sigma : `~numpy.ndarray`, shape (b,), optional
        The noise per band (needed by ``'templates'``).
    region : tuple of 2 slice, optional
        The part of the image attributed (default: all).
    detection : `~numpy.ndarray`, shape (H, W), optional
        The whole image's `detection_image` smoothed as the templates
        smooth (``TEMPLATE_OPTIONS['smoothing']``), with no masked pixel,
        for ``'templates'`` to use instead of smoothing the image again.

    Returns
    -------
    decoded : `~pais_deblend.pcr.DecodedPCR`
        For ``region``, centres in its coordinates.
    band_weights : `~numpy.ndarray`, shape (h, w, n, b), or None
    """
    check_in(method, ATTRIBUTION_METHODS, 'attribution')
    region = region or (slice(0, data.shape[0]), slice(0, data.shape[1]))
    if method == 'network':
        return _network_decode(pcr, band_maps, data, centers, segments, mask,
                               confine, region)
    return _with_templates(pcr, band_maps, data, centers, segments, mask,
                           confine, noise_sigma, region, detection)


def _network_decode(pcr, band_maps, data, centers, segments, mask, confine,
                    region):
    """The PCR decode of ``region`` (`attribute` with 'network')."""
    from ..pcr import decode_arrays, decode_band_weights

    origin = np.array([region[0].start, region[1].start], dtype=np.float64)
    local_segments = segments[region]
    decoded = decode_arrays(pcr, data[region], centers=centers - origin,
                            footprint=local_segments > 0, mask=mask[region],
                            segments=local_segments if confine else None)
    band_weights = None
    if band_maps is not None:
        band_weights = decode_band_weights(
            pcr, band_maps, decoded, data[region],
            footprint=local_segments > 0, mask=mask[region])
    return decoded, band_weights


def _with_templates(pcr, band_maps, data, centers, segments, mask, confine,
                    noise_sigma, region, detection=None):
    """The template attribution of ``region``, the network decode on the
    pixels no template covers (decoded one by one and written into the
    template arrays at those pixels only, so that no second set of
    (h, w, n) arrays exists)."""
    from ..attribution import attribute_with_templates
    from ..pcr import DecodedPCR, decode_at_pixels, decode_band_weights
    from ..utils._labels import present_labels

    shared = attribute_with_templates(
        data, centers, segments, noise_sigma=noise_sigma,
        n_contributors=pcr.n_contributors, detection=detection,
        **TEMPLATE_OPTIONS)
    contributors = shared.contributors[region]
    weights = shared.weights[region]
    dominant = shared.dominant[region]
    band_weights = (None if shared.band_weights is None
                    else shared.band_weights[region])
    uncovered = segments[region] > 0
    uncovered &= ~shared.covered[region]
    uncovered &= ~mask[region]
    ys, xs = np.nonzero(uncovered)
    del uncovered
    origin = np.array([region[0].start, region[1].start], dtype=np.float64)
    if ys.size:
        local_data = data[region]
        decoded = decode_at_pixels(
            pcr, local_data, ys, xs, centers=centers - origin,
            segments=segments[region] if confine else None)
        contributors[ys, xs] = decoded.contributors[0]
        weights[ys, xs] = decoded.weights[0]
        dominant[ys, xs] = decoded.dominant[0]
        if band_weights is not None:
            band_weights[ys, xs] = (
                decoded.weights[0, :, :, np.newaxis] if band_maps is None
                else decode_band_weights(pcr, band_maps, decoded, local_data,
                                         pixels=(ys, xs))[0])
    present = present_labels(np.ascontiguousarray(dominant), len(centers))
    labels = np.flatnonzero(present).astype(np.int32)
    return DecodedPCR(contributors, weights, dominant, centers - origin,
                      labels), band_weights


def search_companions(data, centers, segments, noise_sigma, *, threshold,
                      fraction=0.3, min_distance=2.0, max_rounds=1,
                      smoothed=None):
    """
    Sources the detection missed, found in what the templates of the
    detected ones leave unexplained.

    Every detected source's symmetric, monotonic template (see
    `attribute`) is subtracted from the smoothed noise-weighted image; in
    each footprint segment the largest residual becomes a new source when
    it exceeds ``threshold`` times the smoothed noise and ``fraction`` of
    the smoothed image there, at least ``min_distance`` pixels from every
    centre. The templates are then made again with the new source, up to
    ``max_rounds`` times, so that one unexplained galaxy gives one new
    source rather than a piece for every bump of its residual. A close
    companion that the detection merged with its neighbour breaks the
    neighbour's symmetry and stands out there (the idea of the SDSS
    deblender's peak culling, used in reverse). The defaults were chosen
    on the tuning suites (pairs and fields of master seed 5): one round,
    and a residual above 30 % of the image, keep the fields' precision
    while finding most close companions.

    Parameters
    ----------
    data : `~numpy.ndarray`, shape (h, w) or (h, w, b)
    centers : `~numpy.ndarray`, shape (N, 2)
    segments : `~numpy.ndarray`, shape (h, w), int
        The footprint as labelled regions (0: not searched).
    noise_sigma : `~numpy.ndarray`, shape (b,)
    threshold : float
        In units of the smoothed image's noise.
    fraction, min_distance : float, optional
    max_rounds : int, optional
    smoothed : `~numpy.ndarray`, shape (h, w), optional
        The noise-weighted band sum ``sum_b data_b / noise_sigma_b``
        already smoothed by ``TEMPLATE_OPTIONS['smoothing']`` pixels
        (`detection_image` with that smoothing); computed when not
        given.

    Returns
    -------
    centers : `~numpy.ndarray`, shape (M, 2)
        The new (y, x) centres, integer pixels.
    """
    from ..attribution import smoothed_noise_factor
    from ..utils._numba_serial import pick
    from ..utils._smoothing import smooth_gaussian
    from ._kernels import companion_candidates

    bands = data if data.ndim == 3 else data[..., np.newaxis]
    n_bands = bands.shape[2]
    smoothing = TEMPLATE_OPTIONS['smoothing']
    # one float32 plane in units of its own noise (sqrt(b) for b
    # unit-noise bands): the search needs four frames of it at a time
    if smoothed is None:
        plane = np.zeros(bands.shape[:2], dtype=np.float32)
        for band in range(n_bands):
            plane += bands[..., band] / np.float32(noise_sigma[band])
        smoothed = (smooth_gaussian(plane, smoothing) if smoothing > 0
                    else plane)
        del plane
    else:
        smoothed = np.asarray(smoothed, dtype=np.float32)
    noise = math.sqrt(n_bands)
    smoothed_noise = noise * smoothed_noise_factor(smoothing)
    level = np.float32(threshold * smoothed_noise)
    candidates = pick(companion_candidates, smoothed.size)
    current = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    new = []
    for _ in range(max_rounds):
        model = _template_model(smoothed, current, segments, smoothed_noise)
        ys, xs = np.nonzero(candidates(smoothed, model, segments, level,
                                       np.float32(fraction)))
        residual = smoothed[ys, xs] - model[ys, xs]
        del model
        ys, xs, residual = _far_from(ys, xs, residual, current, min_distance,
                                     smoothed.shape)
        found = _strongest_per_segment(ys, xs, residual, segments)
        if len(found) == 0:
            break
        new.append(found)
        current = np.concatenate([current, found])
    return (np.concatenate(new) if new else np.zeros((0, 2)))


def _template_model(smoothed, centers, segments, smoothed_noise):
    """The sum of the templates of ``centers`` (float32) on a plane
    already smoothed by ``TEMPLATE_OPTIONS['smoothing']``, whose noise is
    ``smoothed_noise``."""
    from ..attribution import source_templates

    model = np.zeros(smoothed.shape, dtype=np.float32)
    if len(centers) == 0:
        return model
    # the same templates as on the unsmoothed plane, without smoothing
    # the frame a second time
    options = dict(TEMPLATE_OPTIONS, band_templates='per_band', smoothing=0)
    for rows, cols, values in source_templates(
            smoothed, centers, segments, noise_sigma=[smoothed_noise],
            **options):
        model[rows, cols] += values
    return model


def _far_from(ys, xs, values, centers, min_distance, shape):
    """The candidate pixels (and their ``values``) at least
    ``min_distance`` from the nearest pixel of every centre."""
    from scipy.spatial import cKDTree

    if len(centers) == 0 or ys.size == 0:
        return ys, xs, values
    pixels = np.column_stack(_pixel_of(centers, shape))
    distance, _ = cKDTree(pixels).query(np.column_stack([ys, xs]))
    far = distance >= min_distance
    return ys[far], xs[far], values[far]


def _strongest_per_segment(ys, xs, residual, segments):
    """The (y, x) of the largest ``residual`` among the candidate pixels
    (``ys``, ``xs``, in raster order) of each segment that has any (the
    first in raster order on a tie)."""
    # the candidates are few: sorting them beats a labelled maximum over
    # the whole frame, which sorts every pixel's label
    if ys.size == 0:
        return np.zeros((0, 2))
    labels = segments[ys, xs]
    order = np.lexsort((-residual, labels))
    first = np.ones(order.size, dtype=bool)
    first[1:] = labels[order[1:]] != labels[order[:-1]]
    strongest = order[first]
    return np.column_stack([ys[strongest], xs[strongest]]).astype(np.float64)


def _empty_result(shape, n, n_bands, heads):
    """A `PipelineResult` without sources."""
    band_weights = (np.zeros(shape + (n, n_bands), dtype=np.float32)
                    if heads.get('band_contribution_maps') is not None
                    else None)
    class_star = (np.zeros(0) if heads.get('star_probability') is not None
                  else None)
    return PipelineResult(np.zeros(shape + (n,), dtype=np.int32),
                          np.zeros(shape + (n,), dtype=np.float32),
                          np.zeros(shape, dtype=np.int32),
                          np.zeros((0, 2), dtype=np.float64),
                          np.zeros(0, dtype=np.int32), band_weights,
                          class_star, np.zeros(0, dtype=np.int32))


def _with_origin(origins, n_centers, flag):
    """``origins`` extended to ``n_centers`` with ``flag`` for the centres
    appended after them."""
    extra = np.full(n_centers - len(origins), int(flag), dtype=np.int32)
    return np.concatenate([origins, extra])


def empty_result(deblender, shape, *, heads=True):
    """A `PipelineResult` without sources for a region of ``shape``,
    with the head outputs the deblender's model has."""
    model = deblender.model
    present = {}
    if heads and getattr(model, 'band_maps', False):
        present['band_contribution_maps'] = True
    if heads and getattr(model, 'classify', False):
        present['star_probability'] = True
    return _empty_result(tuple(shape), deblender.n_contributors,
                         deblender.n_bands, present)


@small_pages()
def run_pipeline(deblender, image, *, segments=None, n_pixels=5,
                 connectivity=8, noise_sigma=None, detection_noise=None,
                 core=None, exact=None, heads=True, progress_bar=False,
                 attribution='templates', companion_threshold=None,
                 network_output=None, timings=None):
    """
    Detect and attribute the sources of a prepared image.

    Parameters
    ----------
    deblender : `~pais_deblend.deblend.Deblender`
        The model and the decoding settings.
    image : `~pais_deblend.deblend.inputs.PreparedImage`
    segments : `~numpy.ndarray`, shape (h, w), int, optional
        Footprints to deblend within (0: none); each pixel is shared only
        among the centres of its own segment, and a segment without a
        centre gets one at its brightest pixel. Without it the footprint
        is the connected regions of the detection image above the
        deblender's ``footprint_threshold`` that hold a centre.
    n_pixels : int, optional
        Smallest footprint region kept, pixels.
    connectivity : {8, 4}, optional
    noise_sigma : `~numpy.ndarray`, shape (b,), optional
        The noise per band (a mosaic's); estimated on the image if None.
    detection_noise : float, optional
        The robust noise of the detection image (a mosaic's).
    core : tuple of 2 slice, optional
        Attribute only this part of the image (a mosaic tile's core).
    exact : tuple of 2 slice, optional
        Only centres found here are attributed to (the zone of a mosaic
        tile where the network output equals a single pass); all centres
        still decide which footprint regions are kept.
    heads : bool, optional
        Read the model's optional heads (per-band weights, star
        probability).
    progress_bar : bool, optional
        A progress bar over the network's tiles.
    attribution : {'templates', 'network'}, optional
        See `attribute`.
    companion_threshold : float, optional
        Look for sources the network missed in the residual of the
        templates (`search_companions`) above this many times the
        smoothed noise; None: no search.
    network_output : tuple, optional
        The ``(pcr, heads)`` of `network_pass` (or `network_pass_batch`)
        for this image and ``noise_sigma``, already computed: the network
        is not run again.
    timings : dict, optional
        Receives the wall-clock seconds of every step run, by name
        (``'noise'``, ``'network'``, ``'centres'``, ``'detection image'``,
        ``'footprint'``, ``'companion search'``, ``'attribution'``,
        ``'star probability'``), for the benchmarks' breakdowns.

    Returns
    -------
    result : `PipelineResult`
        The arrays of ``core`` (the whole image by default); centres in
        the image's coordinates, with how each was found (``origins``).
    """
    from ..segmentation import SourceFlags

    check_in(attribution, ATTRIBUTION_METHODS, 'attribution')
    step = _StepTimer(timings)
    core = core or (slice(0, image.shape[0]), slice(0, image.shape[1]))
    core_shape = tuple(s.stop - s.start for s in core)
    n = deblender.n_contributors
    if noise_sigma is None:
        with step('noise'):
            noise_sigma = estimate_image_noise(image)
    if network_output is None:
        with step('network'):
            network_output = network_pass(deblender, image, noise_sigma,
                                          progress_bar=progress_bar,
                                          heads=heads)
    pcr, head_maps = network_output
    with step('centres'):
        centers = detect_centers(pcr.center_of_mass, image.mask,
                                 threshold=deblender.detection_threshold,
                                 min_separation=deblender.min_separation)
    origins = np.zeros(len(centers), dtype=np.int32)
    with step('detection image'):
        detection = detection_image(image.data, noise_sigma, image.mask,
                                    deblender.footprint_smoothing)
    with step('footprint'):
        if segments is None:
            segments = footprint_from_flux(
                detection, image.mask, centers,
                threshold=deblender.footprint_threshold, n_pixels=n_pixels,
                connectivity=connectivity, detection_noise=detection_noise)
            confine = False
        else:
            segments = np.where(image.mask, 0, segments)
            centers = add_missing_centers(centers, segments, detection)
            origins = _with_origin(origins, len(centers), SourceFlags.ADDED)
            confine = True
    # the detection image is the plane the search and the templates
    # smooth, when it is smoothed as they smooth
    shared = (detection if deblender.footprint_smoothing
              == TEMPLATE_OPTIONS['smoothing'] else None)
    if companion_threshold is not None and len(centers):
        with step('companion search'):
            extra = search_companions(image.data, centers, segments,
                                      noise_sigma,
                                      threshold=companion_threshold,
                                      smoothed=shared)
        centers = np.concatenate([centers, extra])
        origins = _with_origin(origins, len(centers), SourceFlags.RESIDUAL)
    footprint = segments > 0
    iy, ix = _pixel_of(centers, image.shape)
    keep = footprint[iy, ix]
    if exact is not None:
        inside = np.zeros(image.shape, dtype=bool)
        inside[exact] = True
        keep &= inside[iy, ix]
    centers, origins = centers[keep], origins[keep]
    if len(centers) == 0:
        return _empty_result(core_shape, n, deblender.n_bands, head_maps)

    # attribution is per pixel: only the core is attributed, against all
    # the centres (which may lie outside it)
    with step('attribution'):
        all_slots = pcr.crop(core)
        core_pcr = all_slots.keep_top_slots(n)
        band_maps = head_maps.get('band_contribution_maps')
        if band_maps is not None:
            band_maps = all_slots.keep_top_band_slots(
                np.ascontiguousarray(band_maps[core]), n)
        decoded, band_weights = attribute(
            core_pcr, band_maps, image.data, centers, segments=segments,
            mask=image.mask, confine=confine, method=attribution,
            noise_sigma=noise_sigma, region=core,
            # masked pixels are 0 in the detection image, not in templates
            detection=None if image.mask.any() else shared)
    class_star = None
    if head_maps.get('star_probability') is not None:
        with step('star probability'):
            class_star = star_probabilities(head_maps['star_probability'],
                                            centers)
    return PipelineResult(decoded.contributors, decoded.weights,
                          decoded.dominant, centers, decoded.labels,
                          band_weights=band_weights, class_star=class_star,
                          origins=origins)


class _StepTimer:
    """``with step(name):`` adds the block's wall-clock seconds to
    ``timings[name]`` (nothing when ``timings`` is None)."""

    def __init__(self, timings):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, name):
        if self.timings is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = (self.timings.get(name, 0.0)
                                  + time.perf_counter() - started)
