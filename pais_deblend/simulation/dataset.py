"""
Training sets: simulated scenes turned into model inputs and PCR labels,
written as ``.npz`` shards that stream from disk.

Layout of a training-set directory::

    manifest.json        configuration, seeds, counts, package version
    shard_00000.npz      scenes 0 .. scenes_per_shard - 1
    shard_00001.npz      ...

Each shard holds, for its ``n`` scenes (``k`` contributors, ``b`` bands):

- ``image`` (n, h, w, b) float32: the model input (noisy image);
- ``center_of_mass`` (n, h, w), ``contribution_vectors`` (n, h, w, k, 2),
  ``contribution_maps`` (n, h, w, k): the PCR labels of
  `pais_deblend.pcr.encode_pcr` (fractions, not logits), stored as
  ``label_dtype`` (float16 by default: fractions to 5e-4, vectors to 0.125
  pixel at |v| < 256);
- ``star_probability`` (n, h, w): the share of each pixel's true flux that
  comes from stars (the label of the star/galaxy head);
- ``band_contribution_maps`` (n, h, w, b, k), multi-band presets only: the
  fractions of each band's flux for the same slots
  (`pais_deblend.pcr.encode_band_maps`), so colours can be learned;
- ``scene_index`` (n,) int64: global scene numbers;
- ``n_sources`` (n,) int64 and, concatenated over the shard's scenes,
  ``centers`` (total, 2) float64 (y, x), ``flux`` (total, b) float64,
  ``magnitude`` (total,) and ``type_code`` (total,) int8 (index into
  `~pais_deblend.simulation.SOURCE_TYPES`).

Scene ``j`` is simulated from ``numpy.random.SeedSequence([seed, j])``, so a
set is reproducible and independent of the shard size and of the number of
workers. Shards are written atomically (temporary file + `os.replace`), so
an interrupted run leaves only complete shards and a rerun with the same
arguments resumes where it stopped.
"""

import json
import math
import os
import time
import warnings

import numpy as np

from ..utils._progress import progress_bar
# _FORMAT stays importable from here
from ..utils._shards import (FORMAT as _FORMAT, FORMAT_VERSION,
                             MANIFEST_NAME, PCR_LABEL_KEYS,
                             array_descriptions, check_shard_name,
                             holds_shards, read_manifest, read_shard,
                             remove_training_set, shard_entry, shard_name,
                             shard_n_sources, shard_number, write_manifest,
                             write_shard_arrays)
from ..utils._validation import (check_finite_float, check_in,
                                 check_nonnegative_int, check_positive_int)
from ..utils.exceptions import PaisDeblendWarning
from ..version import version as package_version
from .population import (SOURCE_TYPES, as_generator, check_density,
                         check_shape)
from .presets import get_preset

__all__ = ['write_training_set', 'TrainingSetReader', 'read_training_set',
           'scene_seed', 'MANIFEST_NAME']

_THREAD_VARIABLES = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')
_CONFIG_KEYS = ('preset', 'seed', 'n_scenes', 'shape', 'density',
                'scenes_per_shard', 'n_contributors', 'sigma',
                'contributor_choice', 'label_dtype', 'star_fraction',
                'clumpy_fraction', 'companion_fraction', 'center_min_snr',
                'contributor_min_snr', 'irregular_fraction')


def scene_seed(seed, index):
    """The `numpy.random.SeedSequence` of scene ``index`` of a training set."""
    return np.random.SeedSequence([int(seed), int(index)])


#: ``type_code`` of stars (index into SOURCE_TYPES).
_STAR = SOURCE_TYPES.index('star')


def _star_probability(cutouts, is_star, shape):
    """
    The share of each pixel's (band-summed, positive) true flux that comes
    from stars, (h, w) float32; 0 where no source has flux. The label of
    the network's star/galaxy head.
    """
    star = np.zeros(shape, dtype=np.float64)
    total = np.zeros(shape, dtype=np.float64)
    for cutout, star_flag in zip(cutouts, is_star):
        flux = np.maximum(np.nan_to_num(np.asarray(cutout.data,
                                                   dtype=np.float64)), 0.0)
        total[cutout.slices] += flux
        if star_flag:
            star[cutout.slices] += flux
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(total > 0, star / total, 0.0).astype(np.float32)


