"""
Source populations: stars, bulge+disk galaxies, clumpy star-forming
galaxies and asymmetric ("irregular") star-forming galaxies with
realistic number counts, sizes and colours.

Everything here is plain NumPy (no GalSim), so sampling is cheap and
reproducible from a `numpy.random.Generator`.
"""

import numbers
from typing import NamedTuple

import numpy as np

from ..utils._validation import check_finite_float
from .presets import get_preset

__all__ = ['Population', 'sample_population', 'add_companions',
           'quantize_sersic_index', 'irregular_structure',
           'IrregularStructure',
           'SOURCE_TYPES', 'SERSIC_INDEX_STEP']

#: The source types, in the order of their integer codes (new types are
#: appended, so that the codes of older data keep their meaning).
SOURCE_TYPES = ('galaxy', 'clumpy', 'star', 'irregular')
_IRREGULAR = SOURCE_TYPES.index('irregular')

#: Bulge Sersic indices are multiples of this step, so that GalSim computes
#: each profile's Hankel transform once and reuses it.
SERSIC_INDEX_STEP = 0.5

_BULGE_N_RANGE = (1.5, 4.0)
_COMPONENTS = ('bulge', 'disk', 'knots', 'star')

# --- irregular star-forming galaxies ----------------------------------------
#: Number of star-forming clumps per irregular galaxy (inclusive range).
IRREGULAR_N_CLUMPS = (3, 8)
#: Fraction of an irregular galaxy's light in its clumps.
IRREGULAR_CLUMP_FRACTION = (0.1, 0.5)
#: Range of the m = 1 asymmetry parameter of the clump azimuths.
IRREGULAR_ASYMMETRY = (0.3, 1.0)
#: Brightest-to-faintest clump luminosity range of the L^-2 luminosity
#: function.
IRREGULAR_CLUMP_LUMINOSITY_RANGE = 20.0
#: Clump FWHM range (arcsec), log-uniform; capped at the disk half-light
#: radius.
IRREGULAR_CLUMP_FWHM = (0.05, 0.15)
#: Clumps lie within this many disk half-light radii of the centre.
IRREGULAR_CLUMP_MAX_RADIUS = 2.0
#: The flux-weighted centroid of the clumps lies within this many disk
#: half-light radii of the source's centre.
IRREGULAR_CLUMP_MAX_CENTROID = 0.5
#: Share of the disk light in the lopsided component, per unit asymmetry.
IRREGULAR_LOPSIDED_SHARE = 0.3
#: Distance of the lopsided component from the centre and its half-light
#: radius, both in disk half-light radii.
IRREGULAR_LOPSIDED_OFFSET = 0.6
IRREGULAR_LOPSIDED_SIZE = 0.5
# exponential profile: half-light radius / scale length
_EXPONENTIAL_HLR = 1.6783469900166605
# stream tag of the per-source clump parameters (see sample_sources)
_IRREGULAR_TAG = 0x1EE6


class IrregularStructure(NamedTuple):
    """
    The layout of one irregular galaxy (`irregular_structure`).

    Positions are in units of the disk half-light radius, in the round
    frame of the disk (before its shear).

    Attributes
    ----------
    clump_position : `~numpy.ndarray`
        Shape (n_clumps, 2), the (x, y) centres of the clumps.
    clump_flux : `~numpy.ndarray`
        Shape (n_clumps,), each clump's share of the clump light (sum 1).
    clump_sigma : `~numpy.ndarray`
        Shape (n_clumps,), Gaussian sigma of each (round) clump, arcsec.
    lopsided_position : `~numpy.ndarray`
        Shape (2,), the (x, y) centre of the disk's lopsided component.
    lopsided_fraction : float
        Share of the disk light in the lopsided component.
    """

    clump_position: np.ndarray
    clump_flux: np.ndarray
    clump_sigma: np.ndarray
    lopsided_position: np.ndarray
    lopsided_fraction: float


