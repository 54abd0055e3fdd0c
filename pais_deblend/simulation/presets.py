"""
Instrument presets for the scene simulator.

A preset carries everything the simulator needs to know about an imaging
set-up: pixel scale, bands, effective PSF per band, photometric zero point,
noise level and noise correlation, and the source population seen at that
depth (magnitude range, number-count slope, magnitude-size relation,
colours).

The ``hst_f160w`` preset is calibrated on the real Hubble Legacy Fields
GOODS-South cutout shipped with the package (sample 67 of the PAIS
training data, Hausen & Robertson 2022, arXiv:2201.04714): see
:doc:`/simulation` for the measurements.
"""

import math
from dataclasses import dataclass, field

from ..utils._validation import check_in

__all__ = ['Band', 'Preset', 'PRESETS', 'available_presets', 'get_preset']


@dataclass(frozen=True)
class Band:
    """
    One photometric band of a preset.

    Attributes
    ----------
    name : str
        The band (filter) name.
    zero_point : float
        AB magnitude of a source with a total flux of one image unit.
    noise_sigma : float
        Standard deviation of the background noise per pixel, image units.
    noise_correlation : float
        Correlation coefficient of the background noise between adjacent
        pixels (drizzled images have correlated noise), in [0, 0.6].
    psf_fwhm : float
        FWHM of the effective (pixel-convolved) PSF, arcsec.
    psf_beta : float
        Moffat index of the PSF model.
    colors : dict
        Mean colour ``m_band - m_reference`` (mag) for each source component
        (``'bulge'``, ``'disk'``, ``'knots'``, ``'star'``).
    """

    name: str
    zero_point: float
    noise_sigma: float
    noise_correlation: float
    psf_fwhm: float
    psf_beta: float = 2.5
    colors: dict = field(default_factory=dict)

    def color(self, component):
        """Mean colour (mag) of a component relative to the reference band."""
        return float(self.colors.get(component, 0.0))


@dataclass(frozen=True)
class Preset:
    """
    An imaging set-up: instrument, depth and source population.

    Attributes
    ----------
    name : str
        The preset name used by `get_preset`.
    description : str
        One line of provenance.
    pixel_scale : float
        Arcsec per pixel.
    bands : tuple of `Band`
        The bands, in the order of the image's band axis.
    unit : str
        The flux unit of the images.
    gain : float
        Image units to Poisson counts (electrons per image unit); the source
        shot noise has variance ``S / gain`` per pixel. For images in
        electrons/s this is the effective exposure time in seconds.
    magnitude_range : tuple of float
        Brightest and faintest reference-band AB magnitude simulated.
    count_slope : float
        Slope ``d log10 N / d m`` of the differential number counts.
    density : float
        Default number of sources per arcmin^2 in ``magnitude_range``.
    size_relation : tuple of float
        ``(log10 r_ref, m_ref, slope, scatter)``: the median galaxy
        half-light radius is ``r_ref * 10**(slope * (m - m_ref))`` arcsec,
        with a log-normal scatter of ``scatter`` dex.
    star_fraction, clumpy_fraction : float
        Fractions of the sources that are stars and clumpy star-forming
        galaxies (the rest are bulge+disk galaxies).
    color_scatter : float
        Per-source scatter (mag) of every colour.
    references : str
        Where the numbers come from.
    reference_band : int
        Index of the band in which magnitudes, sizes and number counts are
        defined (and whose PSF sets the pair separations).
    irregular_fraction : float
        Fraction of the sources that are irregular (asymmetric, clumpy)
        star-forming galaxies; 0 except for ``hst_f160w_irregular``.
    pair_source_type : str
        The source type of both members of a `simulate_pair` pair when
        none is given: ``'galaxy'`` except ``'irregular'`` for
        ``hst_f160w_irregular``, so that pair benchmarks that take a preset
        name draw irregular pairs for it.
    """

    name: str
    description: str
    pixel_scale: float
    bands: tuple
    unit: str
    gain: float
    magnitude_range: tuple
    count_slope: float
    density: float
    size_relation: tuple
    star_fraction: float = 0.05
    clumpy_fraction: float = 0.2
    color_scatter: float = 0.15
    references: str = ''
    reference_band: int = 0
    irregular_fraction: float = 0.0
    pair_source_type: str = 'galaxy'

    @property
    def n_bands(self):
        """The number of bands."""
        return len(self.bands)

    @property
    def band_names(self):
        """The band names, in order."""
        return tuple(band.name for band in self.bands)

    @property
    def psf_fwhm(self):
        """The reference-band PSF FWHM, arcsec."""
        return self.bands[self.reference_band].psf_fwhm

    @property
    def psf_fwhm_pixels(self):
        """The reference-band PSF FWHM, pixels."""
        return self.psf_fwhm / self.pixel_scale

    def psf(self, band=0):
        """
        Return the effective PSF of a band as a GalSim object (cached).

        Parameters
        ----------
        band : int or str, optional
            Band index or name.

        Returns
        -------
        psf : `galsim.GSObject`
            A Moffat profile of unit flux, truncated at 4 FWHM. It is the
            optical PSF: drawing with GalSim's default method adds the
            pixel response.
        """
        from ._render import moffat_psf

        index = self.band_index(band)
        return moffat_psf(self.bands[index].psf_fwhm, self.bands[index].psf_beta)

    def band_index(self, band):
        """Return the index of a band given its index or name."""
        if isinstance(band, str):
            check_in(band, self.band_names, 'band')
            return self.band_names.index(band)
        if not isinstance(band, int) or isinstance(band, bool):
            msg = f'band must be an int index or a band name, got {band!r}'
            raise TypeError(msg)
        if not -self.n_bands <= band < self.n_bands:
            msg = f'band must be in [0, {self.n_bands}), got {band}'
            raise ValueError(msg)
        return band % self.n_bands

    def magnitude_to_flux(self, magnitude, band=0):
        """Convert an AB magnitude to a flux in image units."""
        zero_point = self.bands[self.band_index(band)].zero_point
        return 10.0 ** (-0.4 * (magnitude - zero_point))

    def flux_to_magnitude(self, flux, band=0):
        """Convert a flux in image units to an AB magnitude."""
        import numpy as np

        zero_point = self.bands[self.band_index(band)].zero_point
        with np.errstate(divide='ignore', invalid='ignore'):
            return zero_point - 2.5 * np.log10(flux)

    def to_dict(self):
        """A JSON-serialisable description (used in dataset manifests)."""
        description = {
            'name': self.name, 'pixel_scale': self.pixel_scale,
            'unit': self.unit, 'gain': self.gain,
            'bands': [{'name': b.name, 'zero_point': b.zero_point,
                       'noise_sigma': b.noise_sigma,
                       'noise_correlation': b.noise_correlation,
                       'psf_fwhm': b.psf_fwhm, 'psf_beta': b.psf_beta}
                      for b in self.bands],
            'magnitude_range': list(self.magnitude_range),
            'count_slope': self.count_slope, 'density': self.density,
            'size_relation': list(self.size_relation),
            'star_fraction': self.star_fraction,
            'clumpy_fraction': self.clumpy_fraction,
            'reference_band': self.reference_band,
        }
        # only when used, so that older manifests still match their preset
        if self.irregular_fraction:
            description['irregular_fraction'] = self.irregular_fraction
        if self.pair_source_type != 'galaxy':
            description['pair_source_type'] = self.pair_source_type
        return description


