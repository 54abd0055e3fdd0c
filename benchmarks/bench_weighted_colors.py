"""
Total-flux colours against profile-weighted (matched-aperture) colours
of blended galaxies, pais_deblend and sep on the same sources: how much
of the g - r error is photometric noise that profile weights remove.

The scenes, matching and blended-galaxy selection are those of
``bench_ground.py`` (held-out ``ground_grz`` scenes, galaxies in the
frame with r-band blendedness > 0.1 found by both methods). Two colours
per method:

* total: the per-band fluxes ``bench_ground.py`` uses (pais_deblend:
  ``sum band_weights * I_b``; sep: the segment sums);
* weighted: ``sum_p w_i(p) S_ib(p)`` per band, with S_ib the source's
  own image in band b (pais_deblend: ``band_weights * I_b``; sep: the
  segment's pixels) and ``w_i`` its share of the detection image
  smoothed by a Gaussian of 1 px and clipped at 0 (pais_deblend: the
  band-combined weight times it; sep: the segment times it), the same
  weights in every band, as matched-aperture colours do.

Both are compared with the true total colour, and the weighted ones also
with the true weighted colour (the same weighting of the noiseless
per-source image), since bulges and disks differ in colour and a
weighted colour measures a different quantity; the median
|weighted - total| of the truth says how large that difference is.

Usage::

    python benchmarks/bench_weighted_colors.py [--n-scenes 60] [--seed 8]
        [--model ground_grz]
"""

import argparse
import warnings

import numpy as np
from _deblender_options import add_deblender_options, deblender_options
from _output import add_json_option, write_json

import bench_ground


def g_minus_r(fluxes):
    """g - r (mag) of (n, 3) g, r, z fluxes; NaN where undefined."""
    with np.errstate(divide='ignore', invalid='ignore'):
        return -2.5 * np.log10(fluxes[:, 0] / fluxes[:, 1])


def pais_weighted_fluxes(result, data, profile):
    """(K, b) profile-weighted fluxes of pais_deblend's labels."""
    segmentation = result['segmentation']
    contributors = np.asarray(segmentation.contributors)
    weights = np.asarray(segmentation.weights, dtype=np.float64)
    band_weights = np.asarray(segmentation.band_weights, dtype=np.float64)
    labels = result['labels']
    size = int(max(contributors.max(), labels.max())) + 1
    weighted = weights * profile[..., np.newaxis]
    return np.column_stack([
        np.bincount(contributors.ravel(),
                    (weighted * band_weights[..., b]
                     * data[..., b][..., np.newaxis]).ravel(), size)[labels]
        for b in range(data.shape[2])])


def segment_weighted_fluxes(segment_data, labels, data, profile):
    """(K, b) profile-weighted fluxes of a segmentation's labels."""
    size = int(max(segment_data.max(), labels.max())) + 1
    return np.column_stack([
        np.bincount(segment_data.ravel(), (profile * data[..., b]).ravel(),
                    size)[labels] for b in range(data.shape[2])])


