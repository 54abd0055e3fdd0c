"""
Survey-size deblending with `pais_deblend.mosaic.deblend_mosaic` on a
local Dask cluster: throughput, memory per worker, identity with a single
`Deblender` pass, and the speed-up from 1 to 2 workers.

The mosaic is simulated cheaply: ``--n-scenes`` distinct hst_f160w scenes
of ``--block`` pixels (GalSim, with noise) are drawn once and laid out as
blocks of the mosaic, each rotated or flipped at random, into a
memory-mapped ``.npy`` file (float32) that the workers read by region.
The block edges are artificial (sources cut, noise independent from block
to block), which does not matter for speed or for the identity check.

Steps (each can be skipped with a size of 0):

1. ``--size``: the whole mosaic on ``--workers`` workers (``--memory-limit``
   each): wall time, Mpix/s, number of sources, peak resident memory of
   every worker (the kernel's high-water mark VmHWM, and the largest of
   the samples taken every second through ``client.run``).
2. ``--identity-size``: a crop of the mosaic deblended by a single
   `Deblender` call in this process and by `deblend_mosaic` with the noise
   values the `Deblender` estimates (``noise_sigma`` and
   ``detection_noise``): centres matched, pixels whose contributors map one
   to one, weights equal bit for bit (the workers' TensorFlow may use
   another number of threads than this process: expect float32 rounding
   differences, about 1e-7, in a fraction of the pixels).
3. ``--speedup-size``: a crop deblended with 1 and with 2 workers.

Usage::

    # the full benchmark (about 30 min on 16 cores)
    python benchmarks/bench_mosaic.py --size 16384 --workers 8 \\
        --identity-size 4096 --speedup-size 4096 --json results.json
    # a quick check of the script (untrained network built in place)
    python benchmarks/bench_mosaic.py --size 1024 --block 512 \\
        --tile-size 256 --identity-size 512 --speedup-size 512 --model tiny

``--model`` is a bundled model name, the path of a ``.keras`` file, or
``tiny``. Results are printed and, with ``--json``, written as JSON.
"""

import argparse
import json
import os
import tempfile
import threading
import time
import warnings

import numpy as np
from _output import add_json_option, write_json

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def make_mosaic(path, size, *, block, n_scenes, seed=0):
    """Write a (size, size) float32 mosaic to the .npy file ``path``."""
    from pais_deblend.simulation import simulate_scene

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    scenes = [simulate_scene('hst_f160w', shape=(block, block),
                             seed=seed + index).image.astype(np.float32)
              for index in range(n_scenes)]
    scenes = [scene if scene.ndim == 2 else scene[..., 0]
              for scene in scenes]
    mosaic = np.lib.format.open_memmap(path, mode='w+', dtype=np.float32,
                                       shape=(size, size))
    for y in range(0, size, block):
        for x in range(0, size, block):
            scene = scenes[rng.integers(n_scenes)]
            scene = np.rot90(scene, rng.integers(4))
            if rng.integers(2):
                scene = scene[:, ::-1]
            height, width = min(block, size - y), min(block, size - x)
            mosaic[y:y + height, x:x + width] = scene[:height, :width]
    mosaic.flush()
    del mosaic
    return time.perf_counter() - start


def tiny_model(directory):
    """An untrained 2-level network saved as a .keras file."""
    from pais_deblend.model import build_pais_model

    path = os.path.join(directory, 'tiny.keras')
    if not os.path.exists(path):
        build_pais_model(filters=[4, 8], attention_window=3, seed=0).save(
            path)
    return path


def _worker_memory():
    """(current RSS, peak RSS) of this worker process, MiB."""
    import psutil

    current = psutil.Process().memory_info().rss / 2**20
    peak = current
    try:
        with open('/proc/self/status') as handle:
            for line in handle:
                if line.startswith('VmHWM:'):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return current, peak


class MemorySampler:
    """Samples every worker's RSS once a second in a thread."""

    def __init__(self, client, interval=1.0):
        self.client = client
        self.interval = interval
        self.sampled_peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                for worker, (current, _) in self.client.run(
                        _worker_memory).items():
                    self.sampled_peak[worker] = max(
                        self.sampled_peak.get(worker, 0.0), current)
            except Exception:  # a worker restarting: try again
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def report(self):
        high_water = {worker: peak for worker, (_, peak) in
                      self.client.run(_worker_memory).items()}
        return [{'worker': worker,
                 'peak_rss_mib': round(high_water.get(worker, 0.0), 1),
                 'sampled_peak_rss_mib': round(
                     self.sampled_peak.get(worker, 0.0), 1)}
                for worker in sorted(set(high_water) | set(
                    self.sampled_peak))]


