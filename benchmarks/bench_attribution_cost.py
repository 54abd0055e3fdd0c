"""
What the attribution costs on a large field: the time of each step of
`~pais_deblend.deblend.pipeline.run_pipeline` on a simulated
``hst_f160w`` field of ``--size`` x ``--size`` pixels, and the peak
resident memory of a whole `~pais_deblend.Deblender` call with each
``attribution`` (each in its own child process, after a warm-up call on
the corner that holds 2 x 2 network tiles).

Printed: the network pass, the template attribution, the residual
companion search and the network decode in seconds, the attribution
steps as a fraction of the network pass, and the peak RSS of every
configuration.

Usage::

    python benchmarks/bench_attribution_cost.py [--size 4096] [--seed 2]
        [--json cost.json]
"""

import argparse
import multiprocessing
import os
import resource
import time

import numpy as np

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)

from _deblender_options import warm_up
from _output import add_json_option, write_json

CONFIGURATIONS = (('network', None), ('templates', None),
                  ('templates', 15.0))


def simulate(size, seed):
    from pais_deblend.simulation import SceneSimulator

    scene = SceneSimulator('hst_f160w', shape=(size, size)).simulate(
        np.random.default_rng([seed, size]))
    return np.asarray(scene.image, dtype=np.float64), scene.n_sources


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def step_times(image, model):
    """Seconds of each step of two warm pipeline runs on ``image`` (the
    defaults, then the network decode without search), as a
    `~pais_deblend.Deblender` call runs them."""
    from pais_deblend import Deblender
    from pais_deblend.deblend.inputs import prepare_image
    from pais_deblend.deblend.pipeline import run_pipeline

    deblender = Deblender(model, progress_bar=False)
    warm_up(deblender, image)
    runs = {}
    for attribution, threshold in (('templates', 15.0), ('network', None)):
        steps = {}
        result = run_pipeline(deblender, prepare_image(image),
                              attribution=attribution,
                              companion_threshold=threshold, timings=steps)
        runs[attribution] = steps, result
        del result
    steps, result = runs['templates']
    times = {'network pass': steps['network'],
             'companion search': steps['companion search'],
             'attribution templates': steps['attribution'],
             'attribution network': runs['network'][0]['attribution']}
    n_extra = int(np.count_nonzero(result.origins))
    return times, len(result.centers) - n_extra, n_extra


def _child(image, model, attribution, threshold, queue):
    from pais_deblend import Deblender

    deblender = Deblender(model, attribution=attribution,
                          companion_threshold=threshold, progress_bar=False)
    warm_up(deblender, image)
    started = time.perf_counter()
    segmentation = deblender(image)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((elapsed, len(segmentation.partial_labels), peak))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=4096)
    parser.add_argument('--seed', type=int, default=2)
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model (default: %(default)s)')
    add_json_option(parser)
    args = parser.parse_args()
    image, n_sources = simulate(args.size, args.seed)
    print(f'cores: {os.cpu_count()}; {args.size}x{args.size} hst_f160w '
          f'field, {n_sources} simulated sources')
    context = multiprocessing.get_context('spawn')
    report = {'size': args.size, 'calls': {}}
    for attribution, threshold in CONFIGURATIONS:
        queue = context.Queue()
        child = context.Process(target=_child,
                                args=(image, args.model, attribution,
                                      threshold, queue))
        child.start()
        elapsed, n_found, peak = queue.get()
        child.join()
        key = f'{attribution}, companion_threshold={threshold}'
        report['calls'][key] = {'seconds': elapsed, 'sources': n_found,
                                'peak_rss_mib': peak}
        print(f'   Deblender({key}): {elapsed:6.1f} s, {n_found} sources, '
              f'peak RSS {peak:.0f} MiB')
    times, n_centers, n_extra = step_times(image, args.model)
    report['steps'] = times
    print(f'steps ({n_centers} detected centres, {n_extra} found by the '
          'companion search):')
    network = times['network pass']
    for name, seconds in times.items():
        print(f'   {name:24s} {seconds:6.2f} s  ({seconds / network:.1%} of '
              'the network pass)')
    write_json(args.json, report)


if __name__ == '__main__':
    main()