def _source_snr(scene, noise_sigma):
    """
    The matched-filter S/N of every source of a scene, summed over bands:
    sqrt(sum_b sum_p (S_i,b(p) / sigma_b)**2).
    """
    sigma = np.asarray(noise_sigma, dtype=np.float64)
    return np.array([
        math.sqrt(float(np.sum(np.square(
            np.atleast_3d(np.asarray(c.data, dtype=np.float64)) / sigma))))
        for c in scene.source_images])


def _band_maps(pcr, band_images, centers, scene):
    """`encode_band_maps`, also for a scene with no labelled source
    (zeros of shape (h, w, b, n))."""
    from ..pcr import encode_band_maps

    if len(band_images) == 0:
        return np.zeros(scene.shape + (scene.n_bands, pcr.n_contributors),
                        dtype=np.float32)
    return encode_band_maps(pcr, band_images, centers, shape=scene.shape)


def _frame_sum(source_images, shape):
    """The sum of per-source cutouts on a frame of ``shape``."""
    total = np.zeros(shape, dtype=np.float64)
    for cutout in source_images:
        total[cutout.slices] += cutout.data
    return total


def _make_shard(config, shard):
    """Simulate, encode and write one shard; return its manifest entry."""
    from ..model.data import DEFAULT_FLUX_THRESHOLD, noiseless_pixel_weight
    from ..pcr import center_of_mass_map, encode_pcr
    from .scene import SceneSimulator

    simulator = SceneSimulator(config['preset'], shape=tuple(config['shape']),
                               density=config['density'],
                               star_fraction=config['star_fraction'],
                               clumpy_fraction=config['clumpy_fraction'],
                               companion_fraction=config.get(
                                   'companion_fraction'),
                               irregular_fraction=config.get(
                                   'irregular_fraction'))
    per_shard = config['scenes_per_shard']
    first = shard * per_shard
    last = min(first + per_shard, config['n_scenes'])
    label_dtype = np.dtype(config['label_dtype'])
    multi_band = simulator.preset.n_bands > 1
    keys = ('image', 'scene_index', 'n_sources', 'pixel_weight',
            'star_probability') + PCR_LABEL_KEYS
    arrays = {key: [] for key in keys + (('band_contribution_maps',)
                                         if multi_band else ())}
    noise_sigma = [band.noise_sigma for band in simulator.preset.bands]
    sources = {key: [] for key in ('centers', 'flux', 'magnitude', 'type_code')}
    for index in range(first, last):
        scene = simulator.simulate(scene_seed(config['seed'], index))
        snr = _source_snr(scene, noise_sigma)  # cheap beside the drawing
        labelled = (np.arange(scene.n_sources)
                    if config.get('contributor_min_snr') is None
                    else np.flatnonzero(snr >= config['contributor_min_snr']))
        all_cutouts = scene.source_cutouts()
        cutouts = [all_cutouts[i] for i in labelled]
        band_images = [scene.source_images[i] for i in labelled]
        centers = scene.centers[labelled]
        pcr = encode_pcr(cutouts, centers,
                         n_contributors=config['n_contributors'],
                         sigma=config['sigma'],
                         contributor_choice=config['contributor_choice'],
                         shape=scene.shape)
        if config.get('center_min_snr') is not None:
            pcr.center_of_mass = center_of_mass_map(
                centers[snr[labelled] >= config['center_min_snr']],
                scene.shape, sigma=config['sigma'])
        image = scene.image if scene.image.ndim == 3 else scene.image[..., None]
        arrays['image'].append(image)
        arrays['center_of_mass'].append(pcr.center_of_mass.astype(label_dtype))
        arrays['contribution_vectors'].append(
            pcr.contribution_vectors.astype(label_dtype))
        arrays['contribution_maps'].append(pcr.contribution_maps.astype(label_dtype))
        arrays['star_probability'].append(_star_probability(
            cutouts, scene.population.type_code[labelled] == _STAR,
            scene.shape).astype(label_dtype))
        if multi_band:
            arrays['band_contribution_maps'].append(_band_maps(
                pcr, band_images, centers, scene).astype(label_dtype))
        # the loss's C^v/C^m terms count the pixels where true flux (of
        # the labelled sources) stands above the noise
        # (pais_deblend.model.data)
        arrays['pixel_weight'].append(noiseless_pixel_weight(
            _frame_sum(band_images, scene.image.shape), noise_sigma,
            DEFAULT_FLUX_THRESHOLD).astype(np.uint8))
        arrays['scene_index'].append(index)
        arrays['n_sources'].append(scene.n_sources)
        sources['centers'].append(scene.centers)
        sources['flux'].append(scene.population.flux)
        sources['magnitude'].append(scene.population.magnitude)
        sources['type_code'].append(scene.population.type_code)
    content = {key: np.stack(value) if key not in ('scene_index', 'n_sources')
               else np.asarray(value, dtype=np.int64)
               for key, value in arrays.items()}
    content['centers'] = np.concatenate(sources['centers']).reshape(-1, 2)
    content['flux'] = np.concatenate(sources['flux']).reshape(
        -1, simulator.preset.n_bands)
    content['magnitude'] = np.concatenate(sources['magnitude'])
    content['type_code'] = np.concatenate(sources['type_code']).astype(np.int8)
    write_shard_arrays(os.path.join(config['output_dir'], shard_name(shard)),
                       content)
    return shard_entry(shard, first, last, int(content['n_sources'].sum()))


