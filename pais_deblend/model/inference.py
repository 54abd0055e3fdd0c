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

__all__ = ['predict_pcr', 'default_overlap', 'tile_slices']

_COMPILED = weakref.WeakKeyDictionary()


def default_overlap(model):
    """
    The smallest tile overlap that keeps tiling exact for ``model``: its
    receptive-field radius rounded up to a multiple of its downsampling
    factor.
    """
    factor = getattr(model, 'downsampling_factor', 1)
    radius = model.receptive_field_radius
    return int(math.ceil(radius / factor) * factor)


def tile_slices(shape, tile_size, overlap):
    """
    The tiles of an image: pairs (input slices, core slices within the
    tile's output, core slices in the frame).

    Parameters
    ----------
    shape : tuple of 2 int
        The (h, w) image shape.
    tile_size : int
        The side of the tile cores.
    overlap : int
        The margin added on each side of a core (clipped at the frame).

    Returns
    -------
    tiles : list of tuple
        ``(input_slices, local_core_slices, frame_core_slices)`` with each
        element a pair of slices (y, x).
    """
    tiles = []
    height, width = shape
    for y0 in range(0, height, tile_size):
        y1 = min(y0 + tile_size, height)
        in_y0, in_y1 = max(0, y0 - overlap), min(height, y1 + overlap)
        for x0 in range(0, width, tile_size):
            x1 = min(x0 + tile_size, width)
            in_x0, in_x1 = max(0, x0 - overlap), min(width, x1 + overlap)
            tiles.append(((slice(in_y0, in_y1), slice(in_x0, in_x1)),
                          (slice(y0 - in_y0, y1 - in_y0),
                           slice(x0 - in_x0, x1 - in_x0)),
                          (slice(y0, y1), slice(x0, x1))))
    return tiles


def _compiled(model):
    function = _COMPILED.get(model)
    if function is None:
        import tensorflow as tf

        n_bands = model.inputs[0].shape[-1]
        spec = tf.TensorSpec((None, None, None, n_bands), tf.float32)

        @tf.function(input_signature=[spec])
        def function(images):
            return model(images, training=False)

        _COMPILED[model] = function
    return function


def predict_pcr(model, image, *, tile_size=512, overlap=None,
                noise_sigma=None, softening=DEFAULT_SOFTENING, mask=None,
                progress_bar=False):
    """
    Predict the PCR of an image of any size with the PAIS network.

    Parameters
    ----------
    model : `~pais_deblend.model.PAISModel`
        The network (e.g. from `~pais_deblend.model.build_pais_model` or
        ``keras.saving.load_model``).
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

    Returns
    -------
    pcr : `~pais_deblend.pcr.PCR`
        ``center_of_mass`` (h, w), ``contribution_vectors`` (h, w, n, 2)
        in pixels and ``contribution_maps`` (h, w, n) logits
        (``maps_are_logits=True``), all float32.
    """
    from ..pcr import PCR

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

    normalized = normalize_image(image, noise_sigma=noise_sigma,
                                 softening=softening, mask=mask)
    n_bands = model.inputs[0].shape[-1]
    if normalized.shape[2] != n_bands:
        msg = (f'image has {normalized.shape[2]} bands but the model expects '
               f'{n_bands}')
        raise ValueError(msg)
    height, width = normalized.shape[:2]
    function = _compiled(model)

    center_of_mass = None
    tiles = tile_slices((height, width), tile_size, overlap)
    for input_slices, local, frame in _progress_bar(
            tiles, desc='tiles', enabled=progress_bar):
        tile = np.ascontiguousarray(normalized[input_slices])[np.newaxis]
        outputs = function(tile)
        com = np.asarray(outputs['center_of_mass'])[0, ..., 0]
        vectors = np.asarray(outputs['contribution_vectors'])[0]
        maps = np.asarray(outputs['contribution_maps'])[0]
        if center_of_mass is None:
            n = maps.shape[-1]
            center_of_mass = np.empty((height, width), dtype=np.float32)
            contribution_vectors = np.empty((height, width, n, 2),
                                            dtype=np.float32)
            contribution_maps = np.empty((height, width, n),
                                         dtype=np.float32)
        center_of_mass[frame] = com[local]
        contribution_vectors[frame] = vectors[local]
        contribution_maps[frame] = maps[local]
    return PCR(center_of_mass, contribution_vectors, contribution_maps,
               maps_are_logits=True)
