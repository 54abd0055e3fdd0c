"""
Deblend a real HST image: pais_deblend against photutils
========================================================

This tutorial deblends the real Hubble Legacy Fields GOODS-South cutout
that ships with the package (WFC3/IR F160W, 256 x 256 pixels of 0.06",
electrons/s) twice:

* with the bundled PAIS network, `pais_deblend.deblend_sources`, which
  shares the flux of every pixel among up to three sources;
* with photutils' `~photutils.segmentation.detect_sources` and
  `~photutils.segmentation.deblend_sources` (multi-threshold watershed),
  which gives each pixel to exactly one source.

You will learn how to

* run the network on an image and read the
  `~pais_deblend.segmentation.PartialSegmentationImage` it returns;
* draw the dominant-source map and the blended view (pixels coloured by the
  weight-averaged colours of their contributors);
* build a `~pais_deblend.PartialSourceCatalog` next to photutils'
  `~photutils.segmentation.SourceCatalog`;
* check which of the seven 3D-HST catalog positions of the cutout each
  method finds, with `pais_deblend.evaluation.match_sources`.
"""

# %%
# The data
# --------
#
# `~pais_deblend.datasets.load_hlf_goodss` returns the four-band flux cube
# (F160W, F125W, F606W, F850LP; background-subtracted) and the positions
# of the seven 3D-HST catalog sources of the cutout, as (y, x) pixels.
# We work on F160W, the band the bundled network was trained for.

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize

from pais_deblend.datasets import load_hlf_goodss

hlf = load_hlf_goodss()
image = hlf.flux[..., 0]  # F160W, electrons/s
print(f'image {image.shape}, {hlf.bands[0]}, {len(hlf.centers)} catalog '
      f'sources, {hlf.pixel_scale}"/pixel')

norm = ImageNormalize(image, stretch=AsinhStretch(0.01))
fig, ax = plt.subplots(figsize=(5, 5))
ax.imshow(image, origin='lower', cmap='gray_r', norm=norm)
ax.plot(hlf.centers[:, 1], hlf.centers[:, 0], 'r+', ms=14, mew=1.5)
for index, (y, x) in enumerate(hlf.centers):
    ax.annotate(str(index), (x, y), xytext=(5, 5),
                textcoords='offset points', color='r')
ax.set_title('HLF GOODS-S F160W and the 3D-HST positions')
fig.tight_layout()

# %%
# Deblending with the network
# ---------------------------
#
# `~pais_deblend.deblend_sources` loads the bundled ``hst_f160w`` model,
# predicts the partial-attribution representation of the image, finds the
# source centres as the peaks of the predicted centre-of-mass map and
# decodes the weights. The result is a photutils
# `~photutils.segmentation.SegmentationImage` subclass: its ``data`` is the
# dominant source of each pixel, and ``weights`` holds the shares.

from pais_deblend import PartialSourceCatalog, deblend_sources

segm_pais = deblend_sources(image, progress_bar=False)
print(segm_pais)
print('contributor slots per pixel:', segm_pais.n_contributors)
shared = (segm_pais.weights > 0).sum(axis=-1) > 1
print(f'pixels shared by two or more sources: {shared.sum()} of '
      f'{(segm_pais.data > 0).sum()} attributed')

# %%
# Deblending with photutils
# -------------------------
#
# The classic recipe: estimate the background noise, smooth with a
# Gaussian kernel of the PSF's FWHM (0.18" = 3 pixels), detect the
# connected pixels 1.5 sigma above the noise, then split the segments by
# multi-thresholding. These are the settings of the benchmark's photutils
# adapter (`pais_deblend.benchmark.DetectionSettings`).

from astropy.convolution import convolve
from astropy.stats import sigma_clipped_stats
from photutils.segmentation import (SourceCatalog, detect_sources,
                                    make_2dgaussian_kernel)
from photutils.segmentation import deblend_sources as photutils_deblend

