"""
The multi-band figures: star/galaxy classification and g - r colours of
blended galaxies on held-out ``ground_grz`` scenes, pais_deblend against
sep and photutils in the same run on the same scenes.

Scenes: ``SceneSimulator('ground_grz', shape=(--size, --size))`` at the
preset density (or ``--density``), optionally with ``--companion-fraction``,
scene i drawn from ``scene_seed(--seed, i)``. The training and validation
sets used ``write_training_set`` seeds 100 and 101, which are refused
here.

Truth: a true source is scored when its centre lies in the frame and its
matched-filter S/N in the detection image exceeds ``--min-snr``; the
others are ignored (a detection matched to one counts neither way, as
COCO's ignored objects). The detection image is the noise-weighted band
sum ``D = sum_b I_b / sigma_b`` (noise sqrt(b) per pixel); its per-source
images ``sum_b S_ib / sigma_b`` give the S/N and the true masks
(``truth_masks(mode='dominant')`` above ``--truth-threshold`` times the
noise). The default 1.5 is the shared detection threshold, so that the
true masks and the detection footprint (the filtered image above 1.5
sigma) reach the same depth: with the harness's 1.0 the true masks extend
beyond any observable footprint and even the true segmentation scores
mask AP50 0.79 (stars) / 0.64 (galaxies) on the seed-7 scenes (1.0 at
1.5). The mask AP of the true segmentation (perfect class scores) is
printed beside pais_deblend's as the ceiling of the convention.

Methods:

* pais_deblend: ``Deblender(--model)`` on the (h, w, 3) image; star
  probabilities from ``class_star``, per-band fluxes
  ``sum band_weights[..., b] * I_b`` per label (the band-combined
  weights when the model gives no ``band_weights``; said in the output).
* sep and photutils: the harness adapters (``SepMethod``,
  ``PhotutilsMethod``: shared filter, threshold and deblending settings)
  on D; per-band fluxes summed over each segment.
* SExtractor CLASS_STAR is not run: the harness's SExtractor adapter
  does not read CLASS_STAR.

Figures:

1. Per class (star, galaxy), pais_deblend: precision at 80 % recall and
   detection AP (centre match within ``--match-radius``, default the
   r-band PSF FWHM), ranked by the class score (p for stars, 1 - p for
   galaxies), next to Burke et al. (2019): 92 % / 98 %.
2. Per class, pais_deblend: mask AP@0.5 and AP@0.50:0.95 (predicted
   dominant-source masks cut to the detection footprint; the true masks
   of the ignored sources and the predicted masks of the detections
   matched only to them left out), next to the follow-up's AP@0.5:
   0.708 / 0.816.
3. Median |(g - r)_rec - (g - r)_true| of blended galaxies (blendedness >
   ``--min-blendedness`` in r, centre in the frame) found by both
   pais_deblend and the peer (one-to-one centre match), for pais_deblend
   against sep and against photutils on the same sources, and the ratio
   (the target: <= 0.7x sep's). The same, with the same weights and
   segments applied to the noiseless image: the attribution error alone,
   without the photometric noise of the pixels each method sums.
4. Median |relative r-band flux error| of the isolated scored sources
   (blendedness < 0.05) each method finds, the price of a tighter
   footprint (``--footprint-threshold``).

Also a class-blind detection precision / recall of the scored sources per
method. The last line is a one-line summary.

Usage::

    python benchmarks/bench_ground.py [--n-scenes 4] [--seed 7]
        [--model ground_grz | --model path.keras] [--density D]
        [--companion-fraction F] [--json results.json]

The default (4 scenes of 512 x 512) runs in a few minutes on 2 cores but
holds only ~35 scored sources (~7 stars) and almost no blended galaxy
that the peers detect: the preset's counts are dominated by faint
sources (about 1 in 15 in-frame sources has S/N > 10 at r ~ 22.5), and
the blended ones are mostly faint too. For the figures, use many more
scenes, e.g. ``--n-scenes 48`` (precision at 80 % recall of ~80 stars),
and for the colours add companions: ``--companion-fraction 0.3``.
"""

import argparse
import time
import warnings

import numpy as np
from _deblender_options import add_deblender_options, deblender_options
from _output import add_json_option, write_json

import pais_deblend.model  # noqa: F401 (oneDNN setting before TensorFlow)

