"""
Training the PAIS network: a resumable, checkpointed loop with a JSON
model card.

The optimiser is Adam (Hausen & Robertson 2022, arXiv:2201.04714, section
3.3 used learning rate 5e-5, beta_1 0.9, beta_2 0.9999, epsilon 1e-7 and
batch 100 for 1000 epochs on a GPU; the default learning rate here is
higher, 1e-3, for short CPU schedules). Batches come from
`pais_deblend.model.data.BatchStream`, a pure function of
``(seed, step)``, and the model's initial weights from ``seed``, so a run
interrupted and resumed from its last checkpoint follows the same
trajectory as an uninterrupted one.

Output directory layout::

    output_dir/
        model.keras          the trained model (loads with safe_mode=True)
        model_card.json      how it was made and how well it does
        checkpoint/
            state.json       step, elapsed time, configuration, history
            ckpt-<step>.weights.h5, ckpt-<step>.optimizer.npz
"""

import datetime
import json
import os
import platform
import time

import numpy as np

from ..utils._io import atomic_output, file_sha256
from ..utils._progress import progress_bar as _progress_bar
from ..utils._validation import (check_finite_float, check_in,
                                 check_nonnegative_int, check_positive_int)
from .data import BatchStream, ShardDataset, stack_labels
from .normalization import (DEFAULT_SOFTENING, NORMALIZATION_METHODS,
                            normalize_image)

__all__ = ['train', 'evaluate', 'MODEL_FILENAME', 'MODEL_CARD_FILENAME']

MODEL_FILENAME = 'model.keras'
MODEL_CARD_FILENAME = 'model_card.json'
_CHECKPOINT_DIR = 'checkpoint'
_STATE_FILENAME = 'state.json'

# the model card's description of each normalisation method
_NORMALIZATION_FORMULAS = {
    'asinh': 'asinh(x / (softening * noise_sigma))',
    'lupton': ('s_b * asinh(I) / I, s_b = x_b / (softening * noise_sigma_b), '
               'I = mean_b(s_b)'),
}


def _write_json(filename, payload):
    # the temporary is removed on any failure, Ctrl-C included
    with atomic_output(filename, overwrite=True) as temporary:
        with open(temporary, 'w') as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.write('\n')


def _as_float(value):
    return float(np.asarray(value))


def evaluate(model, dataset, indices=None, *, batch_size=8, loss=None,
             softening=DEFAULT_SOFTENING, normalization='asinh'):
    """
    Mean loss terms of ``model`` on samples of ``dataset`` (no
    augmentation, whole samples).

    Parameters
    ----------
    model : `~pais_deblend.model.PAISModel`
    dataset : `~pais_deblend.model.data.ShardDataset` or sequence of samples
    indices : array_like of int, optional
        The samples to evaluate (default: all).
    batch_size : int, optional
    loss : `~pais_deblend.model.PAISLoss`, optional
        Default: the paper's weights.
    softening : float, optional
        Passed to `normalize_image`.
    normalization : {'asinh', 'lupton'}, optional
        The normalisation method the model was trained with, passed to
        `normalize_image` as ``method``.

    Returns
    -------
    metrics : dict of str to float
        ``loss`` (the weighted total) and the four unweighted terms,
        averaged over batches weighted by their size; empty when no
        sample is given.
    """
    from .losses import PAISLoss

    check_in(normalization, NORMALIZATION_METHODS, 'normalization')
    loss = PAISLoss() if loss is None else loss
    indices = np.arange(len(dataset)) if indices is None else np.asarray(
        indices)
    batch_size = check_positive_int(batch_size, 'batch_size')
    sums = {}
    count = 0
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        samples = [dataset[int(i)] for i in chunk]
        images = np.stack([normalize_image(s['image'], softening=softening,
                                           method=normalization)
                           for s in samples])
        labels = stack_labels(samples)
        predictions = model(images, training=False)
        total, terms = loss(labels, predictions)
        values = {'loss': _as_float(total),
                  **{k: _as_float(v) for k, v in terms.items()}}
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value * len(chunk)
        count += len(chunk)
    return {key: value / count for key, value in sums.items()}


def _optimizer_arrays(optimizer):
    return {f'v{i:04d}': np.asarray(v) for i, v in
            enumerate(optimizer.variables)}


def _restore_optimizer(optimizer, model, filename):
    optimizer.build(model.trainable_variables)
    with np.load(filename) as data:
        names = sorted(data.files)
        if len(names) != len(optimizer.variables):
            msg = (f'checkpoint {filename!r} holds {len(names)} optimizer '
                   f'variables but the optimizer has '
                   f'{len(optimizer.variables)}')
            raise ValueError(msg)
        for name, variable in zip(names, optimizer.variables):
            variable.assign(data[name])


