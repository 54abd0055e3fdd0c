"""
Tests of the ONNX Runtime inference path: the bundled models' ONNX twins
against their Keras models, `Deblender(runtime='onnx')` against the
TensorFlow default, a fresh process that never imports TensorFlow, and
the errors of loading and exporting.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip('onnxruntime')

from pais_deblend.model import bundled  # noqa: E402
from pais_deblend.model.normalization import normalize_image  # noqa: E402
from pais_deblend.model.onnx_runtime import (METADATA_KEY,  # noqa: E402
                                             OnnxPAISModel, export_onnx,
                                             load_onnx_model)

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

#: The repository root, put first on the path of the subprocess.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gaussian_scene(shape, n_bands, seed, sources):
    """A noisy scene of round Gaussian sources ((y, x, flux, sigma)),
    the same in every band up to a per-band scale."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for y, x, flux, sigma in sources:
        image += (flux / (2 * np.pi * sigma ** 2)
                  * np.exp(-((yy - y) ** 2 + (xx - x) ** 2)
                           / (2 * sigma ** 2)))
    scales = np.linspace(0.8, 1.2, n_bands)
    cube = image[..., np.newaxis] * scales
    cube += rng.normal(0, 0.02, cube.shape)
    return cube[..., 0] if n_bands == 1 else cube


TWO_SOURCES = [(40.0, 40.0, 60.0, 2.5), (45.0, 47.0, 40.0, 2.0)]


@pytest.mark.parametrize('name', ['hst_f160w', 'ground_grz'])
def test_onnx_twin_agrees_with_keras(name):
    pytest.importorskip('tensorflow')
    keras_model = bundled.load_bundled_model(name)
    onnx_model = bundled.load_bundled_onnx_model(name)
    for attribute in ('n_bands', 'n_contributors', 'receptive_field_radius',
                      'downsampling_factor', 'architecture_name',
                      'classify', 'band_maps', 'architecture'):
        assert getattr(onnx_model, attribute) == getattr(keras_model,
                                                         attribute)
    sources = TWO_SOURCES + [(90.0, 20.0, 80.0, 3.5), (15.0, 100.0, 30.0,
                                                        1.5)]
    scene = gaussian_scene((120, 128), keras_model.n_bands, 7, sources)
    images = normalize_image(scene)[np.newaxis].astype(np.float32)
    expected = {key: np.asarray(value) for key, value in
                keras_model(images, training=False).items()}
    actual = onnx_model(images)
    assert sorted(actual) == sorted(expected)
    if name == 'ground_grz':
        assert {'star_probability', 'band_contribution_maps'} <= set(actual)
    tolerances = {'center_of_mass': 1e-4, 'star_probability': 1e-4,
                  'contribution_vectors': 1e-2,
                  'contribution_maps': 1e-3, 'band_contribution_maps': 1e-3}
    for key, value in actual.items():
        assert value.dtype == np.float32
        assert value.shape == expected[key].shape
        np.testing.assert_allclose(value, expected[key], rtol=0,
                                   atol=tolerances[key], err_msg=key)


@pytest.mark.parametrize('attribution', ['templates', 'network'])
def test_deblender_onnx_runtime_matches_tensorflow(attribution):
    pytest.importorskip('tensorflow')
    from pais_deblend import Deblender

    scene = gaussian_scene((96, 96), 1, 3, TWO_SOURCES)
    results = {}
    for runtime in ('tensorflow', 'onnx'):
        deblender = Deblender('hst_f160w', runtime=runtime,
                              attribution=attribution, progress_bar=False)
        assert deblender.runtime == runtime
        assert repr(runtime) in repr(deblender)
        results[runtime] = deblender(scene)
    reference, onnx = results['tensorflow'], results['onnx']
    assert reference is not None and len(reference.centers) >= 2
    np.testing.assert_array_equal(onnx.partial_labels,
                                  reference.partial_labels)
    assert onnx.centers.keys() == reference.centers.keys()
    for label, center in reference.centers.items():
        np.testing.assert_allclose(onnx.centers[label], center, rtol=0,
                                   atol=0.01)
    for label in reference.partial_labels:
        np.testing.assert_allclose(onnx.weight_map(label),
                                   reference.weight_map(label), rtol=0,
                                   atol=1e-3)


