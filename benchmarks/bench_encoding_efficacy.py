"""
Round-trip accuracy of the Partial Contribution Representation.

Encodes the exact truth of seeded Sersic-like scenes (sums of elliptical
Sersic profiles, with close pairs and sources just outside the frame) with
the true centres, decodes with the true centres, and reports, for both
contributor choices, the metrics of the documentation's "Measuring
quality" page next to the paper's
Table 2 (Hausen & Robertson 2022, arXiv:2201.04714):

- flux conservation L1 (worst scene; paper Fig. 1: 1.52e-5),
- median |relative total-flux error| and its bias,
- total-flux MAE +- std (paper: 1.97 +- 15.43 e/s; scene fluxes here are
  20-2000 in the same arbitrary unit, comparable to e/s only loosely),
- r90 KS p-value mean +- std (paper: 0.93 +- 0.22),
- and the median |relative error| binned by blendedness.

Run::

    python benchmarks/bench_encoding_efficacy.py         # 100 scenes 128x128
    python benchmarks/bench_encoding_efficacy.py --n-scenes 10 --size 256
"""

import argparse
import time

import numpy as np
from _output import add_json_option, write_json
from astropy.table import vstack

from pais_deblend.evaluation import (PAPER_TABLE2, efficacy_summary,
                                     encoding_efficacy, flux_error_summary)
from pais_deblend.benchmark import make_sersic_scene

CHOICES = ('nearest', 'most_flux')


def run(n_scenes, size, min_sources, max_sources, n_contributors, seed):
    rng = np.random.default_rng(seed)
    scene_seeds = rng.integers(0, 2**31, n_scenes)
    counts = rng.integers(min_sources, max_sources + 1, n_scenes)
    scenes = [make_sersic_scene((size, size), int(n), seed=int(s))
              for n, s in zip(counts, scene_seeds)]
    # compile the numba kernels outside the timed loop
    image, sources, centers = scenes[0]
    for choice in CHOICES:
        encoding_efficacy(sources, centers, shape=image.shape,
                          contributor_choice=choice)
    results = {}
    for choice in CHOICES:
        start = time.perf_counter()
        tables, conservation = [], []
        for image, sources, centers in scenes:
            table = encoding_efficacy(sources, centers, shape=image.shape,
                                      n_contributors=n_contributors,
                                      contributor_choice=choice)
            conservation.append(table.meta['flux_conservation'])
            tables.append(table)
        elapsed = time.perf_counter() - start
        stacked = vstack(tables, metadata_conflicts='silent')
        summary = efficacy_summary(stacked)
        summary['flux_conservation_max'] = float(np.max(conservation))
        summary['flux_conservation_mean'] = float(np.mean(conservation))
        summary['seconds'] = elapsed
        results[choice] = (summary, stacked)
    return results, int(counts.sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--n-scenes', type=int, default=100)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--min-sources', type=int, default=10)
    parser.add_argument('--max-sources', type=int, default=30)
    parser.add_argument('--n-contributors', type=int, default=3)
    parser.add_argument('--seed', type=int, default=2022)
    add_json_option(parser)
    args = parser.parse_args(argv)

    results, n_total = run(args.n_scenes, args.size, args.min_sources,
                           args.max_sources, args.n_contributors, args.seed)
    print(f'PCR round trip (true centres), {args.n_scenes} Sersic scenes '
          f'{args.size}x{args.size}, {args.min_sources}-{args.max_sources} '
          f'sources each ({n_total} sources), n = {args.n_contributors}, '
          f'seed {args.seed}')
    header = f"{'metric':<38}{'nearest':>22}{'most_flux':>22}{'paper':>18}"
    print(header)
    print('-' * len(header))

    def row(name, key, paper='', fmt='{:.3g}', std_key=None):
        cells = []
        for choice in CHOICES:
            summary = results[choice][0]
            text = fmt.format(summary[key])
            if std_key:
                text += ' +- ' + fmt.format(summary[std_key])
            cells.append(text)
        print(f'{name:<38}{cells[0]:>22}{cells[1]:>22}{paper:>18}')

    row('flux conservation L1 (worst scene)', 'flux_conservation_max',
        f"{PAPER_TABLE2['flux_conservation']:.3g}")
    row('flux conservation L1 (mean)', 'flux_conservation_mean')
    row('median |relative flux error|', 'median_abs_relative_error')
    row('mean |relative flux error|', 'mean_abs_relative_error')
    row('median relative flux error (bias)', 'median_relative_error')
    row('total flux MAE +- std', 'flux_mae',
        f"{PAPER_TABLE2['flux_mae']} +- {PAPER_TABLE2['flux_mae_std']}",
        std_key='flux_mae_std')
    row('r90 KS p-value mean +- std', 'ks_pvalue_mean',
        f"{PAPER_TABLE2['ks_pvalue_mean']} +- "
        f"{PAPER_TABLE2['ks_pvalue_std']}", fmt='{:.3f}',
        std_key='ks_pvalue_std')
    row('r90 KS statistic mean', 'ks_statistic_mean')
    row('sources evaluated', 'n_evaluated', fmt='{:d}')
    row('time (s, encode+decode+metrics)', 'seconds', fmt='{:.1f}')

    print('\nmedian |relative flux error| (and fraction with KS p < 0.05) '
          'by blendedness')
    bins = (0.0, 0.01, 0.1, 0.3, 0.6, 1.0)
    print(f"{'blendedness':<14}{'n':>7}{'nearest':>20}{'most_flux':>20}")
    binned = {}
    for choice in CHOICES:
        table = results[choice][1]
        good = np.isfinite(table['relative_flux_difference'])
        binned[choice] = flux_error_summary(
            np.asarray(table['relative_flux_difference'])[good],
            np.asarray(table['blendedness'])[good], bins=bins)
        beta = np.asarray(table['blendedness'])[good]
        low_p = np.asarray(table['ks_pvalue'])[good] < 0.05
        binned[choice]['low_p'] = [
            float(np.mean(low_p[(beta >= lo) & ((beta < hi) | (hi == 1.0))]))
            if np.any((beta >= lo) & ((beta < hi) | (hi == 1.0))) else np.nan
            for lo, hi in zip(bins[:-1], bins[1:])]
    for k in range(len(bins) - 1):
        cells = [f"{binned[c]['median_abs_error'][k]:.2e} "
                 f"({binned[c]['low_p'][k]:.2f})" for c in CHOICES]
        label = f'{bins[k]:.2f}-{bins[k + 1]:.2f}'
        print(f"{label:<14}{binned['nearest']['n_sources'][k]:>7}"
              f'{cells[0]:>20}{cells[1]:>20}')
    write_json(args.json, {
        'n_scenes': args.n_scenes, 'size': args.size,
        'n_sources': n_total, 'n_contributors': args.n_contributors,
        'seed': args.seed,
        'summary': {choice: dict(results[choice][0]) for choice in CHOICES},
        'paper': dict(PAPER_TABLE2), 'blendedness_bins': bins,
        'binned': {choice: {name: list(binned[choice][name])
                            for name in binned[choice].colnames}
                   for choice in CHOICES}})


if __name__ == '__main__':
    main()