TRAINING_SEEDS = (100, 101)
PEERS = ('sep', 'photutils')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--n-scenes', type=int, default=4,
                        help='held-out scenes (default: %(default)s)')
    parser.add_argument('--size', type=int, default=512,
                        help='scene side, pixels (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=7,
                        help='master seed of scene_seed(seed, i); not 100 '
                        'or 101 (training) (default: %(default)s)')
    parser.add_argument('--model', default='ground_grz',
                        help='bundled model name or .keras path '
                        '(default: %(default)s)')
    parser.add_argument('--density', type=float, default=None,
                        help='sources per arcmin^2 (default: the preset)')
    parser.add_argument('--companion-fraction', type=float, default=None,
                        help='share of sources given a close companion')
    parser.add_argument('--min-snr', type=float, default=10.0,
                        help='matched-filter S/N of scored true sources '
                        '(default: %(default)s)')
    parser.add_argument('--match-radius', type=float, default=None,
                        help='centre match radius, pixels (default: the '
                        'r-band PSF FWHM)')
    parser.add_argument('--recall', type=float, default=0.8,
                        help='recall of the precision figure '
                        '(default: %(default)s)')
    parser.add_argument('--min-blendedness', type=float, default=0.1,
                        help='blended galaxies: r-band blendedness above '
                        'this (default: %(default)s)')
    parser.add_argument('--truth-threshold', type=float, default=1.5,
                        help='true masks: noiseless detection image above '
                        'this many noise sigma (default: %(default)s, the '
                        'detection threshold of the shared settings)')
    parser.add_argument('--mask-footprint', choices=('detection', 'none'),
                        default='detection',
                        help='cut the predicted masks to the detection '
                        'footprint (harness convention) or not (default: '
                        '%(default)s)')
    add_deblender_options(parser)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.seed in TRAINING_SEEDS:
        parser.error(f'--seed {args.seed} was used for the training set; '
                     'choose another')
    if args.n_scenes < 1:
        parser.error('--n-scenes must be >= 1')
    return args


# ---------------------------------------------------------------- scenes

def simulate_scenes(args):
    """The held-out scenes and their truth, as dicts."""
    from pais_deblend.benchmark import BenchmarkImage
    from pais_deblend.benchmark import (detection_footprint,
                                        matched_filter_snr)
    from pais_deblend.segmentation import SourceCutout
    from pais_deblend.simulation import SceneSimulator
    from pais_deblend.simulation.dataset import scene_seed

    simulator = SceneSimulator('ground_grz', shape=(args.size, args.size),
                               density=args.density,
                               companion_fraction=args.companion_fraction)
    preset = simulator.preset
    sigmas = np.array([band.noise_sigma for band in preset.bands])
    reference = preset.bands[preset.reference_band]
    fwhm = reference.psf_fwhm / preset.pixel_scale  # pixels
    scenes = []
    for index in range(args.n_scenes):
        scene = simulator.simulate(scene_seed(args.seed, index))
        catalog = scene.catalog
        detection = np.sum(scene.image / sigmas, axis=2, dtype=np.float64)
        cutouts = [SourceCutout(np.sum(c.data / sigmas, axis=2,
                                       dtype=np.float64), c.slices)
                   for c in scene.source_images]
        image = BenchmarkImage(
            name=f'ground_grz-{args.seed}-{index}',
            data=detection.astype(np.float32), psf_fwhm=fwhm,
            noise_sigma=float(np.sqrt(len(sigmas))),
            true_centers=scene.centers, true_source_images=cutouts,
            in_frame=np.asarray(catalog['in_frame'], bool))
        snr = matched_filter_snr(image)
        scored = image.in_frame & (snr > args.min_snr)
        scenes.append({
            'scene': scene, 'image': image,
            'footprint': detection_footprint(image),
            'is_star': np.asarray(catalog['type'] == 'star'),
            'true_flux': np.asarray(catalog['flux_in_frame'], float),
            'blendedness': np.asarray(catalog['blendedness'], float),
            'scored': scored})
    return scenes, fwhm


# --------------------------------------------------------------- methods

