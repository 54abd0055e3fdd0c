"""
Train a model on your own simulation preset
===========================================

The bundled network was trained on scenes simulated like the deep HST
F160W data of the Hubble Legacy Fields. For other data -- another depth,
PSF or pixel scale -- you simulate matching scenes and train your own
model. This page walks through the whole recipe at toy scale: a derived
preset, a training set of 16 small scenes, a few training steps of a tiny
network, and the trained file loaded into a `~pais_deblend.Deblender`.

.. note::

   This is a demonstration of the steps, sized to run in well under a
   minute on a laptop CPU. A model trained this way for 30 steps has not
   learnt anything useful: a real training set has thousands of 256 x 256
   scenes and training takes hours (see :doc:`/model` for the recipe and
   the settings of the bundled model).

You will learn how to

* derive a `~pais_deblend.simulation.Preset` from a bundled one;
* write a training set with `~pais_deblend.simulation.write_training_set`
  and look at its PCR labels;
* train with `pais_deblend.model.train` and read the model card;
* load the ``.keras`` file into a `~pais_deblend.Deblender`.
"""

# %%
# A preset of your own
# --------------------
#
# A preset is a frozen dataclass: `dataclasses.replace` derives a new one.
# Here, a shallower F160W survey: three times the background noise of the
# HLF data and a population that stops at H = 26. Everything else (PSF,
# pixel scale, sizes, colours) is inherited from ``hst_f160w``.

import dataclasses
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from pais_deblend.simulation import get_preset

deep = get_preset('hst_f160w')
shallow_band = dataclasses.replace(deep.bands[0],
                                   noise_sigma=3 * deep.bands[0].noise_sigma)
shallow = dataclasses.replace(
    deep, name='hst_f160w_shallow', bands=(shallow_band,),
    magnitude_range=(19.0, 26.0), density=120.0,
    description='HST F160W at 0.06"/pixel, 3x the HLF noise, H < 26')
print(shallow.description)
print(f'noise {shallow.bands[0].noise_sigma:.4f} {shallow.unit}, PSF FWHM '
      f'{shallow.psf_fwhm_pixels:.1f} pixels, {shallow.density:g} sources '
      f'per arcmin^2 with {shallow.magnitude_range[0]:g} < H < '
      f'{shallow.magnitude_range[1]:g}')

# %%
# A tiny training set
# -------------------
#
# `~pais_deblend.simulation.write_training_set` simulates the scenes, encodes
# each into its PCR label (centre-of-mass map, contribution vectors and
# fractions for the 3 contributors of every pixel) and writes ``.npz``
# shards with a ``manifest.json``. Scene ``j`` is seeded by
# ``SeedSequence([seed, j])``, so the set is reproducible. Four shards of
# four 64 x 64 scenes (training holds out the last shard for validation),
# five times more crowded than the preset's default, so that the small
# scenes hold blends.

from pais_deblend.simulation import read_training_set, write_training_set

workdir = tempfile.mkdtemp(prefix='pais_tutorial_')
train_dir = os.path.join(workdir, 'training_set')
density = 5 * shallow.density
manifest = write_training_set(train_dir, n_scenes=16, preset=shallow,
                              shape=(64, 64), density=density,
                              scenes_per_shard=4, seed=0,
                              progress_bar_enabled=False)
print(f"{manifest['n_scenes']} scenes, {manifest['n_sources']} sources, "
      f"{manifest['n_shards']} shards: {sorted(os.listdir(train_dir))}")

