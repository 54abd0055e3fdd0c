"""
Speed benchmark of PCR encoding and decoding.

Builds a 4096 x 4096 scene of 2,000 elliptical exponential-profile sources
(some centred outside the frame), each stored as a cutout, encodes it with
`encode_pcr` from the cutouts, and times `decode_pcr` with n = 3:

- the decode kernels alone (`decode_arrays`) and the full `decode_pcr`
  end to end (which also builds the PartialSegmentationImage; the figure
  the documentation reports), with the true centres
  given (no peak finding) and with peak finding (`find_centers` on C^c);
- flux conservation L1 of the decoded image.

That the kernels give the same contributors and weights as the slow
pure-NumPy reference decoder is checked by ``tests/test_pcr_kernels.py``,
not here: the scripts use public names only.

All numba kernels are compiled (or loaded from the on-disk cache) by a
small warm-up run first; each timing is the best of ``--repeat`` runs.
Besides wall time it prints the process CPU time of the same run: on a
machine shared with other busy processes the wall time mostly measures
the share of the cores this process gets, while CPU time / threads
estimates the wall time on idle cores.

Usage::

    python benchmarks/bench_pcr_speed.py [--size 4096] [--sources 2000]
        [--repeat 3] [--json PATH]
"""

import argparse
import os
import platform
import time

import numpy as np
from _output import add_json_option, write_json

from pais_deblend.pcr import decode_arrays, decode_pcr, encode_pcr, find_centers
from pais_deblend.segmentation import SourceCutout


def make_scene(size, n_sources, seed=0):
    """Cutouts of elliptical exponential profiles and their sum."""
    rng = np.random.default_rng(seed)
    centers = np.column_stack([rng.uniform(-20, size + 20, n_sources),
                               rng.uniform(-20, size + 20, n_sources)])
    image = np.zeros((size, size), dtype=np.float32)
    cutouts = []
    for cy, cx in centers:
        scale = rng.uniform(1.5, 6.0)
        q = rng.uniform(0.4, 1.0)
        angle = rng.uniform(0, np.pi)
        flux = 10 ** rng.uniform(1, 3)
        half = int(np.ceil(8 * scale))
        y0, y1 = max(int(cy) - half, 0), min(int(cy) + half + 1, size)
        x0, x1 = max(int(cx) - half, 0), min(int(cx) + half + 1, size)
        if y1 <= y0 or x1 <= x0:
            data = np.zeros((0, 0), dtype=np.float32)
            y0 = y1 = x0 = x1 = 0
        else:
            yy, xx = np.mgrid[y0:y1, x0:x1]
            dy, dx = yy - cy, xx - cx
            u = dx * np.cos(angle) + dy * np.sin(angle)
            v = (-dx * np.sin(angle) + dy * np.cos(angle)) / q
            data = (flux * np.exp(-np.hypot(u, v) / scale)).astype(np.float32)
            image[y0:y1, x0:x1] += data
        cutouts.append(SourceCutout(data, (slice(y0, y1), slice(x0, x1))))
    return centers, cutouts, image


def best_of(function, repeat):
    """Best wall time of ``repeat`` runs, the process CPU time of that
    run (all threads), and the last result."""
    best = (np.inf, np.inf)
    result = None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        best = min(best, (wall, cpu))
    return best[0], best[1], result


def rate(n_pixels, seconds):
    return f'{n_pixels / seconds / 1e6:.1f} Mpix/s'


def report(name, n_pixels, wall, cpu, threads, figures=None):
    """
    Wall time and rate, plus CPU time: on a shared machine the wall time
    depends on the other processes, while CPU time / threads estimates the
    wall time the same work takes on idle cores. Also record them in
    *figures* under *name*.
    """
    if figures is not None:
        figures[name.rstrip(':')] = {
            'wall_seconds': wall, 'cpu_seconds': cpu,
            'mpix_per_second': n_pixels / wall / 1e6,
            'idle_cores_mpix_per_second': n_pixels / (cpu / threads) / 1e6}
    print(f'{name:<40s} {wall:6.3f} s = {rate(n_pixels, wall):>12s}   '
          f'[CPU {cpu:.3f} s; idle-{threads}-core estimate '
          f'{rate(n_pixels, cpu / threads)}]')


