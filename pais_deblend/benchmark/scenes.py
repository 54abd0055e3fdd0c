"""
Small, seeded scenes of elliptical Sersic-like sources with exact
per-source truth, for tests and benchmarks of the metrics and of the PCR
round trip.

This is pure NumPy on purpose (no GalSim): the realistic simulator lives in
`pais_deblend.simulation`. Here every source image is an analytic
elliptical Sersic profile sampled at pixel centres, so the truth S_i (and
therefore M_i = S_i / sum_j S_j) is known exactly and the image is exactly
their sum.
"""

import numpy as np

from pais_deblend.segmentation.cutout import SourceCutout
from pais_deblend.utils._validation import (check_finite_float,
                                            check_nonnegative_int)

__all__ = ['make_sersic_scene', 'sersic_profile']


def _sersic_b(sersic_index):
    # Ciotti & Bertin (1999) asymptotic expansion of b_n, good to <1e-4
    # for n >= 0.36; b_n makes r_e the half-light radius.
    n = sersic_index
    return (2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2))


def sersic_profile(y, x, center, *, half_light_radius, sersic_index,
                   axis_ratio=1.0, position_angle=0.0):
    """
    Evaluate an (unnormalised) elliptical Sersic profile.

    Parameters
    ----------
    y, x : `~numpy.ndarray`
        Pixel coordinates (any broadcastable shapes), pixels.
    center : tuple of float
        The (y, x) centre, pixels.
    half_light_radius : float
        Half-light radius along the major axis, pixels.
    sersic_index : float
        Sersic index n (0.5 is Gaussian, 1 exponential, 4 de Vaucouleurs).
    axis_ratio : float, optional
        Minor-to-major axis ratio q in (0, 1].
    position_angle : float, optional
        Angle of the major axis from the +x axis, radians.

    Returns
    -------
    profile : `~numpy.ndarray`
        ``exp(-b_n ((r / r_e)^(1/n) - 1))`` with r the elliptical radius,
        so the value at the half-light radius is 1.
    """
    dy = np.asarray(y, dtype=np.float64) - center[0]
    dx = np.asarray(x, dtype=np.float64) - center[1]
    cos_a, sin_a = np.cos(position_angle), np.sin(position_angle)
    major = dx * cos_a + dy * sin_a
    minor = -dx * sin_a + dy * cos_a
    radius = np.sqrt(major**2 + (minor / axis_ratio)**2)
    b_n = _sersic_b(sersic_index)
    return np.exp(-b_n * ((radius / half_light_radius)**(1.0 / sersic_index)
                          - 1.0))