shard = read_training_set(train_dir).read_shard(0)
fig, axes = plt.subplots(2, 4, figsize=(10, 5.2))
for column in range(4):
    axes[0, column].imshow(shard['image'][column, ..., 0], origin='lower',
                           cmap='gray_r', vmin=-0.02, vmax=0.1)
    axes[0, column].set_title(f"scene {shard['scene_index'][column]}: "
                              f"{shard['n_sources'][column]} sources",
                              fontsize=9)
    axes[1, column].imshow(shard['center_of_mass'][column].astype(float),
                           origin='lower', cmap='viridis', vmin=0, vmax=1)
    axes[1, column].set_title('centre-of-mass label', fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# A few training steps
# --------------------
#
# `pais_deblend.model.train` builds the network (``model_options`` are the
# arguments of `~pais_deblend.model.build_pais_model`; here two scales of
# 4 and 8 filters and no attention, instead of the paper's 8-16-32-32 with
# attention), streams augmented batches, checkpoints, evaluates the held-out
# shard and writes ``model.keras`` and ``model_card.json``.

from pais_deblend.model import train

model_dir = os.path.join(workdir, 'model')
card = train(train_dir, model_dir, steps=30, batch_size=4, seed=0,
             validation_fraction=0.25, checkpoint_every=0,
             learning_rate=3e-3, progress_bar=False, jit_compile=False,
             model_options={'filters': (4, 8), 'attention_window': None},
             name='shallow_demo')
print(f"trained {card['training']['steps']} steps in "
      f"{card['training']['wall_time_s']:.1f} s on "
      f"{card['dataset']['n_training_samples']} scenes "
      f"(preset {card['preset']!r}); receptive field radius "
      f"{card['receptive_field_radius']} pixels")
print('validation:', card['validation']['metrics'])
print('files:', sorted(os.listdir(model_dir)))

print('last recorded training loss:',
      card['training']['final_training_loss'])

# %%
# Using the trained model
# -----------------------
#
# A `~pais_deblend.Deblender` takes the path of the ``.keras`` file
# (`~pais_deblend.deblend_sources` takes a loaded model). We run it on a new
# scene of the same preset, with a seed outside the training set, and show
# the predicted centre-of-mass map next to the true one. After 30 steps on
# 12 scenes the prediction is only a blur around the brightest sources:
# that is the expected state of a demo, and the reason why the detection
# threshold is lowered here.

from pais_deblend import Deblender
from pais_deblend.model import predict_pcr
from pais_deblend.pcr import encode_pcr
from pais_deblend.simulation import SceneSimulator

scene = SceneSimulator(shallow, shape=(64, 64),
                       density=density).simulate(1000)
truth = encode_pcr(scene.source_cutouts(), scene.centers, shape=scene.shape)
deblender = Deblender(os.path.join(model_dir, 'model.keras'),
                      detection_threshold=0.05, progress_bar=False)
print(deblender)
predicted = predict_pcr(deblender.model, scene.image)
segm = deblender(scene.image)
print('sources found:', 0 if segm is None else len(segm.partial_labels),
      'true sources:', scene.n_sources)

fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
axes[0].imshow(scene.image, origin='lower', cmap='gray_r', vmin=-0.02,
               vmax=0.1)
axes[0].set_title('new scene')
axes[1].imshow(truth.center_of_mass, origin='lower', vmin=0, vmax=1)
axes[1].set_title('true centre of mass')
axes[2].imshow(predicted.center_of_mass, origin='lower', vmin=0, vmax=1)
axes[2].set_title('predicted (30 steps)')
if segm is None:
    axes[3].text(0.5, 0.5, 'no source detected', ha='center', va='center',
                 transform=axes[3].transAxes)
else:
    segm.imshow(ax=axes[3])
axes[3].set_title('dominant map')
for ax in axes:
    ax.plot(scene.centers[:, 1], scene.centers[:, 0], 'r+', ms=8)
    ax.set_xlim(-0.5, 63.5)
    ax.set_ylim(-0.5, 63.5)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# For a real model: tens of thousands of scenes (``n_workers`` writes shards
# in parallel), the paper's architecture (the default ``model_options``),
# thousands of steps with ``schedule='cosine'``, a separate
# ``validation_dir`` from another seed range, and the same steps on the
# command line with ``pais-deblend simulate`` and ``pais-deblend train``.
# Then tune the decoding (``detection_threshold``) on validation scenes.
#
# Clean up the temporary files:

import shutil

shutil.rmtree(workdir)
