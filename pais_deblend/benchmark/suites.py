"""
Benchmark suites: the images the methods are compared on.

- ``pairs``: isolated pairs on a grid of separation (in PSF FWHM) and flux
  ratio (`pais_deblend.simulation.pair_grid`), HST F160W preset.
- ``field``: crowded simulated fields at three source densities.
- ``hlf``: the real HLF GOODS-South F160W cutout, with its 7 catalog
  positions as detection truth (no flux truth).
- ``encoding``: noiseless pairs and fields, on which the PCR ceiling (and
  any method) is compared with the exact truth; the radial-profile KS test
  of the paper's Table 2 is added there.

A suite is registered in `SUITES` like a method; its ``images(quick=...)``
yields `~pais_deblend.benchmark.BenchmarkImage`.
"""

import numpy as np

from pais_deblend.benchmark.registry import (BenchmarkImage,
                                             lookup_registered)

__all__ = ['Suite', 'PairsSuite', 'FieldSuite', 'HLFSuite', 'EncodingSuite',
           'SUITES', 'register_suite', 'get_suite', 'available_suites',
           'PAIR_SEPARATIONS', 'PAIR_FLUX_RATIOS', 'preset_psf_image',
           'scene_benchmark_image']

#: Pair separations of the full run, in PSF FWHM.
PAIR_SEPARATIONS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
#: Primary-to-secondary flux ratios of the full run.
PAIR_FLUX_RATIOS = (1.0, 4.0, 16.0)


def preset_psf_image(preset, size=25):
    """The preset's pixel-convolved reference-band PSF, (size, size)."""
    from pais_deblend.simulation import get_preset

    preset = get_preset(preset)
    psf = preset.psf(preset.reference_band).drawImage(
        nx=size, ny=size, scale=preset.pixel_scale).array
    return np.asarray(psf / psf.sum(), dtype=np.float64)


def scene_benchmark_image(name, scene, meta, psf, noiseless=False):
    """
    The `BenchmarkImage` of a simulated scene in its preset's reference
    band, with the scene's true centres and source cutouts (``in_frame``
    from its catalog), the metadata ``meta`` and the PSF image ``psf``.
    """
    preset = scene.preset
    band = preset.bands[preset.reference_band]
    in_frame = np.asarray(scene.catalog['in_frame'], dtype=bool)
    return BenchmarkImage(
        name=name, data=np.asarray(scene.image, dtype=np.float32),
        psf_fwhm=preset.psf_fwhm_pixels, noise_sigma=band.noise_sigma,
        true_centers=scene.centers, true_source_images=scene.source_cutouts(),
        in_frame=in_frame, meta=dict(meta), psf=psf, noiseless=noiseless)


class Suite:
    """
    Base class of a benchmark suite.

    Attributes
    ----------
    name : str
        Registry key.
    description : str
        One line.
    profile_metrics : bool
        Whether the per-source r90 KS test (paper Table 2) is computed.
    methods : tuple of str or None
        The only methods run on this suite (None: any method).
    """

    name = None
    description = ''
    profile_metrics = False
    methods = None

    def __repr__(self):
        return f'<{type(self).__name__} {self.name!r}>'

    def images(self, *, quick=False, seed=0):
        """
        Yield the suite's `BenchmarkImage` objects.

        Parameters
        ----------
        quick : bool, optional
            The small version used by the CI smoke test.
        seed : int, optional
            Master seed (same seed, same images).
        """
        raise NotImplementedError


class PairsSuite(Suite):
    """
    Pairs of galaxies on the separation x flux-ratio grid.

    Full: separations {0.5, 0.75, 1, 1.25, 1.5, 2, 3} PSF FWHM x flux
    ratios {1, 4, 16} x 50 realisations (1,050 pairs); quick: separations
    {0.5, 1, 2} x ratios {1, 4} x 3 realisations. 64 x 64 pixels, primary
    at F160W = 23 AB, random orientation and sub-pixel offset.
    """

    name = 'pairs'
    description = 'galaxy pairs: separation x flux ratio grid (HST F160W)'

    def __init__(self, *, separations=PAIR_SEPARATIONS,
                 flux_ratios=PAIR_FLUX_RATIOS, n_per_cell=50,
                 quick_separations=(0.5, 1.0, 2.0), quick_flux_ratios=(1.0, 4.0),
                 quick_n_per_cell=3, preset='hst_f160w', shape=(64, 64),
                 noise=True):
        self.separations = tuple(separations)
        self.flux_ratios = tuple(flux_ratios)
        self.n_per_cell = n_per_cell
        self.quick_separations = tuple(quick_separations)
        self.quick_flux_ratios = tuple(quick_flux_ratios)
        self.quick_n_per_cell = quick_n_per_cell
        self.preset = preset
        self.shape = tuple(shape)
        self.noise = noise

    def images(self, *, quick=False, seed=0):
        from pais_deblend.simulation import pair_grid

        separations = self.quick_separations if quick else self.separations
        ratios = self.quick_flux_ratios if quick else self.flux_ratios
        n_per_cell = self.quick_n_per_cell if quick else self.n_per_cell
        psf = preset_psf_image(self.preset)
        counter = {}
        for separation, ratio, scene in pair_grid(
                separations, ratios, n_per_cell=n_per_cell, seed=seed,
                preset=self.preset, shape=self.shape, noise=self.noise):
            k = counter.setdefault((separation, ratio), 0)
            counter[(separation, ratio)] += 1
            yield scene_benchmark_image(
                f'{self.name}-s{separation:g}-r{ratio:g}-k{k}', scene,
                {'separation': separation, 'flux_ratio': ratio,
                 'realisation': k}, psf, noiseless=not self.noise)