def _initial_model(initial_model):
    """Load a model to fine-tune from; describe it for the model card."""
    from .bundled import BUNDLED_MODELS, load_bundled_model
    from .network import load_model

    if isinstance(initial_model, str) and initial_model in BUNDLED_MODELS:
        model = load_bundled_model(initial_model)
        return {'model': model, 'description': {
            'name': initial_model,
            'sha256': BUNDLED_MODELS[initial_model]['sha256']}}
    if not isinstance(initial_model, (str, os.PathLike)):
        msg = (f'initial_model must be a bundled model name or a .keras '
               f'path, got {initial_model!r}')
        raise TypeError(msg)
    model = load_model(initial_model)
    return {'model': model, 'description': {
        'name': os.path.basename(os.fspath(initial_model)),
        'sha256': file_sha256(os.fspath(initial_model))}}


def _copy_weights(source, target, initial_model):
    """Copy the weights of ``source`` into ``target`` (same architecture)."""
    source_weights = source.get_weights()
    target_shapes = [w.shape for w in target.get_weights()]
    if [w.shape for w in source_weights] != target_shapes:
        msg = (f'initial_model {initial_model!r} has architecture '
               f'{source.architecture}, which does not match the model '
               f'to train ({target.architecture}); pass the same '
               f'model_options')
        raise ValueError(msg)
    target.set_weights(source_weights)


