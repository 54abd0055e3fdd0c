"""
Attribution: how pais_deblend's ways of sharing a pixel's flux among the
detected sources compare with each other and with the peers, measured in
one process on simulated ``hst_f160w`` scenes the bundled model never saw
(the harness's ``pairs`` and ``field`` suites, master seed ``--seed``).

Methods: `~pais_deblend.Deblender` with every ``attribution`` value
(``pais_<value>``, the same detections, with the residual companion
search at ``--companion-threshold``), the network alone
(``pais_network_alone``: the PCR decode, no companion search), photutils
(detect + deblend), sep and SExtractor (when the program is installed).

Printed:

1. the median |relative flux error| of blended sources (blendedness
   > 0.1) of the pairs and field suites together, for each pais_deblend
   attribution against each peer on the true sources both detect, with
   the ratio and its 95 % paired-bootstrap interval;
   on the pairs whose two members both methods detect, the median per
   separation; detection F1 (field, S/N > 10) and the recall of the
   fainter member of 4:1 pairs;
2. the same for isolated sources (blendedness < 0.01), each attribution
   against the network decode;
3. how partial the attribution is: of the attributed pixels whose
   largest true share (S_i / sum_j S_j of the noiseless sources) is
   below 0.9, the fraction whose largest weight is below 0.9 (also on
   those of them whose two largest true sources are both detected,
   matched within the PSF FWHM: only there can any attribution share
   the pixel correctly), and of all attributed pixels, the fraction
   decoded partial;
4. flux conservation (largest L1 over the images) and the time per
   image of each method.

Usage::

    python benchmarks/bench_attribution.py [--seed 13] [--n-fields 4]
        [--pairs-per-cell 50] [--quick] [--model hst_f160w]
        [--preset hst_f160w] [--json results.json]
"""

import argparse
import os
import time
import warnings

import numpy as np
from _deblender_options import add_deblender_options, deblender_options
from _output import add_json_option, write_json
from bench_deblend import close_pair_recall, f1_above, fainter_flags

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)
from pais_deblend.deblend.pipeline import ATTRIBUTION_METHODS
from pais_deblend.evaluation import median_error_ratio
from pais_deblend.benchmark import (register_method,
                                    register_suite, run_benchmark)
from pais_deblend.benchmark.adapters import (PaisDeblendMethod,
                                             find_sextractor)
from pais_deblend.benchmark.suites import FieldSuite, PairsSuite

PEERS = ('photutils', 'sep', 'sextractor')

#: A pixel is partial when its largest share is below this.
PARTIAL = 0.9


class RecordingPaisMethod(PaisDeblendMethod):
    """`PaisDeblendMethod` under its own name, counting partial pixels
    against the truth of every image it deblends."""

    def __init__(self, name, model, **options):
        super().__init__(model, **options)
        self.name = name
        self.description = f'pais_deblend, attribution={name}'
        self.counts = np.zeros(6, dtype=np.int64)

    def run(self, image):
        output = super().run(image)
        if image.true_source_images and output.is_partial:
            self.counts += partial_counts(output.segmentation, image)
        return output


def two_largest_sources(image):
    """The indices of the two sources with the most true flux at every
    pixel, (h, w) each (-1: none), and the largest true share of every
    pixel (h, w) (NaN where no source has positive flux)."""
    shape = image.shape
    total = np.zeros(shape)
    first = np.full(shape, -1)
    second = np.full(shape, -1)
    first_value = np.zeros(shape)
    second_value = np.zeros(shape)
    for index, cutout in enumerate(image.true_source_images):
        values = np.clip(np.asarray(cutout.data, np.float64), 0, None)
        if values.ndim == 3:
            values = values.sum(axis=2)
        region = cutout.slices
        total[region] += values
        above_first = values > first_value[region]
        above_second = ~above_first & (values > second_value[region])
        second[region] = np.where(above_first, first[region],
                                  np.where(above_second, index,
                                           second[region]))
        second_value[region] = np.where(
            above_first, first_value[region],
            np.where(above_second, values, second_value[region]))
        first[region] = np.where(above_first, index, first[region])
        first_value[region] = np.where(above_first, values,
                                       first_value[region])
    with np.errstate(invalid='ignore', divide='ignore'):
        largest_share = np.where(total > 0, first_value / total, np.nan)
    return first, second, largest_share


