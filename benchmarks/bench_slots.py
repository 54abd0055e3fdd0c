"""
How partial the attribution of a model is, against the truth: the
diagnostic behind the session-6 finding that the bundled models' second
contributor slot points at the same source as the first.

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
   pixels (how shared the contribution maps themselves are).

Usage::

    python benchmarks/bench_slots.py [--model ground_grz] [--n-scenes 4]
        [--preset ground_grz] [--seed 7] [--companion-fraction 0.3]

``--model`` also takes a ``.keras`` file (give ``--preset``,
``--detection-threshold`` and ``--min-separation`` then).
"""

import argparse
import time

import numpy as np

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
    parser.add_argument('--detection-threshold', type=float, default=None)
    parser.add_argument('--min-separation', type=int, default=None)
    args = parser.parse_args(argv)
    if args.seed in TRAINING_SEEDS:
        parser.error(f'--seed {args.seed} is used by the training recipes')
    if args.preset is None:
        if args.model.endswith('.keras'):
            parser.error('--preset is needed with a .keras model')
        args.preset = args.model
    return args


def true_largest_fraction(scene):
    """(h, w) largest true fraction (`Scene.fraction_maps`, bands summed);
    1 where no source has flux."""
    largest = np.zeros(scene.shape)
    for fraction in scene.fraction_maps():
        np.maximum(largest[fraction.slices], fraction.data,
                   out=largest[fraction.slices])
    return np.where(largest > 0, largest, 1.0)


def same_center_fraction(vectors, centers, pixels):
    """Fraction of ``pixels`` (K, 2) whose slot-1 and slot-2 vectors
    reach the same nearest centre."""
    from scipy.spatial import cKDTree

    if len(centers) < 2:
        return 1.0
    tree = cKDTree(centers)
    iy, ix = pixels.T
    targets = [pixels + vectors[iy, ix, k] for k in (0, 1)]
    first = tree.query(targets[0])[1]
    second = tree.query(targets[1])[1]
    return float(np.mean(first == second))


def measure(args):
    from pais_deblend import Deblender
    from pais_deblend.model import predict_pcr
    from pais_deblend.simulation import SceneSimulator
    from pais_deblend.simulation.dataset import scene_seed

    options = {key: value for key, value in (
        ('detection_threshold', args.detection_threshold),
        ('min_separation', args.min_separation)) if value is not None}
    deblender = Deblender(args.model, progress_bar=False, **options)
    simulator = SceneSimulator(args.preset, shape=(args.size, args.size),
                               companion_fraction=args.companion_fraction)
    sums = {'pixels': 0, 'partial_decoded': 0, 'partial_true': 0,
            'flux': 0.0, 'secondary_decoded': 0.0, 'secondary_true': 0.0,
            'same_center': 0.0, 'softmax_max': []}
    for index in range(args.n_scenes):
        scene = simulator.simulate(scene_seed(args.seed, index))
        image = scene.image
        segmentation = deblender(image)
        if segmentation is None:
            continue
        attributed = segmentation.data > 0
        decoded = np.asarray(segmentation.weights).max(axis=-1)[attributed]
        true_largest = true_largest_fraction(scene)
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
        if len(pixels):
            sums['same_center'] += (same_center_fraction(
                np.asarray(pcr.contribution_vectors), centers, pixels)
                * len(pixels))
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
    }


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
    return result


if __name__ == '__main__':
    main()
