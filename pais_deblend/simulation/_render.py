"""
Batched Fourier-space drawing of GalSim profiles.

GalSim's ``drawImage`` costs 1-10 ms per PSF-convolved galaxy, most of it
per-object overhead and FFT set-up, far too slow for 50 scenes per second.
This module draws the *same* models in batches: GalSim supplies the Fourier
transforms of the unit profiles (exponential disk, truncated Sersic bulges
on a quantised grid of n, truncated Moffat PSF) as radial tables computed
once, and the knot positions of `galsim.RandomKnots`; the Gaussian clumps of
irregular galaxies have an analytic transform. NumPy evaluates every
source's transform on its stamp's frequency grid (shear, dilation, shift,
pixel response) and inverse-FFTs all stamps of one size at once.
`draw_with_galsim` is the slow reference (GalSim ``drawImage``) that the
tests compare against.

Conventions: a stamp of N x N pixels has its first pixel at frame index
(y0, x0); pixel values are fluxes per pixel (profile convolved with the PSF
and the square pixel), so a stamp sums to the source's flux (the ~0.5 per
cent of an exponential disk beyond 4.5 half-light radii wraps around the
stamp edge instead of being lost).
"""

import math

import numpy as np

from ._galsim import require_galsim
from .population import (IRREGULAR_LOPSIDED_SIZE, SOURCE_TYPES,
                         irregular_structure)

__all__ = []

# extents (stamp half-widths) in units of the profile's scale
DISK_EXTENT = 4.5          # exponential: 99.5 % of the flux
BULGE_TRUNCATION = 8.0     # Sersic bulges are truncated here (half-light radii)
PSF_EXTENT = 4.0           # Moffat PSF truncated at 4 FWHM
_FFT_SIZES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
              1536, 2048)

_TABLES = {}
_IRREGULAR = SOURCE_TYPES.index('irregular')
_LOG_K = np.linspace(math.log(1e-3), math.log(3e4), 3000)


def _radial_table(key, make_profile, *args):
    """Tabulate a round GalSim profile's k-values on the log-k grid."""
    if key not in _TABLES:
        galsim = require_galsim()
        profile = make_profile(*args)
        k = np.exp(_LOG_K)
        values = np.array([profile.kValue(galsim.PositionD(float(v), 0.0)).real
                           for v in k])
        _TABLES[key] = values / profile.flux
    return _TABLES[key]


def sersic_profile(n):
    """The unit-flux, unit-half-light-radius bulge profile (GalSim)."""
    galsim = require_galsim()
    return galsim.Sersic(n=float(n), half_light_radius=1.0,
                         trunc=BULGE_TRUNCATION)


def exponential_profile():
    """The unit-flux, unit-half-light-radius disk profile (GalSim)."""
    galsim = require_galsim()
    return galsim.Exponential(half_light_radius=1.0)


def moffat_psf(fwhm, beta):
    """The unit-flux Moffat PSF truncated at `PSF_EXTENT` FWHM (GalSim)."""
    galsim = require_galsim()
    return galsim.Moffat(beta=beta, fwhm=fwhm, trunc=PSF_EXTENT * fwhm)


def _interp(table, k):
    """Evaluate a radial table at |k| (any shape); k = 0 gives 1."""
    with np.errstate(divide='ignore'):
        log_k = np.log(k)
    values = np.interp(log_k, _LOG_K, table, left=1.0, right=0.0)
    return values


def knot_positions(n_knots, seed):
    """
    Knot positions (arcsec, unit half-light radius) from `galsim.RandomKnots`.

    Returns
    -------
    points : `~numpy.ndarray`
        Shape (n_knots, 2), (x, y) as GalSim gives them.
    """
    galsim = require_galsim()
    knots = galsim.RandomKnots(int(n_knots), half_light_radius=1.0, flux=1.0,
                               rng=galsim.BaseDeviate(int(seed)))
    return np.asarray(knots.points, dtype=float)


