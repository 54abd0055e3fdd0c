"""
Tests of what the pais-deblend command prints besides its results:
TensorFlow's log messages (hidden unless --verbose) and the help.
"""

import logging
import os
import subprocess
import sys

import pytest

import pais_deblend
from pais_deblend.cli import build_parser, quiet_tensorflow


def child_environment():
    """The environment of a child Python that imports this pais_deblend."""
    environment = {key: value for key, value in os.environ.items()
                   if key != 'TF_CPP_MIN_LOG_LEVEL'}
    root = os.path.dirname(os.path.dirname(pais_deblend.__file__))
    environment['PYTHONPATH'] = os.pathsep.join(
        filter(None, [root, environment.get('PYTHONPATH')]))
    return environment


def run_python(code, **options):
    """Run ``code`` in a child Python that imports this pais_deblend."""
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, env=child_environment(), **options)


@pytest.fixture
def clean_environment(monkeypatch):
    monkeypatch.delenv('TF_CPP_MIN_LOG_LEVEL', raising=False)
    logger = logging.getLogger('tensorflow')
    monkeypatch.setattr(logger, 'level', logging.NOTSET)
    return monkeypatch


def clean_environment_value():
    return os.environ.get('TF_CPP_MIN_LOG_LEVEL')


def test_tensorflow_is_quiet_by_default(clean_environment):
    assert quiet_tensorflow() is True
    assert clean_environment_value() == '3'
    assert logging.getLogger('tensorflow').level == logging.ERROR


def test_verbose_leaves_tensorflow_alone(clean_environment):
    assert quiet_tensorflow(verbose=True) is False
    assert clean_environment_value() is None


@pytest.mark.parametrize('verbose', [False, True])
def test_the_users_log_level_is_kept(clean_environment, verbose):
    clean_environment.setenv('TF_CPP_MIN_LOG_LEVEL', '1')
    assert quiet_tensorflow(verbose=verbose) is False
    assert clean_environment_value() == '1'


@pytest.mark.parametrize('argv', [
    ['--verbose', 'example'], ['example', '--verbose'], ['-v', 'run', 'a'],
    ['run', 'a', '-v']])
def test_verbose_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).verbose is True


def test_not_verbose_by_default():
    assert build_parser().parse_args(['run', 'a']).verbose is False


def test_model_help_lists_the_bundled_models_without_tensorflow():
    code = ('import sys\n'
            'from pais_deblend.cli import main\n'
            'try:\n'
            "    main(['run', '--help'])\n"
            'except SystemExit:\n'
            '    pass\n'
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    result = run_python(code, check=True)
    from pais_deblend.model import available_models

    help_text = ' '.join(result.stdout.split())
    for name in available_models():
        assert name in help_text
    assert 'one of ground_grz, hst_f160w' in help_text
    assert result.stdout.strip().endswith('False False')


@pytest.mark.slow
def test_the_example_prints_no_tensorflow_log(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'pais_deblend', 'example', '--output-dir',
         str(tmp_path), '--no-progress'], capture_output=True, text=True,
        env=child_environment(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert 'sources deblended' in result.stdout


@pytest.mark.slow
def test_the_example_runs_without_tensorflow(tmp_path):
    """The bundled cutout runs on the ONNX twin: the command does not pay
    for importing TensorFlow."""
    code = ('import sys\n'
            'from pais_deblend.cli import main\n'
            f"status = main(['example', '--output-dir', {str(tmp_path)!r}, "
            "'--no-progress'])\n"
            "print(status, 'tensorflow' in sys.modules)\n")
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith('0 False')


def test_tensorflow_is_imported_silently_only_for_images_that_need_it():
    code = ('import sys\n'
            'from pais_deblend import Deblender\n'
            'import pais_deblend.cli as cli\n'
            "cli._QUIET['tensorflow'] = cli.quiet_tensorflow()\n"
            "deblender = Deblender('hst_f160w', progress_bar=False)\n"
            'cli.before_network(deblender, (256, 256))\n'
            "print('tensorflow' in sys.modules)\n"
            'cli.before_network(deblender, (4096, 4096))\n'
            "print('tensorflow' in sys.modules)\n")
    result = run_python(code, check=True)
    assert result.stdout.split() == ['False', 'True']
    assert result.stderr == ''
