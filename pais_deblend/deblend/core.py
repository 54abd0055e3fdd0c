"""
`Deblender` and `deblend_sources`: detect sources and share each pixel's
flux among them with the PAIS network (Hausen & Robertson 2022,
arXiv:2201.04714), behind the interface of photutils'
`~photutils.segmentation.deblend_sources`.

The steps of one call live in `pais_deblend.deblend.pipeline`
(`~pais_deblend.deblend.pipeline.run_pipeline`), shared with the mosaic
tiles: the input becomes a float64 image and a bad-pixel mask; the
network predicts the PCR of the whole image in overlapping tiles; source
centres are the peaks of the predicted centre-of-mass map; the footprint
is the given segmentation image or the connected regions of significant
flux that hold a centre; the footprint's flux is shared among the
centres.
"""

import os
import threading
import warnings
import weakref

import numpy as np

from ..utils._pages import small_pages
from ..utils._validation import (check_at_most, check_finite_float,
                                 check_in, check_positive_int)
from ..utils.exceptions import NoDetectionWarning
from .inputs import (check_image_suits_model, no_detection_message,
                     prepare_image)
from .memory import check_memory

__all__ = ['Deblender', 'deblend_sources']

#: Decoding settings used when a bundled model does not record its own.
DEFAULT_SETTINGS = {'detection_threshold': 0.5, 'min_separation': 2,
                    'footprint_threshold': 1.5, 'footprint_smoothing': 1.0,
                    'attribution': 'templates', 'companion_threshold': 15.0}

#: The default side of the network's tile cores, by architecture
#: (``architecture_name``; others: `DEFAULT_TILE_SIZE`). Every tile runs
#: with a margin of the receptive-field radius on each side (112 pixels
#: for the light ``hst_f160w``): 2048-pixel cores recompute 19 % of the
#: pixels they run, 512-pixel cores 52 %. Measured on a 4096 x 4096
#: ``hst_f160w`` field on 2 CPU cores, 2026-12-07: the light network's
#: pass took 5.2 s with 2048-pixel cores against 7.9 s with 512, the peak
#: resident memory of the whole call unchanged (2.9 GiB); the paper's
#: architecture (``hst_f160w_v1``) with 2048-pixel cores took 4.8 GiB, so
#: it keeps 512.
TILE_SIZES = {'light': 2048}

#: The default tile side of architectures not in `TILE_SIZES`.
DEFAULT_TILE_SIZE = 512


def default_tile_size(model):
    """The default network tile side for ``model`` (see `TILE_SIZES`)."""
    return TILE_SIZES.get(getattr(model, 'architecture_name', None),
                          DEFAULT_TILE_SIZE)

#: The largest value of each numeric option, and why: beyond them a call
#: runs for hours or exhausts memory without a better result.
LIMITS = {
    'min_separation': (
        64, 'the half-width in pixels of the peak window: wider merges '
        'whole groups of galaxies into one source and widens every mosaic '
        'margin'),
    'footprint_threshold': (
        1000.0, 'in units of the detection noise: above it only the cores '
        'of the brightest sources remain; select sources with '
        'detection_threshold instead'),
    'footprint_smoothing': (
        32.0, 'the Gaussian sigma in pixels: its cost grows with its width '
        'and a wider kernel blurs neighbouring sources into one footprint'),
    'tile_size': (
        4096, 'the network holds its activations for a whole tile, many '
        'GiB above this side; results do not depend on it'),
    'n_pixels': (
        1_000_000, 'the smallest effective area kept, pixels: no source '
        'is larger, so a larger value only removes every source'),
}


def check_limit(value, name):
    """``value`` of the option ``name`` checked against its `LIMITS`."""
    maximum, reason = LIMITS[name]
    return check_at_most(value, maximum, name, reason)


class _ModelDefault:
    def __repr__(self):
        return 'MODEL_DEFAULT'


#: The default of options for which None is a value of its own (e.g.
#: ``companion_threshold=None`` turns the search off): the model's
#: setting.
MODEL_DEFAULT = _ModelDefault()

# bundled models are loaded (checksum, Keras deserialisation) once per
# process: deblend_sources builds a Deblender at every call
_BUNDLED_CACHE = {}
_CACHE_LOCK = threading.Lock()
# one lock per model object: Deblenders sharing a model take turns in the
# network pass
_MODEL_LOCKS = weakref.WeakKeyDictionary()


