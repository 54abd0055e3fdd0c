"""
Controlled pairs of sources for the deblending benchmark grid
(separation in PSF FWHM x flux ratio).
"""

import itertools
import math
import numbers

import numpy as np

from ..utils._validation import check_finite_float, check_in, check_nonnegative_int
from .population import SOURCE_TYPES, as_generator, check_shape, sample_sources
from .presets import get_preset
from .scene import SceneSimulator

__all__ = ['simulate_pair', 'pair_grid']

_DEFAULT_PRIMARY_MAGNITUDE = {'hst_f160w': 23.0, 'hst_hlf': 23.0,
                              'hst_f160w_irregular': 23.0, 'ground_grz': 20.0}


def _check_types(source_type):
    if isinstance(source_type, str):
        source_type = (source_type, source_type)
    if (not isinstance(source_type, (tuple, list)) or len(source_type) != 2):
        msg = (f'source_type must be a type name or a pair of them, got '
               f'{source_type!r}')
        raise TypeError(msg)
    for value in source_type:
        check_in(value, SOURCE_TYPES, 'source_type')
    return tuple(SOURCE_TYPES.index(value) for value in source_type)


def simulate_pair(preset='hst_f160w', *, separation, flux_ratio,
                  shape=(64, 64), magnitude=None, source_type=None,
                  angle=None, seed=None, noise=True, method='fourier'):
    """
    Simulate an isolated pair of sources with a controlled separation and
    flux ratio.

    The pair's flux-weighted midpoint lies at the frame centre (plus a
    random sub-pixel offset); the axis joining the two sources has a random
    orientation unless ``angle`` is given. Source 1 (label 1) is the
    primary, source 2 the secondary.

    Parameters
    ----------
    preset : str or `Preset`, optional
        The instrument preset.
    separation : float
        Centre-to-centre distance in units of the reference-band PSF FWHM
        (>= 0).
    flux_ratio : float
        Primary-to-secondary total flux ratio in the reference band (> 0;
        e.g. 4 for a 4:1 pair).
    shape : tuple of int, optional
        The frame shape (h, w).
    magnitude : float, optional
        Primary's reference-band AB magnitude (default 23 for the HST
        presets, 20 for ``ground_grz``).
    source_type : str or pair of str, optional
        ``'galaxy'``, ``'clumpy'``, ``'irregular'`` or ``'star'``, for both
        or for (primary, secondary). Default: the preset's
        ``pair_source_type`` (``'galaxy'``; ``'irregular'`` for
        ``hst_f160w_irregular``).
    angle : float, optional
        Orientation of the pair axis in degrees from +x (default random).
    seed : int, `numpy.random.Generator` or None, optional
        The seed (shapes, sizes, orientation, noise).
    noise : bool, optional
        Whether to add noise.
    method : {'fourier', 'galsim'}, optional
        Drawing method (see `SceneSimulator`).

    Returns
    -------
    scene : `Scene`
        With ``scene.catalog.meta['separation']`` (FWHM),
        ``meta['separation_pixels']`` and ``meta['flux_ratio']``.
    """
    preset = get_preset(preset)
    separation = check_finite_float(separation, 'separation', minimum=0.0,
                                    include_minimum=True)
    flux_ratio = check_finite_float(flux_ratio, 'flux_ratio', minimum=0.0)
    shape = check_shape(shape)
    types = _check_types(preset.pair_source_type if source_type is None
                         else source_type)
    if magnitude is None:
        magnitude = _DEFAULT_PRIMARY_MAGNITUDE.get(preset.name, 22.0)
    magnitude = check_finite_float(magnitude, 'magnitude')
    if angle is not None:
        angle = check_finite_float(angle, 'angle')
    rng = as_generator(seed)
    offset = rng.uniform(-0.5, 0.5, 2)
    random_angle = rng.uniform(0.0, 180.0)
    angle = random_angle if angle is None else angle
    separation_pixels = separation * preset.psf_fwhm_pixels
    weight_primary = flux_ratio / (1.0 + flux_ratio)
    direction = np.array([math.sin(math.radians(angle)),
                          math.cos(math.radians(angle))])  # (y, x)
    middle = np.array([(shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0]) + offset
    primary = middle - (1 - weight_primary) * separation_pixels * direction
    secondary = middle + weight_primary * separation_pixels * direction
    magnitudes = np.array([magnitude, magnitude + 2.5 * math.log10(flux_ratio)])
    population = sample_sources(
        preset, rng, 2, [primary[0], secondary[0]], [primary[1], secondary[1]],
        type_code=np.array(types), magnitude=magnitudes)
    simulator = SceneSimulator(preset, shape=shape, noise=noise, method=method)
    scene = simulator.draw(population, rng, seed=seed)
    if scene.n_sources != 2:
        msg = (f'the pair does not fit in the frame of shape {shape}; use a '
               f'larger shape or a smaller separation')
        raise ValueError(msg)
    scene.catalog.meta.update(separation=separation,
                              separation_pixels=separation_pixels,
                              flux_ratio=flux_ratio, angle=angle)
    return scene


def pair_grid(separations, flux_ratios, *, n_per_cell=1, seed=0,
              preset='hst_f160w', **kwargs):
    """
    Iterate over a grid of pairs (the benchmark grid of
    :ref:`simulation-pairs`).

    Parameters
    ----------
    separations : sequence of float
        Separations in PSF FWHM.
    flux_ratios : sequence of float
        Primary-to-secondary flux ratios.
    n_per_cell : int, optional
        Pairs per (separation, flux ratio) cell.
    seed : int, optional
        Master seed; pair ``k`` of cell ``(i, j)`` uses
        ``numpy.random.SeedSequence([seed, i, j, k])``.
    preset : str or `Preset`, optional
        The instrument preset.
    **kwargs
        Passed to `simulate_pair`.

    Yields
    ------
    separation, flux_ratio : float
        The cell.
    scene : `Scene`
        The pair.
    """
    n_per_cell = check_nonnegative_int(n_per_cell, 'n_per_cell')
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = f'seed must be a non-negative int, got {seed!r}'
        raise TypeError(msg)
    if seed < 0:
        msg = f'seed must be a non-negative int, got {seed}'
        raise ValueError(msg)
    separations = [check_finite_float(s, 'separation', minimum=0.0,
                                      include_minimum=True) for s in separations]
    flux_ratios = [check_finite_float(r, 'flux_ratio', minimum=0.0)
                   for r in flux_ratios]
    for (i, separation), (j, ratio) in itertools.product(
            enumerate(separations), enumerate(flux_ratios)):
        for k in range(n_per_cell):
            sequence = np.random.SeedSequence([int(seed), i, j, k])
            yield separation, ratio, simulate_pair(
                preset, separation=separation, flux_ratio=ratio,
                seed=np.random.default_rng(sequence), **kwargs)
