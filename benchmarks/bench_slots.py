"""
How partial the attribution of a model is, against the truth: whether
the second contributor slot of a pixel reaches another source than the
first (the "How partial is the attribution?" section of the benchmarks
page of the documentation).

On ``--n-scenes`` held-out simulated scenes of ``--preset`` (scene i from
``scene_seed(--seed, i)``, with ``--companion-fraction`` of the sources
given a close, fainter companion), `~pais_deblend.Deblender` with the
model, and on the pixels it attributes:

1. *partial pixels*: the fraction of attributed pixels whose largest
   weight is below 0.9, for the decoded weights and for the true
   fractions S_i / sum_j S_j (noiseless source images, summed over
   bands);
2. *flux to secondary contributors*: sum over those pixels of
   (1 - largest weight) * I / sum of I, decoded and true;
3. *same-centre slots*: on the attributed pixels that are truly
   partial (largest true fraction < 0.9), the fraction where the
   network's first two contributor vectors land on the same detected
   centre (decoding then adds their weights: the pixel goes to one
   source whatever the contribution maps say); elsewhere the second
   slot carries no flux and may point anywhere;
4. the median of the network's largest softmax weight of C^m on those
   pixels (how shared the contribution maps themselves are);
5. *both detected*: the share of those truly partial pixels
   whose two largest true contributors are both detected (each matched
   one-to-one to a detection within the reference band's PSF FWHM),
   and on these pixels alone the same-centre fraction, the fraction
   where slots 1 and 2 reach exactly those two detections, and the
   decoded partial fraction. Decoding can only share a pixel among
   detected sources, so these pixels are the ones where the slots, not
   the detection, decide.

Usage::

    python benchmarks/bench_slots.py [--model ground_grz] [--n-scenes 4]
        [--preset ground_grz] [--seed 7] [--companion-fraction 0.3]

``--model`` also takes a ``.keras`` file (give ``--preset``,
``--detection-threshold`` and ``--min-separation`` then).
"""

import argparse
import time

import numpy as np
from _deblender_options import add_deblender_options, deblender_options
from _output import add_json_option, write_json

import pais_deblend.model  # noqa: F401 (oneDNN setting before TensorFlow)

TRAINING_SEEDS = (0, 1, 10, 100, 101)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='ground_grz',
                        help='bundled model name or .keras file')
    parser.add_argument('--preset', default=None,
                        help='simulation preset (default: the bundled '
                        "model's name)")
    parser.add_argument('--n-scenes', type=int, default=4)
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--companion-fraction', type=float, default=0.3)
    add_deblender_options(parser)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.seed in TRAINING_SEEDS:
        parser.error(f'--seed {args.seed} is used by the training recipes')
    if args.preset is None:
        if args.model.endswith('.keras'):
            parser.error('--preset is needed with a .keras model')
        args.preset = args.model
    return args


def true_top_two(scene):
    """
    The two largest true fractions (`Scene.fraction_maps`, bands summed)
    of every pixel and their sources: (h, w, 2) fractions (the largest
    is 1 where no source has flux) and (h, w, 2) source indices (-1 for
    none).
    """
    fractions = np.zeros(scene.shape + (2,))
    sources = np.full(scene.shape + (2,), -1)
    for index, fraction in enumerate(scene.fraction_maps()):
        top, who = fractions[fraction.slices], sources[fraction.slices]
        value = fraction.data
        first = value > top[..., 0]
        second = ~first & (value > top[..., 1])
        # the old first place moves to second where this source leads
        top[..., 1] = np.where(first, top[..., 0],
                               np.where(second, value, top[..., 1]))
        who[..., 1] = np.where(first, who[..., 0],
                               np.where(second, index, who[..., 1]))
        top[..., 0] = np.where(first, value, top[..., 0])
        who[..., 0] = np.where(first, index, who[..., 0])
    fractions[..., 0] = np.where(sources[..., 0] >= 0, fractions[..., 0],
                                 1.0)
    return fractions, sources


def slot_centers(vectors, centers, pixels):
    """The detections (indices into ``centers``) nearest to where the
    slot-1 and slot-2 vectors of ``pixels`` (K, 2) land: two (K,)
    arrays."""
    from scipy.spatial import cKDTree

    if len(centers) < 2:
        zeros = np.zeros(len(pixels), dtype=int)
        return zeros, zeros
    tree = cKDTree(centers)
    iy, ix = pixels.T
    return tuple(tree.query(pixels + vectors[iy, ix, k])[1] for k in (0, 1))


def detection_of_sources(centers, true_centers, radius):
    """(N,) index of the detection matched to each true source, -1 for
    none (one-to-one match within ``radius``)."""
    from pais_deblend.evaluation import match_sources

    found = np.full(len(true_centers), -1)
    matches = match_sources(centers, true_centers, max_distance=radius)
    found[matches.true_indices] = matches.predicted_indices
    return found