def _model_lock(model):
    with _CACHE_LOCK:
        lock = _MODEL_LOCKS.get(model)
        if lock is None:
            lock = _MODEL_LOCKS[model] = threading.Lock()
        return lock


#: The runtimes a `Deblender` can run the network with.
RUNTIMES = ('auto', 'tensorflow', 'onnx')


def _bundled(name, runtime='tensorflow'):
    from ..model.bundled import load_bundled_model, load_bundled_onnx_model

    key = (name, runtime)
    with _CACHE_LOCK:
        loaded = _BUNDLED_CACHE.get(key)
    if loaded is None:
        loaded = (load_bundled_onnx_model(name) if runtime == 'onnx'
                  else load_bundled_model(name))
        with _CACHE_LOCK:
            loaded = _BUNDLED_CACHE.setdefault(key, loaded)
    return loaded


def _auto_runtime(model):
    """``runtime='auto'``: the ONNX twin of a bundled model that has one
    when ONNX Runtime is installed; TensorFlow for everything else (an
    ``.onnx`` file or model still runs on ONNX Runtime)."""
    from ..model.bundled import BUNDLED_MODELS
    from ..utils import _optional_deps

    if (isinstance(model, str) and 'onnx_sha256' in BUNDLED_MODELS.get(
            model, {}) and _optional_deps.HAS_ONNXRUNTIME):
        return 'onnx'
    return 'tensorflow'


def _is_bundled_name(model):
    from ..model.bundled import BUNDLED_MODELS

    return isinstance(model, str) and model in BUNDLED_MODELS


def _model_runtime(model):
    """The runtime a model object runs with."""
    return getattr(model, 'runtime', 'tensorflow')


def _load(model, runtime='tensorflow'):
    """(model, name, settings) for a bundled name, a ``.keras`` or
    ``.onnx`` file or a model; ``runtime`` picks the twin of a bundled
    model."""
    runtime = check_in(runtime, RUNTIMES, 'runtime')
    if runtime == 'auto':
        runtime = _auto_runtime(model)
    if isinstance(model, os.PathLike) or (
            isinstance(model, str) and model.endswith(('.keras', '.onnx'))):
        path = os.fspath(model)
        is_onnx = path.endswith('.onnx')
        if runtime == 'onnx' and not is_onnx:
            msg = (f"runtime='onnx' needs a bundled model name or an .onnx "
                   f"file, got the model file {path!r}; export it with "
                   f"pais_deblend.model.export_onnx")
            raise ValueError(msg)
        if not os.path.isfile(path):
            msg = f'model file {path!r} does not exist'
            raise FileNotFoundError(msg)
        if is_onnx:
            from ..model.onnx_runtime import load_onnx_model

            loaded = load_onnx_model(path)
        else:
            from ..model import load_model

            loaded = load_model(path)
        return loaded, os.path.basename(path), dict(DEFAULT_SETTINGS)
    if isinstance(model, str):
        from ..model.bundled import BUNDLED_MODELS

        loaded = _bundled(model, runtime)
        settings = dict(DEFAULT_SETTINGS,
                        **BUNDLED_MODELS[model].get('decoding', {}))
        settings['band_names'] = BUNDLED_MODELS[model].get('band_names')
        return loaded, model, settings
    if not (hasattr(model, 'receptive_field_radius')
            and hasattr(model, 'n_contributors')):
        msg = (f'model must be the name of a bundled model or a PAIS model '
               f'(pais_deblend.model.PAISModel), got {type(model).__name__}')
        raise TypeError(msg)
    if runtime == 'onnx' and _model_runtime(model) != 'onnx':
        msg = (f"runtime='onnx' needs a bundled model name, an .onnx file "
               f"or an OnnxPAISModel, got a {type(model).__name__}; export "
               f"it with pais_deblend.model.export_onnx")
        raise ValueError(msg)
    return model, getattr(model, 'name', 'custom'), dict(DEFAULT_SETTINGS)


def _present_labels(result):
    """The labels 1..N that appear among the contributors."""
    from ..utils._labels import present_labels

    contributors = np.ascontiguousarray(result.contributors)
    present = present_labels(
        contributors.reshape(contributors.shape[0], -1),
        len(result.centers))
    return np.flatnonzero(present).tolist()


def _class_star_of_present(result, present):
    """{label: star probability} for the ``present`` labels, or None
    without the star/galaxy head."""
    if result.class_star is None:
        return None
    return {label: float(result.class_star[label - 1]) for label in present}


