"""
The on-disk format of training shards, defined once.

`pais_deblend.simulation.write_training_set` writes it,
`pais_deblend.simulation.TrainingSetReader` and
`pais_deblend.model.data.ShardDataset` read it; all three take the file
names, the array names, the manifest and the checks of a shard from
here. The layout and the arrays are documented in
`pais_deblend.simulation.dataset`.

`ShardDataset` also reads shards of other writers (`write_shard`, or a
hand-made ``.npz``): any ``*.npz`` of a directory, with the array names
of `KEY_ALIASES` mapped onto the canonical ones.
"""

import json
import os

import numpy as np

from ._io import npz_headers, read_npz

__all__ = ['MANIFEST_NAME', 'FORMAT', 'FORMAT_VERSION', 'PCR_LABEL_KEYS',
           'HEAD_LABEL_KEYS', 'REQUIRED_KEYS', 'KEY_ALIASES', 'shard_name',
           'shard_number', 'shard_entry', 'array_descriptions',
           'atomic_write', 'write_manifest', 'write_shard_arrays',
           'load_manifest', 'read_manifest', 'check_shard_name',
           'holds_shards', 'remove_training_set', 'shard_n_sources',
           'read_shard', 'canonical_shapes', 'check_shard_shapes',
           'read_canonical', 'seed_array_names']

#: The manifest of a training-set directory.
MANIFEST_NAME = 'manifest.json'
#: The ``format`` and ``format_version`` of a training-set manifest.
FORMAT = 'pais_deblend.training_set'
FORMAT_VERSION = 1

#: The PCR labels of a shard.
PCR_LABEL_KEYS = ('center_of_mass', 'contribution_vectors',
                  'contribution_maps')
#: Labels of the optional heads (older sets lack them).
HEAD_LABEL_KEYS = ('star_probability', 'band_contribution_maps')
#: The arrays every shard holds (under these names or an alias).
REQUIRED_KEYS = ('image',) + PCR_LABEL_KEYS

#: Alternative array names accepted in shards -> the canonical names.
KEY_ALIASES = {
    'images': 'image',
    'contribution_vector': 'contribution_vectors',
    'contribution_map': 'contribution_maps',
    'weight': 'pixel_weight',
    'weights': 'pixel_weight',
    'flux_weight': 'pixel_weight',
    'seeds': 'seed',
    'scene_index': 'seed',
    'noiseless': 'noiseless_image',
}

_SHARD_PREFIX = 'shard_'


# --------------------------------------------------------------------------
# the training-set directory

def shard_name(shard):
    """The file name of shard number ``shard``."""
    return f'{_SHARD_PREFIX}{shard:05d}.npz'


def shard_number(name):
    """The number of the shard called ``name`` (a `shard_name`)."""
    return int(name[6:11])


def shard_entry(shard, first, last, n_sources):
    """The manifest entry of a shard holding scenes ``first:last``."""
    return {'file': shard_name(shard), 'first_scene': first,
            'n_scenes': last - first, 'n_sources': n_sources}


def array_descriptions(label_dtype, n_bands):
    """The manifest's ``arrays``: the type and shape of each array."""
    arrays = {
        'image': 'float32 (n, h, w, b)',
        'center_of_mass': f'{label_dtype} (n, h, w)',
        'contribution_vectors': f'{label_dtype} (n, h, w, k, 2) (dy, dx)',
        'contribution_maps': f'{label_dtype} (n, h, w, k) fractions',
        'star_probability': f'{label_dtype} (n, h, w) star flux share',
        'pixel_weight': 'uint8 (n, h, w) 1 where the noiseless flux '
                        'exceeds 0.5 noise sigma (loss weight)',
    }
    if n_bands > 1:
        arrays['band_contribution_maps'] = (
            f'{label_dtype} (n, h, w, b, k) fractions per band')
    return arrays


