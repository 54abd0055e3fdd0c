"""
Running the PAIS network on images of any size: overlapping tiles whose
cores are stitched into one PCR.

Why the tiles give the same answer as a single pass: the network
(`pais_deblend.model.network`) has no per-image statistics and only local
(windowed) attention, so an output pixel depends only on input pixels
within its receptive-field radius r. Tile origins are multiples of the
downsampling factor f (so the strided convolutions see the same pixel
grid), and every tile extends its core by ``overlap >= r`` pixels on each
side (clipped at the frame, where a single pass would see the same frame
edge and the same bottom/right zero padding). Each core pixel therefore
sees exactly the input a single pass would give it, and the stitched
result equals the single pass up to float rounding (convolution kernels
may sum in a different order for different tile shapes).

The image is normalised once, with the noise estimated on the whole
image, before it is cut into tiles.
"""

import math
import weakref

import numpy as np

from ..utils._progress import progress_bar as _progress_bar
from ..utils._validation import check_nonnegative_int, check_positive_int
from .normalization import DEFAULT_SOFTENING, normalize_image

__all__ = ['predict_pcr', 'predict_pcr_batch', 'batch_size', 'BATCH_PIXELS',
           'default_overlap', 'tile_slices', 'XLA_MIN_TILES']

_COMPILED = weakref.WeakKeyDictionary()

#: Outputs of shape (batch, h, w, 1) returned as (h, w).
_SINGLE_CHANNEL = ('center_of_mass', 'star_probability')


def default_overlap(model):
    """
    The smallest tile overlap that keeps tiling exact for ``model``: its
    receptive-field radius rounded up to a multiple of its downsampling
    factor.
    """
    factor = getattr(model, 'downsampling_factor', 1)
    radius = model.receptive_field_radius
    return int(math.ceil(radius / factor) * factor)


def _window_start(start, length, window, frame):
    """Origin of a fixed-length window holding [start, start + length)
    plus its margins, moved inside [0, frame)."""
    return max(0, min(start, frame - window))


def tile_slices(shape, tile_size, overlap, *, factor=1):
    """
    The tiles of an image: pairs (input slices, core slices within the
    tile's output, core slices in the frame).

    Every input window has the same shape, ``tile_size + 2 * overlap``
    on each side (or the whole frame where it is smaller): a window
    that would cross the frame edge is moved inside it rather than
    clipped, so its core keeps at least ``overlap`` pixels of context on
    every side away from the frame edge, and a compiled network sees one
    input shape only.

    Parameters
    ----------
    shape : tuple of 2 int
        The (h, w) image shape, a multiple of ``factor`` (pad it first).
    tile_size : int
        The side of the tile cores (a multiple of ``factor``).
    overlap : int
        The context added on each side of a core (a multiple of
        ``factor``).
    factor : int, optional
        Window origins are multiples of it (the network's downsampling
        factor).

    Returns
    -------
    tiles : list of tuple
        ``(input_slices, local_core_slices, frame_core_slices)`` with each
        element a pair of slices (y, x).
    """
    tiles = []
    height, width = shape
    window_y = min(tile_size + 2 * overlap, height)
    window_x = min(tile_size + 2 * overlap, width)
    for y0 in range(0, height, tile_size):
        y1 = min(y0 + tile_size, height)
        in_y0 = _window_start(y0 - overlap, y1 - y0, window_y, height)
        in_y0 -= in_y0 % factor
        for x0 in range(0, width, tile_size):
            x1 = min(x0 + tile_size, width)
            in_x0 = _window_start(x0 - overlap, x1 - x0, window_x, width)
            in_x0 -= in_x0 % factor
            tiles.append(((slice(in_y0, in_y0 + window_y),
                           slice(in_x0, in_x0 + window_x)),
                          (slice(y0 - in_y0, y1 - in_y0),
                           slice(x0 - in_x0, x1 - in_x0)),
                          (slice(y0, y1), slice(x0, x1))))
    return tiles


#: With ``jit_compile='auto'``, XLA compiles the network pass when an
#: image needs at least this many tiles: XLA ran a 688 x 688 tile of the
#: bundled network 1.9x faster on this project's 2-core CPU (1.27 s
#: against 2.48 s) but its first call per input shape costs about 9 s
#: (1.4 s more than tracing without XLA).
XLA_MIN_TILES = 4


