"""
Stars, galaxies and colours in ground-based g, r, z images
==========================================================

The Mask R-CNN deblender of Burke et al. (2019) detects, classifies (star
or galaxy) and segments the sources of multi-band ground-based images.
The bundled ``ground_grz`` model of pais_deblend does all three with
partial attribution on top: every pixel's flux is shared among the
sources that overlap there, separately in each band, so blended sources
keep their own colours.

This tutorial runs it on the PhoSim DECam field that Burke et al. used as
an example (shipped with the package, g, r and z, 512 x 512 pixels of
0.262"), and shows

* the detections coloured by their star probability (``class_star``);
* the partial attribution (each pixel coloured by its contributors);
* a blend taken apart band by band, and the catalog's per-band fluxes
  and colours.

The model was trained on the simulated ``ground_grz`` preset (0.2"/pixel,
0.66-0.77" seeing): the PhoSim pixels are 30 % larger, so sources look
smaller to the network than in training; the figures are a qualitative
check on data the network never saw. The quantitative figures (per-class
precision and AP, colour errors against sep and photutils) are on the
benchmarks page.
"""

# %%
# The data
# --------
#
# `~pais_deblend.datasets.load_phosim_decam` returns the three bands as an
# (h, w, 3) cube in g, r, z order (nanomaggies, background-subtracted) and
# the WCS. We show it as a colour image with the stretch of Lupton et al.
# (2004), z as red, r as green and g as blue.

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import make_lupton_rgb

from pais_deblend.datasets import load_phosim_decam

field = load_phosim_decam()
image = field.image
print(f'image {image.shape}, bands {field.bands}, {field.pixel_scale}"/pixel')

rgb = make_lupton_rgb(image[..., 2], image[..., 1], image[..., 0],
                      minimum=0, stretch=0.2, Q=8)
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(rgb, origin='lower')
ax.set_title('PhoSim DECam, z r g')
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()

# %%
# Detect, classify and deblend
# ----------------------------
#
# A `~pais_deblend.Deblender` with the bundled ``ground_grz`` model takes
# the three bands at once. Besides the usual partial segmentation it
# returns ``class_star`` (the star/galaxy head read at each source's
# centre: 1 for a point source, 0 for a galaxy) and ``band_weights``, the
# shares of each band's flux.

from pais_deblend import Deblender

deblender = Deblender('ground_grz', progress_bar=False)
segmentation = deblender(image)
print(segmentation)
class_star = segmentation.class_star
labels = np.array(sorted(class_star))
probability = np.array([class_star[label] for label in labels])
is_star = probability >= 0.5
print(f'{len(labels)} sources: {is_star.sum()} classified as stars, '
      f'{(~is_star).sum()} as galaxies')

# %%
# Detections coloured by class
# ----------------------------
#
# Each detected centre is drawn over the colour image, coloured by its
# star probability (blue: galaxy, red: star).

centers = np.array([segmentation.centers[label] for label in labels])
fig, ax = plt.subplots(figsize=(7, 6))
ax.imshow(rgb, origin='lower')
points = ax.scatter(centers[:, 1], centers[:, 0], c=probability,
                    cmap='coolwarm', vmin=0, vmax=1, s=30,
                    edgecolors='white', linewidths=0.6)
fig.colorbar(points, ax=ax, label='class_star (star probability)')
ax.set_title('detections by class')
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()

# %%
# The partial attribution
# -----------------------
#
# In the blended view (`~pais_deblend.segmentation.plot_blended`) each
# pixel takes the weight-averaged colour of its contributors, scaled by
# the image brightness: where sources overlap the colours mix.

from pais_deblend.segmentation import plot_blended

fig, axes = plt.subplots(1, 2, figsize=(12, 6))
segmentation.imshow(ax=axes[0])
axes[0].set_title(f'dominant source ({segmentation.n_labels} sources)')
plot_blended(segmentation, ax=axes[1], data=image.sum(axis=-1))
axes[1].set_title('blended view')
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# A blend, band by band
# ---------------------
#
# We take the source that shares the most flux with its neighbours
# (the catalog's ``blendedness``) and draw its deblended image and that of
# its strongest neighbour in each band: ``source_image(label, image)``
# multiplies every band by that band's own weights.

from pais_deblend import PartialSourceCatalog

catalog = PartialSourceCatalog(image, segmentation)
table = catalog.to_table(['label', 'segment_flux', 'segment_flux_g',
                          'segment_flux_r', 'segment_flux_z',
                          'blendedness', 'class_star'])
bright = table[table['segment_flux'] > np.percentile(
    table['segment_flux'], 50)]
target = int(bright['label'][np.argmax(bright['blendedness'])])
contributors = segmentation.contributors
weights = segmentation.weights
shared = (contributors == target).any(axis=-1)
neighbours, counts = np.unique(contributors[shared], return_counts=True)
keep = (neighbours != target) & (neighbours > 0)
neighbour = int(neighbours[keep][np.argmax(counts[keep])])
print(f'source {target} (blendedness '
      f'{float(bright["blendedness"][np.argmax(bright["blendedness"])]):.2f})'
      f' and its neighbour {neighbour}')

both = shared | (contributors == neighbour).any(axis=-1)
rows, cols = np.nonzero(both)
y0, y1 = max(rows.min() - 3, 0), rows.max() + 4
x0, x1 = max(cols.min() - 3, 0), cols.max() + 4
fig, axes = plt.subplots(3, 3, figsize=(9, 9))
for column, band in enumerate(field.bands):
    stamp = image[y0:y1, x0:x1, column]
    vmax = np.percentile(stamp, 99.5)
    axes[0, column].imshow(stamp, origin='lower', cmap='gray_r', vmin=0,
                           vmax=vmax)
    axes[0, column].set_title(f'{band}: image')
    for row, label in ((1, target), (2, neighbour)):
        source = np.zeros(image.shape[:2])
        cutout = segmentation.source_image(label, image)
        source[cutout.slices] = cutout.data[..., column]
        axes[row, column].imshow(source[y0:y1, x0:x1], origin='lower',
                                 cmap='gray_r', vmin=0, vmax=vmax)
        axes[row, column].set_title(f'{band}: source {label}')
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Per-band fluxes and colours
# ---------------------------
#
# The catalog measures shapes on the band sum and fluxes in every band
# with that band's weights, so the colours of blended sources come from
# their own shares. Magnitudes here are 22.5 - 2.5 log10(flux in
# nanomaggies), the DECaLS convention.

rows = table[np.isin(table['label'], [target, neighbour])]
for row in rows:
    g, r, z = (row[f'segment_flux_{band}'] for band in field.bands)
    colour_gr = -2.5 * np.log10(g / r) if g > 0 and r > 0 else np.nan
    colour_rz = -2.5 * np.log10(r / z) if r > 0 and z > 0 else np.nan
    print(f"source {row['label']}: r = {22.5 - 2.5 * np.log10(r):.2f}, "
          f'g - r = {colour_gr:.2f}, r - z = {colour_rz:.2f}, '
          f"class_star = {row['class_star']:.2f}")
