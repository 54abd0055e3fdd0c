"""
Make docs/_static/simulation_scarlet_hlf.png and .json: SCARLET (scarlet2)
fraction maps M_i of the 7 catalog sources of the real HLF GOODS-South
cutout, all 4 bands, as in the PAIS paper's labels.

Run from the repository root (takes a few minutes on a laptop CPU)::

    python docs/scripts/make_scarlet_figure.py
"""

import json
import os
import time

import numpy as np

from pais_deblend.datasets import load_hlf_goodss
from pais_deblend.simulation import get_preset, scarlet_fraction_maps

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, '..', '_static', 'simulation_scarlet_hlf')


def main():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize

    hlf = load_hlf_goodss()
    preset = get_preset('hst_hlf')
    fwhm = [band.psf_fwhm / preset.pixel_scale for band in preset.bands]
    sigma = [band.noise_sigma for band in preset.bands]
    start = time.perf_counter()
    labels = scarlet_fraction_maps(hlf.flux, hlf.centers, psf_fwhm=fwhm,
                                   noise_sigma=sigma, max_iter=200)
    seconds = time.perf_counter() - start
    shape = hlf.flux.shape[:2]
    total = np.zeros(shape)
    owner = np.zeros(shape, dtype=int)
    best = np.zeros(shape)
    for label, cutout in enumerate(labels.fraction_maps, start=1):
        frame = cutout.to_frame(shape)
        total += frame
        owner[frame > best] = label
        best = np.maximum(best, frame)
    attributed = total > 0
    model = np.zeros(hlf.flux.shape)
    for cutout in labels.source_images:
        model[cutout.slices] += cutout.data
    residual = hlf.flux - model
    fluxes = [cutout.data.sum(axis=(0, 1)).tolist() for cutout in labels.source_images]
    summary = {
        'seconds': seconds, 'max_iter': 200,
        'psf_fwhm_pixels': fwhm, 'noise_sigma': sigma,
        'centers': hlf.centers.tolist(),
        'model_flux_per_band': fluxes, 'bands': list(hlf.bands),
        'max_abs_sum_minus_one': float(np.abs(total[attributed] - 1).max()),
        'attributed_fraction': float(attributed.mean()),
        'residual_rms_f160w': float(np.std(residual[..., 0])),
        'image_rms_f160w': float(np.std(hlf.flux[..., 0])),
    }
    with open(OUTPUT + '.json', 'w') as handle:
        json.dump(summary, handle, indent=2)

    image = hlf.flux[..., 0]
    norm = ImageNormalize(vmin=-0.02, vmax=1.0, stretch=AsinhStretch(0.02))
    colors = plt.get_cmap('tab10')(np.arange(len(labels.fraction_maps)) % 10)[:, :3]
    rgb = np.zeros(shape + (3,))
    for label, cutout in enumerate(labels.fraction_maps):
        frame = cutout.to_frame(shape)
        rgb += frame[..., None] * colors[label]
    brightness = np.clip(norm(image), 0, 1)[..., None]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
    axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm)
    axes[0].plot(hlf.centers[:, 1], hlf.centers[:, 0], 'r+', ms=8)
    axes[0].set_title('HLF GOODS-S F160W, 7 catalog positions')
    axes[1].imshow(rgb * (0.25 + 0.75 * brightness), origin='lower')
    axes[1].set_title('SCARLET M_i (colour = source)')
    residual_norm = ImageNormalize(vmin=-0.05, vmax=0.05)
    axes[2].imshow(residual[..., 0], origin='lower', cmap='RdBu_r', norm=residual_norm)
    axes[2].set_title('F160W residual I - sum S_i')
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(OUTPUT + '.png', dpi=80)
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
