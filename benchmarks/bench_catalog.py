"""
Benchmark: `PartialSourceCatalog` on a survey-size image, against
photutils' `SourceCatalog` on the dominant-source map of the same
segmentation.

The scene: ``--n-sources`` elliptical Gaussians (sigma 1.5-4 pix, fluxes
log-uniform over two decades, random positions) on a ``--size`` square
frame with unit Gaussian noise. The partial segmentation is built cheaply
with the package's own PCR round trip: `encode_pcr` of the noiseless
per-source cutouts at the true centres, then `decode_pcr` with the true
centres, restricted to a footprint where the noiseless image exceeds
``--footprint-threshold`` (in noise sigma); pass
``--footprint-threshold 0`` to attribute every pixel of the frame (a
stress case: each source then owns a box around the region where it is
among the n nearest).

Prints the construction time of the scene (not counted), and the wall
time of each catalog step (construction, all default columns, and
``to_table``), photutils first, then this package, run in the same
process on the same data (timings on a shared machine are noisy: compare
the ratio).

Usage::

    python benchmarks/bench_catalog.py [--size 4096] [--n-sources 5000]
"""

import argparse
import time

import numpy as np
from _output import add_json_option, write_json


def gaussian_scene(size, n_sources, seed=0):
    """Noiseless per-source cutouts, their centres and the noisy image."""
    from pais_deblend.segmentation import SourceCutout

    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, size - 1, size=(n_sources, 2))
    sigmas = rng.uniform(1.5, 4.0, size=(n_sources, 2))
    angles = rng.uniform(0, np.pi, size=n_sources)
    fluxes = 10 ** rng.uniform(2.0, 4.0, size=n_sources)
    image = np.zeros((size, size))
    cutouts = []
    for (y_c, x_c), (s_major, s_minor), angle, flux in zip(
            centers, sigmas, angles, fluxes, strict=True):
        half = int(np.ceil(5 * max(s_major, s_minor)))
        y0, y1 = max(0, int(y_c) - half), min(size, int(y_c) + half + 1)
        x0, x1 = max(0, int(x_c) - half), min(size, int(x_c) + half + 1)
        dy = np.arange(y0, y1)[:, None] - y_c
        dx = np.arange(x0, x1)[None, :] - x_c
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        profile = np.exp(-0.5 * ((u / s_major) ** 2 + (v / s_minor) ** 2))
        profile *= flux / (2 * np.pi * s_major * s_minor)
        slices = (slice(y0, y1), slice(x0, x1))
        image[slices] += profile
        cutouts.append(SourceCutout(profile, slices))
    noisy = image + rng.normal(size=image.shape)
    return cutouts, centers, image, noisy


def build_partial(cutouts, centers, image, footprint_threshold):
    from pais_deblend.pcr import decode_pcr, encode_pcr

    shape = image.shape
    pcr = encode_pcr(cutouts, centers, shape=shape)
    footprint = None
    if footprint_threshold > 0:
        footprint = image > footprint_threshold
    return decode_pcr(pcr, image, centers=centers, footprint=footprint)


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=4096)
    parser.add_argument('--n-sources', type=int, default=5000)
    parser.add_argument('--footprint-threshold', type=float, default=1.0)
    parser.add_argument('--skip-photutils', action='store_true')
    add_json_option(parser)
    args = parser.parse_args()

    from photutils.segmentation import SourceCatalog

    from pais_deblend.segmentation import PartialSourceCatalog

    (cutouts, centers, image, noisy), scene_time = timed(
        lambda: gaussian_scene(args.size, args.n_sources))
    partial, partial_time = timed(lambda: build_partial(
        cutouts, centers, image, args.footprint_threshold))
    error = np.ones_like(noisy)
    boxes = partial.partial_slices
    box_pixels = sum((s[0].stop - s[0].start) * (s[1].stop - s[1].start)
                     for s in boxes.values())
    print(f'image {args.size} x {args.size}, {args.n_sources} sources, '
          f'n = {partial.n_contributors}; scene {scene_time:.1f} s, '
          f'PCR round trip {partial_time:.1f} s (not counted)')
    figures = {'size': args.size, 'n_sources': args.n_sources,
               'n_contributors': partial.n_contributors,
               'scene_seconds': scene_time,
               'pcr_round_trip_seconds': partial_time,
               'labels_with_weight': len(partial.partial_labels),
               'dominant_labels': partial.n_labels,
               'box_pixels': box_pixels}
    print(f'  labels with weight: {len(partial.partial_labels)}, dominant '
          f'labels: {partial.n_labels}, total box area {box_pixels:,} px '
          f'({box_pixels / noisy.size:.2f} frames)')

    # warm up numba and the code paths on a small frame
    small = partial[0:256, 0:256]
    PartialSourceCatalog(noisy[0:256, 0:256], small,
                         error=error[0:256, 0:256]).to_table()

    if not args.skip_photutils:
        dominant = partial.to_segmentation_image()
        catalog, init_time = timed(lambda: SourceCatalog(noisy, dominant,
                                                         error=error))
        table, table_time = timed(catalog.to_table)
        _, radius_time = timed(lambda: catalog.flux_radius(0.5))
        figures['photutils'] = {'rows': len(table), 'init_seconds': init_time,
                                'to_table_seconds': table_time,
                                'flux_radius_seconds': radius_time}
        print(f'photutils SourceCatalog (dominant map, {len(table)} rows): '
              f'init {init_time:.1f} s, to_table (default columns) '
              f'{table_time:.1f} s, flux_radius(0.5) {radius_time:.1f} s')

    catalog, init_time = timed(lambda: PartialSourceCatalog(
        noisy, partial, error=error))
    _, measure_time = timed(lambda: catalog.segment_flux)
    table, table_time = timed(catalog.to_table)
    _, radius_time = timed(lambda: catalog.flux_radius(0.5))
    total = init_time + measure_time + table_time
    print(f'PartialSourceCatalog ({len(table)} rows): init {init_time:.1f} '
          f's, all per-source measurements {measure_time:.1f} s, to_table '
          f'{table_time:.1f} s (total {total:.1f} s), flux_radius(0.5) '
          f'{radius_time:.1f} s')
    figures['partial'] = {'rows': len(table), 'init_seconds': init_time,
                          'measure_seconds': measure_time,
                          'to_table_seconds': table_time,
                          'total_seconds': total,
                          'flux_radius_seconds': radius_time}
    write_json(args.json, figures)


if __name__ == '__main__':
    main()