def true_weighted_fluxes(entry, selected, sigmas, smoothing):
    """(N, b) weighted fluxes of the noiseless per-source images (NaN for
    the sources not selected)."""
    from scipy import ndimage

    out = np.full((len(selected), len(sigmas)), np.nan)
    for i, cutout in enumerate(entry['scene'].source_images):
        if selected[i]:
            image = np.asarray(cutout.data, dtype=np.float64)
            profile = np.clip(ndimage.gaussian_filter(
                (image / sigmas).sum(axis=2), smoothing), 0, None)
            out[i] = (profile[..., np.newaxis] * image).sum(axis=(0, 1))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n-scenes', type=int, default=60)
    parser.add_argument('--seed', type=int, default=8)
    parser.add_argument('--model', default='ground_grz')
    parser.add_argument('--smoothing', type=float, default=1.0,
                        help='Gaussian sigma (px) of the weight profile')
    add_deblender_options(parser)
    add_json_option(parser)
    args = parser.parse_args()
    warnings.simplefilter('ignore')

    from scipy import ndimage

    from pais_deblend.deblend import Deblender
    from pais_deblend.benchmark.adapters import SepMethod
    from pais_deblend.simulation import get_preset

    scenes, fwhm = bench_ground.simulate_scenes(bench_ground.parse_args(
        ['--n-scenes', str(args.n_scenes), '--seed', str(args.seed),
         '--companion-fraction', '0.3']))
    deblender = Deblender(args.model, progress_bar=False,
                          **deblender_options(args))
    sep = SepMethod()
    sigmas = np.array([band.noise_sigma
                       for band in get_preset('ground_grz').bands])
    keys = ('pais total', 'pais weighted', 'sep total', 'sep weighted')
    columns = {key: [] for key in keys + ('true', 'true weighted')}
    for entry in scenes:
        data = np.asarray(entry['scene'].image, dtype=np.float64)
        profile = np.clip(ndimage.gaussian_filter(
            np.asarray(entry['image'].data, np.float64), args.smoothing),
            0, None)
        selected = (~entry['is_star'] & entry['image'].in_frame
                    & (entry['blendedness'] > 0.1))
        pais = bench_ground.run_pais(deblender, entry)
        peer = bench_ground.run_peer(sep, entry)
        if pais['segmentation'] is None:
            continue
        pais['weighted_flux'] = pais_weighted_fluxes(pais, data, profile)
        peer['weighted_flux'] = segment_weighted_fluxes(
            np.asarray(peer['segmentation'].data), peer['labels'], data,
            profile)
        per_source = {
            f'{name} {kind}': bench_ground.matched_fluxes(
                result, entry, fwhm, key)
            for name, result in (('pais', pais), ('sep', peer))
            for kind, key in (('total', 'band_flux'),
                              ('weighted', 'weighted_flux'))}
        both = (selected & np.isfinite(per_source['pais total'][:, 0])
                & np.isfinite(per_source['sep total'][:, 0]))
        for key in keys:
            columns[key].append(per_source[key][both])
        columns['true'].append(entry['true_flux'][both])
        columns['true weighted'].append(true_weighted_fluxes(
            entry, both, sigmas, args.smoothing)[both])
    colors = {key: g_minus_r(np.concatenate(value))
              for key, value in columns.items()}
    true, true_weighted = colors['true'], colors['true weighted']
    print(f'{args.n_scenes} ground_grz scenes (seed {args.seed}), model '
          f'{args.model}: {true.size} blended galaxies found by pais_deblend '
          f'and sep')
    print(f'median |true weighted - true total| g - r: '
          f'{np.nanmedian(np.abs(true_weighted - true)):.3f} mag')
    figures = {'n_scenes': args.n_scenes, 'seed': args.seed,
               'model': args.model, 'n_galaxies': true.size,
               'true_weighted_vs_total': np.nanmedian(
                   np.abs(true_weighted - true)),
               'median_abs_color_error': {}, 'ratio_to_sep': {}}
    print('median |g - r error| (mag)    against true total  against true '
          'weighted')
    for key in keys:
        against_weighted = (f'{np.nanmedian(np.abs(colors[key] - true_weighted)):.3f}'
                            if 'weighted' in key else '--')
        figures['median_abs_color_error'][key] = {
            'against_true_total': np.nanmedian(np.abs(colors[key] - true)),
            'against_true_weighted': (
                np.nanmedian(np.abs(colors[key] - true_weighted))
                if 'weighted' in key else None)}
        print(f'{key:<28}  {np.nanmedian(np.abs(colors[key] - true)):17.3f}  '
              f'{against_weighted:>21}')
    for kind, reference in (('total', true), ('weighted', true_weighted)):
        ours = np.nanmedian(np.abs(colors[f'pais {kind}'] - reference))
        theirs = np.nanmedian(np.abs(colors[f'sep {kind}'] - reference))
        figures['ratio_to_sep'][kind] = ours / theirs
        print(f'pais_deblend / sep, {kind} colours: {ours / theirs:.2f}x')
    write_json(args.json, figures)


if __name__ == '__main__':
    main()
