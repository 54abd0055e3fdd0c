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

__all__ = ['train', 'evaluate', 'distillation_loss', 'MODEL_FILENAME', 'MODEL_CARD_FILENAME']

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


def _load_reference_model(model, parameter):
    """
    Load a model to start from or learn from (a bundled model name or a
    ``.keras`` path); describe it for the model card.
    """
    from .bundled import BUNDLED_MODELS, load_bundled_model
    from .network import load_model

    if isinstance(model, str) and model in BUNDLED_MODELS:
        return {'model': load_bundled_model(model), 'description': {
            'name': model, 'sha256': BUNDLED_MODELS[model]['sha256']}}
    if not isinstance(model, (str, os.PathLike)):
        msg = (f'{parameter} must be a bundled model name or a .keras '
               f'path, got {model!r}')
        raise TypeError(msg)
    loaded = load_model(model)
    return {'model': loaded, 'description': {
        'name': os.path.basename(os.fspath(model)),
        'sha256': file_sha256(os.fspath(model))}}


def _check_teacher(teacher, options):
    """The teacher must see the same bands and predict the same slots."""
    architecture = teacher.architecture
    for key in ('n_bands', 'n_contributors'):
        if int(architecture[key]) != int(options[key]):
            msg = (f'the teacher has {key}={architecture[key]} but the '
                   f'model to train has {key}={options[key]}')
            raise ValueError(msg)


