"""
Benchmark: import time of the package, and memory of a survey-size
PartialSegmentationImage.

Prints
- the wall time of ``python -c "import pais_deblend"`` (median of 5 runs);
- the size of the partial form of a 4096 x 4096 image with 5,000 sources
  and n = 3, and the peak traced memory (tracemalloc) while it is decoded
  from a PCR and its per-source bounding boxes, effective areas and all
  5,000 deblended source cutouts are computed.

Usage::

    python benchmarks/bench_partial_memory.py [--size 4096] [--n-sources 5000]
"""

import argparse
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from _output import add_json_option, write_json


def import_time(repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, '-c', 'import pais_deblend'],
                       check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic_pcr(size, n_sources, n_contributors, seed=0):
    """A PCR whose slots point at the pixel and at two nearby offsets."""
    from pais_deblend.pcr import PCR

    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, size - 1, size=(n_sources, 2))
    vectors = np.zeros((size, size, n_contributors, 2), dtype=np.float32)
    for k in range(1, n_contributors):
        vectors[:, :, k, k % 2] = 12.0 * (1 if k % 2 else -1)
    logits = rng.normal(size=(size, size, n_contributors)).astype(np.float32)
    center_of_mass = np.zeros((size, size), dtype=np.float32)
    return PCR(center_of_mass, vectors, logits, maps_are_logits=True), centers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=4096)
    parser.add_argument('--n-sources', type=int, default=5000)
    parser.add_argument('--n-contributors', type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()

    seconds_to_import = import_time()
    print(f'import pais_deblend: {seconds_to_import:.3f} s (median of 5)')

    from pais_deblend.pcr import decode_pcr

    pcr, centers = synthetic_pcr(args.size, args.n_sources,
                                 args.n_contributors)
    image = np.ones((args.size, args.size), dtype=np.float32)
    # compile the kernels on a small frame first so that compilation is
    # not counted
    small, small_centers = synthetic_pcr(64, 5, args.n_contributors)
    decode_pcr(small, np.ones((64, 64)), centers=small_centers).source_images(
        np.ones((64, 64)))
    pcr_bytes = sum(a.nbytes for a in (pcr.center_of_mass,
                                       pcr.contribution_vectors,
                                       pcr.contribution_maps))

    tracemalloc.start()
    start = time.perf_counter()
    partial = decode_pcr(pcr, image, centers=centers)
    slices = partial.partial_slices
    areas = partial.effective_areas
    n_pixels_in_cutouts = 0
    for label in partial.partial_labels:
        n_pixels_in_cutouts += partial.source_image(label, image).data.size
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    partial_bytes = (partial.contributors.nbytes + partial.weights.nbytes
                     + partial.data.nbytes)
    mib = 2 ** 20
    print(f'image {args.size} x {args.size}, {args.n_sources} sources, '
          f'n = {args.n_contributors}')
    print(f'  partial form (contributors + weights + dominant map): '
          f'{partial_bytes / mib:.0f} MiB')
    print(f'  peak traced memory while decoding and cutting out every '
          f'source: {peak / mib:.0f} MiB (the PCR input, not counted: '
          f'{pcr_bytes / mib:.0f} MiB)')
    print(f'  labels with weight: {len(partial.partial_labels)}, '
          f'bounding boxes: {len(slices)}, mean effective area '
          f'{areas.mean():.0f} px, cutout pixels {n_pixels_in_cutouts}')
    print(f'  wall time: {elapsed:.1f} s')
    write_json(args.json, {
        'import_seconds': seconds_to_import, 'size': args.size,
        'n_sources': args.n_sources, 'n_contributors': args.n_contributors,
        'partial_mib': partial_bytes / mib, 'peak_traced_mib': peak / mib,
        'pcr_mib': pcr_bytes / mib,
        'labels_with_weight': len(partial.partial_labels),
        'bounding_boxes': len(slices),
        'mean_effective_area': areas.mean(),
        'cutout_pixels': n_pixels_in_cutouts, 'wall_seconds': elapsed})


if __name__ == '__main__':
    main()