def _sigma_from_depth(depth, zero_point, fwhm, pixel_scale):
    """Per-pixel noise giving a 5-sigma point-source depth (optimal NEA)."""
    sigma_psf = fwhm / pixel_scale / (2 * math.sqrt(2 * math.log(2)))
    noise_equivalent_area = 4 * math.pi * sigma_psf ** 2
    flux_5sigma = 10 ** (-0.4 * (depth - zero_point))
    return flux_5sigma / (5 * math.sqrt(noise_equivalent_area))


# --- calibration of the HST presets on hlf_goodss_67_flux.fits -------------
# Robust background noise: sigma-clipped (3 sigma, 10 iterations) standard
# deviation of the pixels that the Morpheus background map classifies as
# background (>= 0.99; 53,942 pixels); adjacent-pixel correlation measured on
# the same pixels. See docs/simulation.rst.
_HLF_NOISE = {'F160W': (0.005737, 0.53), 'F125W': (0.005654, 0.54),
              'F606W': (0.005098, 0.15), 'F850LP': (0.003108, 0.15)}
# Effective PSF FWHM of the HLF / CANDELS mosaics at 60 mas/pixel. The
# cutout has no isolated star (its most compact source has FWHM 0.30
# arcsec), so the F160W value is the published one: 0.18 arcsec (WFC3
# Instrument Handbook, drizzled; Skelton et al. 2014, ApJS 214, 24).
_HLF_PSF = {'F160W': 0.18, 'F125W': 0.16, 'F606W': 0.11, 'F850LP': 0.12}
# AB zero points for electrons/s (STScI WFC3/IR and ACS/WFC calibration).
_HLF_ZP = {'F160W': 25.946, 'F125W': 26.230, 'F606W': 26.493, 'F850LP': 24.862}
# Mean colours m_band - m_F160W of each component (rough z ~ 1 SEDs).
_HLF_COLORS = {
    'F160W': {},
    'F125W': {'bulge': 0.25, 'disk': 0.15, 'knots': 0.05, 'star': 0.1},
    'F606W': {'bulge': 1.6, 'disk': 0.8, 'knots': 0.3, 'star': 0.8},
    'F850LP': {'bulge': 0.7, 'disk': 0.4, 'knots': 0.15, 'star': 0.3},
}


def _hlf_band(name):
    sigma, correlation = _HLF_NOISE[name]
    return Band(name=name, zero_point=_HLF_ZP[name], noise_sigma=sigma,
                noise_correlation=correlation, psf_fwhm=_HLF_PSF[name],
                psf_beta=2.5, colors=_HLF_COLORS[name])