def shear_matrix(axis_ratio, position_angle):
    """
    GalSim's shear(q, beta) as a 2x2 (x, y) matrix with determinant 1.
    """
    beta = math.radians(position_angle)
    c, s = math.cos(beta), math.sin(beta)
    rotation = np.array([[c, -s], [s, c]])
    stretch = np.diag([1.0 / math.sqrt(axis_ratio), math.sqrt(axis_ratio)])
    return rotation @ stretch @ rotation.T


def fft_size(radius):
    """The smallest FFT-friendly stamp size >= 2 * radius + 2."""
    needed = 2 * radius + 2
    for size in _FFT_SIZES:
        if size >= needed:
            return size
    return _FFT_SIZES[-1]


class FourierRenderer:
    """
    Draw populations of sources for one preset, in batches.

    Parameters
    ----------
    preset : `Preset`
        Provides the pixel scale and each band's PSF.
    """

    def __init__(self, preset):
        self.preset = preset
        self.scale = preset.pixel_scale
        self._psf_tables = [
            _radial_table(('moffat', band.psf_fwhm, band.psf_beta),
                          moffat_psf, band.psf_fwhm, band.psf_beta)
            for band in preset.bands]
        self._psf_k = {}
        self._psf_radius = (PSF_EXTENT * max(b.psf_fwhm for b in preset.bands)
                            / self.scale)

    def stamp_radius(self, population, i):
        """Half-width (pixels) of source ``i``'s light."""
        if population.type_code[i] == 2:
            return self._psf_radius
        disk = DISK_EXTENT * population.size[i] / math.sqrt(population.axis_ratio[i])
        bulge = 0.0
        if population.component_flux['bulge'][i].any():
            bulge = (BULGE_TRUNCATION * population.bulge_size[i]
                     / math.sqrt(population.bulge_axis_ratio[i]))
        return math.hypot(max(disk, bulge) / self.scale, self._psf_radius)

    def layout(self, population, shape):
        """
        Stamp placement of every source that has light in the frame.

        Returns
        -------
        keep : list of int
            Indices of the sources to draw.
        stamps : list of tuple
            ``(size, y0, x0)`` per kept source: the N x N stamp starts at
            frame pixel (y0, x0).
        """
        height, width = shape
        cap = 2 * max(height, width)
        keep, stamps = [], []
        for i in range(len(population)):
            radius = min(self.stamp_radius(population, i), cap)
            y, x = population.y[i], population.x[i]
            if (y + radius < -0.5 or y - radius > height - 0.5
                    or x + radius < -0.5 or x - radius > width - 0.5):
                continue
            size = fft_size(radius)
            y0 = int(math.floor(y)) - size // 2
            x0 = int(math.floor(x)) - size // 2
            if y0 + size <= 0 or x0 + size <= 0 or y0 >= height or x0 >= width:
                continue
            keep.append(i)
            stamps.append((size, y0, x0))
        return keep, stamps

    def draw(self, population, shape):
        """
        Draw every source of ``population`` with light in the frame.

        Parameters
        ----------
        population : `Population`
            The sources.
        shape : tuple of int
            The frame (h, w).

        Returns
        -------
        keep : list of int
            Indices of the drawn sources.
        cutouts : list of tuple
            ``(slices, data)`` per drawn source: ``data`` is float32 of shape
            (ny, nx, n_bands), already clipped to the frame.
        """
        keep, stamps = self.layout(population, shape)
        results = [None] * len(keep)
        groups = {}
        for j, (size, _, _) in enumerate(stamps):
            groups.setdefault(size, []).append(j)
        for size, members in groups.items():
            images = self._draw_group(population, [keep[j] for j in members],
                                      [stamps[j] for j in members], size)
            for j, image in zip(members, images):
                results[j] = _clip(image, stamps[j], shape)
        return keep, results

    def _draw_group(self, population, indices, stamps, size):
        scale = self.scale
        n_bands = self.preset.n_bands
        index = np.asarray(indices)
        uy = np.fft.fftfreq(size)             # cycles per pixel
        ux = np.fft.rfftfreq(size)
        ky = ((2 * math.pi / scale) * uy[:, None]).astype(np.float32)  # rad/arcsec
        kx = ((2 * math.pi / scale) * ux[None, :]).astype(np.float32)
        psf_k = self._psf_k.get(size)
        if psf_k is None:
            k_norm = np.hypot(ky, kx)
            pixel = np.sinc(uy)[:, None] * np.sinc(ux)[None, :]
            psf_k = [(_interp(table, k_norm) * pixel).astype(np.float32)
                     for table in self._psf_tables]
            self._psf_k[size] = psf_k
        origins = np.asarray([(y0, x0) for _, y0, x0 in stamps], dtype=float)
        cy = population.y[index] - origins[:, 0]
        cx = population.x[index] - origins[:, 1]
        # single precision from here on: the stamps are stored as float32
        phase = (np.exp(-2j * math.pi * cy[:, None] * uy[None, :]).astype(
            np.complex64)[:, :, None]
                 * np.exp(-2j * math.pi * cx[:, None] * ux[None, :]).astype(
                     np.complex64)[:, None, :])
        flux = {key: value[index] for key, value in population.component_flux.items()}
        profile = np.empty((n_bands,) + phase.shape, dtype=np.float32)
        profile[...] = flux['star'].T[:, :, None, None]
        disk_rows = np.flatnonzero(flux['disk'].any(axis=1))
        irregular_rows = np.flatnonzero(population.type_code[index] == _IRREGULAR)
        structures = {row: irregular_structure(
            population.n_clumps[index[row]], population.clump_seed[index[row]],
            population.asymmetry[index[row]], population.size[index[row]])
            for row in irregular_rows}
        disk_total = flux['disk']
        if structures:
            # the lopsided share of an irregular disk is drawn with its clumps
            flux['disk'] = disk_total.copy()
            for row, structure in structures.items():
                flux['disk'][row] *= 1.0 - structure.lopsided_fraction
        if disk_rows.size:
            k2 = self._transformed_k2(
                kx, ky, population.size[index[disk_rows]],
                population.axis_ratio[index[disk_rows]],
                population.position_angle[index[disk_rows]])
            # exponential: (1 + (k r0)^2)^-1.5 with r0 = hlr / 1.67835
            t = np.float32(1.0) + k2 * np.float32(1.0 / 1.6783469900166605 ** 2)
            disk = np.float32(1.0) / (t * np.sqrt(t))
            profile[:, disk_rows] += (flux['disk'][disk_rows].T[:, :, None, None]
                                      * disk)
        bulge_rows = np.flatnonzero(flux['bulge'].any(axis=1))
        sersic_n = population.sersic_n[index]
        for n_sersic in np.unique(sersic_n[bulge_rows]):
            rows = bulge_rows[sersic_n[bulge_rows] == n_sersic]
            k2 = self._transformed_k2(
                kx, ky, population.bulge_size[index[rows]],
                population.bulge_axis_ratio[index[rows]],
                population.position_angle[index[rows]])
            table = _radial_table(('sersic', float(n_sersic)),
                                  sersic_profile, n_sersic)
            with np.errstate(divide='ignore'):
                log_k = 0.5 * np.log(k2)
            bulge = np.interp(log_k, _LOG_K, table, left=1.0, right=0.0).astype(
                np.float32)
            profile[:, rows] += flux['bulge'][rows].T[:, :, None, None] * bulge
        spectrum = profile * phase
        for row in np.flatnonzero(flux['knots'].any(axis=1)):
            if row in structures:
                continue
            i = index[row]
            matrix = shear_matrix(population.axis_ratio[i],
                                  population.position_angle[i])
            points = knot_positions(population.n_knots[i], population.knot_seed[i])
            factor = population.size[i] / scale
            knot_x = factor * (matrix[0, 0] * points[:, 0] + matrix[0, 1] * points[:, 1])
            knot_y = factor * (matrix[1, 0] * points[:, 0] + matrix[1, 1] * points[:, 1])
            # sum over knots of exp(-2 pi i (uy y_j + ux x_j)); einsum without
            # BLAS: a threaded BLAS would spin idle threads on a shared machine
            knots = np.einsum('ky,kx->yx',
                              np.exp(-2j * math.pi * knot_y[:, None] * uy[None, :]),
                              np.exp(-2j * math.pi * knot_x[:, None] * ux[None, :]))
            knots = knots.astype(np.complex64) * (phase[row] / len(points))
            spectrum[:, row] += flux['knots'][row][:, None, None] * knots
        for row, structure in structures.items():
            spectrum[:, row] += self._irregular_spectrum(
                population, index[row], structure, kx, ky, uy, ux,
                disk_total[row] * structure.lopsided_fraction,
                flux['knots'][row]) * phase[row]
        for b in range(n_bands):
            spectrum[b] *= psf_k[b]
        images = np.fft.irfft2(spectrum, s=(size, size), axes=(-2, -1))
        return np.moveaxis(images, 0, -1).astype(np.float32, copy=False)

    def _irregular_spectrum(self, population, i, structure, kx, ky, uy, ux,
                            lopsided_flux, clump_flux):
        """
        The lopsided disk component and the Gaussian clumps of irregular
        galaxy ``i`` relative to its centre, shape (n_bands, Ny, Nx):
        sum_j f_j exp(-2 pi^2 sigma_j^2 |u|^2) exp(-2 pi i u.x_j).
        """
        matrix = shear_matrix(population.axis_ratio[i],
                              population.position_angle[i])
        factor = population.size[i] / self.scale
        points = factor * structure.clump_position @ matrix.T   # (x, y), px
        # a round Gaussian's transform is separable: one factor per axis
        sigma2 = (2 * math.pi ** 2) * (structure.clump_sigma / self.scale) ** 2
        along_y = (structure.clump_flux[:, None]
                   * np.exp(-sigma2[:, None] * uy[None, :] ** 2
                            - 2j * math.pi * points[:, 1, None] * uy[None, :]))
        along_x = np.exp(-sigma2[:, None] * ux[None, :] ** 2
                         - 2j * math.pi * points[:, 0, None] * ux[None, :])
        clumps = np.einsum('ky,kx->yx', along_y, along_x).astype(np.complex64)
        # the lopsided component: a smaller, shifted copy of the disk
        offset_x, offset_y = factor * matrix @ structure.lopsided_position
        k2 = self._transformed_k2(
            kx, ky, population.size[i:i + 1] * IRREGULAR_LOPSIDED_SIZE,
            population.axis_ratio[i:i + 1], population.position_angle[i:i + 1])[0]
        t = np.float32(1.0) + k2 * np.float32(1.0 / 1.6783469900166605 ** 2)
        shift = (np.exp(-2j * math.pi * offset_y * uy)[:, None]
                 * np.exp(-2j * math.pi * offset_x * ux)[None, :])
        lopsided = (shift / (t * np.sqrt(t))).astype(np.complex64)
        return (clump_flux.astype(np.float32)[:, None, None] * clumps
                + lopsided_flux.astype(np.float32)[:, None, None] * lopsided)

    @staticmethod
    def _transformed_k2(kx, ky, radius, axis_ratio, position_angle):
        """
        |A^T k|^2 for A = radius * shear(q, beta), vectorised over sources.

        Returns shape (n, Ny, Nx).
        """
        beta = np.radians(position_angle)
        c, s = np.cos(beta), np.sin(beta)
        root_q = np.sqrt(axis_ratio)
        s00 = (c * c / root_q + s * s * root_q).astype(np.float32)
        s11 = (s * s / root_q + c * c * root_q).astype(np.float32)
        s01 = (c * s * (1.0 / root_q - root_q)).astype(np.float32)
        r = radius.astype(np.float32)[:, None, None]
        tx = s00[:, None, None] * kx + s01[:, None, None] * ky
        ty = s01[:, None, None] * kx + s11[:, None, None] * ky
        return (r * r) * (tx * tx + ty * ty)