def partial_band_fluxes(segmentation, data, labels):
    """
    (K, b) per-band fluxes of the labels: sum of band_weights[..., b] *
    data[..., b] (the band-combined weights when there are no
    band_weights) and whether band_weights were used.
    """
    from pais_deblend.benchmark.registry import segment_fluxes

    band_weights = getattr(segmentation, 'band_weights', None)
    n_bands = data.shape[2]
    fluxes = np.zeros((len(labels), n_bands))
    if band_weights is None:
        for b in range(n_bands):
            fluxes[:, b] = segment_fluxes(segmentation, data[..., b], labels)
        return fluxes, False
    contributors = np.asarray(segmentation.contributors).ravel()
    band_weights = np.asarray(band_weights, dtype=np.float64)
    size = int(max(contributors.max(initial=0),
                   np.max(labels, initial=0))) + 1
    for b in range(n_bands):
        weighted = band_weights[..., b] * np.asarray(
            data[..., b], np.float64)[..., None]
        fluxes[:, b] = np.bincount(contributors, weights=weighted.ravel(),
                                   minlength=size)[labels]
    return fluxes, True


def run_pais(deblender, entry):
    """pais_deblend on one scene: centres, star probabilities, fluxes."""
    data = entry['scene'].image
    deblend = getattr(deblender, 'deblend', deblender)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # an empty result says it
        segmentation = deblend(data)
    elapsed = time.perf_counter() - started
    if segmentation is None:
        return {'centers': np.zeros((0, 2)), 'star_probability': None,
                'labels': np.zeros(0, dtype=np.int64),
                'band_flux': np.zeros((0, data.shape[2])),
                'noiseless_band_flux': np.zeros((0, data.shape[2])),
                'segmentation': None, 'time': elapsed,
                'band_weights': False}
    labels = np.asarray(segmentation.partial_labels, dtype=np.int64)
    centers = np.array([segmentation.centers[int(label)]
                        for label in labels], dtype=np.float64).reshape(-1, 2)
    # no class_star attribute, or an empty one (a model without the class
    # head): no star probabilities
    class_star = getattr(segmentation, 'class_star', None) or None
    star_probability = None
    if class_star is not None and all(int(label) in class_star
                                      for label in labels):
        star_probability = np.array([class_star[int(label)]
                                     for label in labels], dtype=np.float64)
    band_flux, used = partial_band_fluxes(segmentation, data, labels)
    noiseless, _ = partial_band_fluxes(
        segmentation, entry['scene'].noiseless_image, labels)
    return {'centers': centers, 'star_probability': star_probability,
            'labels': labels, 'class_star': class_star, 'band_flux': band_flux,
            'noiseless_band_flux': noiseless,
            'segmentation': segmentation, 'time': elapsed,
            'band_weights': used}


def run_peer(method, entry):
    """A harness adapter on the detection image; per-band segment fluxes."""
    from pais_deblend.benchmark.registry import segment_fluxes

    data = entry['scene'].image
    started = time.perf_counter()
    output = method.run(entry['image'])
    elapsed = time.perf_counter() - started
    labels = np.asarray(output.catalog['label'], dtype=np.int64)
    def band_fluxes(image):
        return np.column_stack([
            segment_fluxes(output.segmentation, image[..., b], labels)
            for b in range(image.shape[2])]).reshape(len(labels),
                                                     image.shape[2])

    band_flux = band_fluxes(data)
    noiseless = band_fluxes(entry['scene'].noiseless_image)
    class_star = (np.asarray(output.catalog['class_star'], dtype=float)
                  if 'class_star' in output.catalog.colnames else None)
    return {'centers': output.positions, 'labels': labels,
            'band_flux': band_flux,
            'noiseless_band_flux': noiseless,
            'segmentation': output.segmentation, 'time': elapsed,
            'star_probability': class_star}


# --------------------------------------------------------------- figures

def ignored_detections(centers, entry, radius):
    """
    Class-blind match of detections to the scored true sources, then of
    the rest to the ignored ones: the matches and the indices of the
    detections that count neither way.
    """
    from pais_deblend.evaluation import match_sources

    true = entry['scene'].centers
    scored = entry['scored']
    matches = match_sources(centers, true[scored], max_distance=radius)
    rest = matches.unmatched_predicted
    ignored = match_sources(centers[rest], true[~scored],
                            max_distance=radius)
    return matches, rest[ignored.predicted_indices]