_HST_COMMON = dict(
    pixel_scale=0.06, unit='electron/s',
    # effective exposure time (s) for the source shot noise; assumed,
    # typical of the deep HLF GOODS-S F160W data, not calibrated
    gain=2.0e4,
    magnitude_range=(19.0, 28.0),
    # faint-end H-band number counts, d log N / dm ~ 0.25 (Windhorst et al.
    # 2011, ApJS 193, 27)
    count_slope=0.25,
    # ~300 sources/arcmin^2 to H ~ 27-28, as in the 3D-HST GOODS-S catalog
    # (Skelton et al. 2014)
    density=300.0,
    # median r_e = 0.30 arcsec at H = 22, shrinking 0.08 dex per mag,
    # 0.2 dex scatter (van der Wel et al. 2014, ApJ 788, 28, roughly)
    size_relation=(math.log10(0.30), 22.0, -0.08, 0.2),
    star_fraction=0.05, clumpy_fraction=0.2, color_scatter=0.15,
    references=('noise: measured on hlf_goodss_67_flux.fits; PSF: WFC3 IHB, '
                'Skelton et al. 2014; counts: Windhorst et al. 2011; sizes: '
                'van der Wel et al. 2014'),
)

_GROUND_BANDS = []
for _name, _depth, _fwhm, _colors in (
        ('g', 24.0, 0.77, {'bulge': 0.9, 'disk': 0.45, 'knots': 0.2,
                           'star': 0.7}),
        ('r', 23.4, 0.70, {}),
        ('z', 22.5, 0.66, {'bulge': -0.6, 'disk': -0.3, 'knots': -0.1,
                           'star': -0.4})):
    _GROUND_BANDS.append(Band(
        name=_name, zero_point=22.5,
        noise_sigma=_sigma_from_depth(_depth, 22.5, _fwhm, 0.2),
        noise_correlation=0.0, psf_fwhm=_fwhm, psf_beta=3.5, colors=_colors))

PRESETS = {
    'hst_f160w': Preset(
        name='hst_f160w',
        description=('HST WFC3/IR F160W at 0.06 arcsec/pixel, calibrated on '
                     'the HLF GOODS-S cutout (the PAIS paper training data)'),
        bands=(_hlf_band('F160W'),), **_HST_COMMON),
    'hst_hlf': Preset(
        name='hst_hlf',
        description=('HLF GOODS-S F160W, F125W, F606W, F850LP at 0.06 '
                     'arcsec/pixel, noise measured per band on the cutout'),
        bands=tuple(_hlf_band(n) for n in ('F160W', 'F125W', 'F606W',
                                           'F850LP')), **_HST_COMMON),
    'hst_f160w_irregular': Preset(
        name='hst_f160w_irregular',
        description=('hst_f160w with 60 per cent irregular (asymmetric, '
                     'clumpy) and 20 per cent clumpy star-forming galaxies, '
                     'for benchmarks on irregular morphologies'),
        bands=(_hlf_band('F160W'),),
        pair_source_type='irregular',
        **dict(_HST_COMMON, clumpy_fraction=0.2, irregular_fraction=0.6)),
    'ground_grz': Preset(
        name='ground_grz',
        description=('ground-based g, r, z at 0.2 arcsec/pixel with ~0.7 '
                     'arcsec seeing, DECaLS-like depth (r = 23.4, 5 sigma)'),
        pixel_scale=0.2, bands=tuple(_GROUND_BANDS), unit='nanomaggy',
        # electrons per nanomaggy for a few 90 s DECam exposures (assumed)
        gain=1.0e4,
        magnitude_range=(17.0, 25.5),
        # r-band counts d log N / dm ~ 0.35 at r ~ 20-25 (e.g. Metcalfe et
        # al. 2001)
        count_slope=0.35, density=40.0,
        size_relation=(math.log10(0.8), 20.0, -0.08, 0.2),
        star_fraction=0.1, clumpy_fraction=0.1, color_scatter=0.15,
        references='depths and seeing typical of DECaLS DR9 (Dey et al. 2019)',
        reference_band=1),
}


def available_presets():
    """Return the names of the available presets."""
    return tuple(PRESETS)


def get_preset(preset):
    """
    Return a `Preset` given its name (or the preset itself).

    Parameters
    ----------
    preset : str or `Preset`
        One of `available_presets`, e.g. ``'hst_f160w'``, ``'hst_hlf'``,
        ``'hst_f160w_irregular'``, ``'ground_grz'``.

    Returns
    -------
    preset : `Preset`
    """
    if isinstance(preset, Preset):
        return preset
    if not isinstance(preset, str):
        msg = f'preset must be a preset name or a Preset, got {preset!r}'
        raise TypeError(msg)
    if preset not in PRESETS:
        choices = ', '.join(repr(name) for name in PRESETS)
        msg = f'unknown preset {preset!r}; preset must be one of {choices}'
        raise ValueError(msg)
    return PRESETS[preset]
