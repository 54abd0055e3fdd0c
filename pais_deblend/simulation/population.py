"""
Source populations: stars, bulge+disk galaxies and clumpy star-forming
galaxies with realistic number counts, sizes and colours.

Everything here is plain NumPy (no GalSim), so sampling is cheap and
reproducible from a `numpy.random.Generator`.
"""

import numbers

import numpy as np

from ..utils._validation import check_finite_float
from .presets import get_preset

__all__ = ['Population', 'sample_population', 'add_companions',
           'quantize_sersic_index',
           'SOURCE_TYPES', 'SERSIC_INDEX_STEP']

#: The source types, in the order of their integer codes.
SOURCE_TYPES = ('galaxy', 'clumpy', 'star')

#: Bulge Sersic indices are multiples of this step, so that GalSim computes
#: each profile's Hankel transform once and reuses it.
SERSIC_INDEX_STEP = 0.5

_BULGE_N_RANGE = (1.5, 4.0)
_COMPONENTS = ('bulge', 'disk', 'knots', 'star')


def quantize_sersic_index(n, *, step=SERSIC_INDEX_STEP, minimum=0.5,
                          maximum=6.0):
    """
    Round Sersic indices to a grid so that GalSim reuses its profile tables.

    Parameters
    ----------
    n : float or array_like
        Sersic indices.
    step : float, optional
        The grid spacing.
    minimum, maximum : float, optional
        The indices are clipped to this range (GalSim supports 0.3 to 6.2).

    Returns
    -------
    n : float or `~numpy.ndarray`
        The quantised indices.
    """
    step = check_finite_float(step, 'step', minimum=0.0)
    quantized = np.clip(np.round(np.asarray(n, dtype=float) / step) * step,
                        minimum, maximum)
    return float(quantized) if np.ndim(quantized) == 0 else quantized


class Population:
    """
    Parameters of a set of sources, one entry per source (NumPy arrays).

    Attributes
    ----------
    y, x : `~numpy.ndarray`
        Centres in frame pixels (may lie outside the frame), shape (N,).
    type_code : `~numpy.ndarray`
        Index into `SOURCE_TYPES`, shape (N,), int8.
    magnitude : `~numpy.ndarray`
        Total AB magnitude in the preset's reference band, shape (N,).
    size : `~numpy.ndarray`
        Disk half-light radius (arcsec), 0 for stars, shape (N,).
    axis_ratio, position_angle : `~numpy.ndarray`
        Disk minor/major axis ratio and position angle (degrees,
        counter-clockwise from the +x axis), shape (N,).
    bulge_size, bulge_axis_ratio : `~numpy.ndarray`
        Bulge half-light radius (arcsec) and axis ratio, shape (N,).
    sersic_n : `~numpy.ndarray`
        Quantised bulge Sersic index, shape (N,).
    n_knots : `~numpy.ndarray`
        Number of star-forming knots (clumpy galaxies), shape (N,).
    knot_seed : `~numpy.ndarray`
        Seed of each clumpy galaxy's knot positions, shape (N,).
    component_flux : dict of `~numpy.ndarray`
        Flux (image units) of the ``'bulge'``, ``'disk'``, ``'knots'`` and
        ``'star'`` components, each shape (N, n_bands).
    """

    _ARRAYS = ('y', 'x', 'type_code', 'magnitude', 'size', 'axis_ratio',
               'position_angle', 'bulge_size', 'bulge_axis_ratio',
               'sersic_n', 'n_knots', 'knot_seed')

    def __init__(self, **arrays):
        missing = set(self._ARRAYS) - set(arrays) - {'component_flux'}
        if missing:
            msg = f'missing population arrays: {sorted(missing)}'
            raise ValueError(msg)
        for name in self._ARRAYS:
            setattr(self, name, np.asarray(arrays[name]))
        self.component_flux = {key: np.asarray(value, dtype=float)
                               for key, value in arrays['component_flux'].items()}

    def __len__(self):
        return len(self.y)

    @property
    def flux(self):
        """Total flux per band (image units), shape (N, n_bands)."""
        return sum(self.component_flux[key] for key in _COMPONENTS)

    @property
    def bulge_fraction(self):
        """Bulge-to-total flux ratio in the first band, shape (N,)."""
        total = self.flux[:, 0]
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(total > 0, self.component_flux['bulge'][:, 0]
                            / total, 0.0)

    @property
    def types(self):
        """Source types as strings, shape (N,)."""
        return np.array(SOURCE_TYPES)[self.type_code]

    def select(self, index):
        """Return the sub-population at ``index`` (mask or indices)."""
        arrays = {name: getattr(self, name)[index] for name in self._ARRAYS}
        arrays['component_flux'] = {key: value[index] for key, value
                                    in self.component_flux.items()}
        return Population(**arrays)

    @classmethod
    def concatenate(cls, populations):
        """Join several populations into one."""
        populations = list(populations)
        arrays = {name: np.concatenate([getattr(p, name) for p in populations])
                  for name in cls._ARRAYS}
        arrays['component_flux'] = {
            key: np.concatenate([p.component_flux[key] for p in populations])
            for key in _COMPONENTS}
        return cls(**arrays)


