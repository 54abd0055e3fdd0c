"""
The figures of the bundled PAIS model against its peers on the
benchmarks page of the documentation, all measured in this one process
on scenes the model never saw.

1. Detection F1 of sources with S/N > 10 (matched-filter S/N,
   sqrt(sum S_i^2) / sigma) on simulated ``hst_f160w`` fields (the
   harness's ``field`` suite, master seed ``--seed``; the training scenes
   of the bundled model used ``SeedSequence([0, j])`` and
   ``SeedSequence([20, j])``, its validation scenes ``SeedSequence([1,
   j])`` and ``SeedSequence([21, j])``, the fields ``SeedSequence([seed,
   1000 + i, k])``), for pais_deblend, photutils detect+deblend, sep and
   SExtractor.
2. Close pairs (``pairs`` suite): recall of the fainter member of 4:1
   pairs at 1.0-1.5 PSF FWHM.
3. Median |relative flux error| of blended sources (blendedness > 0.1)
   of the field suite, pais_deblend's attributed flux (sum of M_i I)
   against photutils' segment flux, on the true sources both detect
   (also for the pairs, and for the isolated sources of the fields).
4. The real HLF GOODS-South cutout: catalog sources found (of 7), flux
   conservation L1, and each catalog source's S/N in the cutout's bands.
5. Throughput of `deblend_sources` on a 4096 x 4096 simulated field in
   Mpix/s, its ratio to photutils detect+deblend, sep and SExtractor
   timed in the same run, the peak resident memory of the deblend (in a
   child process, after a warm-up call) and the seconds of each pipeline
   step (a second, timed run in the same child).

Usage::

    python benchmarks/bench_deblend.py [--seed 2] [--n-fields 6]
        [--pairs-per-cell 50] [--size 4096] [--skip-throughput] [--quick]
        [--model hst_f160w] [--detection-threshold T]
        [--min-separation S] [--footprint-threshold F]
"""

import argparse
import multiprocessing
import os
import resource
import time
import warnings

import numpy as np
from _deblender_options import (add_deblender_options, deblender_options,
                                warm_up)
from _output import add_json_option, write_json

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)

METHODS = ('pais_deblend', 'photutils', 'sep', 'sextractor')


def f1_above(sources, images, method, suite, min_snr):
    """F1 over true sources with snr > min_snr (all unmatched detections
    count as false positives)."""
    rows = sources[(sources['method'] == method)
                   & (sources['suite'] == suite)]
    bright = rows['snr'] > min_snr
    tp = int(np.sum(rows['detected'][bright]))
    fn = int(np.sum(~rows['detected'][bright]))
    image_rows = images[(images['method'] == method)
                        & (images['suite'] == suite)]
    fp = int(np.sum(image_rows['n_false_positive']))
    total = 2 * tp + fp + fn
    return (2 * tp / total if total else np.nan), tp, fp, fn


def close_pair_recall(sources, method, ratio=4.0, low=1.0, high=1.5):
    rows = sources[(sources['method'] == method)
                   & (sources['suite'] == 'pairs')]
    keep = (rows['fainter'] & (rows['flux_ratio'] == ratio)
            & (rows['separation'] >= low) & (rows['separation'] <= high))
    return float(np.mean(rows['detected'][keep])), int(keep.sum())


def blended_flux_errors(sources, suites=('field',), min_blendedness=0.1,
                        max_blendedness=np.inf):
    """Median |relative segment-flux error| per method on the true sources
    with min_blendedness < blendedness < max_blendedness detected by
    pais_deblend and photutils alike."""
    rows = sources[np.isin(sources['suite'], suites)]
    key = {}
    for row in rows:
        if (min_blendedness < row['blendedness'] < max_blendedness
                and row['detected']):
            ident = (row['suite'], row['image'], int(row['source']))
            key.setdefault(ident, {})[row['method']] = float(
                row['flux_segment_error'])
    both = [v for v in key.values()
            if 'pais_deblend' in v and 'photutils' in v]
    out, bias = {}, {}
    for method in METHODS:
        values = np.array([v[method] for v in both if method in v])
        out[method] = (float(np.median(np.abs(values))) if values.size
                       else np.nan)
        bias[method] = float(np.median(values)) if values.size else np.nan
    return out, bias, len(both), _pais_ratio_interval(both)


