"""
Faint neighbours inside the halo of a bright, large galaxy: recall per
separation, pais_deblend against photutils and sep in the same run.

Each scene is an isolated pair (`pais_deblend.simulation.simulate_pair`,
a seed the bundled models were not trained on) whose primary is a bright
galaxy (``--magnitude``, default 19.5 in F160W: half-light radii of
about 6-8 pixels from the preset's size relation) and whose secondary is
``--flux-ratio`` times fainter (default 60: about 24 mag, well above the
detection limit on its own). This is the configuration of the HLF
GOODS-S source at (95, 105) that only pais_deblend missed (benchmarks
page): the sources a model never saw next to a bright galaxy in training
are the ones it misses there. A secondary is found when a detection lies
within one PSF FWHM of its centre; the mean number of detections per
scene shows whether a method finds it by fragmenting the primary. The
``pais+segments`` column is pais_deblend given photutils' deblended
segmentation image (``deblender(image, segmentation)``): every segment
keeps a source and shares its pixels among its own sources only.

Usage::

    python benchmarks/bench_halo_neighbours.py [--model hst_f160w]
        [--preset hst_f160w] [--magnitude 19.5] [--flux-ratio 60] [--n-per-cell 16] [--seed 1]
"""

import argparse
import warnings

import numpy as np
from _deblender_options import add_deblender_options, deblender_options
from _output import add_json_option, write_json

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)

SEPARATIONS = (4.0, 6.0, 9.0, 12.0, 16.0)
PEERS = ('photutils', 'sep')


def found_within(positions, target, radius):
    """Whether any (y, x) of ``positions`` lies within ``radius`` of
    ``target``."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if positions.size == 0:
        return False
    return bool(np.min(np.hypot(*(positions - target).T)) <= radius)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model name or .keras path')
    parser.add_argument('--preset', default='hst_f160w',
                        help="the model's simulation preset")
    parser.add_argument('--magnitude', type=float, default=19.5,
                        help='primary magnitude (default: %(default)s)')
    parser.add_argument('--flux-ratio', type=float, default=60.0)
    parser.add_argument('--n-per-cell', type=int, default=16)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--size', type=int, default=160,
                        help='scene size in pixels (default: %(default)s)')
    add_deblender_options(parser)
    add_json_option(parser)
    args = parser.parse_args()
    warnings.simplefilter('ignore')

    from pais_deblend import Deblender
    from pais_deblend.benchmark.adapters import PhotutilsMethod, SepMethod
    from pais_deblend.benchmark import (matched_filter_snr,
                                        preset_psf_image,
                                        scene_benchmark_image)
    from pais_deblend.simulation import get_preset, pair_grid

    deblender = Deblender(args.model, progress_bar=False,
                          **deblender_options(args))
    preset = get_preset(args.preset)
    fwhm = preset.psf_fwhm_pixels
    psf = preset_psf_image(preset)
    peers = {'photutils': PhotutilsMethod(), 'sep': SepMethod()}
    # pais_deblend inside photutils' deblended segments: each segment's
    # pixels are shared among that segment's sources only, and a segment
    # the network has no centre in gets one
    methods = ('pais_deblend', 'pais+segments') + PEERS
    found = {s: {m: [] for m in methods} for s in SEPARATIONS}
    counts = {s: {m: [] for m in methods} for s in SEPARATIONS}
    radii, snr = {s: [] for s in SEPARATIONS}, {s: [] for s in SEPARATIONS}
    for separation, _, scene in pair_grid(
            SEPARATIONS, [args.flux_ratio], n_per_cell=args.n_per_cell,
            seed=args.seed, preset=preset, shape=(args.size, args.size),
            magnitude=args.magnitude, source_type=('galaxy', 'galaxy')):
        catalog = scene.catalog
        secondary = np.array([catalog['y'][1], catalog['x'][1]])
        radii[separation].append(catalog['size'][0] / preset.pixel_scale)
        segmentation = deblender(scene.image)
        centers = ([] if segmentation is None
                   else list(segmentation.centers.values()))
        found[separation]['pais_deblend'].append(
            found_within(centers, secondary, fwhm))
        counts[separation]['pais_deblend'].append(len(centers))
        image = scene_benchmark_image('halo', scene, {}, psf)
        snr[separation].append(matched_filter_snr(image)[1])
        for name, method in peers.items():
            output = method.run(image)
            found[separation][name].append(
                found_within(output.positions, secondary, fwhm))
            counts[separation][name].append(len(output.catalog))
            if name == 'photutils':
                inside = deblender(scene.image, output.segmentation)
                centers = ([] if inside is None
                           else list(inside.centers.values()))
                found[separation]['pais+segments'].append(
                    found_within(centers, secondary, fwhm))
                counts[separation]['pais+segments'].append(len(centers))
    print(f'model {args.model}: primary {args.magnitude:g} mag, '
          f'{args.flux_ratio:g}x fainter neighbour, {args.n_per_cell} pairs '
          f'per separation (seed {args.seed}), found = a detection within '
          f'{fwhm:.1f} px (1 PSF FWHM)')
    print('separation  primary    neighbour  neighbour recall'
          + ' ' * (13 * len(methods) + 1 - len('neighbour recall'))
          + 'detections per scene')
    print('[FWHM]      r_half px  S/N        '
          + ' '.join(f'{m:>12}' for m in methods) + '  '
          + ' '.join(f'{m:>12}' for m in methods))
    rows = []
    for separation in SEPARATIONS:
        rows.append({
            'separation': separation,
            'primary_half_light_radius': np.median(radii[separation]),
            'neighbour_snr': np.median(snr[separation]),
            'recall': {m: np.mean(found[separation][m]) for m in methods},
            'detections': {m: np.mean(counts[separation][m])
                           for m in methods}})
        print(f'{separation:6.0f}      {np.median(radii[separation]):9.1f}  '
              f'{np.median(snr[separation]):9.0f}  '
              + ' '.join(f'{np.mean(found[separation][m]):12.2f}'
                         for m in methods) + '  '
              + ' '.join(f'{np.mean(counts[separation][m]):12.1f}'
                         for m in methods))
    write_json(args.json, {'model': args.model, 'magnitude': args.magnitude,
                           'flux_ratio': args.flux_ratio,
                           'n_per_cell': args.n_per_cell, 'seed': args.seed,
                           'fwhm_pixels': fwhm, 'separations': rows})


if __name__ == '__main__':
    main()