def _check_fraction(value, name):
    value = check_finite_float(value, name, minimum=0.0, include_minimum=True,
                               maximum=1.0)
    return value


def check_shape(shape):
    """Validate an image shape (h, w) and return it as a tuple of ints."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, '__len__'):
        msg = f'shape must be a pair of positive integers (h, w), got {shape!r}'
        raise TypeError(msg)
    if len(shape) != 2:
        msg = f'shape must be a pair of positive integers (h, w), got {shape!r}'
        raise ValueError(msg)
    for value in shape:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            msg = (f'shape must be a pair of positive integers (h, w), got '
                   f'{shape!r}')
            raise TypeError(msg)
        if value < 1:
            msg = (f'shape must be a pair of positive integers (h, w), got '
                   f'{tuple(shape)!r} (zero-size image)')
            raise ValueError(msg)
    return (int(shape[0]), int(shape[1]))


def check_density(density):
    """Validate a source density (sources per arcmin^2, >= 0)."""
    if isinstance(density, bool) or not isinstance(density, numbers.Real):
        msg = f'density must be a number of sources per arcmin^2, got {density!r}'
        raise TypeError(msg)
    density = float(density)
    if not np.isfinite(density) or density < 0:
        msg = (f'density must be a finite number of sources per arcmin^2 '
               f'>= 0, got {density}')
        raise ValueError(msg)
    return density


def as_generator(seed, name='seed'):
    """
    Return a `numpy.random.Generator` for ``seed``.

    ``seed`` may be None (fresh entropy), a non-negative int, a
    `numpy.random.SeedSequence` or a `numpy.random.Generator` (returned as
    is).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence) or seed is None:
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = (f'{name} must be None, a non-negative int, a SeedSequence or '
               f'a numpy Generator, got {seed!r} of type {type(seed).__name__}')
        raise TypeError(msg)
    if seed < 0:
        msg = f'{name} must be a non-negative int, got {seed}'
        raise ValueError(msg)
    return np.random.default_rng(int(seed))


def _sample_magnitudes(rng, n, magnitude_range, slope):
    bright, faint = magnitude_range
    low, high = 10.0 ** (slope * bright), 10.0 ** (slope * faint)
    return np.log10(low + rng.random(n) * (high - low)) / slope