def partial_counts(segmentation, image):
    """(truly partial attributed pixels, of those decoded partial,
    attributed pixels, decoded partial, truly partial pixels whose two
    largest true sources are both detected, of those decoded partial) of
    one image."""
    from pais_deblend.evaluation import match_sources

    weights = segmentation.weights
    attributed = segmentation.contributors[..., 0] > 0
    decoded_partial = weights.max(axis=-1) < PARTIAL
    first, second, largest_share = two_largest_sources(image)
    truly = attributed & (largest_share < PARTIAL)
    centers = np.array([segmentation.centers[label]
                        for label in segmentation.partial_labels])
    matches = match_sources(centers.reshape(-1, 2), image.true_centers,
                            max_distance=image.psf_fwhm)
    detected = np.zeros(len(image.true_centers) + 1, dtype=bool)
    detected[np.asarray(matches.true_indices, dtype=int)] = True
    both = truly & detected[first] & detected[second] & (second >= 0)
    return np.array([truly.sum(), (truly & decoded_partial).sum(),
                     attributed.sum(), (attributed & decoded_partial).sum(),
                     both.sum(), (both & decoded_partial).sum()])


def paired_errors(sources, method, other, low, high,
                  suites=('pairs', 'field')):
    """Relative flux errors of two methods on the true sources with
    low < blendedness < high that both detect."""
    rows = sources[np.isin(sources['suite'], suites)
                   & (sources['blendedness'] > low)
                   & (sources['blendedness'] < high) & sources['detected']]
    found = {}
    for row in rows:
        key = (row['suite'], row['image'], int(row['source']))
        found.setdefault(key, {})[row['method']] = float(
            row['flux_segment_error'])
    pairs = [(v[method], v[other]) for v in found.values()
             if method in v and other in v
             and np.isfinite(v[method]) and np.isfinite(v[other])]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    ours, theirs = np.array(pairs).T
    return ours, theirs


def compare(sources, method, other, low, high):
    """A result row: medians, ratio and interval."""
    ours, theirs = paired_errors(sources, method, other, low, high)
    if ours.size == 0:
        return {'n': 0}
    ratio, lower, upper = median_error_ratio(ours, theirs)
    return {'n': int(ours.size), 'ours': float(np.median(np.abs(ours))),
            'theirs': float(np.median(np.abs(theirs))), 'ratio': ratio,
            'low': lower, 'high': upper}


def both_members_detected(sources, method):
    """{image: True} for the pairs-suite images where ``method`` detects
    both true sources."""
    rows = sources[(sources['suite'] == 'pairs')
                   & (sources['method'] == method)]
    counts = {}
    for row in rows:
        total, found = counts.get(row['image'], (0, 0))
        counts[row['image']] = (total + 1, found + int(row['detected']))
    return {image: found == total == 2
            for image, (total, found) in counts.items()}


def pair_errors_by_separation(sources, methods):
    """Median |dF/F| of both members, per separation, on the pairs that
    every one of ``methods`` detects completely (``sources`` with the
    pair columns of `bench_deblend.fainter_flags`)."""
    complete = [both_members_detected(sources, method)
                for method in methods]
    table = {}
    for method in methods:
        rows = sources[(sources['suite'] == 'pairs')
                       & (sources['method'] == method)]
        for row in rows:
            if all(flags.get(row['image'], False) for flags in complete):
                table.setdefault(float(row['separation']), {}).setdefault(
                    method, []).append(abs(float(row['flux_segment_error'])))
    return table