def run_mosaic(data, output, *, model, workers, memory_limit, tile_size,
               **kwargs):
    """Deblend on a fresh local cluster; (mosaic, seconds, memory)."""
    from pais_deblend.mosaic import deblend_mosaic, local_client

    with local_client(workers, memory_limit=memory_limit) as client:
        # load the model on every worker before timing
        client.run(_warm, model)
        with MemorySampler(client) as sampler:
            start = time.perf_counter()
            mosaic = deblend_mosaic(data, output, model=model, client=client,
                                    tile_size=tile_size, overwrite=True,
                                    progress_bar=False, **kwargs)
            seconds = time.perf_counter() - start
        memory = sampler.report()
        client.cluster.close()
    return mosaic, seconds, memory


def _warm(model):
    from pais_deblend import Deblender

    # trace the network once, outside the timing (bundled models are
    # loaded once per process, so the mosaic's Deblender shares it)
    Deblender(model, progress_bar=False).predict(np.zeros((64, 64)))


def deblender_noise(deblender, image):
    """The noise and detection-image noise a `Deblender` call estimates."""
    from pais_deblend.deblend.inputs import prepare_image
    from pais_deblend.deblend.pipeline import (detection_image,
                                               estimate_image_noise)
    from pais_deblend.model.normalization import estimate_noise

    prepared = prepare_image(image, n_bands=deblender.n_bands)
    noise_sigma = estimate_image_noise(prepared)
    detection = detection_image(prepared.data, noise_sigma, prepared.mask,
                                deblender.footprint_smoothing)
    return noise_sigma, float(estimate_noise(detection,
                                             mask=prepared.mask)[0])


#: Largest distance (pixels) between a single-pass centre and the mosaic
#: centre it is paired with in the identity check.
CENTRE_TOLERANCE = 0.01


