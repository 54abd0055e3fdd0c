"""
Sharing a blend's pixels: templates against the network's decode
=================================================================

The bundled network finds the sources; something must then decide how
much of each pixel's flux belongs to each of them. This tutorial follows
one simulated 4:1 pair of galaxies, 2.5 PSF FWHM apart, through the two
ways pais_deblend offers (the ``attribution`` option of
`~pais_deblend.Deblender`):

* ``'templates'``: each source's template is the image around its centre,
  made symmetric about the centre (the SDSS deblender's rule) and
  non-increasing outward (as scarlet constrains), and every pixel is
  shared in proportion to the templates that cover it;
* ``'network'``: the decode of the network's contribution vectors and
  maps (Hausen & Robertson 2022).

You will see the templates (`pais_deblend.attribution.source_templates`),
the weight maps both give against the true fractions, the per-source
images, and each source's flux error.
"""

# %%
# A pair with known truth
# -----------------------
#
# `~pais_deblend.simulation.simulate_pair` draws two galaxies with the
# noise, PSF and pixel scale of the ``hst_f160w`` preset. Its source
# images are noiseless, so the true fraction of every pixel,
# ``M_i = S_i / sum_j S_j``, and every true flux are known.

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize

from pais_deblend import Deblender
from pais_deblend.simulation import simulate_pair

scene = simulate_pair('hst_f160w', separation=2.5, flux_ratio=4.0,
                      shape=(64, 64), seed=7)
image = scene.image
true_fractions = [cutout.to_frame(image.shape) for cutout in scene.fraction_maps()]
true_flux = np.asarray(scene.catalog['flux_in_frame'])
print(f'true fluxes {true_flux.round(2)} (image units)')

# %%
# Detection, then two attributions
# --------------------------------
#
# Both deblenders use the same network and so find the same centres; only
# the sharing differs.

results = {}
for attribution in ('templates', 'network'):
    deblender = Deblender('hst_f160w', attribution=attribution,
                          progress_bar=False)
    results[attribution] = deblender(image)
    segmentation = results[attribution]
    print(f'{attribution:9s}: {len(segmentation.partial_labels)} sources at '
          + ', '.join(f'({y:.1f}, {x:.1f})'
                      for y, x in segmentation.centers.values()))

# %%
# The templates
# -------------
#
# `~pais_deblend.attribution.source_templates` returns each source's
# template as a cutout, for the same centres and footprint the deblender
# used. The fainter source's template is cut where the mirror image of a
# pixel through its centre falls on the brighter neighbour's far side, so
# the light between the two is shared rather than given away.

from pais_deblend.attribution import source_templates
from pais_deblend.deblend.pipeline import TEMPLATE_OPTIONS

segmentation = results['templates']
labels = segmentation.partial_labels
centers = np.array([segmentation.centers[label] for label in labels])
footprint = (segmentation.contributors[..., 0] > 0).astype(np.int32)
noise = scene.preset.bands[0].noise_sigma
templates = source_templates(image, centers, footprint, noise_sigma=noise,
                             **TEMPLATE_OPTIONS)

norm = ImageNormalize(image, stretch=AsinhStretch(0.02))
fig, axes = plt.subplots(1, 1 + len(templates), figsize=(11, 3.6))
axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm)
axes[0].plot(centers[:, 1], centers[:, 0], 'r+', ms=12)
axes[0].set_title('image and detected centres')
for ax, label, (rows, cols, values) in zip(axes[1:], labels, templates):
    frame = np.zeros(image.shape)
    frame[rows, cols] = values
    ax.imshow(frame, origin='lower', cmap='gray_r', norm=norm)
    ax.set_title(f'template of source {label}')
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Weights against the truth
# -------------------------
#
# Each deblended source is matched to the nearest true source; its weight
# map ``M_i`` is compared with the true fraction of that source. The
# templates give a smooth transition between the two galaxies; the
# network's decode gives nearly every pixel to one of them.

from pais_deblend.evaluation import match_sources

true_centers = np.column_stack([scene.catalog['y'], scene.catalog['x']])
fig, axes = plt.subplots(2, 3, figsize=(11, 7.2))
for row, attribution in enumerate(('templates', 'network')):
    segmentation = results[attribution]
    labels = segmentation.partial_labels
    found = np.array([segmentation.centers[label] for label in labels])
    matches = match_sources(found, true_centers, max_distance=3.0)
    fainter = int(np.argmin(true_flux))
    which = np.flatnonzero(matches.true_indices == fainter)
    weights = (segmentation.weight_map(
        labels[matches.predicted_indices[which[0]]]) if which.size
        else np.zeros(image.shape))
    truth = true_fractions[fainter]
    shared = segmentation.weights.max(axis=-1) < 0.9
    shared &= segmentation.contributors[..., 0] > 0
    panels = ((weights, f'{attribution}: weight of the fainter source'),
              (truth, 'true fraction of the fainter source'),
              (shared, f'{attribution}: pixels shared (largest < 0.9)'))
    for ax, (values, title) in zip(axes[row], panels):
        ax.imshow(values, origin='lower', cmap='viridis', vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()

# %%
# Per-source images and fluxes
# ----------------------------
#
# ``source_image(label, data)`` gives ``M_i * I`` as a cutout; their sum
# is the image on every attributed pixel, whichever attribution shares
# it. The relative flux error of each source against the truth:

for attribution, segmentation in results.items():
    labels = segmentation.partial_labels
    found = np.array([segmentation.centers[label] for label in labels])
    matches = match_sources(found, true_centers, max_distance=3.0)
    errors = []
    for index, true_index in zip(matches.predicted_indices,
                                 matches.true_indices):
        flux = segmentation.source_image(labels[index], image).data.sum()
        errors.append((flux - true_flux[true_index]) / true_flux[true_index])
    print(f'{attribution:9s} relative flux errors (brighter, fainter): '
          + ', '.join(f'{e:+.3f}' for _, e in sorted(
              zip(matches.true_indices, errors))))

fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
segmentation = results['templates']
for ax, label in zip(axes, segmentation.partial_labels):
    cutout = segmentation.source_image(label, image)
    ax.imshow(cutout.to_frame(image.shape), origin='lower', cmap='gray_r',
              norm=norm)
    ax.set_title(f'templates: source {label}, M_i * I')
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Over many pairs and fields the benchmarks page compares the two
# attributions with photutils, sep and SExtractor on the same sources
# (``python benchmarks/bench_attribution.py``).