def _worker_init():
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - numba is a dependency
        pass


def _run_shard(arguments):
    config, shard = arguments
    return _make_shard(config, shard)


def write_training_set(output_dir, *, n_scenes, preset='hst_f160w', seed=0,
                       shape=(256, 256), density=None, scenes_per_shard=64,
                       n_contributors=3, sigma=8.0,
                       contributor_choice='most_flux', label_dtype='float16',
                       star_fraction=None, clumpy_fraction=None, n_workers=1,
                       overwrite=False, progress_bar_enabled=True,
                       companion_fraction=None, center_min_snr=None,
                       contributor_min_snr=None, irregular_fraction=None):
    """
    Simulate scenes and write model inputs and PCR labels as shards.

    Resumable: shards already present (complete, since they are written
    atomically) are skipped when the directory's manifest matches the
    arguments. A directory holding a different training set is never
    overwritten unless ``overwrite=True``.

    Parameters
    ----------
    output_dir : str or path-like
        The directory (created if needed).
    n_scenes : int
        The number of scenes (>= 1).
    preset : str or `Preset`, optional
        The instrument preset (the PAIS paper: ``'hst_f160w'``).
    seed : int, optional
        Master seed; scene j uses ``SeedSequence([seed, j])``.
    shape : tuple of int, optional
        The scene shape (h, w) (paper: 256 x 256).
    density : float, optional
        Sources per arcmin^2 (default: the preset's).
    scenes_per_shard : int, optional
        Scenes per ``.npz`` shard.
    n_contributors : int, optional
        PCR contributors per pixel (paper: 3).
    sigma : float, optional
        Width of the centre-of-mass Gaussians, pixels (paper: 8).
    contributor_choice : {'nearest', 'most_flux'}, optional
        Passed to `~pais_deblend.pcr.encode_pcr`. ``'most_flux'`` (the
        default) measured better than the paper's ``'nearest'`` on 500
        ``hst_f160w`` scenes: encoding-efficacy flux MAE 0.167 +- 0.172
        against 0.232 +- 0.523 e/s, KS p 0.91 +- 0.27 against 0.87 +- 0.32
        (``benchmarks/bench_simulation.py``).
    label_dtype : {'float16', 'float32'}, optional
        Storage type of the labels.
    star_fraction, clumpy_fraction, irregular_fraction : float, optional
        Override the preset's population fractions.
    companion_fraction : float, optional
        Probability that a source gets a close, fainter companion
        (`~pais_deblend.simulation.population.add_companions`: 0.5-3 PSF
        FWHM away, 1-16 times fainter); default none. Close pairs are
        rare in uniformly placed scenes, and they are where deblending
        matters.
    center_min_snr : float, optional
        Give a centre-of-mass peak (C^c) only to sources whose
        matched-filter S/N, sqrt(sum over bands and pixels of
        (S_i / sigma_b)**2), is at least this; fainter sources keep their
        contribution vectors and maps. Default: every source (the
        paper). A preset whose magnitude range reaches well below its
        depth (``ground_grz``: 82 % of the sources are fainter than the
        r-band 5-sigma depth) otherwise asks the network for peaks it
        cannot see, which flattens every peak it predicts.
    contributor_min_snr : float, optional
        Leave the sources fainter than this matched-filter S/N out of the
        labels altogether: the contributors, contribution vectors and
        maps (fractions among the sources left), per-band maps, star
        share, centre map and pixel weights describe only the others.
        With every source labelled, some contributor slots point at
        sources far below the noise (in ``ground_grz`` scenes 88 % of the
        sources are below S/N 5; they are the nearest contributor on 4-6 %
        of the pixels two sources share), which the network cannot see
        and the decoder can never attribute to. (Fine-tuning the bundled
        ``ground_grz`` model on such labels did not make its decoded
        weights partial: docs, benchmarks page.) Default: every source.
    n_workers : int, optional
        Processes writing shards in parallel.
    overwrite : bool, optional
        Replace an existing, different training set in ``output_dir``.
    progress_bar_enabled : bool, optional
        Show a progress bar (one step per shard).

    Returns
    -------
    manifest : dict
        The content of ``manifest.json``.
    """
    if not isinstance(output_dir, (str, os.PathLike)):
        msg = f'output_dir must be a path, got {output_dir!r}'
        raise TypeError(msg)
    output_dir = os.fspath(output_dir)
    preset = get_preset(preset)
    config, n_workers = _checked_config(
        preset, n_scenes=n_scenes, seed=seed, shape=shape, density=density,
        scenes_per_shard=scenes_per_shard, n_contributors=n_contributors,
        sigma=sigma, contributor_choice=contributor_choice,
        label_dtype=label_dtype, star_fraction=star_fraction,
        clumpy_fraction=clumpy_fraction,
        companion_fraction=companion_fraction, n_workers=n_workers,
        center_min_snr=center_min_snr,
        contributor_min_snr=contributor_min_snr,
        irregular_fraction=irregular_fraction)
    os.makedirs(output_dir, exist_ok=True)
    manifest_path = os.path.join(output_dir, MANIFEST_NAME)
    _claim_directory(output_dir, config, preset, overwrite)
    manifest = _new_manifest(config, preset)
    config['output_dir'] = output_dir
    # the workers draw with this very preset (a custom one has no name to
    # look up); the manifest keeps its name and parameters
    config['preset'] = preset
    write_manifest(manifest_path, manifest)

    entries, todo = _shards_present(config, manifest['n_shards'])
    for entry in _write_shards(config, todo, n_workers,
                               progress_bar_enabled):
        entries[shard_number(entry['file'])] = entry
    manifest['shards'] = [entries[shard]
                          for shard in range(manifest['n_shards'])]
    manifest['n_sources'] = int(sum(e['n_sources'] for e in manifest['shards']))
    manifest['complete'] = True
    manifest['finished'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    write_manifest(manifest_path, manifest)
    return manifest


def _checked_config(preset, *, n_scenes, seed, shape, density,
                    scenes_per_shard, n_contributors, sigma,
                    contributor_choice, label_dtype, star_fraction,
                    clumpy_fraction, companion_fraction, n_workers,
                    center_min_snr, contributor_min_snr,
                    irregular_fraction):
    """
    The checked arguments of `write_training_set` as the configuration
    that its manifest records (``_CONFIG_KEYS``), and ``n_workers``.
    """
    n_scenes = check_positive_int(n_scenes, 'n_scenes')
    seed = check_nonnegative_int(seed, 'seed')
    as_generator(seed)
    shape = check_shape(shape)
    density = preset.density if density is None else check_density(density)
    scenes_per_shard = check_positive_int(scenes_per_shard, 'scenes_per_shard')
    n_contributors = check_positive_int(n_contributors, 'n_contributors')
    check_in(contributor_choice, ('nearest', 'most_flux'), 'contributor_choice')
    check_in(label_dtype, ('float16', 'float32'), 'label_dtype')
    n_workers = check_positive_int(n_workers, 'n_workers')
    from .scene import SceneSimulator

    SceneSimulator(preset, shape=shape, density=density,
                   star_fraction=star_fraction, clumpy_fraction=clumpy_fraction,
                   companion_fraction=companion_fraction,
                   irregular_fraction=irregular_fraction)

    config = {
        'preset': preset.name, 'seed': seed, 'n_scenes': n_scenes,
        'shape': list(shape), 'density': density,
        'scenes_per_shard': scenes_per_shard, 'n_contributors': n_contributors,
        'sigma': float(sigma), 'contributor_choice': contributor_choice,
        'label_dtype': label_dtype, 'star_fraction': star_fraction,
        'clumpy_fraction': clumpy_fraction,
        'companion_fraction': companion_fraction,
        'irregular_fraction': irregular_fraction,
        'center_min_snr': (None if center_min_snr is None else
                           check_finite_float(center_min_snr,
                                              'center_min_snr', minimum=0,
                                              include_minimum=True)),
        'contributor_min_snr': (
            None if contributor_min_snr is None else
            check_finite_float(contributor_min_snr, 'contributor_min_snr',
                               minimum=0, include_minimum=True)),
    }
    return config, n_workers


def _claim_directory(output_dir, config, preset, overwrite):
    """
    Make ``output_dir`` ready for the training set of ``config``: keep a
    set of the same configuration (to resume it), remove another one
    with ``overwrite``, else refuse.
    """
    manifest_path = os.path.join(output_dir, MANIFEST_NAME)
    if os.path.exists(manifest_path):
        existing = read_manifest(manifest_path)
        same = all(existing.get(key) == config[key] for key in _CONFIG_KEYS)
        # a custom preset may carry a built-in name with other parameters
        same = same and existing.get('preset_parameters') in (
            None, json.loads(json.dumps(preset.to_dict())))
        if not same and not overwrite:
            msg = (f'output_dir {output_dir!r} already holds a different '
                   f'training set (see its {MANIFEST_NAME}); pass '
                   f'overwrite=True (--overwrite) to replace it')
            raise FileExistsError(msg)
        if overwrite:
            remove_training_set(output_dir)
    elif holds_shards(output_dir):
        if not overwrite:
            msg = (f'output_dir {output_dir!r} holds shard files but no '
                   f'manifest; pass overwrite=True (--overwrite) to replace '
                   f'them')
            raise FileExistsError(msg)
        remove_training_set(output_dir)


def _new_manifest(config, preset):
    """The manifest of a training set not yet written."""
    return {
        'format': _FORMAT, 'format_version': FORMAT_VERSION,
        **config,
        'preset_parameters': preset.to_dict(),
        'seed_scheme': 'scene j uses numpy.random.SeedSequence([seed, j])',
        'package_version': package_version,
        'n_bands': preset.n_bands, 'bands': list(preset.band_names),
        'flux_unit': preset.unit,
        'arrays': array_descriptions(config['label_dtype'], preset.n_bands),
        'n_shards': -(-config['n_scenes'] // config['scenes_per_shard']),
        'complete': False, 'shards': [],
        'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
    }


def _shards_present(config, n_shards):
    """
    The manifest entries of the shards already written (complete, as
    they are written atomically), by number, and the numbers of the
    shards still to write (missing or damaged).
    """
    per_shard = config['scenes_per_shard']
    entries = {}
    todo = []
    for shard in range(n_shards):
        path = os.path.join(config['output_dir'], shard_name(shard))
        n_sources = None
        if os.path.exists(path):
            try:
                n_sources = shard_n_sources(path)
            except OSError as error:  # damaged (e.g. copied in part)
                warnings.warn(f'{error}; rewriting it', PaisDeblendWarning)
        if n_sources is not None:
            first = shard * per_shard
            last = min(first + per_shard, config['n_scenes'])
            entries[shard] = shard_entry(shard, first, last, n_sources)
        else:
            todo.append(shard)
    return entries, todo


def _write_shards(config, todo, n_workers, progress_bar_enabled):
    """Write the shards ``todo``, yielding their manifest entries as they
    are done (in any order with several workers)."""
    if n_workers == 1 or len(todo) <= 1:
        results = (_make_shard(config, shard) for shard in todo)
        yield from progress_bar(results, desc='shards', total=len(todo),
                                enabled=progress_bar_enabled, unit='shard')
        return
    import multiprocessing

    # 'spawn': forking a process whose numba thread pool is running
    # can deadlock the children
    context = multiprocessing.get_context('spawn')
    # one BLAS thread per worker: idle BLAS threads spin and steal the
    # cores the other workers need
    saved = {key: os.environ.get(key) for key in _THREAD_VARIABLES}
    os.environ.update({key: '1' for key in _THREAD_VARIABLES})
    try:
        pool = context.Pool(min(n_workers, len(todo)), initializer=_worker_init)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with pool:
        results = pool.imap_unordered(_run_shard,
                                      [(config, shard) for shard in todo])
        yield from progress_bar(results, desc='shards', total=len(todo),
                                enabled=progress_bar_enabled, unit='shard')


class TrainingSetReader:
    """
    Stream a training set written by `write_training_set` from disk.

    Only one shard is in memory at a time. Labels are returned as float32.

    Parameters
    ----------
    directory : str or path-like
        The training-set directory.
    require_complete : bool, optional
        Raise if the set was not finished (default True).

    Raises
    ------
    FileNotFoundError
        If ``directory`` has no ``manifest.json``.
    ValueError
        If the manifest is not a training-set manifest, the set is
        incomplete (with ``require_complete``), or a shard it names is
        not a plain file name in ``directory`` (an absolute path or one
        with '..' or a directory part: the reader never follows the
        manifest out of the set's directory).

    Examples
    --------
    >>> reader = TrainingSetReader('train')                # doctest: +SKIP
    >>> for batch in reader.batches(16, shuffle=True):     # doctest: +SKIP
    ...     model.train_on_batch(batch['image'], ...)
    """

    def __init__(self, directory, *, require_complete=True):
        self.directory = os.fspath(directory)
        path = os.path.join(self.directory, MANIFEST_NAME)
        if not os.path.exists(path):
            msg = f'directory {self.directory!r} has no {MANIFEST_NAME}'
            raise FileNotFoundError(msg)
        self.manifest = read_manifest(path)
        if require_complete and not self.manifest.get('complete'):
            msg = (f'the training set in {self.directory!r} is incomplete; '
                   f'rerun write_training_set with the same arguments to '
                   f'finish it')
            raise ValueError(msg)
        for entry in self.manifest.get('shards', []):
            check_shard_name(entry.get('file') if isinstance(entry, dict)
                             else entry, path)

    def __len__(self):
        return sum(entry['n_scenes'] for entry in self.manifest['shards'])

    @property
    def shard_files(self):
        """Paths of the shards, in order."""
        return [os.path.join(self.directory, entry['file'])
                for entry in self.manifest['shards']]

    def read_shard(self, shard):
        """
        Load one shard.

        Returns
        -------
        arrays : dict
            The shard's arrays (labels as float32) plus ``'source_offsets'``
            (n + 1,) so that scene k's sources are rows
            ``source_offsets[k]:source_offsets[k + 1]`` of ``centers`` etc.
        """
        return read_shard(self.shard_files[shard])

    def iter_shards(self, *, shuffle=False, seed=None):
        """Yield each shard's arrays (see `read_shard`)."""
        order = np.arange(len(self.shard_files))
        if shuffle:
            as_generator(seed).shuffle(order)
        for shard in order:
            yield self.read_shard(int(shard))

    def __iter__(self):
        """Yield one dict per scene: image, labels, centers, scene_index."""
        for arrays in self.iter_shards():
            offsets = arrays['source_offsets']
            for k in range(len(arrays['image'])):
                yield {
                    'image': arrays['image'][k],
                    'center_of_mass': arrays['center_of_mass'][k],
                    'contribution_vectors': arrays['contribution_vectors'][k],
                    'contribution_maps': arrays['contribution_maps'][k],
                    'centers': arrays['centers'][offsets[k]:offsets[k + 1]],
                    'scene_index': int(arrays['scene_index'][k]),
                }

    def batches(self, batch_size, *, shuffle=False, seed=None, drop_last=False):
        """
        Yield batches of model inputs and labels, streaming shard by shard.

        With ``shuffle`` the shard order and the scenes within each shard
        are shuffled (a batch never spans two shards).

        Yields
        ------
        batch : dict
            ``image``, ``center_of_mass``, ``contribution_vectors``,
            ``contribution_maps`` stacked along a first batch axis, and
            ``scene_index``.
        """
        batch_size = check_positive_int(batch_size, 'batch_size')
        rng = as_generator(seed)
        keys = ('image', 'scene_index') + PCR_LABEL_KEYS
        for arrays in self.iter_shards(shuffle=shuffle, seed=rng):
            order = np.arange(len(arrays['image']))
            if shuffle:
                rng.shuffle(order)
            for start in range(0, len(order), batch_size):
                chosen = order[start:start + batch_size]
                if drop_last and len(chosen) < batch_size:
                    continue
                yield {key: arrays[key][chosen] for key in keys}


def read_training_set(directory, **kwargs):
    """Open a training set for streaming (see `TrainingSetReader`)."""
    return TrainingSetReader(directory, **kwargs)
