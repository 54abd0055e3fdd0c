"""
Tests of the PAIS training loop: a few steps on a tiny synthetic dataset
(need TensorFlow).
"""

import json
import os

import numpy as np
import pytest

# TensorFlow 2.21's oneDNN convolution gradient crashes when gradients are
# taken eagerly on several input shapes (see pais_deblend.model); use the
# Eigen kernels in these tests. Effective only before TensorFlow's import.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

pytest.importorskip('tensorflow')

# Keras 3 converts TensorFlow variables with np.array(x), which NumPy 2
# flags (keras/src/backend/tensorflow/core.py); not ours to fix
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

from pais_deblend.model import load_model, train  # noqa: E402
from pais_deblend.version import version  # noqa: E402

from .test_model_preprocessing import write_dataset  # noqa: E402

OPTIONS = dict(filters=[4, 8], attention_window=3)


@pytest.fixture(scope='module')
def dataset_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp('shards')
    write_dataset(directory, n_shards=3, per_shard=2, shape=(32, 32))
    (directory / 'manifest.json').write_text(json.dumps(
        {'preset': 'gaussian_test'}))
    return directory


def weights_of(model):
    return [np.asarray(w) for w in model.get_weights()]


COMMON = dict(batch_size=2, seed=1, validation_fraction=0.3,
              progress_bar=False, model_options=OPTIONS, crop_size=24)


