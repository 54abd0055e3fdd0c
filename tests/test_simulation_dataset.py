"""Tests of the training-set writer, reader and `pais-deblend simulate`."""

import json
import os

import numpy as np
import pytest

pytest.importorskip('galsim')

from pais_deblend.cli import main  # noqa: E402
from pais_deblend.pcr import encode_pcr  # noqa: E402
from pais_deblend.simulation import (  # noqa: E402
    SceneSimulator, TrainingSetReader, read_training_set, scene_seed,
    write_training_set)
from pais_deblend.version import version  # noqa: E402

SHAPE = (32, 40)
OPTIONS = dict(shape=SHAPE, seed=5, density=1500, scenes_per_shard=3,
               progress_bar_enabled=False)


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp('train')
    manifest = write_training_set(directory, n_scenes=7, **OPTIONS)
    return directory, manifest


def test_manifest(written):
    directory, manifest = written
    on_disk = json.loads((directory / 'manifest.json').read_text())
    assert on_disk == manifest
    assert manifest['complete'] is True
    assert manifest['preset'] == 'hst_f160w'
    assert manifest['seed'] == 5 and manifest['n_scenes'] == 7
    assert manifest['package_version'] == version
    assert manifest['n_shards'] == 3
    assert [s['n_scenes'] for s in manifest['shards']] == [3, 3, 1]
    assert manifest['n_sources'] == sum(s['n_sources'] for s in manifest['shards'])
    assert manifest['preset_parameters']['pixel_scale'] == 0.06
    assert sorted(os.listdir(directory)) == [
        'manifest.json', 'shard_00000.npz', 'shard_00001.npz', 'shard_00002.npz']


def test_shard_content_matches_scene_and_encoder(written):
    directory, manifest = written
    reader = read_training_set(directory)
    assert len(reader) == 7
    arrays = reader.read_shard(1)
    assert arrays['image'].shape == (3,) + SHAPE + (1,)
    assert arrays['contribution_vectors'].shape == (3,) + SHAPE + (3, 2)
    assert arrays['contribution_maps'].dtype == np.float32
    np.testing.assert_array_equal(arrays['scene_index'], [3, 4, 5])
    # scene 4 regenerated from its seed gives the stored arrays
    simulator = SceneSimulator('hst_f160w', shape=SHAPE, density=1500)
    scene = simulator.simulate(scene_seed(5, 4))
    np.testing.assert_array_equal(arrays['image'][1, ..., 0], scene.image)
    offsets = arrays['source_offsets']
    np.testing.assert_array_equal(arrays['centers'][offsets[1]:offsets[2]],
                                  scene.centers)
    assert manifest['contributor_choice'] == 'most_flux'
    pcr = encode_pcr(scene.source_cutouts(), scene.centers, shape=SHAPE,
                     contributor_choice='most_flux')
    np.testing.assert_allclose(arrays['contribution_maps'][1],
                               pcr.contribution_maps, atol=1e-3)
    np.testing.assert_allclose(arrays['center_of_mass'][1], pcr.center_of_mass,
                               atol=1e-3)
    np.testing.assert_allclose(arrays['contribution_vectors'][1],
                               pcr.contribution_vectors, atol=0.07, rtol=1e-3)
    # the loss weight: noiseless flux above half the noise sigma
    sigma = simulator.preset.bands[0].noise_sigma
    np.testing.assert_array_equal(
        arrays['pixel_weight'][1],
        (scene.noiseless_image[..., 0] if scene.noiseless_image.ndim == 3
         else scene.noiseless_image) > 0.5 * sigma)


def test_reader_streams(written):
    directory, _ = written
    reader = TrainingSetReader(directory)
    scenes = list(reader)
    assert [s['scene_index'] for s in scenes] == list(range(7))
    batches = list(reader.batches(2))
    assert [len(b['image']) for b in batches] == [2, 1, 2, 1, 1]
    shuffled = list(reader.batches(2, shuffle=True, seed=0, drop_last=True))
    assert all(len(b['image']) == 2 for b in shuffled)
    indices = np.concatenate([b['scene_index'] for b in reader.batches(3, shuffle=True, seed=1)])
    assert sorted(indices) == list(range(7))


def test_resume_skips_completed_shards(tmp_path):
    first = write_training_set(tmp_path, n_scenes=5, **OPTIONS)
    shard = tmp_path / 'shard_00001.npz'
    before = shard.stat().st_mtime_ns
    os.remove(tmp_path / 'shard_00000.npz')
    second = write_training_set(tmp_path, n_scenes=5, **OPTIONS)
    assert shard.stat().st_mtime_ns == before       # not rewritten
    assert (tmp_path / 'shard_00000.npz').exists()  # rewritten
    assert second['shards'] == first['shards']
    with np.load(tmp_path / 'shard_00000.npz') as data:
        assert data['image'].shape[0] == 3
    assert not [name for name in os.listdir(tmp_path) if '.tmp' in name]


def test_never_overwrites_without_permission(tmp_path):
    write_training_set(tmp_path, n_scenes=2, **OPTIONS)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        write_training_set(tmp_path, n_scenes=2, **{**OPTIONS, 'seed': 6})
    manifest = write_training_set(tmp_path, n_scenes=2, overwrite=True,
                                  **{**OPTIONS, 'seed': 6})
    assert manifest['seed'] == 6
    stray = tmp_path / 'other'
    stray.mkdir()
    (stray / 'shard_00000.npz').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='no manifest'):
        write_training_set(stray, n_scenes=1, **OPTIONS)