def atomic_write(path, write):
    """Write ``path`` with ``write(handle)`` through a temporary file, so
    that it is either complete or absent."""
    temporary = f'{path}.tmp-{os.getpid()}'
    try:
        with open(temporary, 'wb') as handle:
            write(handle)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_manifest(path, manifest):
    """Write a manifest (sorted, indented JSON) atomically."""
    atomic_write(path, lambda handle: handle.write(
        json.dumps(manifest, indent=2, sort_keys=True).encode()))


def write_shard_arrays(path, arrays):
    """Write a shard's arrays (uncompressed ``.npz``) atomically."""
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def load_manifest(path):
    """The content of a JSON manifest; ValueError naming it if invalid."""
    with open(path) as handle:
        try:
            return json.load(handle)
        except ValueError as error:
            msg = f'{path!r} is not valid JSON: {error}'
            raise ValueError(msg) from None


def read_manifest(path):
    """`load_manifest`, refusing a manifest of another format."""
    manifest = load_manifest(path)
    if manifest.get('format') != FORMAT:
        msg = f'{path!r} is not a pais_deblend training-set manifest'
        raise ValueError(msg)
    return manifest


def check_shard_name(name, manifest_path):
    """
    Refuse a shard of the manifest that is not a file of the set's own
    directory (an absolute path, a '..', a sub-directory): the manifest
    never leads the reader elsewhere.
    """
    if (not isinstance(name, str) or name in ('', '.', '..')
            or os.path.basename(name) != name or os.path.isabs(name)
            or (os.altsep and os.altsep in name)):
        msg = (f'{manifest_path!r} names shard {name!r} outside its '
               f'directory; shards must be plain file names there (as '
               f'write_training_set writes them)')
        raise ValueError(msg)


def holds_shards(directory):
    """Whether ``directory`` holds shard files."""
    return any(name.startswith(_SHARD_PREFIX)
               for name in os.listdir(directory))


def remove_training_set(directory):
    """Remove the manifest, the shards and their temporaries."""
    for name in os.listdir(directory):
        if ((name.startswith(_SHARD_PREFIX) and '.npz' in name)
                or name == MANIFEST_NAME):
            os.remove(os.path.join(directory, name))


def shard_n_sources(path):
    """The number of sources of a written shard (OSError if damaged)."""
    return int(read_npz(path, keys=['n_sources'])['n_sources'].sum())


def read_shard(path):
    """
    The arrays of a training-set shard, labels as float32, plus
    ``'source_offsets'`` (n + 1,): scene k's sources are rows
    ``source_offsets[k]:source_offsets[k + 1]`` of ``centers`` etc.
    """
    arrays = read_npz(path)  # OSError naming the shard if damaged
    for key in PCR_LABEL_KEYS + HEAD_LABEL_KEYS:
        if key in arrays:
            arrays[key] = arrays[key].astype(np.float32)
    arrays['source_offsets'] = np.concatenate(
        [[0], np.cumsum(arrays['n_sources'])])
    return arrays


# --------------------------------------------------------------------------
# shards of any writer, under canonical names

def canonical_shapes(filename):
    """{canonical name: shape} of a shard's arrays, from the headers."""
    return {KEY_ALIASES.get(name, name): shape
            for name, (shape, _) in npz_headers(filename).items()}


def check_shard_shapes(filename, shapes):
    """
    Check that a shard holds the `REQUIRED_KEYS`, with a stack of images;
    return its number of samples.
    """
    missing = [key for key in REQUIRED_KEYS if key not in shapes]
    if missing:
        msg = (f'shard {filename!r} lacks the arrays {missing}; it '
               f'holds {sorted(shapes)}')
        raise ValueError(msg)
    if len(shapes['image']) < 3:
        msg = (f'shard {filename!r} has an image array of shape '
               f"{shapes['image']}; expected (S, h, w[, b])")
        raise ValueError(msg)
    return int(shapes['image'][0])


def read_canonical(filename):
    """All the arrays of a shard, under their canonical names."""
    return {KEY_ALIASES.get(name, name): value
            for name, value in read_npz(filename).items()}


def seed_array_names(filename):
    """The names of a shard's arrays that hold the sample seeds."""
    return [name for name in npz_headers(filename)
            if KEY_ALIASES.get(name, name) == 'seed']