def _pais_ratio_interval(both):
    """The 95 % paired-bootstrap interval of pais_deblend's error ratio
    to photutils' on the same sources."""
    from pais_deblend.evaluation import median_error_ratio

    if not both:
        return (np.nan, np.nan)
    _, low, high = median_error_ratio([v['pais_deblend'] for v in both],
                                      [v['photutils'] for v in both])
    return (low, high)


def run_quality(args):
    """Print the quality figures; return them as a dict."""
    from pais_deblend.benchmark import run_benchmark
    from pais_deblend.benchmark.suites import (FieldSuite, PairsSuite,
                                               register_suite)

    from pais_deblend.benchmark import register_method
    from pais_deblend.benchmark.adapters import PaisDeblendMethod

    register_method(PaisDeblendMethod(model=args.model,
                                      **deblender_options(args)),
                    overwrite=True)
    register_suite(FieldSuite(n_per_density=args.n_fields), overwrite=True)
    register_suite(PairsSuite(n_per_cell=args.pairs_per_cell),
                   overwrite=True)
    started = time.perf_counter()
    results = run_benchmark(list(METHODS), ['field', 'pairs', 'hlf'],
                            quick=args.quick, seed=args.seed,
                            progress_bar=True, figures=False)
    print(f'harness run: {time.perf_counter() - started:.0f} s')
    sources, images, summary = (results.sources, results.images,
                                results.summary)
    if args.output_dir:
        results.write(args.output_dir, overwrite=True)
    fainter_flags(sources, images)
    figures = {'f1_snr_above_10': {}, 'close_pair_recall': {},
               'blended_flux_errors': {}, 'isolated_flux_errors': {},
               'hlf': {}}

    print(f'\n1. detection F1, S/N > 10, field suite (seed {args.seed}):')
    for method in METHODS:
        f1, tp, fp, fn = f1_above(sources, images, method, 'field', 10.0)
        figures['f1_snr_above_10'][method] = {'f1': f1, 'tp': tp, 'fp': fp,
                                              'fn': fn}
        print(f'   {method:13s} F1 {f1:.3f}  (TP {tp}, FP {fp}, FN {fn})')
    print('\n2. fainter member of 4:1 pairs at 1.0-1.5 FWHM, recall:')
    for method in METHODS:
        recall, n = close_pair_recall(sources, method)
        figures['close_pair_recall'][method] = {'recall': recall, 'n': n}
        print(f'   {method:13s} {recall:.3f}  ({n} pairs)')
    for suites in (('field',), ('pairs',), ('field', 'pairs')):
        errors, bias, n_both, interval = blended_flux_errors(sources,
                                                             suites)
        figures['blended_flux_errors']['+'.join(suites)] = {
            'n_sources': n_both, 'median_abs_error': errors,
            'median_error': bias, 'pais_deblend_ratio_95': interval}
        print(f'\n3. median |rel. segment-flux error|, blendedness > 0.1, '
              f'suites {"+".join(suites)}, {n_both} sources found by '
              f'pais_deblend and photutils:')
        for method in METHODS:
            ratio = errors[method] / errors['photutils']
            bounds = (f', 95 %: {interval[0]:.2f}-{interval[1]:.2f}'
                      if method == 'pais_deblend' else '')
            print(f'   {method:13s} {errors[method]:.4f}  '
                  f'({ratio:.2f}x photutils{bounds}), median signed error '
                  f'{bias[method]:+.3f}')
    errors, bias, n_both, _ = blended_flux_errors(
        sources, ('field',), min_blendedness=-1.0, max_blendedness=0.01)
    figures['isolated_flux_errors'] = {
        'n_sources': n_both, 'median_abs_error': errors, 'median_error': bias}
    print(f'\n3b. the same for isolated sources (blendedness < 0.01), '
          f'suite field, {n_both} sources:')
    for method in METHODS:
        print(f'   {method:13s} {errors[method]:.4f}  '
              f'({errors[method] / errors["photutils"]:.2f}x photutils), '
              f'median signed error {bias[method]:+.3f}')
    print('\n4. real HLF GOODS-S cutout (7 catalog sources):')
    for method in METHODS:
        row = images[(images['method'] == method)
                     & (images['suite'] == 'hlf')]
        if len(row):
            figures['hlf'][method] = {
                'found': int(row['n_true_positive'][0]),
                'detections': int(row['n_predicted'][0]),
                'flux_conservation': float(row['flux_conservation'][0])}
            print(f"   {method:13s} {int(row['n_true_positive'][0])}/7 "
                  f"found, {int(row['n_predicted'][0])} detections, "
                  f"flux conservation L1 {row['flux_conservation'][0]:.2e}")
    print_hlf_sources(sources)
    print('\nsummary (harness):')
    columns = [c for c in ('suite', 'method', 'precision', 'recall', 'f1',
                           'recall_fainter', 'segment_error',
                           'median_time_s') if c in summary.colnames]
    summary[columns].pprint(max_lines=-1, max_width=-1)
    figures['summary'] = [dict(zip(columns, row)) for row in
                          summary[columns].iterrows()]
    return figures


