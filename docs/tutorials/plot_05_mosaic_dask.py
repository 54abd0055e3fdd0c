"""
Deblend a mosaic on a Dask cluster
==================================

Survey images are far larger than memory. `pais_deblend.mosaic.deblend_mosaic`
cuts an image into tiles (a `~pais_deblend.mosaic.TilePlan`: cores that cover
the image once, each grown by a margin that holds the network's context),
deblends the tiles independently -- in this process or on the workers of a
Dask cluster -- and writes one partial segmentation into a Zarr store that
is read back by region. With the image-wide noise estimates every tile uses,
the result is the one a single `~pais_deblend.Deblender` call on the whole
image gives, labels aside (weights to float32 rounding).

This page runs it on a 512 x 512 simulated HST F160W scene with a local
cluster of two worker processes. That is far too small to need a cluster
(a single call takes seconds); it shows the mechanics and checks the
result. See :doc:`/mosaic` for the user guide.

You will learn how to

* start a `dask.distributed.LocalCluster` and deblend on it;
* look at the `~pais_deblend.mosaic.TilePlan` of the run;
* read the stitched result from the Zarr store with
  `~pais_deblend.mosaic.MosaicSegmentation`;
* compare it with the single-process `~pais_deblend.Deblender`.

It needs the ``distributed`` extra (``pip install
'pais_deblend[distributed]'``: dask, distributed and zarr).
"""

# %%
# A simulated field
# -----------------
#
# `~pais_deblend.simulation.simulate_scene` draws a field with the
# ``hst_f160w`` preset (the noise, PSF and source population of the HLF
# data), with its truth.

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize
from matplotlib.patches import Rectangle

from pais_deblend.simulation import simulate_scene

scene = simulate_scene('hst_f160w', shape=(512, 512), seed=7)
image = scene.image
print(f'{scene.n_sources} simulated sources on {image.shape}')

# %%
# Deblending on a local cluster
# -----------------------------
#
# Two worker processes with one thread each. ``tile_size=256`` cuts the
# image into four tile cores; the margin around each is left to its default
# for the bundled model (the network's receptive field and the reach of the
# decoder, plus slack). The image is a NumPy array here, so the client
# sends each worker its tile; for files (FITS, ``.npy``) the workers read
# their own tiles. Each worker loads the model once.
# `pais_deblend.mosaic.local_client` starts a cluster whose thread pools
# are sized for the machine; here we build one by hand.
#
# The worker processes are started with ``spawn``: when you run this page
# as a Python script (rather than in IPython or Jupyter), put the code
# from here on under ``if __name__ == '__main__':``, as for any
# `multiprocessing` program, or each worker re-runs the script.

import logging

from dask.distributed import Client, LocalCluster

from pais_deblend.mosaic import deblend_mosaic

workdir = tempfile.mkdtemp(prefix='pais_mosaic_')
store = os.path.join(workdir, 'field.zarr')
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                  dashboard_address=':0', silence_logs=logging.ERROR
                  ) as cluster, Client(cluster) as client:
    mosaic = deblend_mosaic(image, store, tile_size=256, client=client,
                            progress_bar=False)
print(f'{mosaic.n_sources} sources in the store {os.path.basename(store)}')
print(mosaic.catalog()[:5])

# %%
# The tile plan
# -------------
#
# ``mosaic.plan`` is the `~pais_deblend.mosaic.TilePlan` used: cores that
# cover the image once (solid), each grown by the margin (dashed, drawn
# slightly inset so that the four can be told apart). A source belongs to
# the tile whose core holds its centre. On an image this small the margins
# make each tile read most of the image; on a survey mosaic with 2048-pixel
# cores they add a few per cent.

plan = mosaic.plan
print(f'{len(plan)} tiles in a {plan.grid_shape} grid, margin '
      f'{plan.margin} pixels; pixels processed / image pixels: '
      f'{plan.overhead:.2f}')

norm = ImageNormalize(image, stretch=AsinhStretch(0.02))
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(image, origin='lower', cmap='gray_r', norm=norm)
colors = plt.cm.tab10(np.arange(len(plan)))
for tile, color in zip(plan, colors):
    (y0, y1), (x0, x1) = ((s.start, s.stop) for s in tile.core)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0,
                           fill=False, ec=color, lw=2))
    inset = 3 * tile.index
    (y0, y1), (x0, x1) = ((s.start, s.stop) for s in tile.extended)
    ax.add_patch(Rectangle((x0 - 0.5 + inset, y0 - 0.5 + inset),
                           x1 - x0 - 2 * inset, y1 - y0 - 2 * inset,
                           fill=False, ec=color, lw=1, ls='--'))
ax.set_title('tile cores (solid) and extended regions (dashed)')
fig.tight_layout()

# %%
# Reading the result
# ------------------
#
# ``mosaic.read(region)`` returns any region as a
# `~pais_deblend.segmentation.PartialSegmentationImage`; here the whole
# image. The same image through a single `~pais_deblend.Deblender` call
# gives the reference.

from pais_deblend import Deblender

segm_mosaic = mosaic.read()
segm_single = Deblender(progress_bar=False)(image)
print(f'mosaic: {len(segm_mosaic.partial_labels)} sources; single call: '
      f'{len(segm_single.partial_labels)} sources')

# %%
# Labels differ between the two (the mosaic numbers its sources tile by
# tile), so the sources are paired by their centres before the maps are
# compared.

from pais_deblend.evaluation import match_sources

labels_m = np.array(sorted(segm_mosaic.centers))
labels_s = np.array(sorted(segm_single.centers))
matches = match_sources(
    np.array([segm_mosaic.centers[label] for label in labels_m]),
    np.array([segm_single.centers[label] for label in labels_s]),
    max_distance=0.5)
to_single = np.zeros(int(max(labels_m.max(), segm_mosaic.max_label)) + 1,
                     dtype=int)
to_single[labels_m[matches.predicted_indices]] = labels_s[matches.true_indices]
print(f'{len(matches.predicted_indices)} sources paired, '
      f'{len(matches.unmatched_predicted)} only in the mosaic, '
      f'{len(matches.unmatched_true)} only in the single call')

dominant_m = to_single[segm_mosaic.data]
same = dominant_m == segm_single.data
print(f'dominant label identical on {same.mean():.4%} of the pixels')
weight_difference = 0.0
for label_m, label_s in zip(labels_m[matches.predicted_indices],
                            labels_s[matches.true_indices]):
    weight_difference = max(weight_difference, float(np.abs(
        segm_mosaic.weight_map(label_m)
        - segm_single.weight_map(label_s)).max()))
print(f'largest weight difference of a paired source: {weight_difference:.2g}')

# %%
# The stitched dominant map, the single-process one (in the same colours)
# and the pixels where they differ, with the tile cores drawn on top.

fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
segm_single.imshow(ax=axes[1])
cmap = segm_single.make_cmap(seed=0)
axes[0].imshow(dominant_m, origin='lower', cmap=cmap, interpolation='nearest',
               vmin=0, vmax=segm_single.max_label)
axes[0].set_title('mosaic (Dask, 4 tiles)')
axes[1].set_title('single Deblender call')
axes[2].imshow(~same, origin='lower', cmap='gray_r', vmin=0, vmax=1)
axes[2].set_title(f'different dominant label ({(~same).sum()} pixels)')
for ax in axes:
    for tile in plan:
        (y0, y1), (x0, x1) = ((s.start, s.stop) for s in tile.core)
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0,
                               fill=False, ec='w' if ax is not axes[2]
                               else 'r', lw=0.8))
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

import shutil

shutil.rmtree(workdir)
