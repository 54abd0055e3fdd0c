"""
Tune the decoding settings of a trained model on its validation scenes.

Runs the `~pais_deblend.Deblender` pipeline's network pass once per
validation scene (a training set written by ``pais-deblend simulate``
with a seed the training never used), then scans the centre-of-mass
peak threshold and the non-maximum-suppression half-width and prints,
for each, the detection precision, recall and F1 of the true sources
with matched-filter S/N > ``--min-snr`` (sqrt(sum S_i^2) / sigma; every
detection without a true source within one PSF FWHM counts as a false
positive). The scenes are re-simulated from their seeds to get the
per-source images (the shards keep only the labels).

The chosen values go into ``BUNDLED_MODELS`` (pais_deblend/model/bundled.py)
as the model's ``decoding`` settings.

Usage::

    python benchmarks/tune_detection.py MODEL.keras VALIDATION_DIR
        [--n-scenes 64] [--min-snr 10]
"""

import argparse
import json
import os
import warnings

import numpy as np

import pais_deblend.model  # noqa: F401  (oneDNN setting before TensorFlow)

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
SEPARATIONS = (1, 2, 3, 4, 5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('model')
    parser.add_argument('validation_dir')
    parser.add_argument('--n-scenes', type=int, default=64)
    parser.add_argument('--min-snr', type=float, default=10.0)
    parser.add_argument('--match-radius', type=float, default=3.0)
    args = parser.parse_args()

    from pais_deblend.deblend import Deblender
    from pais_deblend.evaluation import match_sources
    from pais_deblend.pcr import find_centers
    from pais_deblend.simulation import SceneSimulator
    from pais_deblend.simulation.dataset import scene_seed

    with open(os.path.join(args.validation_dir, 'manifest.json')) as handle:
        manifest = json.load(handle)
    simulator = SceneSimulator(manifest['preset'],
                               shape=tuple(manifest['shape']),
                               density=manifest.get('density'))
    deblender = Deblender(args.model, progress_bar=False)
    # matched-filter S/N summed over the bands the model reads
    sigma = np.array([band.noise_sigma for band in simulator.preset.bands])
    sigma = sigma[:deblender.n_bands]
    counts = {(t, s): [0, 0, 0] for t in THRESHOLDS for s in SEPARATIONS}
    for index in range(args.n_scenes):
        scene = simulator.simulate(scene_seed(manifest['seed'], index))
        image = scene.image if scene.image.ndim == 2 else scene.image[
            ..., :deblender.n_bands]
        snr = np.array([np.sqrt(np.sum(np.square(
            np.atleast_3d(c.data)[..., :deblender.n_bands] / sigma,
            dtype=float))) for c in scene.source_images])
        inside = np.asarray(scene.catalog['in_frame'], dtype=bool)
        truth = scene.centers[inside]
        bright = snr[inside] > args.min_snr
        pcr = deblender.predict(image, progress_bar=False)
        for (threshold, separation), count in counts.items():
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                found = find_centers(pcr.center_of_mass, threshold=threshold,
                                     min_separation=separation)
            matches = match_sources(found, truth,
                                    max_distance=args.match_radius)
            matched = np.zeros(len(truth), dtype=bool)
            matched[matches.true_indices] = True
            count[0] += int(np.sum(matched & bright))
            count[1] += len(matches.unmatched_predicted)
            count[2] += int(np.sum(~matched & bright))
    print(f'{args.n_scenes} validation scenes, S/N > {args.min_snr:g}')
    best = None
    for (threshold, separation), (tp, fp, fn) in counts.items():
        f1 = 2 * tp / (2 * tp + fp + fn)
        print(f'threshold {threshold:.2f} min_separation {separation}: '
              f'P {tp / max(tp + fp, 1):.3f} R {tp / max(tp + fn, 1):.3f} '
              f'F1 {f1:.3f}')
        if best is None or f1 > best[0]:
            best = (f1, threshold, separation)
    print(f'best: F1 {best[0]:.3f} at detection_threshold {best[1]} '
          f'min_separation {best[2]}')


if __name__ == '__main__':
    main()