def band_peak_snr(flux, positions, smoothing=2.0, half_width=2):
    """
    Peak S/N of sources in each band of an image (h, w, b): the largest
    value within ``half_width`` px of each (y, x) position of the band
    smoothed by a Gaussian of ``smoothing`` px, over that smoothed band's
    robust noise. Shape (n, b).
    """
    from scipy import ndimage

    from pais_deblend.model.normalization import estimate_noise

    pixels = np.rint(np.asarray(positions, dtype=np.float64)).astype(int)
    snr = np.empty((len(pixels), flux.shape[2]))
    for band in range(flux.shape[2]):
        smoothed = ndimage.gaussian_filter(
            np.asarray(flux[..., band], dtype=np.float64), smoothing,
            mode='constant')
        noise = estimate_noise(smoothed)[0]
        for i, (y, x) in enumerate(pixels):
            window = smoothed[max(y - half_width, 0):y + half_width + 1,
                              max(x - half_width, 0):x + half_width + 1]
            snr[i, band] = window.max() / noise
    return snr


def print_hlf_sources(sources):
    """Which method finds which HLF catalog source, beside its S/N in
    each of the cutout's bands (a source no band shows cannot be found
    in F160W)."""
    from pais_deblend.datasets import load_hlf_goodss

    hlf = load_hlf_goodss()
    rows = sources[sources['suite'] == 'hlf']
    positions = rows[rows['method'] == METHODS[0]]
    snr = band_peak_snr(np.asarray(hlf.flux),
                        np.column_stack([positions['y_true'],
                                         positions['x_true']]))
    found = {method: {int(row['source']): bool(row['detected'])
                      for row in rows[rows['method'] == method]}
             for method in METHODS}
    print('   per source: catalog (y, x), peak S/N of the band smoothed by '
          '2 px in ' + ', '.join(hlf.bands) + ', found by')
    for row, values in zip(positions, snr):
        finders = [method for method in METHODS
                   if found[method].get(int(row['source']), False)]
        print(f"   ({row['y_true']:5.1f}, {row['x_true']:5.1f})  "
              + ' '.join(f'{value:6.1f}' for value in values)
              + f"   {', '.join(finders) or 'none'}")


def fainter_flags(sources, images):
    """Attach pair separation / flux ratio to the source rows (pairs)."""
    for name in ('separation', 'flux_ratio'):
        if name not in sources.colnames:
            lookup = {(r['method'], r['image']): r[name] for r in images
                      if name in images.colnames}
            sources[name] = [lookup.get((r['method'], r['image']), np.nan)
                             for r in sources]