def train(dataset_dir, output_dir, *, steps=1000, batch_size=8, seed=0,
          validation_dir=None, validation_fraction=0.1,
          validation_samples=256, checkpoint_every=100, resume=True,
          progress_bar=True, learning_rate=1e-3, crop_size=None,
          augment=True, model_options=None, loss_weights=None, preset=None,
          softening=DEFAULT_SOFTENING, name='pais', schedule='constant',
          jit_compile=True, initial_model=None, normalization='asinh',
          source_balance=0.0):
    """
    Train the PAIS network on a directory of training shards.

    Parameters
    ----------
    dataset_dir : str or path-like
        A directory of ``.npz`` shards (`pais_deblend.model.data`; the
        simulation dataset writer's output).
    output_dir : str or path-like
        Where the model, model card and checkpoints are written (created
        if needed).
    steps : int, optional
        The total number of optimisation steps (including those done
        before a resume).
    batch_size : int, optional
    seed : int, optional
        Seeds the initial weights, the batch order, the augmentation and
        the crops.
    validation_dir : str or path-like, optional
        Shards of a held-out validation set (e.g. scenes from another seed
        range). Without it the last shards of ``dataset_dir`` (by file
        name, i.e. the highest seeds) are held out, a fraction
        ``validation_fraction`` of them.
    validation_fraction : float, optional
        See ``validation_dir``.
    validation_samples : int, optional
        At most this many validation samples are evaluated (the first
        ones).
    checkpoint_every : int, optional
        Steps between checkpoints (0: only at the end).
    resume : bool, optional
        Continue from the checkpoint in ``output_dir`` if there is one
        (its configuration must match); otherwise start afresh.
    progress_bar : bool, optional
        Show a progress bar.
    learning_rate : float, optional
        Adam learning rate (the initial one with ``schedule='cosine'``).
    schedule : {'constant', 'cosine'}, optional
        The learning-rate schedule: constant, or a cosine decay over
        ``steps`` to 5 % of ``learning_rate`` (Loshchilov & Hutter 2017,
        without restarts). The optimiser's step counter is checkpointed,
        so a resumed run continues the same schedule.
    jit_compile : bool, optional
        Compile the training step with XLA. On this project's 2-core CPU
        machine XLA ran the step of the default network 2.7x faster
        (0.86 s against 2.3 s for a batch of 8 crops of 128 x 128); it
        does not change the result beyond float rounding.
    crop_size : int, optional
        Train on random square crops of this size.
    augment : bool, optional
        Random flips and 90-degree rotations.
    model_options : dict, optional
        Keyword arguments of `~pais_deblend.model.build_pais_model`
        (``n_bands`` and ``n_contributors`` default to the data's;
        ``band_maps`` is on when the data are multi-band and carry
        ``band_contribution_maps``; pass ``classify=True`` for the
        star/galaxy head).
    loss_weights : dict, optional
        Keyword arguments of `~pais_deblend.model.PAISLoss`.
    preset : str, optional
        The simulation preset, recorded in the model card (default: the
        ``preset`` of the dataset's ``manifest.json``).
    softening : float, optional
        The normalisation softening (`normalize_image`).
    name : str, optional
        The model name recorded in the card.
    initial_model : str or path-like, optional
        Start from the weights of this model (a bundled model name or a
        ``.keras`` file) instead of random ones: fine-tuning, e.g. on a
        training set richer in close pairs. Its architecture must match
        ``model_options``; its name and SHA-256 go into the model card.
    normalization : {'asinh', 'lupton'}, optional
        The input normalisation (`normalize_image` ``method``): the
        per-band asinh stretch, or the colour-preserving stretch of the
        band mean of Lupton et al. (2004, PASP 116, 133). Recorded in the
        training configuration and in the model card's ``normalization``
        section; inference must use the same
        (`~pais_deblend.deblend.Deblender` reads it from
        the bundled model's entry).
    source_balance : float, optional
        Re-weight the C^v/C^m pixels so that sources covering few pixels
        count more (`~pais_deblend.model.data.balance_pixel_weight`
        exponent; 0, the default, leaves the weights alone).

    Returns
    -------
    model_card : dict
        The content written to ``model_card.json``.
    """
    import keras
    import tensorflow as tf

    from ..version import version as package_version
    from .losses import PAISLoss
    from .network import build_pais_model

    steps = check_positive_int(steps, 'steps')
    batch_size = check_positive_int(batch_size, 'batch_size')
    seed = check_nonnegative_int(seed, 'seed')
    checkpoint_every = check_nonnegative_int(checkpoint_every,
                                             'checkpoint_every')
    learning_rate = check_finite_float(learning_rate, 'learning_rate',
                                       minimum=0)
    validation_samples = check_nonnegative_int(validation_samples,
                                               'validation_samples')
    check_in(schedule, ('constant', 'cosine'), 'schedule')
    check_in(normalization, NORMALIZATION_METHODS, 'normalization')
    source_balance = check_finite_float(source_balance, 'source_balance',
                                        minimum=0, include_minimum=True)

    initial = (None if initial_model is None
               else _initial_model(initial_model))
    dataset = ShardDataset(dataset_dir)
    if validation_dir is not None:
        train_indices = np.arange(len(dataset))
        validation_dataset = ShardDataset(validation_dir)
        validation_indices = np.arange(len(validation_dataset))
    else:
        train_indices, validation_indices = dataset.split(
            validation_fraction)
        validation_dataset = dataset
    validation_indices = validation_indices[:validation_samples]

    first = dataset[int(train_indices[0])]
    options = {'n_bands': int(first['image'].shape[-1]),
               'n_contributors': int(first['contribution_maps'].shape[-1])}
    if 'band_contribution_maps' in first and options['n_bands'] > 1:
        options['band_maps'] = True
    options.update(model_options or {})
    loss = PAISLoss(**(loss_weights or {}))
    if preset is None and dataset.manifest is not None:
        preset = dataset.manifest.get('preset')

    config = {
        'model_options': {k: (list(v) if isinstance(v, tuple) else v)
                          for k, v in options.items()},
        'loss_weights': loss.get_config(),
        'batch_size': batch_size, 'seed': seed,
        'learning_rate': learning_rate, 'schedule': schedule,
        'crop_size': crop_size,
        'augment': bool(augment), 'softening': float(softening),
        'normalization': normalization,
        'n_training_samples': int(len(train_indices)),
    }
    if initial is not None:
        config['initial_model'] = initial['description']
    if source_balance:
        # only when used, so that older checkpoints still resume
        config['source_balance'] = source_balance

    output_dir = os.fspath(output_dir)
    checkpoint_dir = os.path.join(output_dir, _CHECKPOINT_DIR)
    os.makedirs(checkpoint_dir, exist_ok=True)
    state_file = os.path.join(checkpoint_dir, _STATE_FILENAME)

    model = build_pais_model(**options, seed=seed)
    if initial is not None:
        _copy_weights(initial['model'], model, initial_model)
    if schedule == 'cosine':
        rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=steps, alpha=0.05)
    else:
        rate = learning_rate
    optimizer = keras.optimizers.Adam(learning_rate=rate,
                                      beta_1=0.9, beta_2=0.9999,
                                      epsilon=1e-7)
    state = {'step': 0, 'elapsed_s': 0.0, 'history': [], 'config': config}
    if resume and os.path.exists(state_file):
        with open(state_file) as handle:
            saved = json.load(handle)
        # checkpoints written before the option existed used 'asinh'
        saved['config'].setdefault('normalization', 'asinh')
        if saved['config'] != json.loads(json.dumps(config)):
            msg = (f'the checkpoint in {checkpoint_dir!r} was made with a '
                   f'different configuration ({saved["config"]}) than this '
                   f'call ({config}); pass resume=False to start afresh')
            raise ValueError(msg)
        state = saved
        model.load_weights(os.path.join(checkpoint_dir,
                                        state['weights_file']))
        _restore_optimizer(optimizer, model,
                           os.path.join(checkpoint_dir,
                                        state['optimizer_file']))

    stream = BatchStream(dataset, indices=train_indices,
                         batch_size=batch_size, seed=seed, augment=augment,
                         crop_size=crop_size, softening=softening,
                         normalization=normalization,
                         source_balance=source_balance)

    # create the optimizer's slots before tracing, so the step traces once
    optimizer.build(model.trainable_variables)

    @tf.function(reduce_retracing=True, autograph=False,
                 jit_compile=bool(jit_compile))
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            total, terms = loss(labels, predictions)
        gradients = tape.gradient(total, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return total, terms

    def save_checkpoint(step, elapsed):
        stem = f'ckpt-{step:08d}'
        weights_file = f'{stem}.weights.h5'
        optimizer_file = f'{stem}.optimizer.npz'
        model.save_weights(os.path.join(checkpoint_dir, weights_file),
                           overwrite=True)
        np.savez(os.path.join(checkpoint_dir, optimizer_file),
                 **_optimizer_arrays(optimizer))
        old = (state.get('weights_file'), state.get('optimizer_file'))
        state.update(step=step, elapsed_s=elapsed,
                     weights_file=weights_file,
                     optimizer_file=optimizer_file)
        _write_json(state_file, state)
        for filename in old:
            if filename and filename not in (weights_file, optimizer_file):
                path = os.path.join(checkpoint_dir, filename)
                if os.path.exists(path):
                    os.remove(path)

    start_step = int(state['step'])
    elapsed_before = float(state['elapsed_s'])
    started = time.perf_counter()
    bar = _progress_bar(range(start_step, steps), desc='training',
                        total=max(steps - start_step, 0),
                        enabled=progress_bar, unit='step')
    for step in bar:
        images, labels = stream.batch(step)
        total, terms = train_step(images, labels)
        done = step + 1
        if progress_bar and hasattr(bar, 'set_postfix'):
            bar.set_postfix(loss=f'{_as_float(total):.4g}')
        if done % max(1, min(checkpoint_every or steps, 50)) == 0 or (
                done == steps):
            state['history'].append(
                {'step': done, 'loss': _as_float(total),
                 **{k: _as_float(v) for k, v in terms.items()}})
        if checkpoint_every and done % checkpoint_every == 0 and (
                done != steps):
            save_checkpoint(done, elapsed_before + time.perf_counter()
                            - started)
    elapsed = elapsed_before + time.perf_counter() - started
    if steps > start_step or 'weights_file' not in state:
        save_checkpoint(max(steps, start_step), elapsed)

    validation = evaluate(model, validation_dataset, validation_indices,
                          batch_size=batch_size, loss=loss,
                          softening=softening, normalization=normalization)
    model_file = os.path.join(output_dir, MODEL_FILENAME)
    with atomic_output(model_file, overwrite=True) as temporary:
        model.save(temporary)

    def seeds_of(ds, indices):
        seeds = ds.seeds(indices)
        if not seeds:
            return None
        return {'min': int(min(seeds)), 'max': int(max(seeds)),
                'count': len(seeds)}

    card = {
        'name': name,
        'created_utc': datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        'package_version': package_version,
        'tensorflow_version': tf.__version__,
        'keras_version': keras.__version__,
        'python_version': platform.python_version(),
        'preset': preset,
        'dataset': {
            'directory': os.path.abspath(os.fspath(dataset_dir)),
            'n_shards': len(dataset.files),
            'n_training_samples': int(len(train_indices)),
            'training_seeds': seeds_of(dataset, train_indices),
            'manifest': dataset.manifest,
        },
        'validation': {
            'directory': (None if validation_dir is None else
                          os.path.abspath(os.fspath(validation_dir))),
            'n_samples': int(len(validation_indices)),
            'seeds': (seeds_of(validation_dataset, validation_indices)
                      if len(validation_indices) else None),
            'metrics': validation,
        },
        'training': {
            'steps': int(max(steps, start_step)),
            'seed': seed,
            'batch_size': batch_size,
            'learning_rate': learning_rate,
            'schedule': schedule,
            'jit_compile': bool(jit_compile),
            'optimizer': 'Adam(beta_1=0.9, beta_2=0.9999, epsilon=1e-7)',
            'crop_size': crop_size,
            'augment': bool(augment),
            'source_balance': source_balance,
            'wall_time_s': round(elapsed, 3),
            'resumed_from_step': start_step or None,
            'initial_model': config.get('initial_model'),
            'final_training_loss': (state['history'][-1]
                                    if state['history'] else None),
        },
        'architecture': model.architecture,
        'receptive_field_radius': model.receptive_field_radius,
        'loss_weights': loss.get_config(),
        'normalization': {'method': normalization,
                          'formula': _NORMALIZATION_FORMULAS[normalization],
                          'noise_estimate': '1.4826 * MAD per band',
                          'softening': float(softening)},
        'model_file': MODEL_FILENAME,
        'model_sha256': file_sha256(model_file),
    }
    _write_json(os.path.join(output_dir, MODEL_CARD_FILENAME), card)
    return card