def test_onnx_runtime_never_imports_tensorflow():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from pais_deblend import Deblender

        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[:64, :64]
        image = (np.exp(-((yy - 30) ** 2 + (xx - 28) ** 2) / 8.0)
                 + rng.normal(0, 0.01, (64, 64)))
        segmentation = Deblender('hst_f160w', runtime='onnx',
                                 progress_bar=False)(image)
        print(len(segmentation.centers),
              'tensorflow' in sys.modules, 'keras' in sys.modules)
    """)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [_ROOT] + [path for path in [os.environ.get('PYTHONPATH')] if path]))
    completed = subprocess.run([sys.executable, '-c', code], cwd=_ROOT,
                               env=environment, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    count, tensorflow, keras = completed.stdout.split()[-3:]
    assert int(count) >= 1
    assert (tensorflow, keras) == ('False', 'False')


def test_deblender_loads_an_onnx_file():
    from pais_deblend import Deblender

    path = bundled.bundled_onnx_path('hst_f160w')
    deblender = Deblender(path, progress_bar=False)
    assert deblender.runtime == 'onnx'
    assert isinstance(deblender.model, OnnxPAISModel)
    assert deblender.model_name == 'hst_f160w.onnx'
    segmentation = deblender(gaussian_scene((64, 64), 1, 1,
                                            [(30.0, 30.0, 50.0, 2.0)]))
    assert len(segmentation.centers) == 1


def test_bad_runtime_is_refused():
    from pais_deblend import Deblender, deblend_sources

    with pytest.raises(ValueError, match="runtime must be one of 'auto', .*'jax'"):
        Deblender('hst_f160w', runtime='jax')
    with pytest.raises(ValueError, match="runtime.*'ONNX'"):
        deblend_sources(np.zeros((32, 32)), runtime='ONNX')


def test_onnx_runtime_needs_an_onnx_model(tmp_path):
    from pais_deblend import Deblender

    with pytest.raises(ValueError, match=r"runtime='onnx' needs .*\.keras"):
        Deblender(bundled.bundled_model_path('hst_f160w'), runtime='onnx')


def test_bundled_model_without_onnx_twin(monkeypatch):
    from pais_deblend import Deblender
    from pais_deblend.deblend import core

    entry = dict(bundled.BUNDLED_MODELS['hst_f160w'])
    del entry['onnx_sha256']
    monkeypatch.setitem(bundled.BUNDLED_MODELS, 'hst_f160w', entry)
    # models loaded by the other tests are cached per process
    monkeypatch.setattr(core, '_BUNDLED_CACHE', {})
    with pytest.raises(ValueError, match="'hst_f160w' has no ONNX twin.*"
                       "'ground_grz'"):
        Deblender('hst_f160w', runtime='onnx')


def test_damaged_bundled_onnx_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / 'hst_f160w.onnx'
    shutil.copyfile(bundled.bundled_onnx_path('hst_f160w'), copy)
    with open(copy, 'r+b') as handle:
        handle.truncate(copy.stat().st_size // 2)
    monkeypatch.setattr(bundled, '_WEIGHTS_DIR', str(tmp_path))
    with pytest.raises(ValueError, match='is damaged or not the bundled'):
        bundled.load_bundled_onnx_model('hst_f160w')
    copy.unlink()
    with pytest.raises(FileNotFoundError, match='hst_f160w.onnx.*does not'):
        bundled.load_bundled_onnx_model('hst_f160w')


def test_missing_onnx_file(tmp_path):
    from pais_deblend import Deblender

    missing = tmp_path / 'missing.onnx'
    with pytest.raises(FileNotFoundError, match='missing.onnx.*does not'):
        load_onnx_model(missing)
    with pytest.raises(FileNotFoundError, match='missing.onnx.*does not'):
        Deblender(str(missing))


def test_non_onnx_file(tmp_path):
    path = tmp_path / 'model.onnx'
    path.write_bytes(b'not an onnx model at all\n' * 10)
    with pytest.raises(ValueError, match='model.onnx.*not an ONNX model'):
        load_onnx_model(path)


# --- a tiny ONNX model written by hand (protobuf wire format), so that
# the tests need neither the onnx package nor tf2onnx


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, value):
    """A protobuf field: an int as a varint, bytes/str length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _identity_model(metadata=None):
    """An ONNX model y = Identity(x) on (1, 4, 4, 1) float32, with
    ``metadata`` (a dict of str) as its metadata_props."""
    dims = b''.join(_field(1, _field(1, side)) for side in (1, 4, 4, 1))
    tensor_type = _field(1, _field(1, 1) + _field(2, dims))  # FLOAT

    def value_info(name):
        return _field(1, name) + _field(2, tensor_type)

    node = _field(1, 'x') + _field(2, 'y') + _field(4, 'Identity')
    graph = (_field(1, node) + _field(2, 'g') + _field(11, value_info('x'))
             + _field(12, value_info('y')))
    model = _field(1, 8) + _field(8, _field(1, '') + _field(2, 17))
    model += _field(7, graph)
    for key, value in (metadata or {}).items():
        model += _field(14, _field(1, key) + _field(2, value))
    return model


