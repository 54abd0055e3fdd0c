"""
Training samples, ``.npz`` shards and a deterministic batch stream for the
PAIS network (pure NumPy, no TensorFlow).

A *sample* is a dict of per-pixel arrays:

- ``image`` (h, w, b) float32: the background-subtracted image in any flux
  unit (normalised on the fly with `normalize_image`);
- ``center_of_mass`` (h, w), ``contribution_vectors`` (h, w, n, 2) in
  pixels, ``contribution_maps`` (h, w, n) fractions: the PCR labels
  (`pais_deblend.pcr.encode_pcr` of the true source images);
- ``pixel_weight`` (h, w) float32: the weight of the pixel in the C^v and
  C^m loss terms, 1 where the true sources carry flux (see
  `make_training_sample`);
- optionally ``seed`` (int): the simulation seed of the scene.

A *shard* is an ``.npz`` file holding the same keys stacked along a first
sample axis (``image`` (S, h, w, b), ..., ``seed`` (S,)). Shards of the
simulation dataset writer (`pais_deblend.simulation`) are read through the
same interface: `ShardDataset` maps the key names listed in
``KEY_ALIASES`` onto the names above (``scene_index`` serves as ``seed``),
ignores extra arrays (catalog columns), and when a shard has no
``pixel_weight`` derives it from a ``noiseless_image`` if present
(flux above ``flux_threshold`` noise sigma), else from the labels: pixels
whose C^m is not the equal share that `pais_deblend.pcr.encode_pcr`
gives pixels without any source flux.

`BatchStream` turns a dataset into batches that are a pure function of
``(seed, step)`` -- which samples, which flip/rotation, which crop -- so a
resumed training run sees exactly the batches an uninterrupted run would.
"""

import glob
import os
from collections import OrderedDict

import numpy as np

from ..utils._io import read_npz
# KEY_ALIASES stays importable from here (the module docstring names it)
from ..utils._shards import KEY_ALIASES  # noqa: F401
from ..utils._shards import (HEAD_LABEL_KEYS, MANIFEST_NAME, PCR_LABEL_KEYS,
                             canonical_shapes, check_shard_shapes,
                             load_manifest, read_canonical, seed_array_names)
from ..utils._validation import (check_finite_float, check_in,
                                 check_nonnegative_int, check_positive_int)
from .augmentation import augment_sample, random_transform
from .normalization import (DEFAULT_SOFTENING, NORMALIZATION_METHODS,
                            estimate_noise, normalize_image)

__all__ = ['LABEL_KEYS', 'OPTIONAL_LABEL_KEYS', 'stack_labels',
           'balance_pixel_weight',
           'make_training_sample', 'write_shard',
           'ShardDataset', 'BatchStream']

#: The label keys of a sample, besides ``image``.
LABEL_KEYS = PCR_LABEL_KEYS + ('pixel_weight',)

#: Labels of the optional heads: ``star_probability`` (h, w), the share of
#: a pixel's true flux from stars (star/galaxy head), and
#: ``band_contribution_maps`` (h, w, b, n), the fractions of each band
#: (per-band C^m). Used when every sample of a batch has them.
OPTIONAL_LABEL_KEYS = HEAD_LABEL_KEYS


def stack_labels(samples):
    """
    The labels of ``samples`` stacked along a first batch axis (float32):
    every key of `LABEL_KEYS`, and each of `OPTIONAL_LABEL_KEYS` that all
    the samples carry.
    """
    keys = LABEL_KEYS + tuple(key for key in OPTIONAL_LABEL_KEYS
                              if all(key in s for s in samples))
    return {key: np.stack([s[key] for s in samples]).astype(np.float32)
            for key in keys}


#: Default flux threshold for ``pixel_weight``, in units of the noise sigma.
DEFAULT_FLUX_THRESHOLD = 0.5


def noiseless_pixel_weight(noiseless, noise_sigma, flux_threshold):
    """
    The ``pixel_weight`` label: 1 where the summed noiseless flux exceeds
    ``flux_threshold`` times the noise sigma, else 0 (float32).

    ``noiseless`` is (h, w), or (h, w, b) with one sigma per band in
    ``noise_sigma``; a multiband pixel counts when any band exceeds it.
    """
    noiseless = np.asarray(noiseless, dtype=np.float64)
    sigma = np.asarray(noise_sigma, dtype=np.float64).reshape(-1)
    if noiseless.ndim == 3:
        # per-band significance, combined over bands
        significance = np.max(noiseless / sigma[:noiseless.shape[2]], axis=2)
    else:
        significance = noiseless / sigma[0]
    return (significance > flux_threshold).astype(np.float32)