def measure(args):
    from pais_deblend import Deblender
    from pais_deblend.model import predict_pcr
    from pais_deblend.simulation import SceneSimulator
    from pais_deblend.simulation.dataset import scene_seed

    deblender = Deblender(args.model, progress_bar=False,
                          **deblender_options(args))
    simulator = SceneSimulator(args.preset, shape=(args.size, args.size),
                               companion_fraction=args.companion_fraction)
    preset = simulator.preset
    reference = preset.bands[preset.reference_band]
    radius = reference.psf_fwhm / preset.pixel_scale
    sums = {'pixels': 0, 'partial_decoded': 0, 'partial_true': 0,
            'flux': 0.0, 'secondary_decoded': 0.0, 'secondary_true': 0.0,
            'same_center': 0, 'softmax_max': [], 'both_detected': 0,
            'both_same_center': 0, 'both_right_centers': 0,
            'both_partial_decoded': 0}
    for index in range(args.n_scenes):
        scene = simulator.simulate(scene_seed(args.seed, index))
        image = scene.image
        segmentation = deblender(image)
        if segmentation is None:
            continue
        attributed = segmentation.data > 0
        largest_weight = np.asarray(segmentation.weights).max(axis=-1)
        decoded = largest_weight[attributed]
        top_fractions, top_sources = true_top_two(scene)
        true_largest = top_fractions[..., 0]
        truth = true_largest[attributed]
        flux = image.sum(axis=-1) if image.ndim == 3 else image
        flux = np.clip(flux[attributed], 0, None)
        sums['pixels'] += int(attributed.sum())
        sums['partial_decoded'] += int(np.sum(decoded < 0.9))
        sums['partial_true'] += int(np.sum(truth < 0.9))
        sums['flux'] += float(flux.sum())
        sums['secondary_decoded'] += float(np.sum((1 - decoded) * flux))
        sums['secondary_true'] += float(np.sum((1 - truth) * flux))
        pcr = predict_pcr(deblender.model, image, progress_bar=False,
                          normalization=deblender.normalization)
        centers = np.array([segmentation.centers[int(label)] for label
                            in segmentation.partial_labels])
        partial = attributed & (true_largest < 0.9)
        pixels = np.argwhere(partial)
        first, second = slot_centers(np.asarray(pcr.contribution_vectors),
                                     centers, pixels)
        sums['same_center'] += int(np.sum(first == second))
        # the detections of the pixels' two largest true contributors
        found = np.append(detection_of_sources(centers, scene.centers,
                                               radius), -1)
        iy, ix = pixels.T
        a = found[top_sources[iy, ix, 0]]
        b = found[top_sources[iy, ix, 1]]
        both = (a >= 0) & (b >= 0)
        sums['both_detected'] += int(both.sum())
        sums['both_same_center'] += int(np.sum((first == second)[both]))
        sums['both_right_centers'] += int(np.sum(
            (((first == a) & (second == b)) | ((first == b) & (second == a)))
            [both]))
        sums['both_partial_decoded'] += int(np.sum(
            (largest_weight[iy, ix] < 0.9)[both]))
        logits = np.asarray(pcr.contribution_maps, np.float64)[attributed]
        shares = np.exp(logits - logits.max(axis=-1, keepdims=True))
        shares /= shares.sum(axis=-1, keepdims=True)
        sums['softmax_max'].append(shares.max(axis=-1))
    n = max(sums['pixels'], 1)
    return {
        'attributed_pixels': sums['pixels'],
        'partial_pixels_decoded': sums['partial_decoded'] / n,
        'partial_pixels_true': sums['partial_true'] / n,
        'secondary_flux_decoded': sums['secondary_decoded'] / max(
            sums['flux'], 1e-300),
        'secondary_flux_true': sums['secondary_true'] / max(sums['flux'],
                                                            1e-300),
        'same_center_slots': sums['same_center'] / max(
            sums['partial_true'], 1),
        'median_largest_share': float(np.median(np.concatenate(
            sums['softmax_max']))) if sums['softmax_max'] else float('nan'),
        'match_radius': radius,
        'both_detected': sums['both_detected'] / max(sums['partial_true'],
                                                     1),
        'both_detected_pixels': sums['both_detected'],
        'both_same_center_slots': _share_of_both(sums,
                                                 'both_same_center'),
        'both_right_centers': _share_of_both(sums, 'both_right_centers'),
        'both_partial_decoded': _share_of_both(sums,
                                               'both_partial_decoded'),
    }


def _share_of_both(sums, key):
    """A count over the both-detected pixels as a fraction of them."""
    return sums[key] / max(sums['both_detected'], 1)


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    result = measure(args)
    print(f'model {args.model}, preset {args.preset}, {args.n_scenes} '
          f'scenes of {args.size}^2 (seed {args.seed}, companion fraction '
          f'{args.companion_fraction:g}), {result["attributed_pixels"]} '
          f'attributed pixels, {time.perf_counter() - started:.0f} s')
    print(f'  partial pixels (largest weight < 0.9): decoded '
          f'{result["partial_pixels_decoded"]:.3f}, true '
          f'{result["partial_pixels_true"]:.3f}')
    print(f'  flux to secondary contributors: decoded '
          f'{result["secondary_flux_decoded"]:.3f}, true '
          f'{result["secondary_flux_true"]:.3f}')
    print(f'  truly partial pixels with slots 1 and 2 on one centre: '
          f'{result["same_center_slots"]:.3f}')
    print(f'  median largest C^m softmax share: '
          f'{result["median_largest_share"]:.3f}')
    print(f'  truly partial pixels whose two largest true contributors are '
          f'both detected (within {result["match_radius"]:.2f} px): '
          f'{result["both_detected"]:.3f} '
          f'({result["both_detected_pixels"]} pixels); on those:')
    print(f'    slots 1 and 2 on one centre '
          f'{result["both_same_center_slots"]:.3f}, on the two right '
          f'detections {result["both_right_centers"]:.3f}, decoded partial '
          f'(largest weight < 0.9) {result["both_partial_decoded"]:.3f}')
    write_json(args.json, result)
    return result


if __name__ == '__main__':
    main()