def distillation_loss(loss, labels, teacher_outputs, predictions, weight):
    """
    The training loss mixed with the same loss on a teacher's outputs.

    Parameters
    ----------
    loss : `~pais_deblend.model.PAISLoss`
    labels : dict
        The simulation labels (`PAISLoss` notes).
    teacher_outputs : dict
        The teacher model's outputs on the same images.
    predictions : dict
        The model's outputs.
    weight : float
        The teacher's share of the total, in [0, 1].

    Returns
    -------
    total : scalar tensor
        ``(1 - weight) * loss(labels) + weight * loss(teacher targets)``.
    terms : dict of str to scalar tensor
        The label terms, plus the teacher terms prefixed ``teacher_``.
    """
    from keras import ops

    targets = {
        'center_of_mass': ops.stop_gradient(
            teacher_outputs['center_of_mass']),
        'contribution_vectors': ops.stop_gradient(
            teacher_outputs['contribution_vectors']),
        'contribution_maps': ops.stop_gradient(ops.softmax(
            teacher_outputs['contribution_maps'], axis=-1)),
        'pixel_weight': labels['pixel_weight'],
    }
    for head in ('star_probability', 'band_contribution_maps'):
        if head in teacher_outputs and head in labels:
            value = teacher_outputs[head]
            if head == 'band_contribution_maps':
                value = ops.softmax(value, axis=-1)
            elif len(value.shape) == 4:
                value = value[..., 0]
            targets[head] = ops.stop_gradient(value)
    label_total, label_terms = loss(labels, predictions)
    teacher_total, teacher_terms = loss(targets, predictions)
    total = (1.0 - weight) * label_total + weight * teacher_total
    terms = dict(label_terms)
    terms.update({f'teacher_{k}': v for k, v in teacher_terms.items()})
    return total, terms


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
          source_balance=0.0, teacher=None, distillation_weight=0.5):
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
    teacher : str or path-like, optional
        Knowledge distillation (Hinton, Vinyals & Dean 2015,
        arXiv:1503.02531): a trained model (a bundled model name or a
        ``.keras`` file, any architecture with the same bands and slots)
        whose outputs on each batch serve as soft targets. The loss is
        ``(1 - distillation_weight) * L(labels) + distillation_weight *
        L(teacher)``, where the teacher's targets are its C^c map, its
        C^v vectors and the softmax of its C^m logits (and of its
        per-band maps and its star probability when both models have
        those heads), on the labels' pixel weights. A small network
        learns a large one's outputs in far fewer steps than the labels
        alone (`distillation_loss`).
    distillation_weight : float, optional
        The share of the loss given to the teacher's targets, in [0, 1]
        (used only with ``teacher``).

    Returns
    -------
    model_card : dict
        The content written to ``model_card.json``.
    """
    # without keras and tensorflow nothing else is checked
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    run = _TrainingRun(
        dataset_dir, output_dir, steps=steps, batch_size=batch_size,
        seed=seed, validation_dir=validation_dir,
        validation_fraction=validation_fraction,
        validation_samples=validation_samples,
        checkpoint_every=checkpoint_every, resume=resume,
        progress_bar=progress_bar, learning_rate=learning_rate,
        crop_size=crop_size, augment=augment, model_options=model_options,
        loss_weights=loss_weights, preset=preset, softening=softening,
        name=name, schedule=schedule, jit_compile=jit_compile,
        initial_model=initial_model, normalization=normalization,
        source_balance=source_balance, teacher=teacher,
        distillation_weight=distillation_weight)
    run.build()
    run.fit()
    return run.write_model(run.evaluate_validation())


class _TrainingRun:
    """
    One call of `train`, stage by stage: the checked arguments and the
    data (construction), the model and optimiser, resumed from the
    checkpoint when there is one (`build`), the training loop (`fit`),
    and the model with its card (`write_model`).
    """

    def __init__(self, dataset_dir, output_dir, *, steps, batch_size, seed,
                 validation_dir, validation_fraction, validation_samples,
                 checkpoint_every, resume, progress_bar, learning_rate,
                 crop_size, augment, model_options, loss_weights, preset,
                 softening, name, schedule, jit_compile, initial_model,
                 normalization, source_balance, teacher=None,
                 distillation_weight=0.5):
        from .losses import PAISLoss

        self.steps = check_positive_int(steps, 'steps')
        self.batch_size = check_positive_int(batch_size, 'batch_size')
        self.seed = check_nonnegative_int(seed, 'seed')
        self.checkpoint_every = check_nonnegative_int(checkpoint_every,
                                                      'checkpoint_every')
        self.learning_rate = check_finite_float(learning_rate,
                                                'learning_rate', minimum=0)
        validation_samples = check_nonnegative_int(validation_samples,
                                                   'validation_samples')
        self.schedule = check_in(schedule, ('constant', 'cosine'),
                                 'schedule')
        self.normalization = check_in(normalization, NORMALIZATION_METHODS,
                                      'normalization')
        self.source_balance = check_finite_float(
            source_balance, 'source_balance', minimum=0,
            include_minimum=True)
        self.dataset_dir, self.validation_dir = dataset_dir, validation_dir
        self.resume, self.progress_bar = resume, progress_bar
        self.crop_size, self.augment = crop_size, augment
        self.softening, self.name = softening, name
        self.jit_compile, self.initial_model = jit_compile, initial_model

        self.initial = (None if initial_model is None
                        else _load_reference_model(initial_model,
                                                   'initial_model'))
        self.distillation_weight = check_finite_float(
            distillation_weight, 'distillation_weight', minimum=0,
            maximum=1, include_minimum=True)
        self.teacher = (None if teacher is None
                        else _load_reference_model(teacher, 'teacher'))
        self._load_data(validation_fraction, validation_samples)
        self.options = self._model_options(model_options)
        if self.teacher is not None:
            _check_teacher(self.teacher['model'], self.options)
        self.loss = PAISLoss(**(loss_weights or {}))
        if preset is None and self.dataset.manifest is not None:
            preset = self.dataset.manifest.get('preset')
        self.preset = preset
        self.config = self._config()
        self.output_dir = os.fspath(output_dir)
        self.checkpoint_dir = os.path.join(self.output_dir, _CHECKPOINT_DIR)
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        self.state_file = os.path.join(self.checkpoint_dir, _STATE_FILENAME)

    def _load_data(self, validation_fraction, validation_samples):
        """The training set and the held-out samples."""
        self.dataset = ShardDataset(self.dataset_dir)
        if self.validation_dir is not None:
            self.train_indices = np.arange(len(self.dataset))
            self.validation_dataset = ShardDataset(self.validation_dir)
            validation_indices = np.arange(len(self.validation_dataset))
        else:
            self.train_indices, validation_indices = self.dataset.split(
                validation_fraction)
            self.validation_dataset = self.dataset
        self.validation_indices = validation_indices[:validation_samples]

    def _model_options(self, model_options):
        """`build_pais_model` options: the data's, then the caller's."""
        first = self.dataset[int(self.train_indices[0])]
        options = {'n_bands': int(first['image'].shape[-1]),
                   'n_contributors': int(first['contribution_maps'].shape[-1])}
        if 'band_contribution_maps' in first and options['n_bands'] > 1:
            options['band_maps'] = True
        options.update(model_options or {})
        return options

    def _config(self):
        """What a checkpoint must match to be resumed."""
        config = {
            'model_options': {k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in self.options.items()},
            'loss_weights': self.loss.get_config(),
            'batch_size': self.batch_size, 'seed': self.seed,
            'learning_rate': self.learning_rate, 'schedule': self.schedule,
            'crop_size': self.crop_size,
            'augment': bool(self.augment), 'softening': float(self.softening),
            'normalization': self.normalization,
            'n_training_samples': int(len(self.train_indices)),
        }
        if self.initial is not None:
            config['initial_model'] = self.initial['description']
        if self.source_balance:
            # only when used, so that older checkpoints still resume
            config['source_balance'] = self.source_balance
        if self.teacher is not None:
            config['teacher'] = self.teacher['description']
            config['distillation_weight'] = self.distillation_weight
        return config

    def build(self):
        """The model and optimiser, from the checkpoint when resuming."""
        import keras

        from .network import build_pais_model

        self.model = build_pais_model(**self.options, seed=self.seed)
        if self.initial is not None:
            _copy_weights(self.initial['model'], self.model,
                          self.initial_model)
        if self.schedule == 'cosine':
            rate = keras.optimizers.schedules.CosineDecay(
                self.learning_rate, decay_steps=self.steps, alpha=0.05)
        else:
            rate = self.learning_rate
        self.optimizer = keras.optimizers.Adam(learning_rate=rate,
                                               beta_1=0.9, beta_2=0.9999,
                                               epsilon=1e-7)
        self.state = {'step': 0, 'elapsed_s': 0.0, 'history': [],
                      'config': self.config}
        if self.resume and os.path.exists(self.state_file):
            self._restore_checkpoint()

    def _restore_checkpoint(self):
        with open(self.state_file) as handle:
            saved = json.load(handle)
        # checkpoints written before the option existed used 'asinh'
        saved['config'].setdefault('normalization', 'asinh')
        if saved['config'] != json.loads(json.dumps(self.config)):
            msg = (f'the checkpoint in {self.checkpoint_dir!r} was made with '
                   f'a different configuration ({saved["config"]}) than '
                   f'this call ({self.config}); pass resume=False to start '
                   f'afresh')
            raise ValueError(msg)
        self.state = saved
        self.model.load_weights(os.path.join(self.checkpoint_dir,
                                             saved['weights_file']))
        _restore_optimizer(self.optimizer, self.model,
                           os.path.join(self.checkpoint_dir,
                                        saved['optimizer_file']))

    def _train_step(self):
        """The compiled optimisation step."""
        import tensorflow as tf

        model, optimizer = self.model, self.optimizer
        loss = self._loss_function()
        # create the optimizer's slots before tracing, so the step traces
        # once
        optimizer.build(model.trainable_variables)

        @tf.function(reduce_retracing=True, autograph=False,
                     jit_compile=bool(self.jit_compile))
        def train_step(images, labels):
            with tf.GradientTape() as tape:
                predictions = model(images, training=True)
                total, terms = loss(images, labels, predictions)
            gradients = tape.gradient(total, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
            return total, terms

        return train_step

    def _loss_function(self):
        """``loss(images, labels, predictions) -> (total, terms)``."""
        if self.teacher is None:
            return lambda images, labels, predictions: self.loss(
                labels, predictions)
        teacher, weight = self.teacher['model'], self.distillation_weight

        def loss(images, labels, predictions):
            targets = teacher(images, training=False)
            return distillation_loss(self.loss, labels, targets,
                                     predictions, weight)

        return loss

    def _save_checkpoint(self, step, elapsed):
        """Write weights, optimiser and state; drop the previous ones."""
        stem = f'ckpt-{step:08d}'
        weights_file = f'{stem}.weights.h5'
        optimizer_file = f'{stem}.optimizer.npz'
        self.model.save_weights(os.path.join(self.checkpoint_dir,
                                             weights_file), overwrite=True)
        np.savez(os.path.join(self.checkpoint_dir, optimizer_file),
                 **_optimizer_arrays(self.optimizer))
        old = (self.state.get('weights_file'),
               self.state.get('optimizer_file'))
        self.state.update(step=step, elapsed_s=elapsed,
                          weights_file=weights_file,
                          optimizer_file=optimizer_file)
        _write_json(self.state_file, self.state)
        for filename in old:
            if filename and filename not in (weights_file, optimizer_file):
                path = os.path.join(self.checkpoint_dir, filename)
                if os.path.exists(path):
                    os.remove(path)

    def fit(self):
        """Run the steps left, recording the loss and checkpointing."""
        steps, checkpoint_every = self.steps, self.checkpoint_every
        stream = BatchStream(self.dataset, indices=self.train_indices,
                             batch_size=self.batch_size, seed=self.seed,
                             augment=self.augment, crop_size=self.crop_size,
                             softening=self.softening,
                             normalization=self.normalization,
                             source_balance=self.source_balance)
        train_step = self._train_step()
        self.start_step = start_step = int(self.state['step'])
        elapsed_before = float(self.state['elapsed_s'])
        started = time.perf_counter()
        bar = _progress_bar(range(start_step, steps), desc='training',
                            total=max(steps - start_step, 0),
                            enabled=self.progress_bar, unit='step')
        for step in bar:
            images, labels = stream.batch(step)
            total, terms = train_step(images, labels)
            done = step + 1
            if self.progress_bar and hasattr(bar, 'set_postfix'):
                bar.set_postfix(loss=f'{_as_float(total):.4g}')
            if done % max(1, min(checkpoint_every or steps, 50)) == 0 or (
                    done == steps):
                self.state['history'].append(
                    {'step': done, 'loss': _as_float(total),
                     **{k: _as_float(v) for k, v in terms.items()}})
            if checkpoint_every and done % checkpoint_every == 0 and (
                    done != steps):
                self._save_checkpoint(done, elapsed_before
                                      + time.perf_counter() - started)
        self.elapsed = elapsed_before + time.perf_counter() - started
        if steps > start_step or 'weights_file' not in self.state:
            self._save_checkpoint(max(steps, start_step), self.elapsed)

    def evaluate_validation(self):
        """The loss terms on the held-out samples (`evaluate`)."""
        return evaluate(self.model, self.validation_dataset,
                        self.validation_indices, batch_size=self.batch_size,
                        loss=self.loss, softening=self.softening,
                        normalization=self.normalization)

    def write_model(self, validation):
        """Save the model, then write and return its card."""
        model_file = os.path.join(self.output_dir, MODEL_FILENAME)
        with atomic_output(model_file, overwrite=True) as temporary:
            self.model.save(temporary)
        card = self._model_card(validation, file_sha256(model_file))
        _write_json(os.path.join(self.output_dir, MODEL_CARD_FILENAME), card)
        return card

    def _model_card(self, validation, model_sha256):
        import keras
        import tensorflow as tf

        from ..version import version as package_version

        return {
            'name': self.name,
            'created_utc': datetime.datetime.now(
                datetime.timezone.utc).isoformat(timespec='seconds'),
            'package_version': package_version,
            'tensorflow_version': tf.__version__,
            'keras_version': keras.__version__,
            'python_version': platform.python_version(),
            'preset': self.preset,
            'dataset': self._dataset_section(),
            'validation': {
                'directory': (None if self.validation_dir is None else
                              os.path.abspath(os.fspath(self.validation_dir))),
                'n_samples': int(len(self.validation_indices)),
                'seeds': (_seed_range(self.validation_dataset,
                                      self.validation_indices)
                          if len(self.validation_indices) else None),
                'metrics': validation,
            },
            'training': self._training_section(),
            'architecture': self.model.architecture,
            'receptive_field_radius': self.model.receptive_field_radius,
            'loss_weights': self.loss.get_config(),
            'normalization': {
                'method': self.normalization,
                'formula': _NORMALIZATION_FORMULAS[self.normalization],
                'noise_estimate': '1.4826 * MAD per band',
                'softening': float(self.softening)},
            'model_file': MODEL_FILENAME,
            'model_sha256': model_sha256,
        }

    def _dataset_section(self):
        return {
            'directory': os.path.abspath(os.fspath(self.dataset_dir)),
            'n_shards': len(self.dataset.files),
            'n_training_samples': int(len(self.train_indices)),
            'training_seeds': _seed_range(self.dataset, self.train_indices),
            'manifest': self.dataset.manifest,
        }

    def _training_section(self):
        history = self.state['history']
        return {
            'steps': int(max(self.steps, self.start_step)),
            'seed': self.seed,
            'batch_size': self.batch_size,
            'learning_rate': self.learning_rate,
            'schedule': self.schedule,
            'jit_compile': bool(self.jit_compile),
            'optimizer': 'Adam(beta_1=0.9, beta_2=0.9999, epsilon=1e-7)',
            'crop_size': self.crop_size,
            'augment': bool(self.augment),
            'source_balance': self.source_balance,
            'wall_time_s': round(self.elapsed, 3),
            'resumed_from_step': self.start_step or None,
            'initial_model': self.config.get('initial_model'),
            'teacher': self.config.get('teacher'),
            'distillation_weight': self.config.get('distillation_weight'),
            'final_training_loss': history[-1] if history else None,
        }


def _seed_range(dataset, indices):
    """The smallest and largest seed of the samples, and their number."""
    seeds = dataset.seeds(indices)
    if not seeds:
        return None
    return {'min': int(min(seeds)), 'max': int(max(seeds)),
            'count': len(seeds)}
