"""
Simulated scenes with exact per-source truth.

Every source is drawn on its own with GalSim into a stamp sized to the
source and clipped to the frame, so the truth (per-source images S_i and
fractions M_i = S_i / sum_j S_j) is exact: the image is the sum of the
stamps plus a separately stored noise array.
"""

import math

import numpy as np

from ..segmentation.cutout import SourceCutout
from ._galsim import require_galsim
from ._render import FourierRenderer, draw_with_galsim
from .population import (SOURCE_TYPES, Population, as_generator, check_density,
                         check_shape, sample_population)
from ..utils._validation import check_in
from .presets import get_preset

__all__ = ['Scene', 'SceneSimulator', 'simulate_scene', 'correlated_noise']


def correlated_noise(rng, shape, sigma, correlation):
    """
    Gaussian noise with a given adjacent-pixel correlation.

    White noise is filtered with the separable kernel ``[e, 1, e]`` along
    each axis, with ``e`` chosen so that neighbouring pixels (along either
    axis) have correlation coefficient ``correlation``, and rescaled to
    standard deviation ``sigma``. This mimics the correlated noise of
    drizzled mosaics.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        The random generator.
    shape : tuple of int
        The (h, w) shape.
    sigma : float
        The per-pixel standard deviation.
    correlation : float
        Adjacent-pixel correlation in [0, 0.6].

    Returns
    -------
    noise : `~numpy.ndarray`
        Shape ``shape``, float64.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    if correlation <= 0:
        return sigma * white
    if correlation > 0.6:
        msg = f'correlation must be in [0, 0.6], got {correlation}'
        raise ValueError(msg)
    # 1-D kernel [e, 1, e] has lag-1 autocorrelation 2e / (1 + 2 e^2)
    e = (1.0 - math.sqrt(1.0 - 2.0 * correlation ** 2)) / (2.0 * correlation)
    e = np.float32(e)
    norm = 1.0 + 2.0 * e * e
    filtered = white.copy()
    filtered[1:] += e * white[:-1]
    filtered[:-1] += e * white[1:]
    result = filtered.copy()
    result[:, 1:] += e * filtered[:, :-1]
    result[:, :-1] += e * filtered[:, 1:]
    result *= np.float32(sigma / norm)
    return result


class Scene:
    """
    A simulated image with its exact per-source truth.

    Do not build it directly: use `simulate_scene`, `SceneSimulator` or
    `simulate_pair`.

    Attributes
    ----------
    image : `~numpy.ndarray`
        The observed image, shape (h, w) for one band or (h, w, b), float32,
        in the preset's unit (background-subtracted).
    noise : `~numpy.ndarray`
        The noise that was added, same shape, float32:
        ``image == sum of source_images + noise`` to float32 rounding.
    source_images : list of `~pais_deblend.segmentation.SourceCutout`
        The noiseless image S_i of each source, (ny, nx) or (ny, nx, b)
        float32, clipped to the frame. Source i has label i + 1.
    centers : `~numpy.ndarray`
        True centres (y, x), shape (N, 2) float64; they may lie outside the
        frame for sources whose light enters it.
    preset : `~pais_deblend.simulation.Preset`
        The preset used.
    seed : object
        The seed the scene was made from.
    population : `~pais_deblend.simulation.Population`
        The source parameters.
    """

    def __init__(self, image, noise, source_images, population, preset, *,
                 seed=None):
        self.image = image
        self.noise = noise
        self.source_images = source_images
        self.population = population
        self.preset = preset
        self.seed = seed
        self.centers = np.column_stack([population.y, population.x]).astype(
            np.float64).reshape(-1, 2)
        self._catalog = None
        self._blendedness = None

    def __repr__(self):
        return (f'<Scene preset={self.preset.name!r} shape={self.shape} '
                f'n_sources={self.n_sources}>')

    @property
    def shape(self):
        """The frame shape (h, w)."""
        return self.image.shape[:2]

    @property
    def n_sources(self):
        """The number of sources with light in the frame."""
        return len(self.source_images)

    @property
    def n_bands(self):
        """The number of bands."""
        return self.preset.n_bands

    @property
    def labels(self):
        """The source labels 1..N."""
        return np.arange(1, self.n_sources + 1)

    @property
    def noiseless_image(self):
        """The sum of the source images, same shape as `image`, float64."""
        total = np.zeros(self.image.shape, dtype=np.float64)
        for cutout in self.source_images:
            total[cutout.slices] += cutout.data
        return total

    def source_cutouts(self, band=None):
        """
        The per-source images of one band (or summed over bands).

        Parameters
        ----------
        band : int, str or None, optional
            Band index or name; None sums all bands (for one band: that
            band).

        Returns
        -------
        cutouts : list of `~pais_deblend.segmentation.SourceCutout`
            2-D float32 cutouts, one per source.
        """
        if self.image.ndim == 2:
            if band is not None:
                self.preset.band_index(band)
            return list(self.source_images)
        if band is None:
            return [SourceCutout(c.data.sum(axis=2, dtype=np.float32), c.slices)
                    for c in self.source_images]
        index = self.preset.band_index(band)
        return [SourceCutout(np.ascontiguousarray(c.data[..., index]), c.slices)
                for c in self.source_images]

    def fraction_maps(self, *, band=None, threshold=0.0):
        """
        The truth fractions M_i = S_i / sum_j S_j of every source.

        Negative values of S_i (FFT ringing far from a source) are clipped
        to zero first. A pixel is attributed when the clipped total exceeds
        ``threshold``; there the maps sum to 1 exactly (to float32
        rounding); elsewhere every map is 0.

        Parameters
        ----------
        band : int, str or None, optional
            Band index or name; None uses the sum over bands.
        threshold : float, optional
            Minimum noiseless flux (image units) of an attributed pixel.

        Returns
        -------
        maps : list of `~pais_deblend.segmentation.SourceCutout`
            One 2-D float32 cutout per source (label i + 1 for entry i), on
            the same slices as `source_images`.
        """
        cutouts = self.source_cutouts(band)
        total = np.zeros(self.shape, dtype=np.float64)
        for cutout in cutouts:
            total[cutout.slices] += np.maximum(cutout.data, 0)
        attributed = total > threshold
        inverse = np.zeros_like(total)
        inverse[attributed] = 1.0 / total[attributed]
        return [SourceCutout((np.maximum(c.data, 0) * inverse[c.slices]).astype(
            np.float32), c.slices) for c in cutouts]

    def fraction_map(self, label, *, band=None, threshold=0.0):
        """The full-frame (h, w) float32 truth fraction map of one label."""
        if not 1 <= label <= self.n_sources:
            msg = f'label must be in [1, {self.n_sources}], got {label}'
            raise ValueError(msg)
        cutout = self.fraction_maps(band=band, threshold=threshold)[label - 1]
        return cutout.to_frame(self.shape)

    @property
    def blendedness(self):
        """
        Blendedness beta_i = 1 - (S_i . S_i) / (S_i . sum_j S_j) of every
        source in the reference band, over the frame's pixels (shape (N,)).
        """
        if self._blendedness is None:
            cutouts = self.source_cutouts(self.preset.reference_band
                                          if self.n_bands > 1 else None)
            total = np.zeros(self.shape, dtype=np.float64)
            for cutout in cutouts:
                total[cutout.slices] += cutout.data
            values = np.zeros(len(cutouts))
            for i, cutout in enumerate(cutouts):
                own = np.asarray(cutout.data, dtype=np.float64)
                self_dot = float(np.sum(own * own))
                cross = float(np.sum(own * total[cutout.slices]))
                values[i] = 1.0 - self_dot / cross if cross > 0 else 0.0
            self._blendedness = values
        return self._blendedness

    @property
    def catalog(self):
        """
        The truth catalog (`~astropy.table.Table`, one row per source).

        Columns: ``label``, ``y``, ``x`` (pixels), ``in_frame`` (centre
        inside the frame), ``type`` (``'star'``, ``'galaxy'``,
        ``'clumpy'``, ``'irregular'``), ``magnitude`` (reference-band AB), ``flux`` (total
        model flux, image units; shape (N, b) for several bands),
        ``flux_in_frame`` (sum of the drawn cutout), ``size`` (disk
        half-light radius, arcsec; 0 for stars), ``axis_ratio``,
        ``position_angle`` (degrees from +x), ``bulge_fraction``,
        ``sersic_n`` (bulge), ``n_knots``, ``blendedness``.
        """
        if self._catalog is None:
            from astropy.table import Table

            pop = self.population
            flux = pop.flux
            in_frame_flux = np.array([c.data.reshape(c.data.shape[0] * c.data.shape[1], -1)
                                      .sum(axis=0, dtype=np.float64)
                                      for c in self.source_images]).reshape(
                                          -1, self.n_bands)
            if self.n_bands == 1:
                flux = flux[:, 0]
                in_frame_flux = in_frame_flux[:, 0]
            height, width = self.shape
            table = Table()
            table['label'] = self.labels
            table['y'] = pop.y
            table['x'] = pop.x
            table['in_frame'] = ((pop.y > -0.5) & (pop.y < height - 0.5)
                                 & (pop.x > -0.5) & (pop.x < width - 0.5))
            table['type'] = np.array(SOURCE_TYPES)[pop.type_code].astype(
                f'U{max(map(len, SOURCE_TYPES))}')
            table['magnitude'] = pop.magnitude
            table['flux'] = flux
            table['flux_in_frame'] = in_frame_flux
            table['size'] = pop.size
            table['axis_ratio'] = np.where(pop.type_code == 2, 1.0, pop.axis_ratio)
            table['position_angle'] = np.where(pop.type_code == 2, 0.0,
                                               pop.position_angle)
            table['bulge_fraction'] = pop.bulge_fraction
            table['sersic_n'] = np.where(pop.bulge_fraction > 0, pop.sersic_n, 0.0)
            table['n_knots'] = pop.n_knots
            table['blendedness'] = self.blendedness
            table['size'].unit = 'arcsec'
            table['position_angle'].unit = 'deg'
            table.meta['preset'] = self.preset.name
            table.meta['bands'] = list(self.preset.band_names)
            table.meta['flux_unit'] = self.preset.unit
            self._catalog = table
        return self._catalog


class SceneSimulator:
    """
    Draws scenes for one preset and frame size, reusing GalSim objects.

    Parameters
    ----------
    preset : str or `Preset`, optional
        The instrument preset (see `available_presets`).
    shape : tuple of int, optional
        The frame shape (h, w) in pixels.
    density : float, optional
        Sources per arcmin^2 (default: the preset's).
    star_fraction, clumpy_fraction : float, optional
        Fractions of stars and clumpy galaxies (default: the preset's).
    noise : bool, optional
        Whether to add noise (background and source shot noise).
    margin : int, optional
        Band (pixels) around the frame where sources are also placed.
    method : {'fourier', 'galsim'}, optional
        ``'fourier'`` (default) draws all sources in batches from GalSim's
        Fourier tables (fast); ``'galsim'`` calls GalSim ``drawImage`` per
        source (slow reference; same models, agrees to ~1e-3 of the peak).
    irregular_fraction : float, optional
        Fraction of irregular (asymmetric, clumpy star-forming) galaxies
        (default: the preset's).

    Examples
    --------
    >>> from pais_deblend.simulation import SceneSimulator
    >>> simulator = SceneSimulator('hst_f160w', shape=(64, 64))
    >>> scene = simulator.simulate(seed=1)
    >>> scene.image.shape
    (64, 64)
    """

    def __init__(self, preset='hst_f160w', *, shape=(256, 256), density=None,
                 star_fraction=None, clumpy_fraction=None, noise=True,
                 margin=None, method='fourier', companion_fraction=None,
                 irregular_fraction=None):
        check_in(method, ('fourier', 'galsim'), 'method')
        self.method = method
        self.preset = get_preset(preset)
        self.shape = check_shape(shape)
        self.density = (self.preset.density if density is None
                        else check_density(density))
        self.star_fraction = star_fraction
        self.clumpy_fraction = clumpy_fraction
        self.irregular_fraction = irregular_fraction
        self.noise = bool(noise)
        self.margin = margin
        self.companion_fraction = companion_fraction
        require_galsim()
        self._renderer = FourierRenderer(self.preset)
        # validate the options once
        sample_population(self.preset, shape=(1, 1), density=0.0, seed=0,
                          star_fraction=star_fraction,
                          clumpy_fraction=clumpy_fraction, margin=margin,
                          companion_fraction=companion_fraction,
                          irregular_fraction=irregular_fraction)

    def simulate(self, seed=None):
        """
        Draw one random scene.

        Parameters
        ----------
        seed : int, `numpy.random.SeedSequence`, `numpy.random.Generator` or None
            The seed; the same seed gives identical arrays.

        Returns
        -------
        scene : `Scene`
        """
        rng = as_generator(seed)
        population = sample_population(
            self.preset, shape=self.shape, density=self.density, seed=rng,
            star_fraction=self.star_fraction,
            clumpy_fraction=self.clumpy_fraction, margin=self.margin,
            companion_fraction=self.companion_fraction,
            irregular_fraction=self.irregular_fraction)
        return self.draw(population, rng, seed=seed)

    def draw(self, population, rng, *, seed=None):
        """
        Draw a given population and add noise.

        Sources whose stamp does not overlap the frame are dropped.

        Parameters
        ----------
        population : `Population`
            The sources.
        rng : `numpy.random.Generator`
            Generator for the noise.
        seed : object, optional
            Stored on the scene for provenance.

        Returns
        -------
        scene : `Scene`
        """
        if not isinstance(population, Population):
            msg = f'population must be a Population, got {type(population).__name__}'
            raise TypeError(msg)
        preset = self.preset
        height, width = self.shape
        n_bands = preset.n_bands
        model = np.zeros((height, width, n_bands), dtype=np.float64)
        keep, drawn = self._renderer.draw(population, self.shape)
        if self.method == 'galsim':
            drawn = [(slices, draw_with_galsim(population, i, preset, slices)
                      .astype(np.float32)) for i, (slices, _) in zip(keep, drawn)]
        cutouts = []
        for slices, stamp in drawn:
            model[slices] += stamp
            if n_bands == 1:
                stamp = stamp[..., 0]
            cutouts.append(SourceCutout(stamp, slices))
        population = population.select(np.asarray(keep, dtype=int))
        noise = np.zeros(model.shape, dtype=np.float32)
        if self.noise:
            for b, band in enumerate(preset.bands):
                noise[..., b] = correlated_noise(rng, self.shape,
                                                 band.noise_sigma,
                                                 band.noise_correlation)
            # source shot noise, Gaussian approximation of Poisson counts
            shot = np.sqrt(np.maximum(model, 0).astype(np.float32)
                           / np.float32(preset.gain))
            shot *= rng.standard_normal(model.shape, dtype=np.float32)
            noise += shot
        image = (model + noise).astype(np.float32)
        if n_bands == 1:
            image, noise = image[..., 0], noise[..., 0]
        return Scene(image, noise, cutouts, population, preset, seed=seed)

def simulate_scene(preset='hst_f160w', *, shape=(256, 256), density=None,
                   seed=None, star_fraction=None, clumpy_fraction=None,
                   noise=True, margin=None, method='fourier',
                   irregular_fraction=None):
    """
    Simulate one scene of stars and galaxies with exact per-source truth.

    For many scenes, build a `SceneSimulator` once and call its
    ``simulate`` method.

    Parameters
    ----------
    preset : str or `Preset`, optional
        ``'hst_f160w'`` (the PAIS paper's data, Hausen & Robertson 2022),
        ``'hst_hlf'`` (4 HST bands) or ``'ground_grz'``.
    shape : tuple of int, optional
        The frame shape (h, w) in pixels.
    density : float, optional
        Sources per arcmin^2 (default: the preset's).
    seed : int, `numpy.random.Generator` or None, optional
        The seed; the same seed gives identical arrays.
    star_fraction, clumpy_fraction : float, optional
        Fractions of stars and clumpy galaxies (default: the preset's).
    noise : bool, optional
        Whether to add noise.
    margin : int, optional
        Band (pixels) around the frame where sources are also placed.
    method : {'fourier', 'galsim'}, optional
        Drawing method (see `SceneSimulator`).
    irregular_fraction : float, optional
        Fraction of irregular galaxies (default: the preset's).

    Returns
    -------
    scene : `Scene`

    Examples
    --------
    >>> from pais_deblend.simulation import simulate_scene
    >>> scene = simulate_scene('hst_f160w', shape=(64, 64), seed=3)
    >>> maps = scene.fraction_maps()
    """
    simulator = SceneSimulator(preset, shape=shape, density=density,
                               star_fraction=star_fraction,
                               clumpy_fraction=clumpy_fraction, noise=noise,
                               margin=margin, method=method,
                               irregular_fraction=irregular_fraction)
    return simulator.simulate(seed)