def sample_sources(preset, rng, n, y, x, *, type_code=None, magnitude=None,
                   star_fraction=None, clumpy_fraction=None):
    """
    Draw the parameters of ``n`` sources at given positions.

    Parameters
    ----------
    preset : `Preset`
        The preset (population model and bands).
    rng : `numpy.random.Generator`
        The random generator.
    n : int
        The number of sources.
    y, x : array_like
        Centres, shape (n,).
    type_code : array_like of int, optional
        Force the source types (indices into `SOURCE_TYPES`).
    magnitude : array_like, optional
        Force the reference-band magnitudes.
    star_fraction, clumpy_fraction : float, optional
        Override the preset's type fractions.

    Returns
    -------
    population : `Population`
    """
    star_fraction = (preset.star_fraction if star_fraction is None
                     else star_fraction)
    clumpy_fraction = (preset.clumpy_fraction if clumpy_fraction is None
                       else clumpy_fraction)
    # fixed number of draws per source whatever the options, so that the
    # stream stays aligned
    u_type = rng.random(n)
    mag = _sample_magnitudes(rng, n, preset.magnitude_range, preset.count_slope)
    log_r_ref, m_ref, size_slope, size_scatter = preset.size_relation
    size = 10.0 ** (log_r_ref + size_slope * (mag if magnitude is None
                                              else np.asarray(magnitude))
                    - size_slope * m_ref + size_scatter * rng.standard_normal(n))
    size = np.clip(size, 0.3 * preset.pixel_scale, 3.0)
    axis_ratio = rng.uniform(0.2, 1.0, n)
    position_angle = rng.uniform(0.0, 180.0, n)
    has_bulge = rng.random(n) > 0.4
    bulge_fraction = np.where(has_bulge, rng.uniform(0.1, 0.8, n), 0.0)
    bulge_size = size * rng.uniform(0.3, 0.6, n)
    bulge_axis_ratio = np.sqrt(axis_ratio)
    sersic_n = quantize_sersic_index(rng.uniform(*_BULGE_N_RANGE, n))
    n_knots = rng.integers(5, 31, n)
    knot_fraction = rng.uniform(0.2, 0.6, n)
    knot_seed = rng.integers(1, 2**31 - 1, n)
    jitter = preset.color_scatter * rng.standard_normal((n, 3, preset.n_bands))

    if type_code is None:
        type_code = np.where(u_type < star_fraction, 2,
                             np.where(u_type < star_fraction + clumpy_fraction,
                                      1, 0))
    type_code = np.asarray(type_code, dtype=np.int8)
    if magnitude is not None:
        mag = np.asarray(magnitude, dtype=float)
    is_star = type_code == 2
    is_clumpy = type_code == 1
    bulge_fraction = np.where(is_clumpy, 0.5 * bulge_fraction, bulge_fraction)
    bulge_fraction[is_star] = 0.0
    knot_fraction = np.where(is_clumpy, knot_fraction, 0.0)
    size = np.where(is_star, 0.0, size)
    bulge_size = np.where(is_star, 0.0, bulge_size)
    n_knots = np.where(is_clumpy, n_knots, 0)

    reference = preset.reference_band
    total_ref_mag = mag
    ref_fraction = {
        'bulge': bulge_fraction * ~is_star,
        'disk': (1 - bulge_fraction) * (1 - knot_fraction) * ~is_star,
        'knots': (1 - bulge_fraction) * knot_fraction * ~is_star,
        'star': is_star.astype(float),
    }
    component_flux = {}
    for key, fraction in ref_fraction.items():
        with np.errstate(divide='ignore'):
            comp_mag = total_ref_mag - 2.5 * np.log10(fraction)
        jitter_index = {'bulge': 0, 'disk': 1, 'knots': 2, 'star': 1}[key]
        fluxes = np.zeros((n, preset.n_bands))
        for b, band in enumerate(preset.bands):
            colour = band.color(key) - preset.bands[reference].color(key)
            if b != reference:
                colour = colour + jitter[:, jitter_index, b]
            fluxes[:, b] = np.where(
                fraction > 0,
                10.0 ** (-0.4 * (comp_mag + colour - band.zero_point)), 0.0)
        component_flux[key] = fluxes
    return Population(
        y=np.asarray(y, dtype=float), x=np.asarray(x, dtype=float),
        type_code=type_code, magnitude=mag, size=size, axis_ratio=axis_ratio,
        position_angle=position_angle, bulge_size=bulge_size,
        bulge_axis_ratio=bulge_axis_ratio, sersic_n=sersic_n,
        n_knots=n_knots, knot_seed=knot_seed, component_flux=component_flux)


def default_margin(preset):
    """Margin (pixels) around the frame in which sources are also placed."""
    return int(np.ceil(max(1.5, 4 * preset.psf_fwhm) / preset.pixel_scale))


#: Separations (PSF FWHM) and primary-to-companion flux ratios of the
#: injected close companions (`sample_population` ``companion_fraction``):
#: the range the PAIS close-pair benchmark probes (0.5-3 FWHM, 1:1 to 16:1).
COMPANION_SEPARATION_RANGE = (0.5, 3.0)
COMPANION_FLUX_RATIO_RANGE = (1.0, 16.0)


