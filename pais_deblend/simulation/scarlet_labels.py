"""
SCARLET labels for real images.

The PAIS paper (Hausen & Robertson 2022, section 3.1) made its training
labels for real HST images by fitting SCARLET (Melchior et al. 2018) at
catalog positions and using each source's share of the model,
M_i = S_i / sum_j S_j. `scarlet_fraction_maps` does the same with scarlet2
(the JAX rewrite; ``pip install 'pais_deblend[scarlet]'``).
"""

import math
from typing import NamedTuple

import numpy as np

from ..segmentation.cutout import SourceCutout
from ..utils._optional_deps import require
from ..utils._validation import as_image, check_finite_float, check_positive_int

__all__ = ['ScarletLabels', 'scarlet_fraction_maps', 'gaussian_psf_image']


class ScarletLabels(NamedTuple):
    """
    The result of `scarlet_fraction_maps`.

    Attributes
    ----------
    source_images : list of `~pais_deblend.segmentation.SourceCutout`
        The fitted model S_i of each source as seen in the image (convolved
        with the observed PSF), (ny, nx, b) float32, negatives clipped to 0,
        on the bounding box of its positive pixels.
    fraction_maps : list of `~pais_deblend.segmentation.SourceCutout`
        M_i = S_i / sum_j S_j (2-D, float32) of the band sum (or of the
        requested band) on the same slices; the maps sum to 1 wherever the
        total model is positive.
    centers : `~numpy.ndarray`
        The (y, x) positions used, shape (N, 2).
    scene : object
        The fitted ``scarlet2.Scene``.
    observation : object
        The ``scarlet2.Observation``.
    """

    source_images: list
    fraction_maps: list
    centers: np.ndarray
    scene: object
    observation: object


def gaussian_psf_image(fwhm, *, size=None):
    """
    A normalised, pixel-integrated circular Gaussian PSF image.

    Parameters
    ----------
    fwhm : float
        FWHM in pixels.
    size : int, optional
        Odd side length (default: about 4 FWHM, at least 11).

    Returns
    -------
    psf : `~numpy.ndarray`
        Shape (size, size), sums to 1, centred on the central pixel.
    """
    from scipy.special import erf

    fwhm = check_finite_float(fwhm, 'fwhm', minimum=0.0)
    if size is None:
        size = max(11, 2 * int(math.ceil(2 * fwhm)) + 1)
    size = check_positive_int(size, 'size')
    if size % 2 == 0:
        msg = f'size must be odd, got {size}'
        raise ValueError(msg)
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    edges = np.arange(size + 1) - size / 2
    cdf = 0.5 * (1 + erf(edges / (math.sqrt(2) * sigma)))
    profile = np.diff(cdf)
    psf = np.outer(profile, profile)
    return psf / psf.sum()


def _bbox(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (slice(0, 0), slice(0, 0))
    return (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))


def _psf_cube(psf, psf_fwhm, n_bands):
    """
    The (b, s, s) PSF cube, each band normalised to unit sum: Gaussians of
    ``psf_fwhm`` (one or one per band), or the given ``psf`` image(s).
    """
    if psf is None:
        fwhms = np.broadcast_to(np.asarray(psf_fwhm, dtype=float), (n_bands,))
        size = max(11, 2 * int(math.ceil(2 * fwhms.max())) + 1)
        return np.stack([gaussian_psf_image(f, size=size) for f in fwhms])
    psf_array = as_image(psf, 'psf', ndim=(2, 3))
    if psf_array.ndim == 2:
        psf_array = np.repeat(psf_array[..., None], n_bands, axis=2)
    if psf_array.shape[2] != n_bands or psf_array.shape[0] % 2 == 0:
        msg = (f'psf must be (s, s) or (s, s, {n_bands}) with odd s, got '
               f'shape {psf_array.shape}')
        raise ValueError(msg)
    psf_cube = np.moveaxis(psf_array, 2, 0)
    return psf_cube / psf_cube.sum(axis=(1, 2), keepdims=True)