def test_onnx_file_without_metadata(tmp_path):
    path = tmp_path / 'plain.onnx'
    path.write_bytes(_identity_model())
    with pytest.raises(ValueError, match="plain.onnx.*without the "
                       f"'{METADATA_KEY}' metadata"):
        load_onnx_model(path)
    path.write_bytes(_identity_model({METADATA_KEY: '{not json'}))
    with pytest.raises(ValueError, match='plain.onnx.*unreadable'):
        load_onnx_model(path)
    path.write_bytes(_identity_model({METADATA_KEY: json.dumps(
        {'n_bands': 1})}))
    with pytest.raises(ValueError, match='plain.onnx.*incomplete.*n_contrib'):
        load_onnx_model(path)


def test_bad_call_is_refused():
    model = bundled.load_bundled_onnx_model('hst_f160w')
    with pytest.raises(ValueError, match=r'shape \(batch, h, w, 1\).*'
                       r'\(8, 8\)'):
        model(np.zeros((8, 8)))
    with pytest.raises(ValueError, match='training must be False'):
        model(np.zeros((1, 8, 8, 1)), training=True)
    with pytest.raises(ValueError, match='threads'):
        OnnxPAISModel(bundled.bundled_onnx_path('hst_f160w'), threads=0)


def test_export_refuses_an_existing_file(tmp_path):
    pytest.importorskip('tensorflow')
    keras_model = bundled.load_bundled_model('hst_f160w')
    path = tmp_path / 'model.onnx'
    path.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='model.onnx.*overwrite=True'):
        export_onnx(keras_model, path)
    assert path.read_bytes() == b'keep me'
    with pytest.raises(TypeError, match='PAIS Keras model.*str'):
        export_onnx('hst_f160w', tmp_path / 'other.onnx')


def test_export_round_trip(tmp_path):
    pytest.importorskip('tensorflow')
    pytest.importorskip('tf2onnx')
    pytest.importorskip('onnx')
    from pais_deblend.model import build_pais_model

    keras_model = build_pais_model(n_bands=2, n_contributors=2,
                                   filters=(4, 8), attention_window=3,
                                   classify=True, architecture='pais',
                                   seed=1)
    path = tmp_path / 'small.onnx'
    assert export_onnx(keras_model, path) == str(path)
    model = load_onnx_model(path)
    assert model.n_bands == 2 and model.n_contributors == 2
    assert model.classify and not model.band_maps
    assert model.architecture == keras_model.architecture
    assert set(model.output_names) == {
        'center_of_mass', 'contribution_vectors', 'contribution_maps',
        'star_probability'}
    images = np.random.default_rng(0).normal(
        size=(2, 36, 44, 2)).astype(np.float32)
    expected = keras_model(images, training=False)
    for key, value in model(images).items():
        np.testing.assert_allclose(value, np.asarray(expected[key]),
                                   rtol=0, atol=1e-3, err_msg=key)
    with pytest.raises(FileExistsError, match='small.onnx'):
        export_onnx(keras_model, path)
    export_onnx(keras_model, path, overwrite=True)