def _origins_of_present(result, present):
    """{label: detection flags} (how the centre was found, see
    `~pais_deblend.segmentation.SourceFlags`) for the ``present`` labels,
    or None when the result records no origins."""
    if result.origins is None:
        return None
    return {label: int(result.origins[label - 1]) for label in present}


class Deblender:
    """
    Detect and deblend sources with a trained PAIS network; holds the
    loaded model for many calls.

    Parameters
    ----------
    model : str, path-like or `~pais_deblend.model.PAISModel`, optional
        A bundled model name (`pais_deblend.model.available_models`), the
        path of a ``.keras`` file written by `pais_deblend.model.train`
        or of an ``.onnx`` file written by
        `~pais_deblend.model.export_onnx`, or a loaded PAIS model
        (`~pais_deblend.model.PAISModel` or
        `~pais_deblend.model.OnnxPAISModel`). The bundled
        ``'hst_f160w'`` was trained on simulated HST WFC3/IR F160W scenes
        at 0.06"/pixel.
    n_contributors : int, optional
        The number of sources sharing a pixel (at most the model's, 3 for
        the bundled models; fewer keeps the most likely slots).
    detection_threshold : float, optional
        The lowest predicted centre-of-mass peak kept as a source, in
        (0, 1]. Default: the value tuned on the model's validation scenes
        (bundled models), else 0.5.
    min_separation : int, optional
        Half-width in pixels of the non-maximum suppression window on the
        centre-of-mass map (at most 64).
    footprint_threshold : float, optional
        Without a segmentation image, pixels are attributed inside the
        connected regions of the noise-weighted image, smoothed by a
        Gaussian of ``footprint_smoothing`` pixels, above this many times
        its robust noise, that contain a detected centre (at most 1000).
    footprint_smoothing : float, optional
        See ``footprint_threshold`` (pixels, > 0, at most 32).
    tile_size : int, optional
        The side of the tile cores of the network pass (memory against
        speed; results do not depend on it; at most 4096). Each tile is
        run with a margin of the network's receptive-field radius on
        every side, so larger tiles recompute fewer pixels. Default: 2048
        for light networks (the bundled ``hst_f160w``), 512 for the
        paper's architecture (``hst_f160w_v1``, ``ground_grz``), whose
        activations take more memory.
    progress_bar : bool, optional
        Show a progress bar over the tiles.
    normalization : {'asinh', 'lupton'}, optional
        The input normalisation (`~pais_deblend.model.normalize_image`
        ``method``): the per-band asinh stretch or the colour-preserving
        Lupton et al. (2004) stretch of the band mean. Default: the one
        the model was trained with (bundled models), else ``'asinh'``;
        pass ``'lupton'`` for a ``.keras`` model trained with it.
    attribution : str, optional
        How each footprint pixel's flux is shared among the detected
        sources (`pais_deblend.deblend.pipeline.ATTRIBUTION_METHODS`):
        ``'network'``, the PCR decode of the network's contribution
        vectors and maps (Hausen & Robertson 2022), or ``'templates'``,
        shares in proportion to symmetric, monotonic templates of the
        image around each detected centre (Lupton's SDSS deblender;
        Melchior et al. 2018), which share the pixels of close blends
        far more truly (see the benchmarks page). Default:
        ``'templates'``.
    companion_threshold : float or None, optional
        After detection, look for sources the network missed (a close
        companion merged with its neighbour) in what the symmetric
        templates of the detected sources leave unexplained
        (`pais_deblend.deblend.pipeline.search_companions`): a residual
        peak above this many times the smoothed noise becomes a source.
        None turns the search off. Default: 15.
    runtime : {'auto', 'tensorflow', 'onnx'}, optional
        What runs the network of a bundled model: its Keras model on
        TensorFlow, or its ONNX twin on ONNX Runtime, which gives the
        same results to float rounding and never imports TensorFlow, so
        a new process deblends its first image sooner. ``'auto'`` (the
        default) runs images of fewer than
        `~pais_deblend.model.inference.XLA_MIN_TILES` network tiles on
        ONNX Runtime and larger ones on TensorFlow with XLA, the faster
        of the two at each size (:doc:`/benchmarks`); it is
        ``'tensorflow'`` when ``onnxruntime`` is not installed. An
        ``.onnx`` file or an `~pais_deblend.model.OnnxPAISModel` always
        runs on ONNX Runtime, a ``.keras`` file or a Keras model on
        TensorFlow (``'onnx'`` with them is an error).

    Raises
    ------
    FileNotFoundError
        If a ``.keras`` or ``.onnx`` ``model`` does not exist.
    ValueError
        If a ``.keras`` ``model`` is truncated, not a Keras archive, or
        not a PAIS model (`pais_deblend.model.load_model`), or an
        ``.onnx`` ``model`` is not one written by
        `~pais_deblend.model.export_onnx`; for a bundled model whose file
        fails its checksum or that has no ONNX twin with
        ``runtime='onnx'``; for bad settings.
    ImportError
        With ``runtime='onnx'`` (or an ``.onnx`` model) and no
        ``onnxruntime``.

    Notes
    -----
    One `Deblender` may be called from several threads; calls are
    serialised around the network pass, which holds the model.
    """

    def __init__(self, model='hst_f160w', *, n_contributors=None,
                 detection_threshold=None, min_separation=None,
                 footprint_threshold=None, footprint_smoothing=None,
                 tile_size=None, progress_bar=True,
                 normalization=None,
                 attribution=None, companion_threshold=MODEL_DEFAULT,
                 runtime='auto'):
        from .pipeline import ATTRIBUTION_METHODS

        self.model, self.model_name, settings = _load(model, runtime)
        # with runtime='auto', images of several network tiles go to the
        # bundled model's Keras twin, which XLA compiles
        self._tiled_twin = (model if runtime == 'auto'
                            and _model_runtime(self.model) == 'onnx'
                            and _is_bundled_name(model) else None)
        #: What runs the network: ``'tensorflow'``, ``'onnx'``, or
        #: ``'auto'`` (ONNX Runtime, with TensorFlow for large images).
        self.runtime = ('auto' if self._tiled_twin is not None
                        else _model_runtime(self.model))
        model_slots = int(self.model.n_contributors)
        if n_contributors is None:
            n_contributors = model_slots
        n_contributors = check_positive_int(n_contributors, 'n_contributors')
        if n_contributors > model_slots:
            msg = (f'n_contributors must be at most {model_slots} for model '
                   f'{self.model_name!r}, got {n_contributors}')
            raise ValueError(msg)
        self.n_contributors = n_contributors

        def pick(value, key):
            return settings[key] if value is None else value

        self.detection_threshold = check_finite_float(
            pick(detection_threshold, 'detection_threshold'),
            'detection_threshold', minimum=0, maximum=1,
            include_minimum=False)
        self.min_separation = check_limit(check_positive_int(
            pick(min_separation, 'min_separation'), 'min_separation'),
            'min_separation')
        self.footprint_threshold = check_limit(check_finite_float(
            pick(footprint_threshold, 'footprint_threshold'),
            'footprint_threshold'), 'footprint_threshold')
        self.footprint_smoothing = check_limit(check_finite_float(
            pick(footprint_smoothing, 'footprint_smoothing'),
            'footprint_smoothing', minimum=0), 'footprint_smoothing')
        if tile_size is None:
            tile_size = default_tile_size(self.model)
        self.tile_size = check_limit(check_positive_int(tile_size,
                                                        'tile_size'),
                                     'tile_size')
        self.progress_bar = bool(progress_bar)
        from ..model.normalization import NORMALIZATION_METHODS

        #: The input normalisation method passed to ``predict_pcr``.
        self.normalization = check_in(
            settings.get('normalization', 'asinh') if normalization is None
            else normalization, NORMALIZATION_METHODS, 'normalization')
        companion_threshold = (settings['companion_threshold']
                               if companion_threshold is MODEL_DEFAULT
                               else companion_threshold)
        #: The residual S/N of a companion found after detection, or None.
        self.companion_threshold = (None if companion_threshold is None
                                    else check_finite_float(
                                        companion_threshold,
                                        'companion_threshold', minimum=0,
                                        include_minimum=False))
        #: How footprint pixels are shared among the sources.
        self.attribution = check_in(
            pick(attribution, 'attribution'), ATTRIBUTION_METHODS,
            'attribution')
        self._lock = _model_lock(self.model)
        names = settings.get('band_names')
        #: The model's band names (bundled multi-band models), else None.
        self.band_names = (tuple(names) if names is not None
                           and len(names) == self.n_bands else None)

    def __repr__(self):
        return (f'Deblender(model={self.model_name!r}, '
                f'n_contributors={self.n_contributors}, '
                f'detection_threshold={self.detection_threshold:g}, '
                f'attribution={self.attribution!r}, '
                f'runtime={self.runtime!r})')

    def network_model(self, shape):
        """
        The model that runs the network on an image of ``shape`` (h, w),
        and the lock that Deblenders sharing it take turns with.

        With ``runtime='auto'``, an image of at least
        `~pais_deblend.model.inference.XLA_MIN_TILES` network tiles runs
        on the bundled model's Keras twin, compiled by XLA (loaded on
        first use), and a smaller one on its ONNX twin.
        """
        if self._runs_tiled_twin(shape):
            twin = _bundled(self._tiled_twin, 'tensorflow')
            return twin, _model_lock(twin)
        return self.model, self._lock

    def _runs_tiled_twin(self, shape):
        if self._tiled_twin is None:
            return False
        from ..model.inference import XLA_MIN_TILES, count_tiles

        return count_tiles(self.model, shape,
                           self.tile_size) >= XLA_MIN_TILES

    def uses_tensorflow(self, shape):
        """
        Whether a call on an image of ``shape`` ((h, w) or (h, w, b)) runs
        the network on TensorFlow (a Keras model, or the Keras twin that
        ``runtime='auto'`` picks for large images; see `network_model`),
        without loading or importing anything.
        """
        return (self._runs_tiled_twin(tuple(shape)[:2])
                or _model_runtime(self.model) != 'onnx')

    @property
    def n_bands(self):
        """The number of bands the model reads."""
        return int(self.model.n_bands)

    def predict(self, data, *, mask=None, progress_bar=None):
        """
        The network's PCR of an image (no detection, no decoding).

        Parameters
        ----------
        data, mask
            As for `__call__`.
        progress_bar : bool, optional
            Default: the deblender's setting.

        Returns
        -------
        pcr : `~pais_deblend.pcr.PCR`
            With contribution-map logits (``maps_are_logits=True``),
            reduced to ``n_contributors`` slots.
        """
        from .pipeline import estimate_image_noise, network_pass

        image = prepare_image(data, mask=mask, n_bands=self.n_bands)
        pcr = network_pass(self, image, estimate_image_noise(image),
                           progress_bar=self._progress(progress_bar),
                           heads=False)[0]
        return pcr.keep_top_slots(self.n_contributors)

    def _progress(self, progress_bar):
        return self.progress_bar if progress_bar is None else bool(
            progress_bar)

    # whole-frame arrays are written once each: see utils._pages
    @small_pages()
    def __call__(self, data, segmentation_image=None, n_pixels=5, *,
                 mask=None, connectivity=8, relabel=True, progress_bar=None):
        """
        Detect (or take) the sources of an image and deblend them with
        partial attribution.

        Parameters
        ----------
        data : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
            The background-subtracted image, shape (h, w) (or (h, w, b)
            for a b-band model), any flux unit. NaN and infinite pixels
            are masked. Masked arrays and `NDData` (e.g. `CCDData`) masks
            are honoured. Never modified.
        segmentation_image : `~photutils.segmentation.SegmentationImage`, optional
            Footprints to deblend within (e.g. from photutils
            `~photutils.segmentation.detect_sources`): only their pixels
            are attributed, each among the sources whose centre lies in
            the same segment, and each segment keeps at least one source
            (its brightest pixel when the network finds no centre in
            it) unless its effective area falls below ``n_pixels``.
            Without one, the network detects the sources and the
            footprint is derived from the image (see the class).
        n_pixels : int, optional
            Sources whose effective (weighted) area is below this many
            pixels are removed, their weight handed to the other
            contributors of their pixels; without a segmentation image it
            is also the smallest footprint region kept (at most
            1,000,000).
        mask : array_like of bool, optional
            Shape (h, w). True for pixels that are neither used nor
            attributed.
        connectivity : {8, 4}, optional
            Pixel connectivity of the footprint regions.
        relabel : bool, optional
            Number the sources 1..N consecutively.
        progress_bar : bool, optional
            Default: the deblender's setting.

        Returns
        -------
        segmentation : `~pais_deblend.segmentation.PartialSegmentationImage` or None
            The partial segmentation, with ``centers``; `None` (and a
            `~pais_deblend.utils.exceptions.NoDetectionWarning`) when no
            source is found. With a model that has the optional heads
            (e.g. the bundled ``'ground_grz'``) it also carries
            ``band_weights`` (h, w, n, b), each band's own shares, so
            ``source_image(label, data)`` and the catalog's per-band
            fluxes keep the colours of blended sources, and
            ``class_star`` ({label: probability that the source is a
            star}, the star/galaxy head averaged over the 3 x 3 pixels
            at the centre). Its ``detection_flags`` say how each source
            was found (0: the network; ``SourceFlags.RESIDUAL``: the
            residual companion search; ``SourceFlags.ADDED``: a centre
            given to a segment of ``segmentation_image`` the network
            left without one), and the catalog's ``flags`` include them.

        Raises
        ------
        TypeError, ValueError
            For bad input; the message names the parameter. Also a
            `ValueError`, before any work, when the image needs more
            memory than is available
            (``pais_deblend.deblend.memory``): deblend
            it with `~pais_deblend.mosaic.deblend_mosaic` instead.

        Notes
        -----
        While the call runs, NumPy does not ask the operating system for
        transparent huge pages for new arrays (its setting is restored
        when the call returns or raises): on Linux machines that compact
        memory for such requests, the first writes to the call's large
        whole-frame arrays would otherwise wait for the compaction
        (:doc:`/benchmarks`, "Speed and memory").
        """
        n_pixels = _check_call_options(n_pixels, connectivity)
        check_memory(data, self)  # before the input is read
        image = prepare_image(data, mask=mask, n_bands=self.n_bands)
        check_image_suits_model(image, self.model_name)
        segment_data = self._segment_data(segmentation_image, image.shape)
        result = self._run_pipeline(image, segment_data, n_pixels,
                                    connectivity, self._progress(progress_bar))
        return self._segmentation(result, image, n_pixels, relabel)

    def _run_pipeline(self, image, segment_data, n_pixels, connectivity,
                      progress_bar=False, **options):
        from .pipeline import run_pipeline

        return run_pipeline(self, image, segments=segment_data,
                            n_pixels=n_pixels, connectivity=connectivity,
                            progress_bar=progress_bar,
                            attribution=self.attribution,
                            companion_threshold=self.companion_threshold,
                            **options)

    def _segmentation(self, result, image, n_pixels, relabel, where=''):
        """The partial segmentation of a pipeline result, or None (and a
        warning: ``where`` starts its message) without sources."""
        from ..pcr.decode import partial_segmentation

        if len(result.centers) == 0:
            warnings.warn(where + no_detection_message(
                image, self.model_name, self.n_bands, self.band_names),
                NoDetectionWarning)
            return None
        present = _present_labels(result)
        segmentation = partial_segmentation(
            result.decoded, band_weights=result.band_weights,
            class_star=_class_star_of_present(result, present),
            detection_flags=_origins_of_present(result, present),
            band_names=(self.band_names if result.band_weights is not None
                        else None))
        # the arrays are the pipeline's own: relabelling may overwrite them
        with segmentation._editing_in_place():
            small = segmentation.partial_labels[
                segmentation.effective_areas < n_pixels]
            if small.size:
                segmentation.remove_labels(small)
            if segmentation.partial_labels.size == 0:
                warnings.warn(f'{where}no source has an effective area of '
                              f'at least n_pixels={n_pixels} pixels',
                              NoDetectionWarning)
                return None
            if relabel:
                segmentation.relabel_consecutive()
        return segmentation

    @small_pages()
    def batch(self, images, segmentation_images=None, n_pixels=5, *,
              masks=None, connectivity=8, relabel=True, progress_bar=None,
              batch_pixels=None):
        """
        Deblend many images, e.g. a catalog's cutouts: what calling the
        deblender on each would return, with the network run on batches
        of images of one shape.

        Images of one shape (h, w) that fit in one tile (sides up to
        ``tile_size`` pixels) are stacked and run through the network
        together, as many at a time as fit in ``batch_pixels`` pixels
        (`pais_deblend.model.inference.batch_size`: 8 images of
        128 x 128 by default, 2 of 256 x 256), and never more than one
        tile window holds, so the network's memory stays below that of
        one tile of a large image; larger images are deblended one by
        one. The other steps run image by image. The results equal those
        of `__call__` on each image: a batch's network outputs may
        differ from a single image's by float rounding (none did on the
        test scenes, whose segmentations came out identical).

        Parameters
        ----------
        images : list or tuple
            The images, each anything `__call__` takes as ``data``; they
            may differ in shape (they are grouped by shape). Never
            modified.
        segmentation_images : list or tuple, optional
            One `~photutils.segmentation.SegmentationImage` (or None) per
            image; see `__call__`.
        n_pixels : int, optional
            See `__call__`.
        masks : list or tuple, optional
            One boolean mask (or None) per image; see `__call__`.
        connectivity : {8, 4}, optional
        relabel : bool, optional
        progress_bar : bool, optional
            A progress bar over the images (default: the deblender's
            setting).
        batch_pixels : int, optional
            The most input pixels the network takes at once (default
            `pais_deblend.model.inference.BATCH_PIXELS`, 2**17, the
            fastest on a 2-core CPU; a GPU may gain from more).

        Returns
        -------
        segmentations : list
            For each image, in order, what `__call__` returns: a
            `~pais_deblend.segmentation.PartialSegmentationImage`, or
            None (with a `~pais_deblend.utils.exceptions.NoDetectionWarning`
            naming the image's index) when no source is found.

        Raises
        ------
        TypeError, ValueError
            For bad input, before any image is deblended; the message
            names the parameter and the index of the element (e.g.
            ``images[3]``).
        """
        from ..model.inference import BATCH_PIXELS
        from ..utils._progress import progress_bar as _progress_bar

        n_pixels = _check_call_options(n_pixels, connectivity)
        batch_pixels = check_positive_int(
            BATCH_PIXELS if batch_pixels is None else batch_pixels,
            'batch_pixels')
        images = _check_sequence(images, 'images')
        count = len(images)
        inputs = (images,
                  _check_sequence(segmentation_images, 'segmentation_images',
                                  count),
                  _check_sequence(masks, 'masks', count))
        # every element is checked before any work; the images are
        # prepared again batch by batch, so that only one batch's copies
        # are held at a time
        groups = {}
        for index in range(count):
            image, _ = self._prepare_element(inputs, index)
            check_image_suits_model(image, self.model_name)
            groups.setdefault(image.shape, []).append(index)
            del image
        results = [None] * count
        for index, segmentation in _progress_bar(
                self._deblend_groups(inputs, groups, batch_pixels,
                                     n_pixels=n_pixels,
                                     connectivity=connectivity,
                                     relabel=relabel),
                desc='images', total=count, unit='image',
                enabled=self._progress(progress_bar) and count > 0):
            results[index] = segmentation
        return results

    def _prepare_element(self, inputs, index):
        """The prepared image ``index`` of `batch`'s ``inputs`` (images,
        segmentation images, masks) and its segments, checked."""
        images, segmentation_images, masks = inputs
        try:
            check_memory(images[index], self)
        except ValueError as error:
            raise ValueError(f'images[{index}]: {error}') from None
        image = prepare_image(images[index], mask=masks[index],
                              n_bands=self.n_bands, name=f'images[{index}]',
                              mask_name=f'masks[{index}]')
        segment_data = self._segment_data(
            segmentation_images[index], image.shape,
            f'segmentation_images[{index}]', f'images[{index}]')
        return image, segment_data

    def _deblend_groups(self, inputs, groups, batch_pixels, *, n_pixels,
                        connectivity, relabel):
        """
        Yield ``(index, segmentation)`` for every image of `batch`: the
        images of each shape ({shape: indices}) in batches through the
        network, those larger than one tile one by one.
        """
        from ..model.inference import batch_size
        from .pipeline import estimate_image_noise, network_pass_batch

        def finish(index, image, segment_data, **options):
            result = self._run_pipeline(image, segment_data, n_pixels,
                                        connectivity, **options)
            return index, self._segmentation(result, image, n_pixels,
                                             relabel, f'images[{index}]: ')

        for shape, indices in groups.items():
            size = batch_size(self.model, shape, self.tile_size,
                              max_pixels=batch_pixels)
            if size == 0:  # more than one tile: one by one
                for index in indices:
                    yield finish(index, *self._prepare_element(inputs, index))
                continue
            for start in range(0, len(indices), size):
                members = indices[start:start + size]
                prepared = [self._prepare_element(inputs, index)
                            for index in members]
                noises = [estimate_image_noise(image)
                          for image, _ in prepared]
                outputs = network_pass_batch(
                    self, [image for image, _ in prepared], noises,
                    max_pixels=batch_pixels)
                for index, (image, segment_data), noise, output in zip(
                        members, prepared, noises, outputs):
                    yield finish(index, image, segment_data,
                                 noise_sigma=noise, network_output=output)
                del prepared, outputs

    @staticmethod
    def _segment_data(segmentation_image, shape, name='segmentation_image',
                      data_name='data'):
        if segmentation_image is None:
            return None
        from photutils.segmentation import SegmentationImage

        if not isinstance(segmentation_image, SegmentationImage):
            msg = (f'{name} must be a photutils SegmentationImage, got '
                   f'{type(segmentation_image).__name__}')
            raise TypeError(msg)
        if segmentation_image.shape != tuple(shape):
            msg = (f'{name} has shape {segmentation_image.shape} but '
                   f'{data_name} has shape {tuple(shape)}; they must match')
            raise ValueError(msg)
        return np.asarray(segmentation_image.data)