def identity_check(image, work_dir, *, model, workers, memory_limit,
                   tile_size, detection_threshold=None):
    """Single `Deblender` pass against the mosaic with the same noise."""
    from scipy.spatial import cKDTree

    from pais_deblend import Deblender

    deblender = Deblender(model, detection_threshold=detection_threshold,
                          progress_bar=False)
    start = time.perf_counter()
    single = deblender(image)
    single_seconds = time.perf_counter() - start
    noise_sigma, detection_noise = deblender_noise(deblender, image)
    mosaic, mosaic_seconds, _ = run_mosaic(
        image, os.path.join(work_dir, 'identity.zarr'), model=model,
        workers=workers, memory_limit=memory_limit, tile_size=tile_size,
        noise_sigma=noise_sigma, detection_noise=detection_noise,
        detection_threshold=detection_threshold)
    result = {'size': image.shape[0], 'tile_size': tile_size,
              'single_seconds': round(single_seconds, 1),
              'mosaic_seconds': round(mosaic_seconds, 1),
              'single_sources': int(len(single.partial_labels)),
              'mosaic_sources': mosaic.n_sources}
    labels = single.partial_labels
    centers = np.array([single.centers[label] for label in labels])
    if len(centers) and mosaic.n_sources:
        distance, nearest = cKDTree(mosaic.centers).query(centers)
        # the network outputs of the two runs agree to float32 rounding
        # (other tile windows, other thread counts), which moves sub-pixel
        # peak positions by far less than 0.01 px
        matched = distance < CENTRE_TOLERANCE
        result['matched_centres'] = int(matched.sum())
        result['max_matched_distance'] = float(
            distance[matched].max()) if matched.any() else None
        mapping = np.zeros(int(single.contributors.max()) + 1,
                           dtype=np.int64)
        mapping[labels[matched]] = mosaic.labels[nearest[matched]]
        segmentation = mosaic.read()
        same_contributors = (mapping[single.contributors]
                             == segmentation.contributors).all(axis=2)
        same_weights = (single.weights == segmentation.weights).all(axis=2)
        result['pixels_same_contributors'] = float(same_contributors.mean())
        result['pixels_same_weights'] = float(
            (same_contributors & same_weights).mean())
        close_weights = np.isclose(single.weights, segmentation.weights,
                                   rtol=0, atol=1e-6).all(axis=2)
        result['pixels_same_weights_to_1e-6'] = float(
            (same_contributors & close_weights).mean())
        result['max_weight_difference'] = float(
            np.abs(single.weights - segmentation.weights).max())
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=16384,
                        help='mosaic side, pixels (0: skip the main run)')
    parser.add_argument('--block', type=int, default=1024,
                        help='side of the simulated scenes laid out as '
                        'blocks')
    parser.add_argument('--n-scenes', type=int, default=4)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--memory-limit', default='4GiB')
    parser.add_argument('--tile-size', type=int, default=2048)
    parser.add_argument('--model', default='hst_f160w')
    parser.add_argument('--detection-threshold', type=float, default=None)
    parser.add_argument('--identity-size', type=int, default=4096)
    parser.add_argument('--identity-tile-size', type=int, default=1024)
    parser.add_argument('--speedup-size', type=int, default=4096)
    parser.add_argument('--speedup-tile-size', type=int, default=1024)
    parser.add_argument('--work-dir', default=None,
                        help='where the mosaic and the stores are written '
                        '(default: a temporary directory, removed)')
    add_json_option(parser)
    args = parser.parse_args(argv)
    warnings.filterwarnings('ignore', category=DeprecationWarning)

    cleanup = None
    if args.work_dir is None:
        cleanup = tempfile.TemporaryDirectory(prefix='bench_mosaic_')
        work_dir = cleanup.name
    else:
        work_dir = args.work_dir
        os.makedirs(work_dir, exist_ok=True)
    model = tiny_model(work_dir) if args.model == 'tiny' else args.model
    if args.model == 'tiny' and args.detection_threshold is None:
        args.detection_threshold = 0.05
    size = max(args.size, args.identity_size, args.speedup_size)
    path = os.path.join(work_dir, f'mosaic_{size}.npy')
    results = {'model': args.model, 'cpu_count': os.cpu_count()}
    if not os.path.exists(path):
        seconds = make_mosaic(path, size, block=args.block,
                              n_scenes=args.n_scenes)
        results['simulation_seconds'] = round(seconds, 1)
        print(f'simulated a {size} x {size} mosaic in {seconds:.1f} s: '
              f'{path}', flush=True)
    common = {'model': model, 'memory_limit': args.memory_limit,
              'detection_threshold': args.detection_threshold}

    if args.size:
        data = path
        if args.size != size:
            data = np.ascontiguousarray(
                np.load(path, mmap_mode='r')[:args.size, :args.size])
        mosaic, seconds, memory = run_mosaic(
            data, os.path.join(work_dir, 'mosaic.zarr'),
            workers=args.workers, tile_size=args.tile_size, **common)
        pixels = args.size**2
        results['main'] = {
            'size': args.size, 'workers': args.workers,
            'tile_size': args.tile_size, 'margin': mosaic.plan.margin,
            'tiles': len(mosaic.plan),
            'overhead': round(mosaic.plan.overhead, 3),
            'seconds': round(seconds, 1),
            'mpix_per_second': round(pixels / seconds / 1e6, 4),
            'sources': mosaic.n_sources, 'memory': memory}
        print(json.dumps(results['main'], indent=1), flush=True)

    if args.identity_size:
        crop = np.array(np.load(path, mmap_mode='r')[
            :args.identity_size, :args.identity_size], dtype=np.float64)
        results['identity'] = identity_check(
            crop, work_dir, workers=args.workers,
            tile_size=args.identity_tile_size, **common)
        print(json.dumps(results['identity'], indent=1), flush=True)

    if args.speedup_size:
        crop_path = os.path.join(work_dir, 'speedup.npy')
        np.save(crop_path, np.load(path, mmap_mode='r')[
            :args.speedup_size, :args.speedup_size])
        times = {}
        for workers in (1, 2):
            _, seconds, _ = run_mosaic(
                crop_path, os.path.join(work_dir, f'speedup{workers}.zarr'),
                workers=workers, tile_size=args.speedup_tile_size, **common)
            times[workers] = seconds
        results['speedup'] = {
            'size': args.speedup_size, 'tile_size': args.speedup_tile_size,
            'seconds_1_worker': round(times[1], 1),
            'seconds_2_workers': round(times[2], 1),
            'speedup': round(times[1] / times[2], 2)}
        print(json.dumps(results['speedup'], indent=1), flush=True)

    write_json(args.json, results)
    if cleanup is not None:
        cleanup.cleanup()
    return results


if __name__ == '__main__':
    main()
