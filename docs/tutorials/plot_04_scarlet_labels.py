"""
Label real data with scarlet2
=============================

The PAIS paper (Hausen & Robertson 2022, section 3.1) made training labels
for real HST images by fitting SCARLET at the positions of a catalog and
taking each source's share of the model, ``M_i = S_i / sum_j S_j``, as its
partial attribution. `pais_deblend.simulation.scarlet_fraction_maps` does
the same with scarlet2, the JAX rewrite of SCARLET.

Here it runs on a 128 x 128 pixel piece of the bundled HLF GOODS-South
cutout around its central spiral, with the three 3D-HST catalog positions
that fall in it and two bands (F160W and F125W), for a fit of a few
seconds. (The documentation's simulation page fits the whole cutout,
4 bands and 7 sources, 200 iterations, in about two minutes.)

You will learn how to

* fit scarlet2 at catalog positions with
  `~pais_deblend.simulation.scarlet_fraction_maps`;
* turn its fraction maps into a
  `~pais_deblend.segmentation.PartialSegmentationImage` and look at the
  partial attribution it gives;
* check the fit through its residual and the flux each source receives.

It needs the ``scarlet`` extra (``pip install 'pais_deblend[scarlet]'``:
scarlet2 and JAX).
"""

# %%
# The cutout and the catalog positions
# ------------------------------------
#
# `~pais_deblend.datasets.load_hlf_goodss` gives the 4-band flux cube
# (background-subtracted, electrons/s) and the (y, x) positions of the 3D-HST
# sources; we keep the two near-infrared bands and the positions inside
# the 128 x 128 window.

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize

from pais_deblend.datasets import load_hlf_goodss

hlf = load_hlf_goodss()
window = (slice(64, 192), slice(40, 168))
data = hlf.flux[window][..., :2]          # F160W, F125W
offset = np.array([window[0].start, window[1].start])
inside = np.all((hlf.centers >= offset) & (hlf.centers < offset + 128),
                axis=1)
centers = hlf.centers[inside] - offset
print(f'cutout {data.shape}, bands {hlf.bands[:2]}, '
      f'{len(centers)} catalog sources at (y, x) = {centers.tolist()}')

# %%
# The fit
# -------
#
# Each position becomes a scarlet2 source with a free morphology and a
# positive spectrum, initialised from its Gaussian moments, and all bands
# are fitted at once. The PSF is a Gaussian of the HLF's FWHM in each band
# (0.18" and 0.16", i.e. 3.0 and 2.7 pixels, from the ``hst_hlf`` preset);
# the noise of each band is measured on the image. ``max_iter`` is kept
# small for this page.

import time

from pais_deblend.simulation import get_preset, scarlet_fraction_maps

preset = get_preset('hst_hlf')
psf_fwhm = [band.psf_fwhm / preset.pixel_scale for band in preset.bands[:2]]
started = time.perf_counter()
labels = scarlet_fraction_maps(data, centers, psf_fwhm=psf_fwhm,
                               max_iter=60, band=0)
print(f'fitted {len(labels.fraction_maps)} sources in '
      f'{time.perf_counter() - started:.1f} s (PSF FWHM '
      f'{psf_fwhm[0]:.2f}, {psf_fwhm[1]:.2f} pixels)')

# %%
# ``labels.fraction_maps`` are the ``M_i`` (here of F160W, ``band=0``) as
# `~pais_deblend.segmentation.SourceCutout` objects, and
# ``labels.source_images`` the fitted models ``S_i`` as seen through the
# PSF. Keeping the three largest fractions of every pixel gives a
# `~pais_deblend.segmentation.PartialSegmentationImage`, the same object the
# network returns, with all its tools: weight maps, blended view, catalog.

from pais_deblend import PartialSourceCatalog
from pais_deblend.benchmark import partial_from_fraction_maps
from pais_deblend.segmentation import plot_blended

image = data[..., 0]
segm = partial_from_fraction_maps(labels.fraction_maps, image.shape,
                                  n_contributors=3, centers=centers)
shared = (segm.weights > 0).sum(axis=-1) > 1
print(f'attributed pixels {(segm.data > 0).sum()}, shared by two or more '
      f'sources {shared.sum()}')

norm = ImageNormalize(image, stretch=AsinhStretch(0.01))
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm)
axes[0].set_title('F160W')
segm.imshow(ax=axes[1])
axes[1].set_title('dominant source')
plot_blended(segm, ax=axes[2], data=image)
axes[2].set_title('blended view (scarlet2 fractions)')
for ax in axes:
    ax.plot(centers[:, 1], centers[:, 0], 'w+', ms=10, mew=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# The partial attribution of each source
# --------------------------------------
#
# Each source's weight map, its deblended image ``M_i * I``, and, at the
# end of the row, how much of the light of the image the fit explains
# (observed minus the sum of the models, F160W).

model = np.zeros(image.shape)
for cutout in labels.source_images:
    model[cutout.slices] += cutout.data[..., 0]
residual = image - model

n_sources = len(centers)
fig, axes = plt.subplots(2, n_sources + 1, figsize=(3.2 * (n_sources + 1),
                                                    6.2))
for column, label in enumerate(segm.partial_labels):
    weight = segm.weight_map(label)
    axes[0, column].imshow(weight, origin='lower', cmap='magma', vmin=0,
                           vmax=1)
    axes[0, column].set_title(f'weight map, source {label}', fontsize=10)
    deblended = segm.source_image(label, image).to_frame(image.shape)
    axes[1, column].imshow(deblended, origin='lower', cmap='gray_r',
                           norm=norm)
    axes[1, column].set_title(f'M_{label} * I', fontsize=10)
axes[0, -1].imshow(model, origin='lower', cmap='gray_r', norm=norm)
axes[0, -1].set_title('sum of the models', fontsize=10)
limit = 5 * np.std(residual[segm.data == 0])
axes[1, -1].imshow(residual, origin='lower', cmap='RdBu_r', vmin=-limit,
                   vmax=limit)
axes[1, -1].set_title('residual (+-5 sigma)', fontsize=10)
for ax in axes.flat:
    ax.plot(centers[:, 1], centers[:, 0], 'c+', ms=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Fluxes
# ------
#
# `~pais_deblend.PartialSourceCatalog` measures each source on its share
# of the observed light; next to it the flux of the fitted model itself.
# The two agree where the model explains the image; they differ by what the
# residual holds inside each source's weights.

catalog = PartialSourceCatalog(image, segm)
table = catalog.to_table(['label', 'x_centroid', 'y_centroid',
                          'effective_area', 'segment_flux', 'blendedness'])
table['model_flux'] = [labels.source_images[label - 1].data[..., 0].sum()
                       for label in catalog.label]
for name in table.colnames[1:]:
    table[name].info.format = '.3f'
print(table)
print(f'F160W residual rms on attributed pixels '
      f'{np.std(residual[segm.data > 0]):.4f} e/s; noise '
      f'{np.std(residual[segm.data == 0]):.4f} e/s elsewhere')

# %%
# Such maps are the labels of real images: encode them with
# `pais_deblend.pcr.encode_pcr` (with the catalog positions) to train or
# fine-tune the network on real data, as the paper did. For a quick look
# at what the bundled network does on the same image, see
# :doc:`plot_01_hlf_vs_photutils`.