def _check_call_options(n_pixels, connectivity):
    """``n_pixels`` checked, and ``connectivity``, of a call."""
    n_pixels = check_limit(check_positive_int(n_pixels, 'n_pixels'),
                           'n_pixels')
    check_in(connectivity, (4, 8), 'connectivity')
    return n_pixels


def _check_sequence(items, name, length=None):
    """
    ``items`` as a list: a list or tuple (of ``length`` items when given;
    None stands for ``length`` Nones).
    """
    if items is None and length is not None:
        return [None] * length
    if not isinstance(items, (list, tuple)):
        hint = (' (for a stack of images, pass list(stack))'
                if isinstance(items, np.ndarray) else '')
        msg = (f'{name} must be a list or tuple, got '
               f'{type(items).__name__}{hint}')
        raise TypeError(msg)
    if length is not None and len(items) != length:
        msg = (f'{name} must have one element per image ({length}), got '
               f'{len(items)}')
        raise ValueError(msg)
    return list(items)


def deblend_sources(data, segmentation_image=None, n_pixels=5, *,
                    model='hst_f160w', n_contributors=3, mask=None,
                    connectivity=8, relabel=True, progress_bar=True,
                    detection_threshold=None, tile_size=None,
                    normalization=None, attribution=None,
                    companion_threshold=MODEL_DEFAULT, runtime='auto'):
    """
    Detect and deblend sources with partial attribution: each pixel's flux
    is shared among up to ``n_contributors`` overlapping sources.

    The drop-in for photutils' `~photutils.segmentation.deblend_sources`
    (same first arguments); it returns a
    `~pais_deblend.segmentation.PartialSegmentationImage`, which is a
    `~photutils.segmentation.SegmentationImage` (its ``data`` is the
    dominant source of each pixel), so `~photutils.segmentation.SourceCatalog`
    and the plotting helpers keep working. For many images, build one
    `Deblender` and call it: this function loads the model every time.

    Parameters
    ----------
    data : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The background-subtracted image, shape (h, w), any flux unit.
    segmentation_image : `~photutils.segmentation.SegmentationImage`, optional
        Footprints to deblend within; without one the network detects the
        sources.
    n_pixels : int, optional
        Smallest effective area of a source, pixels.
    model : str, path-like or `~pais_deblend.model.PAISModel`, optional
        A bundled model name, a ``.keras`` or ``.onnx`` file, or a model.
    n_contributors : int, optional
        Sources sharing a pixel.
    mask : array_like of bool, optional
        Pixels to ignore.
    connectivity : {8, 4}, optional
    relabel : bool, optional
    progress_bar : bool, optional
    detection_threshold : float, optional
        Lowest centre-of-mass peak kept (default: the model's tuned
        value).
    tile_size : int, optional
        Tile side of the network pass (default: the model's, see
        `Deblender`).
    normalization : {'asinh', 'lupton'}, optional
        The input normalisation (default: the model's own); see
        `Deblender`.
    attribution : str, optional
        How pixels are shared among the sources (default: the model's
        own); see `Deblender`.
    companion_threshold : float or None, optional
        The residual companion search (default: the model's own); see
        `Deblender`.
    runtime : {'auto', 'tensorflow', 'onnx'}, optional
        What runs the network of a bundled model; see `Deblender`.

    Returns
    -------
    segmentation : `~pais_deblend.segmentation.PartialSegmentationImage` or None

    See Also
    --------
    Deblender : all options, and the reference for each step.
    pais_deblend.mosaic.deblend_mosaic : the same on images larger than
        memory, tile by tile on a Dask cluster, results written by region.
    """
    deblender = Deblender(model, n_contributors=n_contributors,
                          detection_threshold=detection_threshold,
                          tile_size=tile_size, progress_bar=progress_bar,
                          normalization=normalization,
                          attribution=attribution,
                          companion_threshold=companion_threshold,
                          runtime=runtime)
    return deblender(data, segmentation_image, n_pixels, mask=mask,
                     connectivity=connectivity, relabel=relabel)