def _deblend_child(image, model, queue):
    from pais_deblend.deblend import Deblender
    from pais_deblend.deblend.inputs import prepare_image
    from pais_deblend.deblend.pipeline import run_pipeline

    deblender = Deblender(model, progress_bar=False)
    warm_up(deblender, image)
    started = time.perf_counter()
    segmentation = deblender(image)
    elapsed = time.perf_counter() - started
    n = 0 if segmentation is None else len(segmentation.partial_labels)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del segmentation
    # the same steps again, each timed (the call above is the figure)
    steps = {}
    started = time.perf_counter()
    prepared = prepare_image(image)
    steps['input checks'] = time.perf_counter() - started
    run_pipeline(deblender, prepared, attribution=deblender.attribution,
                 companion_threshold=deblender.companion_threshold,
                 timings=steps)
    queue.put((elapsed, n, peak, steps))


def run_throughput(args):
    """Print the throughput figures; return them as a dict."""
    from pais_deblend.benchmark.adapters import (
        PhotutilsMethod, SepMethod, SExtractorMethod, find_sextractor)
    from pais_deblend.benchmark import (preset_psf_image,
                                        scene_benchmark_image)
    from pais_deblend.simulation import SceneSimulator

    size = args.size
    started = time.perf_counter()
    scene = SceneSimulator('hst_f160w', shape=(size, size)).simulate(
        np.random.default_rng([args.seed, 4096]))
    print(f'\n5. throughput on a {size}x{size} hst_f160w field '
          f'({scene.n_sources} sources, simulated in '
          f'{time.perf_counter() - started:.0f} s):')
    image = scene_benchmark_image('big', scene, {}, preset_psf_image('hst_f160w'))
    data = np.asarray(image.data, dtype=np.float64)
    megapixels = size * size / 1e6

    context = multiprocessing.get_context('spawn')
    queue = context.Queue()
    child = context.Process(target=_deblend_child, args=(data, args.model, queue))
    child.start()
    elapsed, n_found, peak, steps = queue.get()
    child.join()
    timings = {'pais_deblend': elapsed}
    figures = {'size': size, 'n_sources': scene.n_sources,
               'pais_deblend': {'seconds': elapsed, 'sources': n_found,
                                'peak_rss_mib': peak, 'steps': steps}}
    print(f'   pais_deblend  {elapsed:7.1f} s  {megapixels / elapsed:.3f} '
          f'Mpix/s, {n_found} sources, peak RSS {peak:.0f} MiB')
    peers = [('photutils', PhotutilsMethod()), ('sep', SepMethod())]
    if find_sextractor():
        peers.append(('sextractor', SExtractorMethod()))
    for name, method in peers:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            started = time.perf_counter()
            output = method.run(image)
            timings[name] = time.perf_counter() - started
        figures[name] = {'seconds': timings[name],
                         'sources': len(output.catalog)}
        print(f'   {name:13s} {timings[name]:7.1f} s  '
              f'{megapixels / timings[name]:.3f} Mpix/s, '
              f'{len(output.catalog)} sources')
    for name in timings:
        if name != 'pais_deblend':
            print(f'   pais_deblend / {name} time: '
                  f'{elapsed / timings[name]:.2f}x')
    print('   pais_deblend steps (a second, timed run of the pipeline in '
          'the same process):')
    for name, seconds in steps.items():
        print(f'     {name:18s} {seconds:6.2f} s')
    # a second run's steps: the first touches of fresh memory make the
    # same step vary between runs, so they need not add up to the call
    print(f'     {"together":18s} {sum(steps.values()):6.2f} s  (the call '
          'also builds the segmentation image)')
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model name or .keras file')
    parser.add_argument('--seed', type=int, default=2)
    parser.add_argument('--n-fields', type=int, default=6,
                        help='fields per density of the field suite')
    parser.add_argument('--pairs-per-cell', type=int, default=50)
    parser.add_argument('--size', type=int, default=4096)
    parser.add_argument('--skip-quality', action='store_true')
    parser.add_argument('--skip-throughput', action='store_true')
    parser.add_argument('--quick', action='store_true')
    add_deblender_options(parser)
    parser.add_argument('--output-dir', default=None,
                        help='also write the harness tables here')
    add_json_option(parser)
    args = parser.parse_args()
    print(f'cores: {os.cpu_count()}')
    figures = {}
    if not args.skip_quality:
        figures['quality'] = run_quality(args)
    if not args.skip_throughput:
        figures['throughput'] = run_throughput(args)
    write_json(args.json, figures)


if __name__ == '__main__':
    main()