def irregular_structure(n_clumps, clump_seed, asymmetry, size):
    r"""
    The clumps and lopsided disk of one irregular galaxy.

    The arguments are the galaxy's `Population` entries (``n_clumps``,
    ``clump_seed``, ``asymmetry``, ``size``); the same entries always give
    the same layout, so that both renderers draw the same galaxy.

    - Clump radii follow the exponential disk's own light profile,
      truncated at ``IRREGULAR_CLUMP_MAX_RADIUS`` half-light radii.
    - Clump azimuths follow an m = 1 mode,
      :math:`p(\phi) \propto 1 + A \cos(\phi - \phi_0)`, with the
      asymmetry :math:`A` in [0, 1] and a random preferred side
      :math:`\phi_0`: the clumps crowd on one side of the disk.
    - Clump luminosities follow :math:`dN/dL \propto L^{-2}` over a
      factor ``IRREGULAR_CLUMP_LUMINOSITY_RANGE``, normalised to sum to 1.
    - Clump FWHM are log-uniform in ``IRREGULAR_CLUMP_FWHM`` (arcsec),
      capped at the disk half-light radius.
    - If the flux-weighted clump centroid lies further than
      ``IRREGULAR_CLUMP_MAX_CENTROID`` half-light radii from the centre,
      the clump positions are scaled towards the centre until it does
      not (the pattern and its preferred side are kept).
    - The disk is lopsided towards the same side: a share
      ``IRREGULAR_LOPSIDED_SHARE * A`` of its light is a smaller
      exponential (``IRREGULAR_LOPSIDED_SIZE`` times the half-light
      radius, same shape) centred
      ``IRREGULAR_LOPSIDED_OFFSET`` half-light radii away on the side
      :math:`\phi_0`.

    The renderers dilate the positions by the disk size and shear them
    like the disk; the clumps themselves stay round. The :math:`L^{-2}`
    slope is that of local H II region luminosity functions (Kennicutt,
    Edgar & Hodge 1989, ApJ 337, 761) and of the clump mass function of
    lensed star-forming galaxies at z = 1-3 (Dessauges-Zavadsky & Adamo
    2018, MNRAS 479, L118); see :ref:`simulation-irregular`.

    Parameters
    ----------
    n_clumps : int
        The number of clumps.
    clump_seed : int
        The seed of the layout.
    asymmetry : float
        The m = 1 amplitude :math:`A` in [0, 1].
    size : float
        The disk half-light radius (arcsec); caps the clump FWHM.

    Returns
    -------
    structure : `IrregularStructure`
    """
    n = int(n_clumps)
    asymmetry = float(asymmetry)
    rng = np.random.default_rng(int(clump_seed))
    phi0 = rng.uniform(0.0, 2.0 * np.pi)
    # radius: the exponential's p(x) ~ x exp(-x), x = r / scale length,
    # truncated, by inverse transform
    x_max = IRREGULAR_CLUMP_MAX_RADIUS * _EXPONENTIAL_HLR
    grid = np.linspace(0.0, x_max, 512)
    cdf = 1.0 - (1.0 + grid) * np.exp(-grid)
    radius = np.interp(rng.random(n) * cdf[-1], cdf, grid) / _EXPONENTIAL_HLR
    # azimuth: p(phi) ~ 1 + A cos(phi - phi0), inverse transform
    angle = np.linspace(-np.pi, np.pi, 1025)
    cdf = (angle + np.pi + asymmetry * np.sin(angle)) / (2.0 * np.pi)
    phi = phi0 + np.interp(rng.random(n), cdf, angle)
    # luminosity function dN/dL ~ L^-2 on [1, L_max], inverse transform
    high = IRREGULAR_CLUMP_LUMINOSITY_RANGE
    luminosity = 1.0 / (1.0 - rng.random(n) * (1.0 - 1.0 / high))
    flux = luminosity / luminosity.sum()
    low_fwhm, high_fwhm = IRREGULAR_CLUMP_FWHM
    fwhm = np.exp(rng.uniform(np.log(low_fwhm), np.log(high_fwhm), n))
    fwhm = np.minimum(fwhm, size)
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    position = np.column_stack([radius * np.cos(phi), radius * np.sin(phi)])
    centroid = float(np.hypot(*(flux @ position)))
    if centroid > IRREGULAR_CLUMP_MAX_CENTROID:
        position *= IRREGULAR_CLUMP_MAX_CENTROID / centroid
    lopsided = IRREGULAR_LOPSIDED_OFFSET * np.array([np.cos(phi0),
                                                     np.sin(phi0)])
    return IrregularStructure(position, flux, sigma, lopsided,
                              IRREGULAR_LOPSIDED_SHARE * asymmetry)


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
    n_clumps, clump_seed, asymmetry : `~numpy.ndarray`
        Number of star-forming clumps, seed of their layout and m = 1
        asymmetry of each irregular galaxy (`irregular_structure`), shape
        (N,); 0 for the other types (the default when absent).
    component_flux : dict of `~numpy.ndarray`
        Flux (image units) of the ``'bulge'``, ``'disk'``, ``'knots'`` and
        ``'star'`` components, each shape (N, n_bands). For irregular
        galaxies ``'knots'`` is the light of their clumps.
    """

    _REQUIRED = ('y', 'x', 'type_code', 'magnitude', 'size', 'axis_ratio',
                 'position_angle', 'bulge_size', 'bulge_axis_ratio',
                 'sersic_n', 'n_knots', 'knot_seed')
    # arrays added later, with the value they take when absent
    _OPTIONAL = {'n_clumps': 0, 'clump_seed': 0, 'asymmetry': 0.0}
    _ARRAYS = _REQUIRED + tuple(_OPTIONAL)

    def __init__(self, **arrays):
        missing = set(self._REQUIRED) - set(arrays) - {'component_flux'}
        if missing:
            msg = f'missing population arrays: {sorted(missing)}'
            raise ValueError(msg)
        for name in self._REQUIRED:
            setattr(self, name, np.asarray(arrays[name]))
        n = len(self.y)
        for name, default in self._OPTIONAL.items():
            value = arrays.get(name)
            setattr(self, name, np.full(n, default) if value is None
                    else np.asarray(value))
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


def check_type_fractions(star_fraction, clumpy_fraction, irregular_fraction):
    """Check that the given type fractions (None: not given) sum to <= 1."""
    given = {'star_fraction': star_fraction,
             'clumpy_fraction': clumpy_fraction,
             'irregular_fraction': irregular_fraction}
    if irregular_fraction is None:
        del given['irregular_fraction']
    if sum(value or 0.0 for value in given.values()) > 1.0:
        values = ' + '.join(str(value) for value in given.values())
        msg = f'{" + ".join(given)} must be <= 1, got {values}'
        raise ValueError(msg)


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
                   star_fraction=None, clumpy_fraction=None,
                   irregular_fraction=None):
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
    star_fraction, clumpy_fraction, irregular_fraction : float, optional
        Override the preset's type fractions.

    Returns
    -------
    population : `Population`

    Notes
    -----
    The main stream ``rng`` gives every source the same number of draws
    whatever its type and the options. The parameters of an irregular
    galaxy (number of clumps, their share of the light, the asymmetry and
    the seed of the clump layout) come from a generator of its own,
    seeded with its ``knot_seed``, so that adding the type left the
    scenes of the other presets and options unchanged.
    """
    star_fraction = (preset.star_fraction if star_fraction is None
                     else star_fraction)
    clumpy_fraction = (preset.clumpy_fraction if clumpy_fraction is None
                       else clumpy_fraction)
    irregular_fraction = (preset.irregular_fraction
                          if irregular_fraction is None else irregular_fraction)
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
        type_code = np.where(
            u_type < star_fraction, 2,
            np.where(u_type < star_fraction + clumpy_fraction, 1,
                     np.where(u_type < star_fraction + clumpy_fraction
                              + irregular_fraction, _IRREGULAR, 0)))
    type_code = np.asarray(type_code, dtype=np.int8)
    if magnitude is not None:
        mag = np.asarray(magnitude, dtype=float)
    is_star = type_code == 2
    is_clumpy = type_code == 1
    is_irregular = type_code == _IRREGULAR
    bulge_fraction = np.where(is_clumpy, 0.5 * bulge_fraction, bulge_fraction)
    bulge_fraction[is_star | is_irregular] = 0.0
    knot_fraction = np.where(is_clumpy, knot_fraction, 0.0)
    size = np.where(is_star, 0.0, size)
    bulge_size = np.where(is_star | is_irregular, 0.0, bulge_size)
    n_knots = np.where(is_clumpy, n_knots, 0)
    n_clumps = np.zeros(n, dtype=np.int64)
    clump_seed = np.zeros(n, dtype=np.int64)
    asymmetry = np.zeros(n)
    for i in np.flatnonzero(is_irregular):
        own = np.random.default_rng([_IRREGULAR_TAG, int(knot_seed[i])])
        n_clumps[i] = own.integers(IRREGULAR_N_CLUMPS[0],
                                   IRREGULAR_N_CLUMPS[1] + 1)
        knot_fraction[i] = own.uniform(*IRREGULAR_CLUMP_FRACTION)
        asymmetry[i] = own.uniform(*IRREGULAR_ASYMMETRY)
        clump_seed[i] = own.integers(1, 2**31 - 1)

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
        n_knots=n_knots, knot_seed=knot_seed, n_clumps=n_clumps,
        clump_seed=clump_seed, asymmetry=asymmetry,
        component_flux=component_flux)


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
                   star_fraction=None, clumpy_fraction=None,
                   irregular_fraction=None):
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
    star_fraction, clumpy_fraction, irregular_fraction : float, optional
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
                                clumpy_fraction=clumpy_fraction,
                                irregular_fraction=irregular_fraction)
    return Population.concatenate([population, companions])


def sample_population(preset='hst_f160w', *, shape=(256, 256), density=None,
                      seed=None, star_fraction=None, clumpy_fraction=None,
                      margin=None, companion_fraction=None,
                      irregular_fraction=None):
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
    irregular_fraction : float, optional
        Fraction of irregular (asymmetric, clumpy star-forming) galaxies
        (default: the preset's, 0 except for ``hst_f160w_irregular``).

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
    if irregular_fraction is not None:
        irregular_fraction = _check_fraction(irregular_fraction,
                                             'irregular_fraction')
    check_type_fractions(star_fraction, clumpy_fraction, irregular_fraction)
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
                                clumpy_fraction=clumpy_fraction,
                                irregular_fraction=irregular_fraction)
    if companion_fraction:
        population = add_companions(preset, rng, population,
                                    companion_fraction,
                                    star_fraction=star_fraction,
                                    clumpy_fraction=clumpy_fraction,
                                    irregular_fraction=irregular_fraction)
    return population