def _clip(image, stamp, shape):
    size, y0, x0 = stamp
    height, width = shape
    fy0, fx0 = max(y0, 0), max(x0, 0)
    fy1, fx1 = min(y0 + size, height), min(x0 + size, width)
    data = image[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return (slice(fy0, fy1), slice(fx0, fx1)), np.ascontiguousarray(data)


def galsim_profile(population, i, band, psf):
    """
    The GalSim object of source ``i`` in one band (PSF-convolved), for the
    reference drawing. Returns None for a source without flux.
    """
    galsim = require_galsim()
    flux = {key: value[i, band] for key, value in population.component_flux.items()}
    if population.type_code[i] == 2:
        return psf.withFlux(flux['star']) if flux['star'] else None
    beta = population.position_angle[i] * galsim.degrees
    components = []
    structure = None
    if population.type_code[i] == _IRREGULAR:
        structure = irregular_structure(
            population.n_clumps[i], population.clump_seed[i],
            population.asymmetry[i], population.size[i])
        # positions follow the disk's shear; the clumps stay round
        matrix = np.asarray(galsim.Shear(q=population.axis_ratio[i],
                                         beta=beta).getMatrix())
        lopsided = flux['disk'] * structure.lopsided_fraction
        flux['disk'] -= lopsided
        dx, dy = population.size[i] * matrix @ structure.lopsided_position
        if lopsided:
            components.append(
                exponential_profile()
                .dilate(population.size[i] * IRREGULAR_LOPSIDED_SIZE)
                .shear(q=population.axis_ratio[i], beta=beta)
                .withFlux(lopsided).shift(float(dx), float(dy)))
    if flux['disk']:
        components.append(exponential_profile().dilate(population.size[i])
                          .shear(q=population.axis_ratio[i], beta=beta)
                          .withFlux(flux['disk']))
    if flux['bulge']:
        components.append(sersic_profile(population.sersic_n[i])
                          .dilate(population.bulge_size[i])
                          .shear(q=population.bulge_axis_ratio[i], beta=beta)
                          .withFlux(flux['bulge']))
    if flux['knots'] and structure is not None:
        offsets = population.size[i] * structure.clump_position @ matrix.T
        for (dx, dy), share, width in zip(offsets, structure.clump_flux,
                                          structure.clump_sigma):
            components.append(galsim.Gaussian(sigma=float(width),
                                              flux=flux['knots'] * share)
                              .shift(float(dx), float(dy)))
    elif flux['knots']:
        knots = galsim.RandomKnots(int(population.n_knots[i]),
                                   half_light_radius=1.0, flux=1.0,
                                   rng=galsim.BaseDeviate(int(population.knot_seed[i])))
        components.append(knots.dilate(population.size[i])
                          .shear(q=population.axis_ratio[i], beta=beta)
                          .withFlux(flux['knots']))
    if not components:
        return None
    return galsim.Convolve(galsim.Add(components), psf, real_space=False)


def draw_with_galsim(population, i, preset, slices):
    """
    Reference drawing of source ``i`` with GalSim ``drawImage`` (slow).

    Parameters
    ----------
    population : `Population`
        The sources.
    i : int
        The source index.
    preset : `Preset`
        The preset.
    slices : tuple of slice
        The frame region to draw.

    Returns
    -------
    data : `~numpy.ndarray`
        Shape (ny, nx, n_bands), float64.
    """
    galsim = require_galsim()
    ys, xs = slices
    bounds = galsim.BoundsI(xs.start, xs.stop - 1, ys.start, ys.stop - 1)
    center = galsim.PositionD(population.x[i], population.y[i])
    out = np.zeros((ys.stop - ys.start, xs.stop - xs.start, preset.n_bands))
    for b, band in enumerate(preset.bands):
        psf = moffat_psf(band.psf_fwhm, band.psf_beta)
        profile = galsim_profile(population, i, b, psf)
        if profile is None:
            continue
        image = galsim.ImageD(bounds, scale=preset.pixel_scale)
        profile.drawImage(image=image, center=center, method='auto')
        out[..., b] = image.array
    return out