def detection_counts(results, scenes, radius):
    """Class-blind TP / FP / FN of the scored sources (detections matched
    only to ignored sources do not count)."""
    tp = fp = fn = 0
    for result, entry in zip(results, scenes):
        matches, ignored = ignored_detections(result['centers'], entry,
                                              radius)
        tp += len(matches.true_indices)
        fp += len(matches.unmatched_predicted) - len(ignored)
        fn += len(matches.unmatched_true)
    return {'n_true_positive': tp, 'n_false_positive': fp,
            'n_false_negative': fn,
            'precision': tp / (tp + fp) if tp + fp else float('nan'),
            'recall': tp / (tp + fn) if tp + fn else float('nan')}


def matched_fluxes(result, entry, radius, key='band_flux'):
    """(N, b) recovered per-band fluxes (``result[key]``) of every true
    source (NaN when not found; one-to-one centre match)."""
    from pais_deblend.evaluation import match_sources

    true = entry['scene'].centers
    fluxes = np.full((len(true), entry['true_flux'].shape[1]), np.nan)
    matches = match_sources(result['centers'], true, max_distance=radius)
    fluxes[matches.true_indices] = result[key][matches.predicted_indices]
    return fluxes


def _footprints(scenes, args):
    if args.mask_footprint == 'none':
        return None
    return [entry['footprint'] for entry in scenes]


def mask_ceiling(scenes, args):
    """
    Per-class mask AP of the true segmentation (each pixel of the
    noiseless detection image above the noise to its brightest source)
    with perfect class scores, scored like pais_deblend: what a perfect
    deblender reaches with this truth and footprint convention.
    """
    from photutils.segmentation import SegmentationImage

    from pais_deblend.evaluation import (class_mask_average_precision,
                                         truth_masks)

    segmentations, probabilities, ignore_labels = [], [], []
    for entry in scenes:
        image = entry['image']
        masks = truth_masks(image.true_source_images,
                            threshold=args.truth_threshold
                            * image.noise_sigma, mode='dominant',
                            shape=image.shape)
        label_map = np.zeros(image.shape, dtype=np.int32)
        for index, mask in enumerate(masks):
            label_map[mask] = index + 1
        segmentations.append(SegmentationImage(label_map))
        probabilities.append({index + 1: float(star) for index, star
                              in enumerate(entry['is_star'])})
        ignore_labels.append(np.flatnonzero(~entry['scored']) + 1)
    return class_mask_average_precision(
        segmentations, [e['image'].true_source_images for e in scenes],
        [e['is_star'] for e in scenes],
        threshold=args.truth_threshold * scenes[0]['image'].noise_sigma,
        star_probability=probabilities, footprint=_footprints(scenes, args),
        ignore=[~e['scored'] for e in scenes], ignore_labels=ignore_labels)


def blended_color_errors(all_results, scenes, radius, min_blendedness,
                         key='band_flux'):
    """Median |g - r error| of blended galaxies found by pais_deblend and by
    each peer, on the sources both found, from the fluxes ``key``."""
    from pais_deblend.evaluation import color_error, median_error_ratio

    recovered = {name: [] for name in all_results}
    true, selected = [], []
    for index, entry in enumerate(scenes):
        for name, results in all_results.items():
            recovered[name].append(matched_fluxes(results[index], entry,
                                                  radius, key))
        true.append(entry['true_flux'])
        selected.append(~entry['is_star'] & entry['image'].in_frame
                        & (entry['blendedness'] > min_blendedness))
    recovered = {name: np.concatenate(v) for name, v in recovered.items()}
    true = np.concatenate(true)
    selected = np.concatenate(selected)
    pais_found = np.all(np.isfinite(recovered['pais_deblend']), axis=1)
    out = {'n_blended_galaxies': int(selected.sum())}
    for peer in PEERS:
        both = (selected & pais_found
                & np.all(np.isfinite(recovered[peer]), axis=1))
        ours = color_error(recovered['pais_deblend'][both], true[both])
        theirs = color_error(recovered[peer][both], true[both])
        # a few tens of galaxies: the interval says how far another
        # sample's ratio may fall
        ratio, low, high = median_error_ratio(ours.errors, theirs.errors)
        # per-band median |relative flux error| on the same sources
        with np.errstate(invalid='ignore', divide='ignore'):
            ours_band = np.abs(recovered['pais_deblend'][both] / true[both]
                               - 1)
            theirs_band = np.abs(recovered[peer][both] / true[both] - 1)
        out[peer] = {'n_found_by_both': int(both.sum()),
                     'pais_band_flux_error': (
                         np.nanmedian(ours_band, axis=0).tolist()
                         if both.any() else None),
                     'peer_band_flux_error': (
                         np.nanmedian(theirs_band, axis=0).tolist()
                         if both.any() else None),
                     'pais_median_abs_error': ours.median_abs_error,
                     'pais_n_skipped': ours.n_skipped,
                     'peer_median_abs_error': theirs.median_abs_error,
                     'peer_n_skipped': theirs.n_skipped,
                     'ratio': ratio, 'ratio_interval_95': [low, high]}
    return out