def _draw_positions(rng, shape, n_sources, close_pair_fraction,
                    close_pair_separation, n_off_edge, off_edge_distance):
    height, width = shape
    centers = np.empty((n_sources, 2))
    n_off = min(n_off_edge, n_sources)
    n_rest = n_sources - n_off
    n_pairs = min(int(round(close_pair_fraction * n_rest / 2.0)), n_rest // 2)
    index = 0
    # sources just outside the frame, whose light enters it
    for _ in range(n_off):
        side = rng.integers(4)
        distance = rng.uniform(*off_edge_distance)
        along_y = rng.uniform(0, height - 1)
        along_x = rng.uniform(0, width - 1)
        if side == 0:
            centers[index] = (-0.5 - distance, along_x)
        elif side == 1:
            centers[index] = (height - 0.5 + distance, along_x)
        elif side == 2:
            centers[index] = (along_y, -0.5 - distance)
        else:
            centers[index] = (along_y, width - 0.5 + distance)
        index += 1
    # close pairs, so that blends exist
    for _ in range(n_pairs):
        first = rng.uniform((2.0, 2.0), (height - 3.0, width - 3.0))
        separation = rng.uniform(*close_pair_separation)
        angle = rng.uniform(0, 2 * np.pi)
        second = first + separation * np.array([np.sin(angle), np.cos(angle)])
        centers[index] = first
        # keep the pair's second member inside the frame too
        centers[index + 1] = np.clip(second, 0.0, (height - 1.0, width - 1.0))
        index += 2
    # the rest uniformly inside the frame
    n_left = n_sources - index
    centers[index:] = rng.uniform((0.0, 0.0), (height - 1.0, width - 1.0),
                                  size=(n_left, 2))
    return centers


def make_sersic_scene(shape, n_sources, *, seed, flux_range=(20.0, 2000.0),
                      radius_range=(1.0, 5.0), sersic_range=(0.5, 4.0),
                      axis_ratio_range=(0.3, 1.0), close_pair_fraction=0.3,
                      close_pair_separation=(1.5, 6.0), n_off_edge=2,
                      off_edge_distance=(0.5, 4.0), extent=6.0):
    """
    Make a noiseless scene of elliptical Sersic-like sources with exact
    per-source truth.

    Each source is an elliptical Sersic profile sampled at pixel centres
    inside a square box of half-size ``extent`` half-light radii (at least
    6 pixels), truncated there, and scaled so that the whole box (also the
    part outside the frame) holds the drawn total flux. The image is exactly
    the sum of the returned cutouts.

    Parameters
    ----------
    shape : tuple of int
        The (h, w) frame shape, pixels.
    n_sources : int
        The number of sources (>= 0).
    seed : int or `~numpy.random.Generator`
        Seed of the random generator; the same seed gives identical arrays.
    flux_range : tuple of float, optional
        Total fluxes are drawn log-uniformly in this range (e.g. e/s).
    radius_range : tuple of float, optional
        Half-light radii (pixels) are drawn log-uniformly in this range.
    sersic_range : tuple of float, optional
        Sersic indices are drawn uniformly in this range.
    axis_ratio_range : tuple of float, optional
        Axis ratios q are drawn uniformly in this range.
    close_pair_fraction : float, optional
        Fraction of the in-frame sources placed in close pairs.
    close_pair_separation : tuple of float, optional
        Pair separations (pixels) are drawn uniformly in this range.
    n_off_edge : int, optional
        Number of sources whose centre lies just outside the frame.
    off_edge_distance : tuple of float, optional
        Distance (pixels) of those centres beyond the frame edge.
    extent : float, optional
        Half-size of each source's box in half-light radii.

    Returns
    -------
    image : `~numpy.ndarray`
        The (h, w) float64 image, the exact sum of the source images.
    sources : list of `~pais_deblend.segmentation.SourceCutout`
        One cutout per source (in-frame part of its box, float64), in the
        order of ``centers``. A source whose box misses the frame entirely
        gets an empty (0-size) cutout.
    centers : `~numpy.ndarray`
        The (N, 2) float64 true (y, x) centres; may lie outside the frame.
    """
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0
                       for s in shape)):
        msg = f'shape must be a tuple of two positive integers, got {shape!r}'
        raise ValueError(msg)
    n_sources = check_nonnegative_int(n_sources, 'n_sources')
    n_off_edge = check_nonnegative_int(n_off_edge, 'n_off_edge')
    close_pair_fraction = check_finite_float(
        close_pair_fraction, 'close_pair_fraction', minimum=0.0,
        include_minimum=True, maximum=1.0)
    extent = check_finite_float(extent, 'extent', minimum=0.0)
    rng = np.random.default_rng(seed)
    height, width = (int(s) for s in shape)

    centers = _draw_positions(rng, (height, width), n_sources,
                              close_pair_fraction, close_pair_separation,
                              n_off_edge, off_edge_distance)
    log_flux = rng.uniform(np.log(flux_range[0]), np.log(flux_range[1]),
                           n_sources)
    log_radius = rng.uniform(np.log(radius_range[0]),
                             np.log(radius_range[1]), n_sources)
    sersic = rng.uniform(*sersic_range, n_sources)
    axis_ratio = rng.uniform(*axis_ratio_range, n_sources)
    angle = rng.uniform(0, np.pi, n_sources)

    image = np.zeros((height, width))
    sources = []
    for i in range(n_sources):
        radius = np.exp(log_radius[i])
        half = max(6, int(np.ceil(extent * radius)))
        cy, cx = (int(round(c)) for c in centers[i])
        y = np.arange(cy - half, cy + half + 1)[:, None]
        x = np.arange(cx - half, cx + half + 1)[None, :]
        profile = sersic_profile(y, x, centers[i], half_light_radius=radius,
                                 sersic_index=sersic[i],
                                 axis_ratio=axis_ratio[i],
                                 position_angle=angle[i])
        profile *= np.exp(log_flux[i]) / profile.sum()
        y0, y1 = max(cy - half, 0), min(cy + half + 1, height)
        x0, x1 = max(cx - half, 0), min(cx + half + 1, width)
        y0, x0 = min(y0, height), min(x0, width)
        y1, x1 = max(y1, y0), max(x1, x0)
        data = profile[y0 - (cy - half):y1 - (cy - half),
                       x0 - (cx - half):x1 - (cx - half)].copy()
        slices = (slice(y0, y1), slice(x0, x1))
        image[slices] += data
        sources.append(SourceCutout(data, slices))
    return image, sources, centers