def add_companions(preset, rng, population, fraction, *,
                   separation_range=COMPANION_SEPARATION_RANGE,
                   flux_ratio_range=COMPANION_FLUX_RATIO_RANGE,
                   star_fraction=None, clumpy_fraction=None):
    """
    Give a random fraction of the sources a close, fainter companion.

    Uniform random placement makes close blends rare (at the
    ``hst_f160w`` density of 300 per arcmin^2 about 4 % of the sources
    have a neighbour within 1.5 PSF FWHM), while close pairs are where
    deblenders differ; a training set with companions shows the network
    many more of them. Each chosen source gets one companion at a
    separation drawn uniformly in ``separation_range`` (units of the
    reference-band PSF FWHM), a random direction, and a flux ratio
    (primary / companion) drawn log-uniformly in ``flux_ratio_range``;
    the companion's type, shape and size are drawn like any source's.

    Parameters
    ----------
    preset : `Preset`
    rng : `numpy.random.Generator`
    population : `Population`
        The sources (not modified).
    fraction : float
        Probability that a source gets a companion, in [0, 1].
    separation_range, flux_ratio_range : tuple of float, optional
    star_fraction, clumpy_fraction : float, optional
        Type fractions of the companions (default: the preset's).

    Returns
    -------
    population : `Population`
        The sources followed by their companions.
    """
    fraction = _check_fraction(fraction, 'companion_fraction')
    n = len(population)
    has_companion = rng.random(n) < fraction
    k = int(has_companion.sum())
    separation = rng.uniform(*separation_range, k) * preset.psf_fwhm_pixels
    angle = rng.uniform(0.0, 2.0 * np.pi, k)
    log_low, log_high = np.log10(flux_ratio_range)
    ratio = 10.0 ** rng.uniform(log_low, log_high, k)
    y = population.y[has_companion] + separation * np.sin(angle)
    x = population.x[has_companion] + separation * np.cos(angle)
    magnitude = population.magnitude[has_companion] + 2.5 * np.log10(ratio)
    companions = sample_sources(preset, rng, k, y, x, magnitude=magnitude,
                                star_fraction=star_fraction,
                                clumpy_fraction=clumpy_fraction)
    return Population.concatenate([population, companions])


def sample_population(preset='hst_f160w', *, shape=(256, 256), density=None,
                      seed=None, star_fraction=None, clumpy_fraction=None,
                      margin=None, companion_fraction=None):
    """
    Draw a random population of sources for one scene.

    Sources are placed uniformly over the frame extended by ``margin``
    pixels on every side, so that sources just outside the frame whose
    light enters it are included (:ref:`simulation-population`). The
    number of sources is Poisson with mean
    ``density`` times that area.

    Parameters
    ----------
    preset : str or `Preset`, optional
        The instrument preset.
    shape : tuple of int, optional
        The frame shape (h, w) in pixels.
    density : float, optional
        Sources per arcmin^2 (default: the preset's).
    seed : int, `numpy.random.Generator` or None, optional
        The random seed.
    star_fraction, clumpy_fraction : float, optional
        Fractions of stars and clumpy galaxies (default: the preset's).
    margin : int, optional
        Width (pixels) of the band around the frame where sources are also
        placed (default: the larger of 1.5 arcsec and 4 PSF FWHM).
    companion_fraction : float, optional
        Probability in [0, 1] that a source gets a close, fainter
        companion (`add_companions`); default none. The random stream of
        the other sources does not depend on it.

    Returns
    -------
    population : `Population`
    """
    preset = get_preset(preset)
    shape = check_shape(shape)
    density = preset.density if density is None else check_density(density)
    if star_fraction is not None:
        star_fraction = _check_fraction(star_fraction, 'star_fraction')
    if clumpy_fraction is not None:
        clumpy_fraction = _check_fraction(clumpy_fraction, 'clumpy_fraction')
    if (star_fraction or 0.0) + (clumpy_fraction or 0.0) > 1.0:
        msg = (f'star_fraction + clumpy_fraction must be <= 1, got '
               f'{star_fraction} + {clumpy_fraction}')
        raise ValueError(msg)
    if margin is None:
        margin = default_margin(preset)
    elif isinstance(margin, bool) or not isinstance(margin, numbers.Integral):
        msg = f'margin must be a non-negative int, got {margin!r}'
        raise TypeError(msg)
    elif margin < 0:
        msg = f'margin must be a non-negative int, got {margin}'
        raise ValueError(msg)
    if companion_fraction is not None:
        companion_fraction = _check_fraction(companion_fraction,
                                             'companion_fraction')
    rng = as_generator(seed)
    height, width = shape
    area_arcmin2 = ((height + 2 * margin) * (width + 2 * margin)
                    * (preset.pixel_scale / 60.0) ** 2)
    n = int(rng.poisson(density * area_arcmin2))
    y = rng.uniform(-margin - 0.5, height - 0.5 + margin, n)
    x = rng.uniform(-margin - 0.5, width - 0.5 + margin, n)
    population = sample_sources(preset, rng, n, y, x,
                                star_fraction=star_fraction,
                                clumpy_fraction=clumpy_fraction)
    if companion_fraction:
        population = add_companions(preset, rng, population,
                                    companion_fraction,
                                    star_fraction=star_fraction,
                                    clumpy_fraction=clumpy_fraction)
    return population