def print_row(method, other, row):
    if row['n'] == 0:
        print(f'   {method:16s} vs {other:16s} no common sources')
        return
    print(f"   {method:16s} {row['ours']:.4f} vs {other:16s} "
          f"{row['theirs']:.4f}  ratio {row['ratio']:.2f} "
          f"(95 %: {row['low']:.2f}-{row['high']:.2f}), {row['n']} sources")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model name or .keras file')
    parser.add_argument('--seed', type=int, default=13)
    parser.add_argument('--n-fields', type=int, default=4,
                        help='fields per density of the field suite')
    parser.add_argument('--pairs-per-cell', type=int, default=50)
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--preset', default='hst_f160w',
                        help='simulation preset of the pairs and fields '
                             '(e.g. hst_f160w_irregular: irregular, '
                             'clumpy galaxies)')
    add_json_option(parser)
    parser.add_argument('--output-dir', default=None,
                        help='also write the harness tables here')
    add_deblender_options(parser)
    args = parser.parse_args()
    if args.companion_threshold is None:
        args.companion_threshold = 15.0
    elif args.companion_threshold == 'off':
        args.companion_threshold = None

    options = deblender_options(args)
    options.pop('attribution', None)
    options.pop('companion_threshold', None)
    pais = {}
    variants = [(f'pais_{attribution}', attribution, args.companion_threshold)
                for attribution in ATTRIBUTION_METHODS]
    variants.append(('pais_network_alone', 'network', None))
    for name, attribution, threshold in variants:
        pais[name] = RecordingPaisMethod(
            name, args.model, attribution=attribution,
            companion_threshold=threshold, **options)
        register_method(pais[name], overwrite=True)
    register_suite(FieldSuite(n_per_density=args.n_fields,
                              preset=args.preset), overwrite=True)
    register_suite(PairsSuite(n_per_cell=args.pairs_per_cell,
                              preset=args.preset), overwrite=True)
    peers = [p for p in PEERS if p != 'sextractor' or find_sextractor()]
    methods = list(pais) + peers
    print(f'cores: {os.cpu_count()}, preset {args.preset}, seed '
          f'{args.seed}, methods: {", ".join(methods)}')
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        results = run_benchmark(methods, ['pairs', 'field'],
                                quick=args.quick, seed=args.seed,
                                progress_bar=True, figures=False)
    print(f'harness run: {time.perf_counter() - started:.0f} s')
    if args.output_dir:
        results.write(args.output_dir, overwrite=True, figures=False)
    sources, images = results.sources, results.images
    fainter_flags(sources, images)
    report = {'seed': args.seed, 'model': args.model,
              'preset': args.preset, 'blended': {},
              'isolated': {}, 'partial': {}, 'time_s': {}}

    print('\n1. blended sources (blendedness > 0.1), pairs + field, median '
          '|dF/F| on the sources both detect:')
    for name in pais:
        for other in [p for p in pais if p != name] + peers:
            row = compare(sources, name, other, 0.1, np.inf)
            report['blended'][f'{name}/{other}'] = row
            print_row(name, other, row)
    print('\n1c. detection: F1 and precision of sources with S/N > 10 '
          '(field), recall of the fainter member of 4:1 pairs (pairs):')
    report['detection'] = {}
    for method in methods:
        f1, tp, fp, fn = f1_above(sources, images, method, 'field', 10.0)
        close = close_pair_recall(sources, method, low=1.0, high=1.5)[0]
        wide = close_pair_recall(sources, method, low=2.0, high=3.0)[0]
        precision = tp / (tp + fp) if tp + fp else np.nan
        report['detection'][method] = {'f1': f1, 'precision': precision,
                                       'tp': tp, 'fp': fp, 'fn': fn,
                                       'fainter_1_1.5': close,
                                       'fainter_2_3': wide}
        print(f'   {method:16s} F1 {f1:.3f}, precision {precision:.3f} '
              f'(TP {tp}, FP {fp}, FN {fn}); '
              f'fainter at 1.0-1.5 FWHM {close:.3f}, at 2-3 FWHM '
              f'{wide:.3f}')
    print('\n2. isolated sources (blendedness < 0.01):')
    for name in pais:
        for other in list(pais) + peers:
            if other == name:
                continue
            row = compare(sources, name, other, -1.0, 0.01)
            report['isolated'][f'{name}/{other}'] = row
            print_row(name, other, row)
    print('\n1b. pairs whose two members both methods detect: median '
          '|dF/F| of both members per separation (PSF FWHM)')
    report['pairs_both_detected'] = {}
    reference = next(iter(pais))
    for other in [p for p in pais if p != reference] + peers:
        by_separation = pair_errors_by_separation(sources, [reference, other])
        print(f'   {reference} against {other}:')
        for separation in sorted(by_separation):
            values = by_separation[separation]
            ours = float(np.median(values[reference]))
            theirs = float(np.median(values[other]))
            report['pairs_both_detected'][f'{other}/{separation}'] = {
                'n': len(values[other]), reference: ours, other: theirs}
            print(f'     {separation:5.2f} FWHM: {ours:.4f} against '
                  f'{theirs:.4f} ({len(values[other])} sources)')
    print(f'\n3. partial pixels (largest share < {PARTIAL}):')
    for name, method in pais.items():
        (truly, truly_partial, attributed, partial, both,
         both_partial) = method.counts
        row = {'truly_partial_pixels': int(truly),
               'decoded_partial_of_truly': truly_partial / max(truly, 1),
               'both_detected_pixels': int(both),
               'decoded_partial_of_both_detected': both_partial / max(both,
                                                                      1),
               'attributed_pixels': int(attributed),
               'decoded_partial_of_all': partial / max(attributed, 1)}
        report['partial'][name] = row
        print(f"   {name:16s} of truly partial pixels decoded partial "
              f"{row['decoded_partial_of_truly']:.3f} (of {truly}); of those "
              f"whose two largest sources are both detected "
              f"{row['decoded_partial_of_both_detected']:.3f} (of {both}); "
              f"of all attributed pixels {row['decoded_partial_of_all']:.3f}"
              f" (of {attributed})")
    print('\n4. per method: median time per image, worst flux conservation '
          'L1:')
    for method in methods:
        rows = images[images['method'] == method]
        if not len(rows):
            continue
        times = np.asarray(rows['time'], dtype=np.float64)
        conservation = np.asarray(rows['flux_conservation'],
                                  dtype=np.float64)
        worst = (np.nanmax(conservation) if np.isfinite(conservation).any()
                 else np.nan)
        report['time_s'][method] = float(np.median(times))
        print(f'   {method:16s} {np.median(times) * 1e3:8.1f} ms, '
              f'L1 {worst:.2e}')
    write_json(args.json, report)


if __name__ == '__main__':
    main()
