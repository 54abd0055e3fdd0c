"""
How strongly a model's centre-of-mass map marks the fainter member of a
pair, as a function of separation.

For isolated pairs (`pais_deblend.simulation.pair_grid`, a seed the
bundled models were not trained on) the network's C^c is read at each
true centre (the largest value of the 3 x 3 pixels around it) and the
median over the pairs of each separation is printed with the share of
fainter members above the model's detection threshold. At separations
under about 2 PSF FWHM the two 3 x 3 windows overlap the same broad peak,
so the fainter member's value there says little: for those the median
C^c profile along the line from the brighter (t = 0) to the fainter
member (t = 1) is printed too, which shows whether the map has a second
maximum. The benchmark's fainter-member recall (``bench_deblend.py``) is
the detection figure.

Usage::

    python benchmarks/bench_companion_peaks.py [--model hst_f160w]
        [--flux-ratio 4] [--n-per-cell 16] [--seed 1]
"""

import argparse
import warnings

import numpy as np
from _deblender_options import add_deblender_options, deblender_options
from _output import add_json_option, write_json

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)

SEPARATIONS = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
PROFILE_SEPARATIONS = (1.0, 1.5, 2.0)
PROFILE_STEPS = np.linspace(-0.4, 1.6, 11)


def peak_near(center_of_mass, y, x):
    """The largest C^c value of the 3 x 3 pixels around (y, x)."""
    iy, ix = int(round(y)), int(round(x))
    return float(center_of_mass[max(iy - 1, 0):iy + 2,
                                max(ix - 1, 0):ix + 2].max())


def profile_along_pair(center_of_mass, primary, secondary):
    """C^c along the pair axis at PROFILE_STEPS (0: primary, 1: secondary),
    bilinear."""
    from scipy import ndimage

    primary, secondary = np.asarray(primary), np.asarray(secondary)
    points = primary + PROFILE_STEPS[:, np.newaxis] * (secondary - primary)
    return ndimage.map_coordinates(center_of_mass, points.T, order=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model name or .keras path')
    parser.add_argument('--preset', default='hst_f160w')
    parser.add_argument('--flux-ratio', type=float, default=4.0)
    parser.add_argument('--n-per-cell', type=int, default=16)
    parser.add_argument('--seed', type=int, default=1)
    add_deblender_options(parser)
    add_json_option(parser)
    args = parser.parse_args()
    warnings.simplefilter('ignore')

    from pais_deblend import Deblender
    from pais_deblend.simulation import pair_grid

    deblender = Deblender(args.model, progress_bar=False,
                          **deblender_options(args))
    threshold = deblender.detection_threshold
    values = {separation: [] for separation in SEPARATIONS}
    profiles = {separation: [] for separation in PROFILE_SEPARATIONS}
    for separation, _, scene in pair_grid(
            SEPARATIONS, [args.flux_ratio], n_per_cell=args.n_per_cell,
            seed=args.seed, preset=args.preset, shape=(96, 96)):
        center_of_mass = np.asarray(
            deblender.predict(scene.image).center_of_mass)
        catalog = scene.catalog
        values[separation].append([
            peak_near(center_of_mass, catalog['y'][i], catalog['x'][i])
            for i in range(2)])
        if separation in profiles:
            profiles[separation].append(profile_along_pair(
                center_of_mass, (catalog['y'][0], catalog['x'][0]),
                (catalog['y'][1], catalog['x'][1])))
    print(f'model {args.model}, {args.flux_ratio:g}:1 pairs, '
          f'{args.n_per_cell} per separation (seed {args.seed}), detection '
          f'threshold {threshold:g}')
    print('separation [FWHM]  median C^c primary  fainter  fainter above '
          'threshold')
    figures = {'model': args.model, 'flux_ratio': args.flux_ratio,
               'n_per_cell': args.n_per_cell, 'seed': args.seed,
               'detection_threshold': threshold, 'peaks': [],
               'profile_steps': PROFILE_STEPS, 'profiles': {}}
    for separation in SEPARATIONS:
        pairs = np.array(values[separation])
        figures['peaks'].append({
            'separation': separation,
            'median_primary': np.median(pairs[:, 0]),
            'median_fainter': np.median(pairs[:, 1]),
            'fainter_above_threshold': np.mean(pairs[:, 1] > threshold)})
        print(f'{separation:17.1f}  {np.median(pairs[:, 0]):19.2f}  '
              f'{np.median(pairs[:, 1]):7.2f}  '
              f'{np.mean(pairs[:, 1] > threshold):24.2f}')
    print('\nmedian C^c along the pair axis, t = 0 at the brighter member, '
          't = 1 at the fainter:')
    print('separation [FWHM]  ' + ' '.join(f'{t:5.1f}' for t in PROFILE_STEPS))
    for separation in PROFILE_SEPARATIONS:
        median = np.median(np.array(profiles[separation]), axis=0)
        figures['profiles'][separation] = median
        print(f'{separation:17.1f}  ' + ' '.join(f'{v:5.2f}' for v in median))
    write_json(args.json, figures)


if __name__ == '__main__':
    main()