def test_parallel_workers_give_identical_shards(tmp_path):
    serial = write_training_set(tmp_path / 'a', n_scenes=4, **OPTIONS)
    parallel = write_training_set(tmp_path / 'b', n_scenes=4, n_workers=2,
                                  **OPTIONS)
    assert serial['shards'] == parallel['shards']
    for name in ('shard_00000.npz', 'shard_00001.npz'):
        with np.load(tmp_path / 'a' / name) as a, np.load(tmp_path / 'b' / name) as b:
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='manifest.json'):
        TrainingSetReader(tmp_path)
    manifest = write_training_set(tmp_path, n_scenes=1, **OPTIONS)
    manifest['complete'] = False
    (tmp_path / 'manifest.json').write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match='incomplete'):
        TrainingSetReader(tmp_path)
    assert len(TrainingSetReader(tmp_path, require_complete=False)) == 1


@pytest.mark.parametrize('kwargs, error, match', [
    ({'n_scenes': 0}, ValueError, 'n_scenes must be a positive integer'),
    ({'n_scenes': 2.5}, TypeError, 'n_scenes must be a positive integer'),
    ({'preset': 'nope'}, ValueError, "unknown preset 'nope'"),
    ({'seed': 'x'}, TypeError, 'seed must be'),
    ({'seed': -1}, ValueError, 'seed must be'),
    ({'density': -2.0}, ValueError, 'density must be'),
    ({'shape': (0, 8)}, ValueError, 'zero-size image'),
    ({'contributor_choice': 'all'}, ValueError, 'contributor_choice must be one of'),
    ({'label_dtype': 'int8'}, ValueError, 'label_dtype must be one of'),
    ({'n_workers': 0}, ValueError, 'n_workers must be a positive integer'),
])
def test_writer_bad_input(tmp_path, kwargs, error, match):
    arguments = {**OPTIONS, 'n_scenes': 1}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        write_training_set(tmp_path, **arguments)
    assert not os.listdir(tmp_path)
    with pytest.raises(TypeError, match='output_dir must be a path'):
        write_training_set(3, n_scenes=1)


def test_cli_simulate(tmp_path, capsys):
    output = tmp_path / 'cli'
    status = main(['simulate', '--preset', 'ground_grz', '--n-scenes', '2',
                   '--output-dir', str(output), '--seed', '3', '--shape', '24', '24',
                   '--density', '300', '--no-progress',
                   '--center-min-snr', '5', '--contributor-min-snr', '4'])
    assert status == 0
    assert 'wrote 2 scenes' in capsys.readouterr().out
    reader = read_training_set(output)
    assert reader.manifest['preset'] == 'ground_grz'
    assert reader.manifest['center_min_snr'] == 5.0
    assert reader.manifest['contributor_min_snr'] == 4.0
    assert reader.read_shard(0)['image'].shape == (2, 24, 24, 3)
    status = main(['simulate', '--n-scenes', '2', '--output-dir', str(output),
                   '--seed', '4', '--no-progress'])
    assert status == 2
    assert '--overwrite' in capsys.readouterr().err
    status = main(['simulate', '--preset', 'hubble', '--n-scenes', '1',
                   '--output-dir', str(tmp_path / 'x')])
    assert status == 2
    assert "unknown preset 'hubble'" in capsys.readouterr().err


def test_cli_simulate_count_slope(tmp_path, capsys):
    output = tmp_path / 'flat'
    status = main(['simulate', '--n-scenes', '1', '--output-dir', str(output),
                   '--shape', '24', '24', '--count-slope', '0.1',
                   '--no-progress'])
    assert status == 0
    manifest = read_training_set(output).manifest
    assert manifest['preset'] == 'hst_f160w'
    assert manifest['preset_parameters']['count_slope'] == 0.1
    for bad in ('0', '-0.2', 'nan'):
        status = main(['simulate', '--n-scenes', '1', '--no-progress',
                       '--output-dir', str(tmp_path / f'bad{bad}'),
                       '--count-slope', bad])
        assert status == 2
        assert 'count_slope' in capsys.readouterr().err
        assert not (tmp_path / f'bad{bad}').exists()


def test_custom_preset_is_the_one_simulated(tmp_path):
    import dataclasses

    from pais_deblend.simulation import get_preset

    base = get_preset('hst_f160w')
    bright = dataclasses.replace(base, name='bright_only',
                                 magnitude_range=(19.0, 21.0), density=600.0)
    manifest = write_training_set(tmp_path / 'custom', n_scenes=2,
                                  preset=bright, shape=(32, 32),
                                  progress_bar_enabled=False)
    assert manifest['preset'] == 'bright_only'
    assert manifest['preset_parameters']['magnitude_range'] == [19.0, 21.0]
    shard = read_training_set(tmp_path / 'custom').read_shard(0)
    assert shard['magnitude'].size > 0
    assert shard['magnitude'].min() >= 19.0
    assert shard['magnitude'].max() <= 21.0

    # same name as a built-in preset, other parameters: not the same set
    renamed = dataclasses.replace(bright, name='hst_f160w')
    write_training_set(tmp_path / 'renamed', n_scenes=1, preset=base,
                       shape=(32, 32), progress_bar_enabled=False)
    with pytest.raises(FileExistsError, match='different training set'):
        write_training_set(tmp_path / 'renamed', n_scenes=1, preset=renamed,
                           shape=(32, 32), progress_bar_enabled=False)