@pytest.fixture(scope='module')
def reference_run(dataset_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp('run')
    card = train(dataset_dir, output, steps=3, checkpoint_every=2, **COMMON)
    return output, card


def test_three_step_training_writes_model_card(reference_run):
    output, card = reference_run
    saved = json.loads((output / 'model_card.json').read_text())
    assert saved == json.loads(json.dumps(card))
    assert card['package_version'] == version
    assert card['preset'] == 'gaussian_test'
    assert card['training']['steps'] == 3
    assert card['training']['seed'] == 1
    assert card['training']['wall_time_s'] > 0
    assert card['dataset']['training_seeds'] == {'min': 0, 'max': 3,
                                                 'count': 4}
    assert card['validation']['seeds'] == {'min': 4, 'max': 5, 'count': 2}
    metrics = card['validation']['metrics']
    assert set(metrics) == {'loss', 'center_of_mass',
                            'contribution_vectors', 'contribution_maps',
                            'entropy'}
    assert all(np.isfinite(v) for v in metrics.values())
    assert card['architecture']['filters'] == [4, 8]
    model = load_model(output / 'model.keras')
    assert model.architecture == card['architecture']
    checkpoints = sorted(p.name for p in (output / 'checkpoint').iterdir())
    assert checkpoints == ['ckpt-00000003.optimizer.npz',
                           'ckpt-00000003.weights.h5', 'state.json']


def test_resume_matches_uninterrupted_run(dataset_dir, reference_run,
                                          tmp_path):
    output, _ = reference_run
    train(dataset_dir, tmp_path / 'resumed', steps=2, checkpoint_every=0,
          **COMMON)
    card = train(dataset_dir, tmp_path / 'resumed', steps=3,
                 checkpoint_every=0, **COMMON)
    assert card['training']['resumed_from_step'] == 2
    straight = load_model(output / 'model.keras')
    resumed = load_model(tmp_path / 'resumed' / 'model.keras')
    for a, b in zip(weights_of(straight), weights_of(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    with pytest.raises(ValueError, match='different configuration'):
        train(dataset_dir, tmp_path / 'resumed', steps=5,
              **dict(COMMON, seed=3))
    with pytest.raises(ValueError, match='steps'):
        train(dataset_dir, tmp_path / 'other', steps=0, **COMMON)
    with pytest.raises(ValueError, match="schedule must be one of.*'linear'"):
        train(dataset_dir, tmp_path / 'other', steps=1, schedule='linear',
              **COMMON)


def test_cosine_schedule_changes_the_trajectory(dataset_dir, reference_run,
                                               tmp_path):
    output, _ = reference_run
    card = train(dataset_dir, tmp_path / 'cosine', steps=3,
                 checkpoint_every=0, schedule='cosine', jit_compile=False,
                 **COMMON)
    assert card['training']['schedule'] == 'cosine'
    assert card['training']['jit_compile'] is False
    constant = weights_of(load_model(output / 'model.keras'))
    cosine = weights_of(load_model(tmp_path / 'cosine' / 'model.keras'))
    # same seed and batches, smaller steps after the first: the weights
    # move less far from their shared initial values
    assert any(not np.allclose(a, b) for a, b in zip(constant, cosine))


def test_fine_tuning_starts_from_the_initial_model(dataset_dir,
                                                   reference_run, tmp_path):
    output, _ = reference_run
    start = output / 'model.keras'
    card = train(dataset_dir, tmp_path / 'tuned', steps=1,
                 checkpoint_every=0, initial_model=start,
                 loss_weights={'entropy_weight': 0.0,
                               'slot_matching': 'permutation'},
                 source_balance=1.0, **dict(COMMON, seed=7))
    assert card['training']['initial_model']['name'] == 'model.keras'
    assert len(card['training']['initial_model']['sha256']) == 64
    assert card['loss_weights']['entropy_weight'] == 0.0
    assert card['loss_weights']['slot_matching'] == 'permutation'
    assert card['training']['source_balance'] == 1.0
    # one small step from the initial weights, not from a fresh seed-7 start
    initial = weights_of(load_model(start))
    tuned = weights_of(load_model(tmp_path / 'tuned' / 'model.keras'))
    fresh = train(dataset_dir, tmp_path / 'fresh', steps=1,
                  checkpoint_every=0, **dict(COMMON, seed=7))
    fresh_weights = weights_of(load_model(tmp_path / 'fresh' / 'model.keras'))
    near = sum(np.abs(a - b).sum() for a, b in zip(initial, tuned))
    far = sum(np.abs(a - b).sum() for a, b in zip(initial, fresh_weights))
    assert fresh['training']['initial_model'] is None
    assert near < 0.5 * far

    with pytest.raises(ValueError, match='initial_model .* does not match'):
        train(dataset_dir, tmp_path / 'mismatch', steps=1, initial_model=start,
              **dict(COMMON, model_options=dict(filters=[4, 4],
                                                attention_window=3)))
    with pytest.raises(TypeError, match='initial_model must be'):
        train(dataset_dir, tmp_path / 'bad', steps=1, initial_model=3,
              **COMMON)


def test_lupton_normalization_training_and_inference(tmp_path, monkeypatch):
    from pais_deblend.deblend import Deblender
    from pais_deblend.model import predict_pcr
    from pais_deblend.model.bundled import BUNDLED_MODELS
    from pais_deblend.model.normalization import estimate_noise

    from .test_model_preprocessing import gaussian_scene

    (tmp_path / 'shards').mkdir()
    shards = write_dataset(tmp_path / 'shards', n_shards=2, per_shard=2,
                           shape=(32, 32), n_bands=3)
    options = dict(batch_size=2, seed=1, validation_fraction=0.5,
                   progress_bar=False, crop_size=24, checkpoint_every=0,
                   model_options={'filters': (4, 8), 'attention_window': 3})
    card = train(shards, tmp_path / 'lupton', steps=2, jit_compile=True,
                 normalization='lupton', **options)
    assert card['normalization']['method'] == 'lupton'
    assert 'asinh(I) / I' in card['normalization']['formula']
    assert card['training']['steps'] == 2
    assert all(np.isfinite(v) for v in card['validation']['metrics'].values())
    state = json.loads((tmp_path / 'lupton' / 'checkpoint'
                        / 'state.json').read_text())
    assert state['config']['normalization'] == 'lupton'
    # resuming with another normalisation is another configuration
    with pytest.raises(ValueError, match='different configuration'):
        train(shards, tmp_path / 'lupton', steps=3, **options)
    with pytest.raises(ValueError, match="normalization must be one of "
                       ".*got 'sdss'"):
        train(shards, tmp_path / 'bad', steps=1, normalization='sdss',
              **options)

    # inference: Deblender passes its normalisation to predict_pcr
    model = load_model(tmp_path / 'lupton' / 'model.keras')
    image = gaussian_scene((32, 32), n_bands=3, seed=9)[0]
    assert Deblender(model, progress_bar=False).normalization == 'asinh'
    deblender = Deblender(model, progress_bar=False, normalization='lupton')
    assert deblender.normalization == 'lupton'
    noise = estimate_noise(image)
    expected = predict_pcr(model, image, noise_sigma=noise,
                           normalization='lupton')
    other = predict_pcr(model, image, noise_sigma=noise)
    got = deblender.predict(image)
    np.testing.assert_allclose(got.center_of_mass, expected.center_of_mass,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(other.center_of_mass, expected.center_of_mass,
                           rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="normalization must be one of "
                       ".*got 'LUPTON'"):
        Deblender(model, normalization='LUPTON')
    with pytest.raises(ValueError, match='method must be one of'):
        predict_pcr(model, image, normalization='sqrt')
    # bundled models: the entry's decoding dict names it, 'asinh' if absent
    assert Deblender('hst_f160w', progress_bar=False).normalization == 'asinh'
    monkeypatch.setitem(BUNDLED_MODELS['hst_f160w'], 'decoding', dict(
        BUNDLED_MODELS['hst_f160w']['decoding'], normalization='lupton'))
    assert Deblender('hst_f160w', progress_bar=False).normalization == 'lupton'


def test_train_cli_normalization_option():
    from pais_deblend.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(['train', 'shards', 'out'])
    assert args.normalization == 'asinh'
    args = parser.parse_args(['train', 'shards', 'out',
                              '--normalization', 'lupton'])
    assert args.normalization == 'lupton'
    with pytest.raises(SystemExit):
        parser.parse_args(['train', 'shards', 'out', '--normalization', 'x'])


def test_train_cli_loss_weights():
    from pais_deblend.cli import build_parser
    from pais_deblend.cli.train import _loss_weights

    parser = build_parser()
    args = parser.parse_args(['train', 'shards', 'out'])
    assert _loss_weights(args) == {'vector_weighting': 'uniform'}
    args = parser.parse_args(['train', 'shards', 'out',
                              '--center-of-mass-weight', '100',
                              '--entropy-weight', '0',
                              '--star-probability-weight', '10'])
    assert _loss_weights(args) == {'vector_weighting': 'uniform',
                                   'entropy_weight': 0.0,
                                   'center_of_mass_weight': 100.0,
                                   'star_probability_weight': 10.0}
    # the value reaches PAISLoss, which names a bad one
    from pais_deblend.model import PAISLoss
    weights = _loss_weights(parser.parse_args(
        ['train', 'shards', 'out', '--center-of-mass-weight', 'nan']))
    with pytest.raises(ValueError, match='center_of_mass_weight'):
        PAISLoss(**weights)
    weights = _loss_weights(parser.parse_args(
        ['train', 'shards', 'out', '--star-probability-weight', 'inf']))
    with pytest.raises(ValueError, match='star_probability_weight'):
        PAISLoss(**weights)
    args = parser.parse_args(['train', 'shards', 'out',
                              '--slot-matching', 'permutation',
                              '--contribution-vectors-weight', '1'])
    assert _loss_weights(args) == {'vector_weighting': 'uniform',
                                   'slot_matching': 'permutation',
                                   'contribution_vectors_weight': 1.0}
    with pytest.raises(SystemExit):
        parser.parse_args(['train', 'shards', 'out', '--slot-matching', 'x'])
    assert parser.parse_args(['train', 'shards', 'out']).source_balance == 0
    assert parser.parse_args(['train', 'shards', 'out', '--source-balance',
                              '0.5']).source_balance == 0.5


def test_train_cli_architecture_option(dataset_dir, tmp_path, monkeypatch,
                                       capsys):
    from pais_deblend import model as model_module
    from pais_deblend.cli import build_parser, main
    from pais_deblend.cli.train import ARCHITECTURES
    from pais_deblend.model.network import ARCHITECTURES as NETWORKS
    from pais_deblend.model.network import DEFAULTS

    assert ARCHITECTURES == NETWORKS
    parser = build_parser()
    assert parser.parse_args(['train', 'shards', 'out']).architecture == 'pais'
    with pytest.raises(SystemExit):
        parser.parse_args(['train', 'shards', 'out', '--architecture', 'x'])
    capsys.readouterr()

    # the default network leaves model_options as before (resumable
    # checkpoints); 'light' is passed, with the caller's filters and window
    seen = []

    def fake_train(*args, model_options=None, **kwargs):
        seen.append(model_options)
        return {'training': {'steps': 0, 'wall_time_s': 0.0},
                'validation': {'metrics': {}}}

    with monkeypatch.context() as patch:
        patch.setattr(model_module, 'train', fake_train)
        for argv in (['--architecture', 'pais'],
                     ['--architecture', 'light'],
                     ['--architecture', 'light', '--filters', '4', '8',
                      '--attention-window', '5']):
            assert main(['train', 'shards', 'out', *argv]) == 0
    assert seen == [None, {'architecture': 'light'},
                    {'architecture': 'light', 'filters': [4, 8],
                     'attention_window': 5}]

    # a real run: without --filters / --attention-window the light network
    # gets its own defaults (8 16 32 64, window 3), not the paper's
    output = tmp_path / 'light'
    assert main(['train', str(dataset_dir), str(output), '--architecture',
                 'light', '--steps', '1', '--batch-size', '2',
                 '--crop-size', '32', '--validation-fraction', '0.3',
                 '--checkpoint-every', '0', '--no-jit',
                 '--no-progress']) == 0
    card = json.loads((output / 'model_card.json').read_text())
    assert card['architecture']['architecture'] == 'light'
    assert card['architecture']['filters'] == list(DEFAULTS['light']['filters'])
    assert (card['architecture']['attention_window']
            == DEFAULTS['light']['attention_window'])
    model = load_model(output / 'model.keras')
    assert model.architecture_name == 'light'
    assert model.architecture == card['architecture']


def test_distillation_learns_from_a_teacher(dataset_dir, reference_run,
                                            tmp_path):
    output, _ = reference_run
    teacher = output / 'model.keras'
    # a student of another architecture, same bands and slots
    student_options = dict(filters=[4, 4], attention_window=3)
    card = train(dataset_dir, tmp_path / 'student', steps=2,
                 checkpoint_every=0, teacher=teacher,
                 distillation_weight=0.75,
                 **dict(COMMON, model_options=student_options))
    assert card['training']['teacher']['name'] == 'model.keras'
    assert len(card['training']['teacher']['sha256']) == 64
    assert card['training']['distillation_weight'] == 0.75
    final = card['training']['final_training_loss']
    for term in ('center_of_mass', 'contribution_vectors',
                 'contribution_maps', 'entropy'):
        assert np.isfinite(final[term])
        assert np.isfinite(final[f'teacher_{term}'])
    # without a teacher the card says so and no teacher term is recorded
    plain = train(dataset_dir, tmp_path / 'plain', steps=1,
                  checkpoint_every=0, **COMMON)
    assert plain['training']['teacher'] is None
    assert not any(key.startswith('teacher_') for key in
                   plain['training']['final_training_loss'])

    # a checkpoint made with one teacher weight does not resume with another
    with pytest.raises(ValueError, match='different configuration'):
        train(dataset_dir, tmp_path / 'student', steps=3,
              checkpoint_every=0, teacher=teacher, distillation_weight=0.5,
              **dict(COMMON, model_options=student_options))


def test_distillation_argument_errors(dataset_dir, reference_run, tmp_path):
    output, _ = reference_run
    teacher = output / 'model.keras'
    with pytest.raises(TypeError, match='teacher must be'):
        train(dataset_dir, tmp_path / 'a', steps=1, teacher=3, **COMMON)
    for bad in (-0.1, 1.5, float('nan')):
        with pytest.raises(ValueError, match='distillation_weight'):
            train(dataset_dir, tmp_path / 'b', steps=1, teacher=teacher,
                  distillation_weight=bad, **COMMON)
    with pytest.raises(TypeError, match='distillation_weight'):
        train(dataset_dir, tmp_path / 'c', steps=1, teacher=teacher,
              distillation_weight='half', **COMMON)
    # a teacher with other slots cannot teach this student
    with pytest.raises(ValueError, match='teacher has n_contributors=3'):
        train(dataset_dir, tmp_path / 'd', steps=1, teacher=teacher,
              **dict(COMMON, model_options=dict(OPTIONS, n_contributors=2)))


def test_distillation_loss_mixes_label_and_teacher_terms():
    import keras

    from pais_deblend.model import PAISLoss
    from pais_deblend.model.training import distillation_loss

    rng = np.random.default_rng(3)
    shape = (2, 6, 5)
    fractions = rng.dirichlet(np.ones(3), size=shape).astype('float32')
    labels = {
        'center_of_mass': rng.uniform(size=shape).astype('float32'),
        'contribution_vectors': rng.normal(size=shape + (3, 2)).astype(
            'float32'),
        'contribution_maps': fractions,
        'pixel_weight': (rng.uniform(size=shape) > 0.3).astype('float32'),
    }
    teacher = {
        'center_of_mass': rng.uniform(size=shape + (1,)).astype('float32'),
        'contribution_vectors': rng.normal(size=shape + (3, 2)).astype(
            'float32'),
        'contribution_maps': rng.normal(size=shape + (3,)).astype('float32'),
    }
    predictions = {
        'center_of_mass': rng.uniform(size=shape + (1,)).astype('float32'),
        'contribution_vectors': rng.normal(size=shape + (3, 2)).astype(
            'float32'),
        'contribution_maps': rng.normal(size=shape + (3,)).astype('float32'),
    }
    loss = PAISLoss(vector_weighting='contribution')
    label_total, _ = loss(labels, predictions)
    total, terms = distillation_loss(loss, labels, teacher, predictions, 0.0)
    assert np.isclose(float(total), float(label_total))

    # the teacher's targets by hand: its C^c, its vectors, softmax(C^m)
    soft = {'center_of_mass': teacher['center_of_mass'],
            'contribution_vectors': teacher['contribution_vectors'],
            'contribution_maps': np.asarray(keras.ops.softmax(
                teacher['contribution_maps'], axis=-1)),
            'pixel_weight': labels['pixel_weight']}
    teacher_total, teacher_terms = loss(soft, predictions)
    total, terms = distillation_loss(loss, labels, teacher, predictions, 1.0)
    assert np.isclose(float(total), float(teacher_total))
    total, terms = distillation_loss(loss, labels, teacher, predictions, 0.3)
    assert np.isclose(float(total), 0.7 * float(label_total)
                      + 0.3 * float(teacher_total), rtol=1e-6)
    for name, value in teacher_terms.items():
        assert np.isclose(float(terms[f'teacher_{name}']), float(value))

    # a student equal to its teacher has no teacher C^c or C^v error
    _, terms = distillation_loss(loss, labels, teacher, teacher, 1.0)
    assert float(terms['teacher_center_of_mass']) == 0.0
    assert float(terms['teacher_contribution_vectors']) == 0.0


def test_train_cli_teacher_option(monkeypatch):
    from pais_deblend import model as model_module
    from pais_deblend.cli import main

    seen = []

    def fake_train(*args, teacher=None, distillation_weight=None, **kwargs):
        seen.append((teacher, distillation_weight))
        return {'training': {'steps': 0, 'wall_time_s': 0.0},
                'validation': {'metrics': {}}}

    monkeypatch.setattr(model_module, 'train', fake_train)
    assert main(['train', 'shards', 'out']) == 0
    assert main(['train', 'shards', 'out', '--teacher', 'hst_f160w',
                 '--distillation-weight', '0.7']) == 0
    assert seen == [(None, 0.5), ('hst_f160w', 0.7)]
