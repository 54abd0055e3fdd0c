"""
Long run: many consecutive `Deblender` calls in one process, watching the
resident memory (the limit: no growth beyond 10 % over 1,000 calls).

Each call deblends a different scene: seeded Gaussian sources (1 to 12 of
them, random widths and fluxes, some overlapping) on noise, with frame
sides drawn from ``--sizes``, and every tenth scene made awkward (NaN
pixels, a masked block, a constant or all-negative frame, a frame below
the model's receptive field) so the error-free paths that return `None`
are exercised too. The resident set size (RSS, from /proc/self/status or
``resource``) is sampled every ``--every`` calls after a garbage
collection; the growth is measured from call ``--baseline`` (default 50,
after TensorFlow's tracing caches have warmed up for every frame size) to
the last call.

Usage::

    python benchmarks/bench_long_run.py --model hst_f160w --calls 1000
    python benchmarks/bench_long_run.py --model tiny --calls 200   # no weights

``--model`` is a bundled model name, the path of a ``.keras`` file, or
``tiny`` (an untrained 2-level network built in place, for testing the
script). Prints the RSS samples, the growth from the baseline call to the
last, and exits with status 1 when the growth exceeds ``--limit`` percent.
"""

import argparse
import gc
import os
import sys
import time
import warnings

import numpy as np
from _output import add_json_option, write_json


def rss_mib():
    """The resident set size of this process, MiB."""
    try:
        with open('/proc/self/status') as handle:
            for line in handle:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # peak, not current: an upper bound elsewhere

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 if sys.platform != 'darwin' else 1024**2)


def scene(index, sizes, seed=0):
    """(image, mask or None) of call ``index``: varied and deterministic."""
    rng = np.random.default_rng([seed, index])
    size = int(sizes[index % len(sizes)])
    shape = (size, size + int(rng.integers(0, 2)) * 16)
    kind = index % 10
    if kind == 9:
        awkward = index // 10 % 4
        if awkward == 0:
            return np.full(shape, float(rng.normal())), None
        if awkward == 1:
            return -np.abs(rng.normal(0, 1, shape)), None
        if awkward == 2:
            return rng.normal(0, 1, (3, 5)), None
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = rng.normal(0, 0.02, shape)
    for _ in range(int(rng.integers(1, 13))):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        sigma = rng.uniform(1.0, 5.0)
        flux = rng.uniform(2, 200)
        image += flux / (2 * np.pi * sigma**2) * np.exp(
            -((yy - cy)**2 + (xx - cx)**2) / (2 * sigma**2))
    mask = None
    if kind == 3:
        image[rng.random(shape) < 0.02] = np.nan
    if kind == 6:
        mask = np.zeros(shape, bool)
        mask[:shape[0] // 4, :shape[1] // 3] = True
    return image, mask


def build(model, threshold):
    from pais_deblend.deblend import Deblender

    if model == 'tiny':
        from pais_deblend.model import build_pais_model

        model = build_pais_model(filters=[4, 8], attention_window=3, seed=0)
        threshold = 0.05 if threshold is None else threshold
    return Deblender(model, detection_threshold=threshold,
                     progress_bar=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', default='hst_f160w',
                        help="bundled name, .keras path, or 'tiny'")
    parser.add_argument('--calls', type=int, default=1000)
    parser.add_argument('--every', type=int, default=50,
                        help='sample the RSS every this many calls')
    parser.add_argument('--baseline', type=int, default=50,
                        help='the call the growth is measured from')
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[48, 64, 96, 128])
    parser.add_argument('--limit', type=float, default=10.0,
                        help='largest acceptable growth, percent')
    parser.add_argument('--threshold', type=float, default=None,
                        help='detection threshold (default: the model\'s)')
    parser.add_argument('--seed', type=int, default=0)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if not 0 < args.baseline < args.calls:
        parser.error('--baseline must lie between 0 and --calls')

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    warnings.simplefilter('ignore')
    start_rss = rss_mib()
    deblender = build(args.model, args.threshold)
    print(f'model {deblender.model_name!r}, {args.calls} calls, frame sides '
          f'{args.sizes}; RSS at start {start_rss:.0f} MiB',
          flush=True)
    samples = {}
    counts = {'sources': 0, 'none': 0}
    started = time.perf_counter()
    for index in range(1, args.calls + 1):
        image, mask = scene(index, args.sizes, args.seed)
        result = deblender(image, mask=mask)
        if result is None:
            counts['none'] += 1
        else:
            counts['sources'] += int(result.partial_labels.size)
        del result
        if index % args.every == 0 or index in (1, args.baseline,
                                                args.calls):
            gc.collect()
            samples[index] = rss_mib()
            print(f'call {index:>5}: RSS {samples[index]:8.1f} MiB  '
                  f'({time.perf_counter() - started:7.1f} s)', flush=True)
    elapsed = time.perf_counter() - started
    base = samples[args.baseline]
    last = samples[args.calls]
    growth = 100 * (last - base) / base
    peak = max(v for k, v in samples.items() if k >= args.baseline)
    print(f'\n{args.calls} calls in {elapsed:.0f} s '
          f'({1000 * elapsed / args.calls:.0f} ms/call); '
          f'{counts["sources"]} sources, {counts["none"]} frames without '
          f'a source (None)')
    print(f'RSS at call {args.baseline}: {base:.1f} MiB; at call '
          f'{args.calls}: {last:.1f} MiB; growth {growth:+.2f} % '
          f'(peak after the baseline {peak:.1f} MiB, '
          f'{100 * (peak - base) / base:+.2f} %); limit {args.limit} %')
    write_json(args.json, {
        'model': deblender.model_name, 'calls': args.calls,
        'sizes': args.sizes, 'seed': args.seed, 'seconds': elapsed,
        'sources': counts['sources'], 'frames_without_source': counts['none'],
        'rss_mib': samples, 'start_rss_mib': start_rss,
        'baseline': args.baseline, 'growth_percent': growth,
        'peak_after_baseline_mib': peak, 'limit_percent': args.limit})
    return 0 if growth <= args.limit else 1


if __name__ == '__main__':
    sys.exit(main())