def _compiled(model, jit_compile):
    """The callable that runs ``model`` on a batch: a ``tf.function`` of
    a Keras model (cached per model), or a model of another runtime
    (`~pais_deblend.model.OnnxPAISModel`) itself, which already returns
    NumPy arrays and must not import TensorFlow."""
    if getattr(model, 'runtime', 'tensorflow') != 'tensorflow':
        return model
    functions = _COMPILED.setdefault(model, {})
    function = functions.get(jit_compile)
    if function is None:
        from ..utils._optional_deps import require

        tf = require('tensorflow')

        if jit_compile:
            # one XLA compilation per input shape; tile windows share one
            @tf.function(jit_compile=True, reduce_retracing=True)
            def function(images):
                return model(images, training=False)
        else:
            spec = tf.TensorSpec((None, None, None, int(model.n_bands)),
                                 tf.float32)

            @tf.function(input_signature=[spec])
            def function(images):
                return model(images, training=False)
        functions[jit_compile] = function
    return function


def padded_shape(shape, factor):
    """
    ``shape`` (h, w) rounded up to multiples of ``factor``: the network
    pads its input at the bottom/right to a multiple of its downsampling
    factor.
    """
    return tuple(-(-int(side) // factor) * factor for side in shape[:2])


def count_tiles(model, shape, tile_size=512, overlap=None):
    """
    The number of network tiles `predict_pcr` splits an image of
    ``shape`` (h, w) into.
    """
    factor, tile_size, overlap = _check_tiling(model, tile_size, overlap)
    return len(tile_slices(padded_shape(shape, factor), tile_size, overlap,
                           factor=factor))


def _check_tiling(model, tile_size, overlap):
    """
    The model's downsampling factor, and ``tile_size`` and ``overlap``
    (the model's default when None) checked to be multiples of it.
    """
    factor = int(getattr(model, 'downsampling_factor', 1))
    tile_size = check_positive_int(tile_size, 'tile_size')
    if tile_size % factor:
        msg = (f'tile_size must be a multiple of the downsampling factor '
               f'{factor}, got {tile_size}')
        raise ValueError(msg)
    if overlap is None:
        overlap = default_overlap(model)
    overlap = check_nonnegative_int(overlap, 'overlap')
    if overlap % factor:
        msg = (f'overlap must be a multiple of the downsampling factor '
               f'{factor}, got {overlap}')
        raise ValueError(msg)
    return factor, tile_size, overlap


def predict_pcr(model, image, *, tile_size=512, overlap=None,
                noise_sigma=None, softening=DEFAULT_SOFTENING, mask=None,
                progress_bar=False, jit_compile='auto', return_heads=False,
                normalization='asinh'):
    """
    Predict the PCR of an image of any size with the PAIS network.

    Parameters
    ----------
    model : `~pais_deblend.model.PAISModel` or `~pais_deblend.model.OnnxPAISModel`
        The network (e.g. from `~pais_deblend.model.build_pais_model` or
        ``keras.saving.load_model``), or its ONNX export, which runs
        without TensorFlow (``jit_compile`` does not apply to it).
    image : array_like, shape (h, w) or (h, w, b)
        The background-subtracted image in any flux unit, with b equal to
        the model's number of bands. NaN pixels are treated as masked.
        Not modified.
    tile_size : int, optional
        The side of the tile cores, a multiple of the model's
        downsampling factor. Larger tiles waste less time on overlaps but
        need more memory: for the default network and a 4096 x 4096
        image, 512 (the default) peaked at about 2.2 GB resident memory
        (whole process) and 1024 at 3.3 GB, about 10 % faster.
    overlap : int, optional
        The margin around each core; default (and minimum for exact
        stitching) `default_overlap`. Must be a multiple of the
        downsampling factor.
    noise_sigma : float or array_like of shape (b,), optional
        Per-band noise; estimated on the whole image by default.
    softening : float, optional
        The normalisation softening (`normalize_image`); use the value the
        model was trained with.
    mask : array_like of bool, shape (h, w), optional
        True for pixels to ignore (set to 0 in the network input).
    progress_bar : bool, optional
        Show a progress bar over the tiles.
    jit_compile : bool or 'auto', optional
        Compile the network pass with XLA (about 1.9x faster on CPU, 9 s
        to compile per window shape); ``'auto'`` does so for images of at
        least `XLA_MIN_TILES` tiles. Results agree to float rounding
        (measured: 4e-7 on C^c, 4e-5 px on C^v).
    return_heads : bool, optional
        Also return the outputs of the model's optional heads.
    normalization : {'asinh', 'lupton'}, optional
        The normalisation method (`normalize_image` ``method``); use the
        one the model was trained with (its model card's
        ``normalization['method']``).

    Returns
    -------
    pcr : `~pais_deblend.pcr.PCR`
        ``center_of_mass`` (h, w), ``contribution_vectors`` (h, w, n, 2)
        in pixels and ``contribution_maps`` (h, w, n) logits
        (``maps_are_logits=True``), all float32.
    heads : dict of str to `~numpy.ndarray`
        Only with ``return_heads=True``: the optional outputs the model
        has, stitched like the PCR: ``star_probability`` (h, w) and
        ``band_contribution_maps`` (h, w, b, n) logits (float32).
    """
    factor, tile_size, overlap = _check_tiling(model, tile_size, overlap)
    normalized, normalized_shape = _network_input(
        model, image, factor, noise_sigma=noise_sigma, softening=softening,
        mask=mask, normalization=normalization)
    padded = normalized.shape[:2]
    tiles = tile_slices(padded, tile_size, overlap, factor=factor)
    if jit_compile == 'auto':
        jit_compile = len(tiles) >= XLA_MIN_TILES
    elif not isinstance(jit_compile, bool):
        msg = f"jit_compile must be True, False or 'auto', got {jit_compile!r}"
        raise TypeError(msg)
    function = _compiled(model, jit_compile)
    height, width = padded

    stitched = {}
    for input_slices, local, frame in _progress_bar(
            tiles, desc='tiles', enabled=progress_bar):
        tile = np.ascontiguousarray(normalized[input_slices])[np.newaxis]
        outputs = function(tile)
        for key, value in outputs.items():
            value = np.asarray(value)[0]
            if key in _SINGLE_CHANNEL:
                value = value[..., 0]
            if key not in stitched:
                stitched[key] = np.empty((height, width, *value.shape[2:]),
                                         dtype=np.float32)
            stitched[key][frame] = value[local]
    return _as_pcr(stitched, normalized_shape, return_heads)


def _network_input(model, image, factor, **options):
    """
    The normalised image (h', w', b) float32, padded at the bottom/right
    to a multiple of the downsampling factor, and its unpadded (h, w).
    """
    normalized = normalize_image(image, noise_sigma=options['noise_sigma'],
                                 softening=options['softening'],
                                 mask=options['mask'],
                                 method=options['normalization'])
    n_bands = int(model.n_bands)
    if normalized.shape[2] != n_bands:
        msg = (f'image has {normalized.shape[2]} bands but the model expects '
               f'{n_bands}')
        raise ValueError(msg)
    height, width = normalized.shape[:2]
    # padding the frame as the network pads its input, once, lets every
    # tile window have the same shape
    padded = padded_shape((height, width), factor)
    if padded != (height, width):
        normalized = np.pad(normalized, ((0, padded[0] - height),
                                         (0, padded[1] - width), (0, 0)))
    return normalized, (height, width)


def _as_pcr(outputs, shape, return_heads):
    """The `~pais_deblend.pcr.PCR` (and heads) of the network outputs of
    one padded frame, cropped to ``shape``."""
    from ..pcr import PCR

    frame = (slice(0, shape[0]), slice(0, shape[1]))
    outputs = {key: (value if value.shape[:2] == tuple(shape)
                     else np.ascontiguousarray(value[frame]))
               for key, value in outputs.items()}
    pcr = PCR(outputs.pop('center_of_mass'),
              outputs.pop('contribution_vectors'),
              outputs.pop('contribution_maps'), maps_are_logits=True)
    if return_heads:
        return pcr, outputs
    return pcr


#: The most input pixels `predict_pcr_batch` runs through the network at
#: once by default. The bundled network's time per 128 x 128 image on
#: this project's 2-core Xeon (non-XLA pass, median of 7, load 4-5): 29
#: ms alone, 22 ms in batches of 2, 20 ms of 4 and 8, 26 ms of 16, 35 ms
#: of 28; per 256 x 256 image: 83 ms alone, 80 ms in pairs, 106 ms in
#: fours. Batches beyond about 2**17 pixels lose more to memory traffic
#: than they save in per-call overhead.
BATCH_PIXELS = 1 << 17


def batch_size(model, shape, tile_size=512, overlap=None,
               max_pixels=BATCH_PIXELS):
    """
    How many images of ``shape`` (h, w) `predict_pcr_batch` runs through
    the network at a time: as many as fit in ``max_pixels`` input pixels
    (padded to the downsampling factor) and in one tile window of
    ``tile_size`` (``(tile_size + 2 * overlap) ** 2``, so that a batch
    never holds more network activations than one tile of a large
    image), and at least one.

    Returns
    -------
    size : int
        0 when an image of ``shape`` needs more than one tile (it cannot
        be batched; use `predict_pcr`).
    """
    factor, tile_size, overlap = _check_tiling(model, tile_size, overlap)
    max_pixels = check_positive_int(max_pixels, 'max_pixels')
    padded = padded_shape(shape, factor)
    if max(padded) > tile_size:
        return 0
    budget = min(max_pixels, (tile_size + 2 * overlap) ** 2)
    return max(1, budget // (padded[0] * padded[1]))


def predict_pcr_batch(model, images, *, tile_size=512, overlap=None,
                      noise_sigmas=None, softening=DEFAULT_SOFTENING,
                      masks=None, return_heads=False, normalization='asinh',
                      max_pixels=BATCH_PIXELS):
    """
    `predict_pcr` of several images of one shape, each no larger than one
    tile, run through the network together in batches of `batch_size`.

    Each image is normalised with its own noise and is the network's
    whole input, as in `predict_pcr` (whose only tile is the whole
    padded frame); the outputs agree with it to float rounding (the
    convolutions of a batch may sum in another order).

    Parameters
    ----------
    model : `~pais_deblend.model.PAISModel` or `~pais_deblend.model.OnnxPAISModel`
    images : sequence of array_like, each of shape (h, w) or (h, w, b)
        Not modified.
    tile_size, overlap : int, optional
        As for `predict_pcr`: each image must fit in one tile core, and
        they set the batch size (`batch_size`).
    noise_sigmas : sequence of array_like of shape (b,), optional
        The noise of every image (default: estimated on each).
    softening : float, optional
    masks : sequence of array_like of bool, shape (h, w), optional
        One per image (an element may be None).
    return_heads : bool, optional
    normalization : {'asinh', 'lupton'}, optional
    max_pixels : int, optional
        The most input pixels per batch (see `batch_size`).

    Returns
    -------
    results : list
        What `predict_pcr` returns for each image, in order.

    Raises
    ------
    ValueError
        If the images differ in shape or need more than one tile.
    """
    factor, tile_size, overlap = _check_tiling(model, tile_size, overlap)
    images = list(images)
    if not images:
        return []
    count = len(images)
    noise_sigmas = [None] * count if noise_sigmas is None else noise_sigmas
    masks = [None] * count if masks is None else masks
    shapes = {np.shape(image)[:2] for image in images}
    if len(shapes) > 1:
        msg = (f'images must all have one shape (h, w), got '
               f'{sorted(shapes)}; group them by shape')
        raise ValueError(msg)
    size = batch_size(model, shapes.pop(), tile_size, overlap, max_pixels)
    if size == 0:
        msg = (f'images of shape {np.shape(images[0])[:2]} need more than '
               f'one tile of tile_size={tile_size}: use predict_pcr')
        raise ValueError(msg)
    function = _compiled(model, False)
    results = []
    for start in range(0, count, size):
        stop = min(start + size, count)
        inputs = [_network_input(model, images[index], factor,
                                 noise_sigma=noise_sigmas[index],
                                 softening=softening, mask=masks[index],
                                 normalization=normalization)
                  for index in range(start, stop)]
        shape = inputs[0][1]
        outputs = {key: np.asarray(value) for key, value in function(
            np.stack([normalized for normalized, _ in inputs])).items()}
        for key in _SINGLE_CHANNEL:
            if key in outputs:
                outputs[key] = outputs[key][..., 0]
        for member in range(stop - start):
            results.append(_as_pcr(
                {key: np.ascontiguousarray(value[member])
                 for key, value in outputs.items()}, shape, return_heads))
    return results
