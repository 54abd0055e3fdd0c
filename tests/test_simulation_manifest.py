"""
`TrainingSetReader` reads only the shards of its own directory, whatever
the manifest says.
"""

import json
import re

import numpy as np
import pytest

from pais_deblend.simulation.dataset import _FORMAT, TrainingSetReader


def write_manifest(directory, files):
    manifest = {'format': _FORMAT, 'complete': True,
                'shards': [{'file': name, 'first_scene': 0, 'n_scenes': 1,
                            'n_sources': 1} for name in files]}
    (directory / 'manifest.json').write_text(json.dumps(manifest))


@pytest.mark.parametrize('name', [
    '/etc/passwd', '../outside.npz', 'sub/shard_00000.npz', '..', '', '.',
    'shard_00000.npz/..', 7, None])
def test_shards_outside_the_directory_are_refused(tmp_path, name):
    dataset = tmp_path / 'train'
    dataset.mkdir()
    np.savez(tmp_path / 'outside.npz', image=np.zeros(1))
    write_manifest(dataset, ['shard_00000.npz', name])
    with pytest.raises(ValueError, match=(
            rf"manifest.json' names shard {re.escape(repr(name))} outside "
            r'its directory; shards must be plain file names there')):
        TrainingSetReader(dataset)


def test_plain_shard_names_are_read(tmp_path):
    write_manifest(tmp_path, ['shard_00000.npz', 'shard_00001.npz'])
    reader = TrainingSetReader(tmp_path)
    assert reader.shard_files == [str(tmp_path / 'shard_00000.npz'),
                                  str(tmp_path / 'shard_00001.npz')]
