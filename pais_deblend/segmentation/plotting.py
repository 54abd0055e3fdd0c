"""
Pictures of a `PartialSegmentationImage`: the dominant-source map, and a
blended view in which each pixel mixes its contributors' colours by weight.

matplotlib is imported inside the functions, so importing this module
costs nothing.
"""

import numpy as np

from ..utils._validation import check_finite_float
from .partial import PartialSegmentationImage

__all__ = ['plot_dominant', 'plot_blended']


def _check_segmentation(segm):
    if not isinstance(segm, PartialSegmentationImage):
        msg = ('segm must be a PartialSegmentationImage, got '
               f'{type(segm).__name__}')
        raise TypeError(msg)


def label_colors(segm, seed, background_color):
    """
    (max_label + 1, 4) RGBA colours: photutils' random muted colours, with
    ``background_color`` for label 0.

    The table covers every partial label, so the dominant and the blended
    views of one image give each source the same colour; when every
    partial label is dominant somewhere it equals ``segm.make_cmap(seed=
    seed)``.
    """
    from matplotlib import colors
    from photutils.utils import make_random_cmap

    max_label = int(max(segm.max_label,
                        segm.partial_labels.max(initial=0)))
    table = np.array(make_random_cmap(n_colors=max_label + 1,
                                      seed=seed).colors, dtype=np.float64)
    table[0] = colors.to_rgba(background_color)
    return table


def _axes(ax):
    import matplotlib.pyplot as plt

    return plt.gca() if ax is None else ax


def plot_dominant(segm, ax=None, *, seed=0, background_color='#000000',
                  alpha=None):
    """
    Show the dominant-source map of a partial segmentation image.

    Each pixel is drawn in the random colour of its largest-weight
    contributor (photutils' muted random colour map, seeded), as
    photutils' ``SegmentationImage.imshow`` does, with the same colours as
    `plot_blended` for the same ``seed``.

    Parameters
    ----------
    segm : `PartialSegmentationImage`
        The segmentation image.
    ax : `matplotlib.axes.Axes`, optional
        The axes to draw on (default: the current axes).
    seed : int, optional
        The seed of the random colour map.
    background_color : matplotlib color, optional
        The colour of unattributed pixels (label 0).
    alpha : float, optional
        The opacity of the image, in [0, 1].

    Returns
    -------
    image : `matplotlib.image.AxesImage`
        The image drawn (origin lower, nearest-neighbour interpolation).

    Raises
    ------
    TypeError
        If ``segm`` is not a `PartialSegmentationImage`.
    """
    from matplotlib.colors import ListedColormap

    _check_segmentation(segm)
    colors = label_colors(segm, seed, background_color)
    return _axes(ax).imshow(segm.data, cmap=ListedColormap(colors),
                            interpolation='nearest', origin='lower',
                            alpha=alpha, vmin=-0.5,
                            vmax=colors.shape[0] - 0.5)


def _blended_rgb(segm, *, seed=0, background_color='#000000', data=None,
                percentile=99.5):
    """
    The (h, w, 3) RGB image of the blended view (see `plot_blended`).

    Returns
    -------
    rgb : `~numpy.ndarray`
        Shape (h, w, 3), float32 in [0, 1].
    """
    _check_segmentation(segm)
    colors = label_colors(segm, seed, background_color)[:, :3]
    colors = colors.astype(np.float32)
    contributors = segm.contributors
    weights = segm.weights
    rgb = np.zeros(segm.shape + (3,), dtype=np.float32)
    for slot in range(segm.n_contributors):
        rgb += weights[..., slot, None] * colors[contributors[..., slot]]
    attributed = (contributors > 0).any(axis=-1)
    if data is not None:
        brightness = _brightness(data, segm.shape, percentile)
        rgb *= brightness[..., None]
    rgb[~attributed] = colors[0]
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def _brightness(data, shape, percentile):
    """An asinh stretch of ``data`` into [0, 1] (1 at ``percentile``)."""
    from astropy.visualization import (AsinhStretch, ImageNormalize,
                                       PercentileInterval)

    image = np.asanyarray(data)
    if image.dtype.kind not in 'biuf':
        msg = f'data must hold real numbers, got dtype {image.dtype}'
        raise TypeError(msg)
    if image.shape != shape:
        msg = (f'data has shape {image.shape} but the segmentation image '
               f'has shape {shape}; they must match')
        raise ValueError(msg)
    percentile = check_finite_float(percentile, 'percentile', minimum=0.0,
                                    maximum=100.0)
    image = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(image)
    if not finite.any():
        msg = 'data must have at least one finite pixel'
        raise ValueError(msg)
    norm = ImageNormalize(image[finite], interval=PercentileInterval(
        percentile), stretch=AsinhStretch(), clip=True)
    brightness = np.zeros(shape, dtype=np.float32)
    brightness[finite] = norm(image[finite])
    return brightness


def plot_blended(segm, ax=None, *, seed=0, background_color='#000000',
                 data=None, percentile=99.5, alpha=None):
    """
    Show a partial segmentation image with each pixel coloured by the
    weight-averaged colour of its contributors.

    Pixel p gets ``sum_k w_k(p) c(label_k(p))``, with ``c`` the random
    colour of each label (the colours of `plot_dominant` for the same
    ``seed``): a pixel owned by one source shows its colour, a pixel
    shared between two shows a mixture (Hausen & Robertson 2022,
    arXiv:2201.04714, Fig. 1 shows the fraction maps this way).
    Unattributed pixels take ``background_color``.

    Parameters
    ----------
    segm : `PartialSegmentationImage`
        The segmentation image.
    ax : `matplotlib.axes.Axes`, optional
        The axes to draw on (default: the current axes).
    seed : int, optional
        The seed of the random colour map.
    background_color : matplotlib color, optional
        The colour of unattributed pixels.
    data : array_like, optional
        An (h, w) image (e.g. the deblended data) whose asinh-stretched
        brightness scales the colours, so the sources' light profiles show
        through; the stretch maps the ``percentile`` level to 1.
    percentile : float, optional
        The percentile of the finite ``data`` shown at full brightness.
    alpha : float, optional
        The opacity of the image, in [0, 1].

    Returns
    -------
    image : `matplotlib.image.AxesImage`
        The RGB image drawn (origin lower, nearest-neighbour
        interpolation).

    Raises
    ------
    TypeError
        If ``segm`` is not a `PartialSegmentationImage` or ``data`` is not
        real-valued.
    ValueError
        If ``data`` does not have the shape of ``segm``.
    """
    rgb = _blended_rgb(segm, seed=seed, background_color=background_color,
                      data=data, percentile=percentile)
    return _axes(ax).imshow(rgb, interpolation='nearest', origin='lower',
                            alpha=alpha)