class FieldSuite(Suite):
    """
    Simulated HST F160W fields at three densities (0.5, 1 and 3 times the
    preset's 300 sources per arcmin^2). Full: 4 fields of 256 x 256 pixels
    per density; quick: 1 field of 128 x 128 per density.
    """

    name = 'field'
    description = 'crowded HST F160W fields at three densities'

    def __init__(self, *, densities=(150.0, 300.0, 900.0), n_per_density=4,
                 shape=(256, 256), quick_shape=(128, 128),
                 quick_n_per_density=1, preset='hst_f160w', noise=True):
        self.densities = tuple(densities)
        self.n_per_density = n_per_density
        self.shape = tuple(shape)
        self.quick_shape = tuple(quick_shape)
        self.quick_n_per_density = quick_n_per_density
        self.preset = preset
        self.noise = noise

    def images(self, *, quick=False, seed=0):
        from pais_deblend.simulation import SceneSimulator

        shape = self.quick_shape if quick else self.shape
        n_fields = self.quick_n_per_density if quick else self.n_per_density
        psf = preset_psf_image(self.preset)
        for i, density in enumerate(self.densities):
            simulator = SceneSimulator(self.preset, shape=shape,
                                       density=density, noise=self.noise)
            for k in range(n_fields):
                rng = np.random.default_rng(
                    np.random.SeedSequence([int(seed), 1000 + i, k]))
                scene = simulator.simulate(rng)
                yield scene_benchmark_image(f'{self.name}-d{density:g}-k{k}', scene,
                                   {'density': density, 'realisation': k},
                                   psf, noiseless=not self.noise)


class HLFSuite(Suite):
    """
    The real HLF GOODS-South cutout (256 x 256, F160W band), with its 7
    3D-HST catalog positions as detection truth. There is no flux truth,
    so only detection metrics and timings are measured.

    The catalog positions (peaks of the bundled centre-of-mass label) sit
    about 3.5 px in y and 1.3 px in x from the flux peaks of the bright
    sources (measured on the five brightest), more than the usual matching
    radius of one PSF FWHM (3 px), so this suite matches within 2 FWHM.
    """

    name = 'hlf'
    description = 'real HLF GOODS-S F160W cutout, 7 catalog positions'

    def images(self, *, quick=False, seed=0):
        from pais_deblend.datasets import load_hlf_goodss
        from pais_deblend.simulation import get_preset

        hlf = load_hlf_goodss()
        preset = get_preset('hst_f160w')
        band = preset.bands[0]
        yield BenchmarkImage(
            name='hlf-goodss-67',
            data=np.ascontiguousarray(hlf.flux[..., 0], dtype=np.float32),
            psf_fwhm=preset.psf_fwhm_pixels, noise_sigma=band.noise_sigma,
            true_centers=np.asarray(hlf.centers, dtype=np.float64),
            in_frame=np.ones(len(hlf.centers), dtype=bool),
            meta={}, psf=preset_psf_image(preset),
            match_radius=2.0 * preset.psf_fwhm_pixels)


class EncodingSuite(Suite):
    """
    Noiseless pairs (the quick pair grid, or 1.0 and 2.0 FWHM x ratios 1,
    4, 16 x 10 in the full run) and noiseless fields (one per density), on
    which the PCR ceiling is measured against the exact truth (paper Table
    2: flux error and r90 KS test).
    """

    name = 'encoding'
    description = 'PCR ceiling on noiseless pairs and fields (true centres)'
    profile_metrics = True
    methods = ('pcr_ceiling',)

    def images(self, *, quick=False, seed=0):
        if quick:
            pairs = PairsSuite(noise=False, quick_separations=(0.5, 1.0),
                               quick_flux_ratios=(1.0, 4.0),
                               quick_n_per_cell=1)
        else:
            pairs = PairsSuite(noise=False, separations=(0.5, 1.0, 2.0),
                               n_per_cell=10)
        # thresholds and truth masks use the preset's noise level even
        # though no noise is added
        fields = FieldSuite(noise=False, n_per_density=1,
                            quick_n_per_density=1)
        for image in pairs.images(quick=quick, seed=seed):
            image.name = 'encoding-' + image.name
            yield image
        for image in fields.images(quick=quick, seed=seed):
            image.name = 'encoding-' + image.name
            yield image


#: The registered suites, name -> `Suite` instance.
SUITES = {}


def register_suite(suite, *, overwrite=False):
    """Add a suite to `SUITES` (see `register_method`)."""
    if not isinstance(suite, Suite):
        msg = f'suite must be a Suite instance, got {type(suite).__name__}'
        raise TypeError(msg)
    if suite.name in SUITES and not overwrite:
        msg = (f'a suite named {suite.name!r} is already registered; pass '
               'overwrite=True to replace it')
        raise ValueError(msg)
    SUITES[suite.name] = suite
    return suite


def get_suite(name):
    """Return the registered `Suite` called ``name``."""
    return lookup_registered(SUITES, name, Suite, 'suite')


def available_suites():
    """Names of the registered suites."""
    return list(SUITES)


for _suite in (PairsSuite(), FieldSuite(), HLFSuite(), EncodingSuite()):
    register_suite(_suite, overwrite=True)