def make_training_sample(image, source_images, centers, *, noise_sigma=None,
                         n_contributors=3, sigma=8.0,
                         contributor_choice='nearest',
                         flux_threshold=DEFAULT_FLUX_THRESHOLD, seed=None):
    """
    Build one training sample (input and PCR labels) from a scene's truth.

    Parameters
    ----------
    image : array_like, shape (h, w) or (h, w, b)
        The observed (noisy) image, any flux unit.
    source_images : array_like, shape (N, h, w) or (N, h, w, b)
        The noiseless per-source images S_i (the bands are summed for the
        C^m encoding).
    centers : array_like, shape (N, 2)
        The (y, x) source centres.
    noise_sigma : float or array_like of shape (b,), optional
        The per-band noise standard deviation; estimated from ``image``
        with `estimate_noise` when not given.
    n_contributors, sigma, contributor_choice :
        Passed to `pais_deblend.pcr.encode_pcr`.
    flux_threshold : float, optional
        ``pixel_weight`` is 1 where the noiseless flux of all sources
        together exceeds ``flux_threshold`` times the noise sigma in some
        band, else 0.
    seed : int, optional
        Stored with the sample (e.g. the simulation seed).

    Returns
    -------
    sample : dict
        ``image`` (h, w, b) float32 (not normalised), the PCR labels and
        ``pixel_weight`` as described in the module docstring.
    """
    from ..pcr import encode_pcr

    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3:
        msg = f'image must be 2- or 3-dimensional, got shape {image.shape}'
        raise ValueError(msg)
    source_images = np.asarray(source_images, dtype=np.float64)
    if source_images.ndim == 4:
        noiseless = source_images.sum(axis=0)
        per_source = source_images.sum(axis=3)
    elif source_images.ndim == 3:
        noiseless = source_images.sum(axis=0)
        per_source = source_images
    else:
        msg = ('source_images must have shape (N, h, w) or (N, h, w, b), '
               f'got shape {source_images.shape}')
        raise ValueError(msg)
    if per_source.shape[1:] != image.shape[:2]:
        msg = (f'source_images has shape {source_images.shape} but image has '
               f'shape {image.shape}; the (h, w) axes must match')
        raise ValueError(msg)
    flux_threshold = check_finite_float(flux_threshold, 'flux_threshold',
                                        minimum=0, include_minimum=True)
    if noise_sigma is None:
        noise_sigma = estimate_noise(image)
    pcr = encode_pcr(per_source, centers, n_contributors=n_contributors,
                     sigma=sigma, contributor_choice=contributor_choice)
    sample = {
        'image': image,
        'center_of_mass': pcr.center_of_mass,
        'contribution_vectors': pcr.contribution_vectors,
        'contribution_maps': pcr.contribution_maps,
        'pixel_weight': noiseless_pixel_weight(noiseless, noise_sigma,
                                               flux_threshold),
    }
    if seed is not None:
        sample['seed'] = int(seed)
    return sample


def write_shard(filename, samples, *, compress=True):
    """
    Write samples with identical shapes to one ``.npz`` shard.

    Parameters
    ----------
    filename : str or path-like
        The output file (``.npz``).
    samples : sequence of dict
        Samples as returned by `make_training_sample`.
    compress : bool, optional
        Use ``numpy.savez_compressed``.
    """
    if len(samples) == 0:
        msg = 'samples must hold at least one sample'
        raise ValueError(msg)
    keys = list(samples[0])
    arrays = {key: np.stack([np.asarray(s[key]) for s in samples])
              for key in keys}
    save = np.savez_compressed if compress else np.savez
    save(filename, **arrays)