def isolated_flux_errors(all_results, scenes, radius, max_blendedness=0.05):
    """Median |relative r-band flux error| of the isolated scored sources
    each method finds."""
    out = {}
    for name, results in all_results.items():
        errors = []
        for result, entry in zip(results, scenes):
            fluxes = matched_fluxes(result, entry, radius)[:, 1]
            keep = (entry['scored'] & np.isfinite(fluxes)
                    & (entry['blendedness'] < max_blendedness))
            errors.append(np.abs(fluxes[keep] / entry['true_flux'][keep, 1]
                                 - 1))
        errors = np.concatenate(errors)
        out[name] = {'n': int(errors.size),
                     'median_abs_error': (float(np.median(errors))
                                          if errors.size else float('nan'))}
    return out


def _table_rows(table):
    return [{name: (row[name].item() if hasattr(row[name], 'item')
                    else row[name]) for name in table.colnames}
            for row in table]


def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return 'nan'
    return f'{value:.{digits}f}'


def main(argv=None):
    from pais_deblend.deblend import Deblender
    from pais_deblend.evaluation import (MASK_RCNN_FIGURES,
                                         class_detection_metrics,
                                         class_mask_average_precision)
    from pais_deblend.benchmark.adapters import (
        PhotutilsMethod, SepMethod, SExtractorMethod, find_sextractor,
        find_star_network)

    from photutils.segmentation import SegmentationImage

    args = parse_args(argv)
    started = time.perf_counter()
    scenes, fwhm = simulate_scenes(args)
    radius = args.match_radius if args.match_radius is not None else fwhm
    n_sources = sum(len(e['is_star']) for e in scenes)
    n_scored = sum(int(e['scored'].sum()) for e in scenes)
    n_stars = sum(int((e['scored'] & e['is_star']).sum()) for e in scenes)
    print(f'{args.n_scenes} ground_grz scenes {args.size}x{args.size} '
          f'(seed {args.seed}, density '
          f'{args.density if args.density is not None else "preset"}, '
          f'companions {args.companion_fraction}): {n_sources} sources, '
          f'{n_scored} scored (in frame, S/N > {args.min_snr:g}), '
          f'{n_stars} of them stars; match radius {radius:.2f} px; '
          f'simulated in {time.perf_counter() - started:.1f} s', flush=True)

    deblender = Deblender(args.model, progress_bar=False,
                          **deblender_options(args))
    notes = []
    all_results = {'pais_deblend': [run_pais(deblender, e) for e in scenes]}
    peers = {'sep': SepMethod(), 'photutils': PhotutilsMethod()}
    if find_sextractor() and find_star_network():
        # the classical star/galaxy separator, on the same detection image
        peers['sextractor'] = SExtractorMethod(class_star=True)
    for name, method in peers.items():
        all_results[name] = [run_peer(method, e) for e in scenes]
    pais = all_results['pais_deblend']
    has_class = all(r['star_probability'] is not None or r['segmentation']
                    is None for r in pais) and any(
                        r['star_probability'] is not None for r in pais)
    if not has_class:
        notes.append('the pais_deblend result has no class_star: class '
                      'metrics not computed')
    if not all(r['band_weights'] or r['segmentation'] is None for r in pais):
        notes.append('the pais_deblend result has no band_weights: per-band '
                     'fluxes from the band-combined weights')
    if 'sextractor' not in peers:
        notes.append('SExtractor CLASS_STAR not run (program or default.nnw '
                     'not found)')
    times = {name: float(sum(r['time'] for r in results))
             for name, results in all_results.items()}

    print('\nclass-blind detection of scored sources:')
    print(f'  {"method":<13} {"precision":>9} {"recall":>7} {"TP":>5} '
          f'{"FP":>5} {"FN":>5} {"time s":>7}')
    detection = {}
    for name, results in all_results.items():
        counts = detection_counts(results, scenes, radius)
        detection[name] = counts
        print(f'  {name:<13} {_fmt(counts["precision"]):>9} '
              f'{_fmt(counts["recall"]):>7} {counts["n_true_positive"]:>5} '
              f'{counts["n_false_positive"]:>5} '
              f'{counts["n_false_negative"]:>5} {times[name]:>7.1f}')

    class_rows = mask_rows = ceiling_rows = None
    if has_class:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            detection_table = class_detection_metrics(
                [r['centers'] for r in pais],
                [r['star_probability'] if r['star_probability'] is not None
                 else np.zeros(0) for r in pais],
                [e['scene'].centers for e in scenes],
                [e['is_star'] for e in scenes], max_distance=radius,
                recall=args.recall, ignore=[~e['scored'] for e in scenes])
        for warning in caught:
            notes.append(f'class_detection_metrics: {warning.message}')
        # a scene without detections keeps its true masks (an empty
        # segmentation)
        mask_table = class_mask_average_precision(
            [r['segmentation'] if r['segmentation'] is not None
             else SegmentationImage(np.zeros(e['image'].shape, np.int32))
             for r, e in zip(pais, scenes)],
            [e['image'].true_source_images for e in scenes],
            [e['is_star'] for e in scenes],
            threshold=args.truth_threshold * scenes[0]['image'].noise_sigma,
            star_probability=[r.get('class_star') or {} for r in pais],
            footprint=_footprints(scenes, args),
            ignore=[~e['scored'] for e in scenes],
            ignore_labels=[r['labels'][ignored_detections(
                r['centers'], e, radius)[1]] for r, e in zip(pais, scenes)])
        ceiling_table = mask_ceiling(scenes, args)
        class_rows = _table_rows(detection_table)
        mask_rows = _table_rows(mask_table)
        ceiling_rows = _table_rows(ceiling_table)
        print(f'\nper class, pais_deblend (precision at '
              f'{args.recall:.0%} recall; Mask R-CNN in brackets; mask AP '
              f'of the true segmentation, the ceiling of this convention, '
              f'in parentheses):')
        print(f'  {"class":<7} {"n_true":>6} {"P@R":>14} {"det AP":>7} '
              f'{"mask AP50":>24} {"mask AP":>15} {"P(p>0.5)":>8} '
              f'{"R(p>0.5)":>8}')
        for det, mask, ceiling in zip(class_rows, mask_rows, ceiling_rows):
            reference = MASK_RCNN_FIGURES[det['class']]
            print(f'  {det["class"]:<7} {det["n_true"]:>6} '
                  f'{_fmt(det["precision_at_recall"]):>6} '
                  f'[{reference["precision_at_80_recall"]:.3f}] '
                  f'{_fmt(det["AP"]):>7} {_fmt(mask["AP50"]):>7} '
                  f'[{reference["AP50"]:.3f}] ({_fmt(ceiling["AP50"])}) '
                  f'{_fmt(mask["AP"]):>7} ({_fmt(ceiling["AP"])}) '
                  f'{_fmt(det["precision_at_threshold"]):>8} '
                  f'{_fmt(det["recall_at_threshold"]):>8}')

    peer_class_rows = {}
    for name in peers:
        results = all_results[name]
        if any(r['star_probability'] is None for r in results):
            continue
        with warnings.catch_warnings(record=True):
            warnings.simplefilter('always')
            table = class_detection_metrics(
                [r['centers'] for r in results],
                [r['star_probability'] for r in results],
                [e['scene'].centers for e in scenes],
                [e['is_star'] for e in scenes], max_distance=radius,
                recall=args.recall, ignore=[~e['scored'] for e in scenes])
        peer_class_rows[name] = _table_rows(table)
        print(f'\nper class, {name} CLASS_STAR (same scoring):')
        for det in peer_class_rows[name]:
            print(f'  {det["class"]:<7} {det["n_true"]:>6} P@R '
                  f'{_fmt(det["precision_at_recall"])} det AP '
                  f'{_fmt(det["AP"])} max recall {_fmt(det["max_recall"])}')

    colors = blended_color_errors(all_results, scenes, radius,
                                  args.min_blendedness)
    print(f'\nmedian |(g-r) error| (mag) of blended galaxies (blendedness > '
          f'{args.min_blendedness:g}, {colors["n_blended_galaxies"]} in '
          f'frame), on those found by pais_deblend and the peer:')
    for peer in PEERS:
        row = colors[peer]
        print(f'  vs {peer:<10} n={row["n_found_by_both"]:<4} pais '
              f'{_fmt(row["pais_median_abs_error"])}  {peer} '
              f'{_fmt(row["peer_median_abs_error"])}  ratio '
              f'{_fmt(row["ratio"], 2)} [95 %: '
              f'{_fmt(row["ratio_interval_95"][0], 2)}-'
              f'{_fmt(row["ratio_interval_95"][1], 2)}]  (skipped '
              f'non-positive: pais '
              f'{row["pais_n_skipped"]}, {peer} {row["peer_n_skipped"]})')
    print('\nmedian |relative flux error| per band (g, r, z) of the same '
          'blended galaxies:')
    for peer in PEERS:
        row = colors[peer]
        if row['pais_band_flux_error'] is None:
            print(f'  vs {peer:<10} none found by both')
            continue
        ours = ', '.join(_fmt(v) for v in row['pais_band_flux_error'])
        theirs = ', '.join(_fmt(v) for v in row['peer_band_flux_error'])
        print(f'  vs {peer:<10} pais {ours}   {peer} {theirs}')
    isolated = isolated_flux_errors(all_results, scenes, radius)
    print('\nmedian |relative r flux error| of isolated scored sources '
          '(r-band blendedness < 0.05) found by each method:')
    for name, row in isolated.items():
        print(f'  {name:<13} n={row["n"]:<5} {_fmt(row["median_abs_error"])}')
    noiseless_colors = blended_color_errors(
        all_results, scenes, radius, args.min_blendedness,
        key='noiseless_band_flux')
    print('\nthe same colours with the same weights and segments applied '
          'to the noiseless image (the attribution error alone, without '
          'the photometric noise of the pixels each method sums):')
    for peer in PEERS:
        row = noiseless_colors[peer]
        print(f'  vs {peer:<10} n={row["n_found_by_both"]:<4} pais '
              f'{_fmt(row["pais_median_abs_error"])}  {peer} '
              f'{_fmt(row["peer_median_abs_error"])}  ratio '
              f'{_fmt(row["ratio"], 2)}')
    for note in notes:
        print(f'note: {note}')

    total = time.perf_counter() - started
    results = {
        'args': vars(args), 'match_radius': radius,
        'n_sources': n_sources, 'n_scored': n_scored,
        'n_scored_stars': n_stars, 'detection': detection,
        'class_detection': class_rows, 'class_masks': mask_rows,
        'class_masks_ceiling': ceiling_rows,
        'peer_class_detection': peer_class_rows,
        'colors': colors, 'noiseless_colors': noiseless_colors,
        'isolated_flux_errors': isolated,
        'times': times, 'total_time': total,
        'reference': MASK_RCNN_FIGURES, 'notes': notes}
    write_json(args.json, results)
    if class_rows is not None:
        star, galaxy = class_rows
        star_mask, galaxy_mask = mask_rows
        class_text = (
            f'P@{args.recall:.0%}R star {_fmt(star["precision_at_recall"])} '
            f'(ref 0.92) galaxy {_fmt(galaxy["precision_at_recall"])} '
            f'(ref 0.98); mask AP50 star {_fmt(star_mask["AP50"])} '
            f'(ref 0.708) galaxy {_fmt(galaxy_mask["AP50"])} (ref 0.816)')
    else:
        class_text = 'no class metrics (no class_star)'
    print(f'\nsummary: {class_text}; |g-r| error pais/sep '
          f'{_fmt(colors["sep"]["ratio"], 2)} [95 %: '
          f'{_fmt(colors["sep"]["ratio_interval_95"][0], 2)}-'
          f'{_fmt(colors["sep"]["ratio_interval_95"][1], 2)}] '
          '(target <= 0.7), '
          f'pais/photutils {_fmt(colors["photutils"]["ratio"], 2)}; '
          f'{args.n_scenes} scenes, {total:.0f} s')
    return results


if __name__ == '__main__':
    main()
