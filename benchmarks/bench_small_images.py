"""
What pais_deblend costs on small images (a catalog's cutouts): the time
per image of ``--n`` simulated ``hst_f160w`` scenes of each ``--sizes``
side, deblended one `~pais_deblend.Deblender` call at a time and through
`~pais_deblend.Deblender.batch`, against photutils (``detect_sources`` +
``deblend_sources`` + ``SourceCatalog`` with the benchmark harness's
settings) on the same images; the median time of each pipeline step on
them; and the cold start, a new process that imports pais_deblend, builds
``Deblender()`` and deblends one 256 x 256 scene (``--cold-repeat``
fresh processes; the numba kernels already cached on disk by the runs
before it).

Printed: a table of milliseconds per image (the two ways take turns
every 24 images), whether the batch results equal
the one-by-one ones, the step medians, the cold start with its
parts, and the load average before and after.

Usage::

    python benchmarks/bench_small_images.py [--n 200] [--sizes 128 256]
        [--cold-repeat 3] [--model hst_f160w] [--runtime auto]
        [--json small.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from _output import add_json_option, write_json

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)

COLD_START = r'''
import json, sys, time
started = time.perf_counter()
import numpy as np
image = np.load(sys.argv[1])
loaded = time.perf_counter()
runtime = sys.argv[2]
from pais_deblend import Deblender
if runtime == 'tensorflow':
    import pais_deblend.model.network  # TensorFlow and Keras
imported = time.perf_counter()
deblender = Deblender(sys.argv[3], progress_bar=False, runtime=runtime)
built = time.perf_counter()
segmentation = deblender(image)
called = time.perf_counter()
print(json.dumps({'import': imported - loaded, 'Deblender()': built - imported,
                  'first call': called - built, 'done_at': time.time(),
                  'sources': len(segmentation.partial_labels),
                  'tensorflow imported': 'tensorflow' in sys.modules}))
'''


def simulate(size, n, seed):
    from pais_deblend.simulation import SceneSimulator

    simulator = SceneSimulator('hst_f160w', shape=(size, size))
    return [simulator.simulate(np.random.default_rng([seed, size, index]))
            for index in range(n)]


def per_image(function, items):
    """Milliseconds per item of ``function(items)``, and its result."""
    started = time.perf_counter()
    result = function(items)
    return 1000 * (time.perf_counter() - started) / len(items), result


def same_segmentations(expected, results):
    """How many results equal the one-by-one ones (contributors equal,
    weights and centres to 1e-6 / 1e-4 pixels)."""
    count = 0
    for segm, result in zip(expected, results):
        if segm is None or result is None:
            count += segm is None and result is None
            continue
        centers = np.array(list(segm.centers.values()))
        other = np.array(list(result.centers.values()))
        count += bool(
            np.array_equal(segm.contributors, result.contributors)
            and np.allclose(segm.weights, result.weights, atol=1e-6)
            and centers.shape == other.shape
            and np.allclose(centers, other, atol=1e-4))
    return count


def interleaved(deblender, images, block=24):
    """
    Milliseconds per image one by one and through `Deblender.batch`,
    taking turns every ``block`` images so that a change of the machine's
    load falls on both; and the one-by-one and batch results.
    """
    def one_by_one(items):
        return [deblender(item) for item in items]

    totals = [0.0, 0.0]
    expected, results = [], []
    for start in range(0, len(images), block):
        chunk = images[start:start + block]
        milliseconds, segmentations = per_image(one_by_one, chunk)
        totals[0] += milliseconds * len(chunk)
        expected += segmentations
        milliseconds, segmentations = per_image(deblender.batch, chunk)
        totals[1] += milliseconds * len(chunk)
        results += segmentations
    one, batch = (total / len(images) for total in totals)
    return one, batch, expected, results


def step_times(deblender, images):
    """Median milliseconds of each `run_pipeline` step over ``images``."""
    from pais_deblend.deblend import pipeline
    from pais_deblend.deblend.inputs import prepare_image
    from pais_deblend.pcr.decode import partial_segmentation

    steps = {}

    def timed(name, function, *args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        steps.setdefault(name, []).append(
            1000 * (time.perf_counter() - started))
        return result

    for data in images:
        image = timed('input checks', prepare_image, data)
        noise = timed('noise estimate', pipeline.estimate_image_noise, image)
        pcr, _ = timed('network pass', pipeline.network_pass, deblender,
                       image, noise)
        centers = timed('centre detection', pipeline.detect_centers,
                        pcr.center_of_mass, image.mask,
                        threshold=deblender.detection_threshold,
                        min_separation=deblender.min_separation)
        detection = timed('detection image', pipeline.detection_image,
                          image.data, noise, image.mask,
                          deblender.footprint_smoothing)
        segments = timed('footprint', pipeline.footprint_from_flux,
                         detection, image.mask, centers,
                         threshold=deblender.footprint_threshold,
                         n_pixels=5)
        if len(centers):
            extra = timed('companion search', pipeline.search_companions,
                          image.data, centers, segments, noise,
                          threshold=deblender.companion_threshold)
            centers = np.concatenate([centers, extra])
        if len(centers) == 0:
            continue
        decoded, _ = timed('attribution', pipeline.attribute,
                           pcr.keep_top_slots(deblender.n_contributors),
                           None, image.data, centers, segments=segments,
                           mask=image.mask, noise_sigma=noise)
        timed('partial segmentation', partial_segmentation, decoded)
    return {name: statistics.median(values)
            for name, values in steps.items()}


def cold_start(image, repeat, runtime='auto', model='hst_f160w'):
    """Seconds of a fresh process's first call, with its parts (medians
    over ``repeat`` processes)."""
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'image.npy')
        np.save(path, image)
        for _ in range(repeat):
            started = time.time()
            output = subprocess.run([sys.executable, '-c', COLD_START, path,
                                     runtime, model],
                                    capture_output=True, text=True,
                                    check=True).stdout
            run = json.loads(output.splitlines()[-1])
            # from the start of the process to the first result (the
            # interpreter's start included, its exit not)
            run['process'] = run.pop('done_at') - started
            runs.append(run)
    return {key: statistics.median(run[key] for run in runs)
            for key in runs[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=200,
                        help='scenes per size (default: %(default)s)')
    parser.add_argument('--sizes', type=int, nargs='+', default=[128, 256])
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--cold-repeat', type=int, default=3)
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model (default: %(default)s)')
    parser.add_argument('--runtime', default='auto',
                        choices=('auto', 'tensorflow', 'onnx'),
                        help="the Deblender's runtime, in this process and "
                        'in the cold starts (default: %(default)s)')
    add_json_option(parser)
    args = parser.parse_args()

    from pais_deblend import Deblender
    from pais_deblend.benchmark import BenchmarkImage, PhotutilsMethod
    from pais_deblend.utils.exceptions import NoDetectionWarning

    warnings.simplefilter('ignore', NoDetectionWarning)
    load_before = os.getloadavg()
    deblender = Deblender(args.model, progress_bar=False,
                          runtime=args.runtime)
    photutils = PhotutilsMethod()
    report = {'n': args.n, 'cores': os.cpu_count(), 'sizes': {}}
    print(f'cores: {os.cpu_count()}; load average before: '
          f'{load_before[0]:.2f}; {args.n} hst_f160w scenes per size')
    print(f'{"side":>5} {"one by one":>11} '
          f'{"batch":>8} {"photutils":>10} {"batch = one by one":>19}'
          f'   [ms per image]')
    for size in args.sizes:
        scenes = simulate(size, args.n, args.seed)
        images = [np.asarray(scene.image, dtype=np.float64)
                  for scene in scenes]
        bench_images = [BenchmarkImage(
            name=str(index), data=np.asarray(scene.image, dtype=np.float32),
            psf_fwhm=scene.preset.psf_fwhm_pixels,
            noise_sigma=scene.preset.bands[
                scene.preset.reference_band].noise_sigma)
            for index, scene in enumerate(scenes)]
        # warm-up: compile, trace, load the numba caches
        deblender(images[0])
        deblender.batch(images[:3])
        photutils.run(bench_images[0])
        one, batch, expected, results = interleaved(deblender, images)
        reference, _ = per_image(
            lambda items: [photutils.run(item) for item in items],
            bench_images)
        equal = same_segmentations(expected, results)
        steps = step_times(deblender, images[:min(len(images), 50)])
        report['sizes'][size] = {
            'one_by_one_ms': one, 'batch_ms': batch, 'photutils_ms': reference,
            'batch_equal': equal, 'steps_ms': steps,
            'sources': sum(len(segm.partial_labels) for segm in expected
                           if segm is not None)}
        print(f'{size:>5} {one:>11.1f} {batch:>8.1f} '
              f'{reference:>10.1f} {equal:>10} of {len(images)}', flush=True)
    for size in args.sizes:
        steps = report['sizes'][size]['steps_ms']
        print(f'steps at {size} x {size} (median ms): ' + ', '.join(
            f'{name} {value:.2f}' for name, value in steps.items()))
    image = simulate(256, 1, args.seed + 1)[0].image
    cold = cold_start(np.asarray(image, dtype=np.float64), args.cold_repeat,
                      args.runtime, args.model)
    report['cold_start_s'] = cold
    print(f'cold start, 256 x 256 (median of {args.cold_repeat} processes): '
          f'{cold["process"]:.2f} s from the process start to the first '
          f'result; import '
          f'{cold["import"]:.2f} s, Deblender() {cold["Deblender()"]:.2f} '
          f's, first call {cold["first call"]:.2f} s; TensorFlow imported: '
          f'{bool(cold["tensorflow imported"])}')
    load_after = os.getloadavg()
    report['load_average'] = [load_before[0], load_after[0]]
    print(f'load average after: {load_after[0]:.2f}')
    write_json(args.json, report)


if __name__ == '__main__':
    main()