def warm_up():
    """Compile (or load from cache) every kernel on a tiny scene."""
    centers, cutouts, image = make_scene(64, 5, seed=1)
    for choice in ('nearest', 'most_flux'):
        pcr = encode_pcr(cutouts, centers, shape=image.shape,
                         contributor_choice=choice)
    decode_pcr(pcr, image, centers=centers)
    decode_pcr(pcr, image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--size', type=int, default=4096)
    parser.add_argument('--sources', type=int, default=2000)
    parser.add_argument('--repeat', type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    size, n_pixels = args.size, args.size ** 2

    import numba

    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores, numba {numba.__version__} with '
          f'{numba.get_num_threads()} threads')
    start = time.perf_counter()
    warm_up()
    print(f'warm-up (compile or load cached kernels): '
          f'{time.perf_counter() - start:.1f} s')

    start = time.perf_counter()
    centers, cutouts, image = make_scene(size, args.sources)
    area = sum(c.data.size for c in cutouts)
    print(f'scene: {size}x{size}, {args.sources} sources, total cutout '
          f'area {area / 1e6:.1f} Mpix, built in '
          f'{time.perf_counter() - start:.1f} s')

    threads = numba.get_num_threads()
    timings = {}
    load_before = os.getloadavg()[0]
    print(f'load average before timing: {os.getloadavg()[0]:.1f} '
          f'(on {os.cpu_count()} cores)')
    for choice in ('most_flux', 'nearest'):
        wall, cpu, pcr = best_of(
            lambda: encode_pcr(cutouts, centers, shape=image.shape,
                               n_contributors=3, contributor_choice=choice),
            1)
        report(f'encode_pcr from cutouts ({choice}):', n_pixels, wall, cpu,
               threads, timings)

    wall, cpu, _ = best_of(lambda: decode_arrays(pcr, image, centers=centers),
                           args.repeat)
    kernel_rate = n_pixels / wall
    report('decode kernels, true centres:', n_pixels, wall, cpu, threads,
           timings)
    wall, cpu, segmentation = best_of(
        lambda: decode_pcr(pcr, image, centers=centers), args.repeat)
    end_to_end_rate = n_pixels / wall
    report('decode_pcr, true centres:', n_pixels, wall, cpu, threads,
           timings)
    wall, cpu, peaks = best_of(lambda: find_centers(pcr.center_of_mass),
                               args.repeat)
    report(f'find_centers ({len(peaks)} peaks):', n_pixels, wall, cpu,
           threads, timings)
    wall, cpu, _ = best_of(lambda: decode_arrays(pcr, image), args.repeat)
    report('decode kernels with peak finding:', n_pixels, wall, cpu,
           threads, timings)
    wall, cpu, _ = best_of(lambda: decode_pcr(pcr, image), args.repeat)
    peaks_rate = n_pixels / wall
    report('decode_pcr with peak finding:', n_pixels, wall, cpu, threads,
           timings)
    print('(decode_pcr = kernels + building the PartialSegmentationImage '
          'from the dominant map and label table the kernel returns)')
    load_after = os.getloadavg()[0]
    print(f'load average after timing: {load_after:.1f}')

    weights = segmentation.weights.astype(np.float64)
    attributed = segmentation.contributors[..., 0] > 0
    reconstructed = weights.sum(axis=-1) * image
    l1 = (np.abs(reconstructed - image)[attributed].sum()
          / np.abs(image[attributed]).sum())
    print(f'flux conservation L1 on the full frame: {l1:.2e}')

    print(f'summary: decode_pcr end to end {end_to_end_rate / 1e6:.1f} '
          f'Mpix/s (true centres), {peaks_rate / 1e6:.1f} Mpix/s (with peak '
          f'finding); kernels {kernel_rate / 1e6:.1f} Mpix/s '
          f'(target >= 50 Mpix/s); load average now '
          f'{os.getloadavg()[0]:.1f}')
    write_json(args.json, {
        'size': size, 'sources': args.sources, 'repeat': args.repeat,
        'numba': numba.__version__, 'threads': threads,
        'load_average_before': load_before, 'load_average_after': load_after,
        'timings': timings, 'flux_conservation_l1': l1,
        'decode_pcr_mpix_per_second': end_to_end_rate / 1e6,
        'decode_pcr_with_peaks_mpix_per_second': peaks_rate / 1e6,
        'decode_kernels_mpix_per_second': kernel_rate / 1e6})


if __name__ == '__main__':
    main()