noise_sigma = sigma_clipped_stats(image, sigma=3.0)[2]
kernel = make_2dgaussian_kernel(3.0, size=7)
convolved = convolve(image, kernel)
segm_detect = detect_sources(convolved, 1.5 * noise_sigma, n_pixels=5)
segm_phot = photutils_deblend(convolved, segm_detect, n_pixels=5,
                              n_levels=32, contrast=0.005,
                              progress_bar=False)
print(f'noise sigma {noise_sigma:.4f} e/s; {segm_detect.n_labels} '
      f'segments, {segm_phot.n_labels} sources after deblending')

# %%
# Dominant maps side by side
# --------------------------
#
# Both maps assign every pixel to one label: photutils by construction,
# pais_deblend by taking each pixel's largest-weight contributor. The
# catalog positions are marked with crosses.

fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm)
axes[0].set_title('F160W')
segm_phot.imshow(ax=axes[1])
axes[1].set_title(f'photutils ({segm_phot.n_labels} sources)')
segm_pais.imshow(ax=axes[2])
axes[2].set_title(f'pais_deblend, dominant ({segm_pais.n_labels} sources)')
for ax in axes:
    ax.plot(hlf.centers[:, 1], hlf.centers[:, 0], 'w+', ms=10, mew=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# The blended view
# ----------------
#
# The dominant map hides what partial attribution adds. In the blended view
# (`~pais_deblend.segmentation.plot_blended`) each pixel takes the
# weight-averaged colour of its contributors, scaled by the image
# brightness, so the colours mix where sources overlap. Pixels are shared
# where a footprint holds more than one detected centre (the count is
# printed above); where it holds one, the blended view is the dominant map
# with the light profiles showing through.

from pais_deblend.segmentation import plot_blended

fig, ax = plt.subplots(figsize=(5, 5))
plot_blended(segm_pais, ax=ax, data=image)
ax.set_title('pais_deblend, blended view')
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()

# %%
# What the network sees
# ---------------------
#
# A `~pais_deblend.Deblender` holds the model for several calls;
# `pais_deblend.model.predict_pcr` runs its network alone and returns the
# raw output, the partial-attribution representation
# (`~pais_deblend.pcr.PCR`). Sources are the peaks of its centre-of-mass
# map above ``detection_threshold``. Lowering the threshold from the value
# tuned on the model's validation scenes to 0.3 adds detections, and with
# them shared pixels. On the right, the weight map of the source with the
# largest blendedness at that threshold.

from pais_deblend import Deblender
from pais_deblend.model import predict_pcr

deblender = Deblender(detection_threshold=0.3, progress_bar=False)
pcr = predict_pcr(deblender.model, image)
segm_low = deblender(image)
shared_low = (segm_low.weights > 0).sum(axis=-1) > 1
print(f'tuned threshold: {segm_pais.n_labels} sources; threshold 0.3: '
      f'{segm_low.n_labels} sources, {shared_low.sum()} shared pixels')

catalog_low = PartialSourceCatalog(image, segm_low)
most_blended = int(catalog_low.label[np.nanargmax(catalog_low.blendedness)])

fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
shown = axes[0].imshow(pcr.center_of_mass, origin='lower', cmap='viridis',
                       vmin=0, vmax=1)
axes[0].contour(pcr.center_of_mass, levels=[0.3, 0.55], colors=['w', 'r'],
                linewidths=0.8)
axes[0].plot(hlf.centers[:, 1], hlf.centers[:, 0], 'w+', ms=10, mew=1.2)
axes[0].set_title('centre of mass (contours 0.3, 0.55)')
fig.colorbar(shown, ax=axes[0])
plot_blended(segm_low, ax=axes[1], data=image)
axes[1].set_title('blended view, threshold 0.3')
shown = axes[2].imshow(segm_low.weight_map(most_blended), origin='lower',
                       cmap='magma', vmin=0, vmax=1)
y, x = segm_low.centers[most_blended]
axes[2].plot(x, y, 'c+', ms=12, mew=1.5)
axes[2].set_title(f'weight map of source {most_blended}')
fig.colorbar(shown, ax=axes[2], label='share of the pixel flux')
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# A catalog source without a peak above the threshold in the centre-of-mass
# map is not detected, whatever the decoding: the network, trained on
# simulated scenes, then reads its light as part of a neighbour's. The
# table at the end of this page lists, for each catalog source, the
# detection it is matched to. photutils' multi-thresholding splits the
# image by its isophotes instead. The rest of this page uses the tuned
# threshold.

# %%
# Two catalogs
# ------------
#
# `~pais_deblend.PartialSourceCatalog` uses photutils' column names, and
# measures every source on its share of the light, ``M_i * I``;
# photutils' `~photutils.segmentation.SourceCatalog` sums the pixels of each
# segment. Both Kron fluxes use the same aperture parameters.

catalog_pais = PartialSourceCatalog(image, segm_pais)
catalog_phot = SourceCatalog(image, segm_phot, convolved_data=convolved)
columns = ['label', 'x_centroid', 'y_centroid', 'area', 'segment_flux',
           'kron_flux']
table_pais = catalog_pais.to_table(columns + ['effective_area',
                                             'blendedness'])
table_phot = catalog_phot.to_table(columns=columns)
for table in (table_pais, table_phot):
    for name in table.colnames[1:]:
        table[name].info.format = '.2f'
print('pais_deblend (PartialSourceCatalog)')
table_pais.pprint_all()
print()
print('photutils (SourceCatalog)')
table_phot.pprint_all()

# %%
# The total flux attributed is the same to rounding for pais_deblend,
# whose weights sum to one on each attributed pixel, while the photutils
# footprint is larger (it extends the segments to the 1.5-sigma isophote of
# the smoothed image):

attributed_pais = image[segm_pais.data > 0].sum()
print(f'pais_deblend: sum of segment fluxes {table_pais["segment_flux"].sum():.2f}'
      f' e/s = flux on attributed pixels {attributed_pais:.2f} e/s')
print(f'photutils:    sum of segment fluxes {table_phot["segment_flux"].sum():.2f}'
      f' e/s over {(segm_phot.data > 0).sum()} pixels '
      f'(pais_deblend: {(segm_pais.data > 0).sum()} pixels)')

# %%
# Which catalog sources are found?
# --------------------------------
#
# `~pais_deblend.evaluation.match_sources` pairs detected and catalog
# positions one to one within a radius, here 5 pixels (0.3"). For
# pais_deblend the position is the detected centre (the peak of the
# centre-of-mass map), for photutils the segment centroid.

from astropy.table import Table

from pais_deblend.evaluation import match_sources

positions = {
    'pais_deblend': np.array([segm_pais.centers[int(label)]
                              for label in catalog_pais.label]),
    'photutils': np.column_stack([catalog_phot.y_centroid,
                                  catalog_phot.x_centroid]),
}
found = Table({'catalog index': np.arange(len(hlf.centers)),
               'y': hlf.centers[:, 0], 'x': hlf.centers[:, 1]})
for method, xy in positions.items():
    matches = match_sources(xy, hlf.centers, max_distance=5.0)
    column = np.full(len(hlf.centers), '-', dtype='U8')
    labels = (catalog_pais.label if method == 'pais_deblend'
              else catalog_phot.label)
    for predicted, true in zip(matches.predicted_indices,
                               matches.true_indices):
        column[true] = str(labels[predicted])
    found[f'{method} label'] = column
    print(f'{method}: {len(matches.true_indices)} of {len(hlf.centers)} '
          f'catalog sources found, {len(xy) - len(matches.predicted_indices)}'
          f' detections without a catalog counterpart')
found.pprint_all()

# %%
# A detection "without a counterpart" is not necessarily spurious: the
# 3D-HST catalog was detected on a combined J+H image with its own depth and
# deblending, and the cutout contains faint sources it does not list.
#
# Where to go next: :doc:`plot_02_pair_photometry` measures what the
# partial weights do to the photometry of a blended pair whose true fluxes
# are known.