class ShardDataset:
    """
    Random access to the samples of a directory of ``.npz`` shards.

    Shards are sorted by file name (write them in seed order, so that
    ``split`` holds out a seed range). Only shard headers are read at
    construction; shard contents are loaded on demand and the most recent
    ``cache_size`` shards are kept in memory.

    Parameters
    ----------
    source : str, path-like or sequence of them
        A directory (all ``*.npz`` files directly in it), or shard files.
    cache_size : int, optional
        The number of decoded shards kept in memory.
    flux_threshold : float, optional
        Used to derive ``pixel_weight`` from ``noiseless_image`` when a
        shard has no weight (see `make_training_sample`, and the module
        docstring for shards with neither).

    Attributes
    ----------
    files : list of str
    counts : list of int
        The number of samples in each shard.
    manifest : dict or None
        The content of ``manifest.json`` in the directory, if any.

    Raises
    ------
    FileNotFoundError
        If ``source`` or a listed shard does not exist.
    OSError
        If a shard is truncated or corrupt; the message names the shard.
        Headers of every shard are read here, so a damaged zip directory
        stops a training run before its first step; damaged compressed
        data is found when the shard is first loaded (`load_shard`,
        indexing), and that error, naming the shard, stops the run too
        (no sample is silently skipped, so the batches stay a pure
        function of the seed). Remove or rewrite the shard and resume from
        the last checkpoint.
    ValueError
        If a shard lacks the required arrays, or ``manifest.json`` is not
        valid JSON.
    """

    def __init__(self, source, *, cache_size=2,
                 flux_threshold=DEFAULT_FLUX_THRESHOLD):
        self.manifest = None
        if isinstance(source, (str, os.PathLike)):
            source = os.fspath(source)
            if os.path.isdir(source):
                files = sorted(glob.glob(os.path.join(source, '*.npz')))
                manifest = os.path.join(source, MANIFEST_NAME)
                if os.path.exists(manifest):
                    self.manifest = load_manifest(manifest)
            elif os.path.isfile(source):
                files = [source]
            else:
                msg = f'source {source!r} is neither a directory nor a file'
                raise FileNotFoundError(msg)
        else:
            files = [os.fspath(f) for f in source]
        if not files:
            msg = f'source {source!r} holds no .npz shard'
            raise ValueError(msg)
        self.files = files
        self.cache_size = check_positive_int(cache_size, 'cache_size')
        self.flux_threshold = flux_threshold
        self.counts = []
        for filename in files:
            self.counts.append(check_shard_shapes(
                filename, canonical_shapes(filename)))
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self._cache = OrderedDict()

    def __len__(self):
        return int(self.offsets[-1])

    def __repr__(self):
        return (f'<ShardDataset {len(self.files)} shards, {len(self)} '
                'samples>')

    def load_shard(self, index):
        """The arrays of shard ``index`` (a dict, cached)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        arrays = read_canonical(self.files[index])
        image = arrays['image']
        if image.ndim == 3:
            arrays['image'] = image[..., np.newaxis]
        com = arrays['center_of_mass']
        if com.ndim == 4:
            arrays['center_of_mass'] = com[..., 0]
        if 'pixel_weight' not in arrays:
            arrays['pixel_weight'] = self._derive_weight(arrays)
        self._cache[index] = arrays
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return arrays

    def _derive_weight(self, arrays):
        if 'noiseless_image' in arrays:
            weights = []
            for image, noiseless in zip(arrays['image'],
                                        arrays['noiseless_image']):
                weights.append(noiseless_pixel_weight(
                    noiseless, estimate_noise(image), self.flux_threshold))
            return np.stack(weights)
        # Fallback: `encode_pcr` shares a pixel equally among its slots
        # only where no source has flux, so non-uniform C^m marks the
        # pixels reached by some source's (noiseless) light.
        maps = np.asarray(arrays['contribution_maps'], dtype=np.float32)
        spread = maps.max(axis=-1) - maps.min(axis=-1)
        return (spread > 1e-3).astype(np.float32)

    def locate(self, index):
        """(shard, row) of sample ``index``."""
        index = check_nonnegative_int(int(index), 'index')
        if index >= len(self):
            msg = f'index {index} out of range for {len(self)} samples'
            raise IndexError(msg)
        shard = int(np.searchsorted(self.offsets, index, side='right') - 1)
        return shard, index - int(self.offsets[shard])

    def __getitem__(self, index):
        shard, row = self.locate(index)
        arrays = self.load_shard(shard)
        sample = {key: arrays[key][row] for key in
                  ('image', *LABEL_KEYS, *OPTIONAL_LABEL_KEYS)
                  if key in arrays}
        if 'seed' in arrays:
            sample['seed'] = int(arrays['seed'][row])
        return sample

    def seeds(self, indices=None):
        """
        The ``seed`` of the given samples (all by default), or None when
        the shards carry no seeds. Reads only the seed arrays.
        """
        per_shard = []
        for filename in self.files:
            names = seed_array_names(filename)
            if not names:
                return None
            seeds = read_npz(filename, keys=names[:1])[names[0]]
            per_shard.append(np.asarray(seeds).reshape(-1))
        seeds = np.concatenate(per_shard).astype(np.int64)
        if indices is not None:
            seeds = seeds[np.asarray(indices, dtype=np.int64)]
        return seeds.tolist()

    def split(self, validation_fraction):
        """
        Split into training and validation sample indices by shard.

        The last ``ceil(validation_fraction * n_shards)`` shards (by file
        name, i.e. the highest seed range) are held out; with a single
        shard its last samples are held out instead.

        Returns
        -------
        train_indices, validation_indices : ndarray of int
        """
        fraction = check_finite_float(validation_fraction,
                                      'validation_fraction', minimum=0,
                                      maximum=1, include_minimum=True)
        everything = np.arange(len(self))
        if fraction == 0:
            return everything, everything[:0]
        if len(self.files) > 1:
            n_held = int(np.ceil(fraction * len(self.files)))
            n_held = min(n_held, len(self.files) - 1)
            cut = int(self.offsets[len(self.files) - n_held])
        else:
            n_held = max(1, int(np.ceil(fraction * len(self))))
            cut = len(self) - min(n_held, len(self) - 1)
        return everything[:cut], everything[cut:]


def balance_pixel_weight(sample, exponent=1.0):
    """
    Pixel weights that give small sources more say in the loss.

    The C^v and C^m terms average over pixels, so a bright galaxy covering
    thousands of pixels outweighs a compact neighbour of a few dozen; the
    bundled networks point every slot of such a neighbour's pixels at the
    galaxy (``benchmarks/bench_slots.py``; a 1,200-step fine-tune with
    exponent 0.5 did not change that, docs benchmarks page). Each pixel's
    weight is multiplied by ``(n_med / n_s) ** exponent``, with ``n_s``
    the number of weighted pixels whose dominant contributor (the slot
    with the largest true share) is the same source -- identified by the
    pixel its vector reaches, ``round(p + v)`` -- and ``n_med`` the
    median of ``n_s`` over the sources of the sample.

    Parameters
    ----------
    sample : dict
        With ``pixel_weight`` (h, w), ``contribution_vectors``
        (h, w, n, 2) and ``contribution_maps`` (h, w, n).
    exponent : float, optional
        0 returns the weights unchanged; 1 gives every source the same
        total weight.

    Returns
    -------
    weight : `~numpy.ndarray`, shape (h, w), float32
    """
    weight = np.asarray(sample['pixel_weight'], dtype=np.float32)
    if exponent == 0 or not weight.any():
        return weight
    maps = np.asarray(sample['contribution_maps'], dtype=np.float32)
    vectors = np.asarray(sample['contribution_vectors'], dtype=np.float32)
    height, width = weight.shape
    rows, cols = np.nonzero(weight > 0)
    dominant = maps[rows, cols].argmax(axis=-1)
    target = vectors[rows, cols, dominant] + np.column_stack([rows, cols])
    # sources are told apart by the pixel their centre falls on; centres
    # may lie outside the crop, hence the margin of the key
    margin = 4 * max(height, width)
    key_y = np.rint(target[:, 0]).astype(np.int64) + margin
    key_x = np.rint(target[:, 1]).astype(np.int64) + margin
    keys = key_y * (3 * margin + width) + key_x
    _, inverse, counts = np.unique(keys, return_inverse=True,
                                   return_counts=True)
    factor = (np.median(counts) / counts[inverse]) ** exponent
    result = weight.copy()
    result[rows, cols] *= factor.astype(np.float32)
    return result


class BatchStream:
    """
    Deterministic training batches: batch ``step`` depends only on
    ``(seed, step)``.

    Samples are visited epoch by epoch; each epoch visits the shards in a
    random order and the samples of a shard in a random order (so one
    shard is decoded at a time), every sample once. Each sample gets a
    random flip/rotation (`pais_deblend.model.augmentation`), an optional
    random crop, and its image is normalised with `normalize_image`
    (noise estimated on the whole sample before cropping).

    Parameters
    ----------
    dataset : `ShardDataset` or sequence of sample dicts
    indices : array_like of int, optional
        The sample indices to draw from (default: all).
    batch_size : int
    seed : int
    augment : bool, optional
        Apply random flips/rotations.
    crop_size : int, optional
        Random square crops of this size (default: whole samples).
    softening : float, optional
        Passed to `normalize_image`.
    normalization : {'asinh', 'lupton'}, optional
        The normalisation method, passed to `normalize_image` as
        ``method``.
    source_balance : float, optional
        Multiply each pixel's ``pixel_weight`` by ``(n_med / n_s) **
        source_balance``, where ``n_s`` is the number of weighted pixels
        of the crop whose dominant contributor is the same source as this
        pixel's and ``n_med`` the median of ``n_s`` over the crop's
        sources (`balance_pixel_weight`): 0 (default) leaves the weights
        alone, 1 gives every source the same total weight, however few
        pixels it covers.
    """

    def __init__(self, dataset, *, indices=None, batch_size=8, seed=0,
                 augment=True, crop_size=None, softening=DEFAULT_SOFTENING,
                 normalization='asinh', source_balance=0.0):
        self.dataset = dataset
        self.indices = (np.arange(len(dataset)) if indices is None
                        else np.asarray(indices, dtype=np.int64))
        if len(self.indices) == 0:
            msg = 'indices must select at least one sample'
            raise ValueError(msg)
        self.batch_size = check_positive_int(batch_size, 'batch_size')
        self.seed = check_nonnegative_int(seed, 'seed')
        self.augment = bool(augment)
        self.crop_size = (None if crop_size is None
                          else check_positive_int(crop_size, 'crop_size'))
        self.softening = softening
        self.normalization = check_in(normalization, NORMALIZATION_METHODS,
                                      'normalization')
        self.source_balance = check_finite_float(
            source_balance, 'source_balance', minimum=0,
            include_minimum=True)
        self._epoch_orders = {}

    def _shard_of(self, index):
        if isinstance(self.dataset, ShardDataset):
            return self.dataset.locate(index)[0]
        return 0

    def _epoch_order(self, epoch):
        if epoch not in self._epoch_orders:
            rng = np.random.default_rng([self.seed, 1, epoch])
            shards = np.array([self._shard_of(i) for i in self.indices])
            order = []
            unique = np.unique(shards)
            for shard in rng.permutation(unique):
                members = self.indices[shards == shard]
                order.extend(rng.permutation(members).tolist())
            self._epoch_orders = {epoch: np.asarray(order)}
        return self._epoch_orders[epoch]

    def sample_indices(self, step):
        """The dataset indices of the samples of batch ``step``."""
        step = check_nonnegative_int(step, 'step')
        n = len(self.indices)
        positions = step * self.batch_size + np.arange(self.batch_size)
        return np.array([self._epoch_order(p // n)[p % n]
                         for p in positions])

    def prepare(self, sample, rng):
        """Augment, crop and normalise one sample (a new dict)."""
        sample = dict(sample)
        sample['image'] = normalize_image(sample['image'],
                                          softening=self.softening,
                                          method=self.normalization)
        sample.pop('seed', None)
        if self.augment:
            transform = random_transform(rng)
            height, width = sample['image'].shape[:2]
            if height != width and self.crop_size is None:
                # keep the shape (batches must stack): half and full turns
                # and flips only
                transform = transform // 2 * 2
            sample = augment_sample(sample, transform)
        if self.crop_size is not None:
            height, width = sample['image'].shape[:2]
            size = self.crop_size
            if size > min(height, width):
                msg = (f'crop_size {size} exceeds the sample shape '
                       f'{(height, width)}')
                raise ValueError(msg)
            y0 = int(rng.integers(height - size + 1))
            x0 = int(rng.integers(width - size + 1))
            sample = {key: value[y0:y0 + size, x0:x0 + size]
                      for key, value in sample.items()}
        if self.source_balance:
            sample['pixel_weight'] = balance_pixel_weight(
                sample, self.source_balance)
        return sample

    def batch(self, step):
        """
        Batch number ``step``.

        Returns
        -------
        images : ndarray, shape (batch, h, w, b) float32
            Normalised images.
        labels : dict of ndarray
            The label keys of the module docstring, stacked.
        """
        rng = np.random.default_rng([self.seed, 2, step])
        samples = [self.prepare(self.dataset[int(i)], rng)
                   for i in self.sample_indices(step)]
        images = np.stack([s['image'] for s in samples]).astype(np.float32)
        return images, stack_labels(samples)

    def __iter__(self):
        step = 0
        while True:
            yield self.batch(step)
            step += 1