def test_cli_run_with_onnx_runtime(tmp_path, capsys):
    from astropy.io import fits

    from pais_deblend.cli import main

    image = gaussian_scene((64, 64), 1, 5, TWO_SOURCES[:1] + [
        (20.0, 40.0, 50.0, 2.0)]).astype(np.float32)
    path = tmp_path / 'scene.fits'
    fits.PrimaryHDU(image).writeto(path)
    status = main(['run', str(path), '--runtime', 'onnx', '--output-dir',
                   str(tmp_path / 'out'), '--background-subtracted',
                   '--no-progress'])
    assert status == 0, capsys.readouterr().err
    header = fits.getheader(tmp_path / 'out' / 'scene_partial.fits')
    assert header['PDMODSHA'] == bundled.BUNDLED_MODELS['hst_f160w'][
        'onnx_sha256']
    assert 'onnx' in header['PDOPTS']
    with pytest.raises(SystemExit) as exit_info:
        main(['run', str(path), '--runtime', 'jax'])
    assert exit_info.value.code == 2
    assert "invalid choice: 'jax'" in capsys.readouterr().err


def test_batch_with_onnx_runtime_matches_single_calls():
    from pais_deblend import Deblender

    deblender = Deblender('hst_f160w', runtime='onnx', progress_bar=False)
    images = [gaussian_scene((48, 48), 1, seed, [(20.0, 22.0, 50.0, 2.0)])
              for seed in range(3)]
    for single, batched in zip([deblender(image) for image in images],
                               deblender.batch(images)):
        np.testing.assert_array_equal(batched.data, single.data)
        np.testing.assert_allclose(batched.weights, single.weights,
                                   rtol=0, atol=1e-5)


def test_auto_runtime_picks_by_image_size():
    pytest.importorskip('tensorflow')
    from pais_deblend import Deblender
    from pais_deblend.model import PAISModel
    from pais_deblend.model.inference import XLA_MIN_TILES, count_tiles

    deblender = Deblender('hst_f160w', tile_size=64, progress_bar=False)
    assert deblender.runtime == 'auto'
    assert "runtime='auto'" in repr(deblender)
    assert isinstance(deblender.model, OnnxPAISModel)
    assert count_tiles(deblender.model, (64, 64), 64) == 1
    small, small_lock = deblender.network_model((64, 64))
    assert small is deblender.model
    assert count_tiles(deblender.model, (160, 160), 64) >= XLA_MIN_TILES
    large, large_lock = deblender.network_model((160, 160))
    assert isinstance(large, PAISModel)
    assert large_lock is not small_lock
    # each size gives what its runtime gives on its own
    scene = gaussian_scene((160, 160), 1, 3, [
        (40.0, 40.0, 60.0, 2.5), (45.0, 47.0, 40.0, 2.0),
        (120.0, 110.0, 50.0, 2.0)])
    forced = Deblender('hst_f160w', tile_size=64, progress_bar=False,
                       runtime='tensorflow')
    auto_result, forced_result = deblender(scene), forced(scene)
    assert auto_result.centers.keys() == forced_result.centers.keys()
    for label, center in forced_result.centers.items():
        np.testing.assert_array_equal(auto_result.centers[label], center)
        np.testing.assert_array_equal(auto_result.weight_map(label),
                                      forced_result.weight_map(label))


def test_auto_runtime_of_model_files_and_objects():
    pytest.importorskip('tensorflow')
    from pais_deblend import Deblender

    keras_file = bundled.bundled_model_path('hst_f160w')
    assert Deblender(keras_file, progress_bar=False).runtime == 'tensorflow'
    onnx_file = bundled.bundled_onnx_path('hst_f160w')
    assert Deblender(onnx_file, progress_bar=False).runtime == 'onnx'
    loaded = load_onnx_model(onnx_file)
    deblender = Deblender(loaded, progress_bar=False)
    assert deblender.runtime == 'onnx'
    assert deblender.network_model((4096, 4096))[0] is loaded


def test_auto_runtime_without_onnxruntime(monkeypatch):
    pytest.importorskip('tensorflow')
    import importlib.util

    from pais_deblend import Deblender
    from pais_deblend.model import PAISModel

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: (
        None if name == 'onnxruntime' else real_find_spec(name, *a)))
    deblender = Deblender('hst_f160w', progress_bar=False)
    assert deblender.runtime == 'tensorflow'
    assert isinstance(deblender.model, PAISModel)