def scarlet_fraction_maps(data, centers, *, psf_fwhm=None, psf=None,
                          noise_sigma=None, max_iter=200, e_rel=1e-4,
                          band=None, min_corr=0.5, progress_bar=False,
                          validate=False):
    """
    Fit scarlet2 at given positions and return each source's fraction M_i.

    Every source is a scarlet2 ``Source`` with a free (non-parametric)
    morphology in [0, 1] and a positive spectrum, initialised from its
    Gaussian moments (a point-source model where that fails), and fitted to
    all bands at once with ``Scene.fit``. The per-source models are rendered
    into the observed frame (convolved with the observed PSF), negatives are
    clipped, and M_i = S_i / sum_j S_j.

    Parameters
    ----------
    data : array_like
        Background-subtracted image, (h, w) or (h, w, b).
    centers : array_like
        (N, 2) source positions (y, x) in pixels (catalog or detected).
    psf_fwhm : float or sequence of float, optional
        PSF FWHM in pixels (one value, or one per band); a Gaussian PSF
        image is made from it. Give this or ``psf``.
    psf : array_like, optional
        PSF image(s), (s, s) or (s, s, b) with odd s, centred.
    noise_sigma : float or sequence of float, optional
        Per-band background noise; default: a sigma-clipped standard
        deviation of each band.
    max_iter : int, optional
        Maximum optimiser iterations.
    e_rel : float, optional
        Relative-change convergence criterion.
    band : int or None, optional
        Band from which M_i is computed; None uses the sum over bands.
    min_corr : float, optional
        Passed to ``scarlet2.init.from_gaussian_moments``: a source's box
        grows while the colour of its edge correlates with its centre's at
        least this well (and the edge is above 3 sigma). scarlet2's default,
        0.99, stops large galaxies with colour gradients (red bulge, blue
        disk) at a box much smaller than their light; pixels outside every
        box are left unattributed.
    progress_bar : bool, optional
        Show scarlet2's progress bar.
    validate : bool, optional
        Run scarlet2's automatic validation checks (they print reports).

    Returns
    -------
    labels : `ScarletLabels`
    """
    sc2 = require('scarlet2')
    jnp = require('jax').numpy
    from numpyro.distributions import constraints

    image = as_image(data, 'data', ndim=(2, 3))
    if image.ndim == 2:
        image = image[..., None]
    if not np.all(np.isfinite(image)):
        msg = 'data must be finite everywhere'
        raise ValueError(msg)
    n_bands = image.shape[2]
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != 2:
        msg = f'centers must have shape (N, 2), got {centers.shape}'
        raise ValueError(msg)
    if len(centers) == 0:
        msg = 'centers must hold at least one position'
        raise ValueError(msg)
    max_iter = check_positive_int(max_iter, 'max_iter')
    if (psf is None) == (psf_fwhm is None):
        msg = 'give exactly one of psf_fwhm and psf'
        raise ValueError(msg)
    psf_cube = _psf_cube(psf, psf_fwhm, n_bands)
    if noise_sigma is None:
        from astropy.stats import sigma_clipped_stats

        noise_sigma = [sigma_clipped_stats(image[..., b], sigma=3.0)[2]
                       for b in range(n_bands)]
    noise_sigma = np.broadcast_to(np.asarray(noise_sigma, dtype=float), (n_bands,))
    if not np.all(noise_sigma > 0):
        msg = f'noise_sigma must be positive, got {noise_sigma}'
        raise ValueError(msg)

    import scarlet2.validation_utils as validation_utils

    previous = validation_utils.VALIDATION_SWITCH
    sc2.set_validation(bool(validate))
    try:
        scene, observation, fitted = _fit(sc2, jnp, constraints, image, centers,
                                          psf_cube, noise_sigma, max_iter,
                                          e_rel, progress_bar, min_corr)
    finally:
        sc2.set_validation(previous)

    # a model pixel below this floor (far below the noise) counts as empty,
    # so that the cutouts stay local despite the FFT rendering
    floor = 1e-4 * float(noise_sigma.min())
    models = []
    for source in fitted.sources:
        rendered = np.asarray(observation.render(fitted.evaluate_source(source)),
                              dtype=np.float64)
        model = np.moveaxis(rendered, 0, 2)
        models.append(np.where(model > floor, model, 0.0))
    owns = [m.sum(axis=2) if band is None else m[..., band] for m in models]
    total = np.sum(owns, axis=0)
    positive = total > 0
    inverse = np.zeros_like(total)
    inverse[positive] = 1.0 / total[positive]
    source_images, fraction_maps = [], []
    for model, own in zip(models, owns):
        slices = _bbox(own > 0)
        source_images.append(SourceCutout(model[slices].astype(np.float32), slices))
        fraction_maps.append(SourceCutout(
            (own[slices] * inverse[slices]).astype(np.float32), slices))
    return ScarletLabels(source_images, fraction_maps, centers, fitted,
                         observation)


def _fit(sc2, jnp, constraints, image, centers, psf_cube, noise_sigma,
         max_iter, e_rel, progress_bar, min_corr):
    n_bands = image.shape[2]
    cube = np.moveaxis(image, 2, 0)
    weights = np.ones_like(cube) / noise_sigma[:, None, None] ** 2
    observation = sc2.Observation(jnp.asarray(cube), jnp.asarray(weights),
                                  psf=sc2.ArrayPSF(jnp.asarray(psf_cube)),
                                  channels=list(range(n_bands)))
    model_frame = sc2.Frame.from_observations(observation)
    with sc2.Scene(model_frame) as scene:
        for center in centers:
            position = jnp.asarray(center)
            try:
                spectrum, morphology = sc2.init.from_gaussian_moments(
                    observation, position, min_corr=min_corr)
            except Exception:  # blended or faint: start as a point source
                spectrum = sc2.init.pixel_spectrum(observation, position)
                morphology = sc2.init.compact_morphology()
            spectrum = jnp.maximum(jnp.asarray(spectrum), 1e-6 * float(noise_sigma.min()))
            sc2.Source(position, spectrum, morphology)
    with sc2.Parameters(scene):
        for i, source in enumerate(scene.sources):
            sc2.Parameter(source.spectrum, name=f'spectrum:{i}',
                          constraint=constraints.positive,
                          stepsize=sc2.relative_step)
            sc2.Parameter(source.morphology, name=f'morph:{i}',
                          constraint=constraints.unit_interval, stepsize=0.1)
    fitted = scene.fit(observation, max_iter=max_iter, e_rel=e_rel,
                       progress_bar=progress_bar)
    return scene, observation, fitted
