"""
Tests of how the pais-deblend command stops: Ctrl-C, SIGTERM, and the
temporaries of unfinished outputs.
"""

import os
import signal
import sys

import numpy as np
import pytest

from pais_deblend.cli import main
from pais_deblend.segmentation import PartialSegmentationImage
from pais_deblend.utils._io import atomic_output
from pais_deblend.utils._progress import close_progress_bars, progress_bar

from .test_cli_run import SHAPE, make_scene, write_image_file


@pytest.fixture
def stopped_run(tmp_path, monkeypatch):
    """
    ``pais-deblend run`` with a stand-in network, stopped by ``stop``
    while the outputs are being written; returns the status and the
    output folder.
    """
    from pais_deblend.cli import run as run_module

    class FakeDeblender:
        model_name = 'fake'
        n_bands = 1

        def __call__(self, data, n_pixels=5, *, mask=None):
            return PartialSegmentationImage(
                np.ones(SHAPE + (1,), dtype=np.int32), np.ones(SHAPE + (1,)),
                centers={1: (30.0, 30.0)})

    monkeypatch.setattr(run_module, '_load_deblender',
                        lambda model, **options: FakeDeblender())
    image = write_image_file(tmp_path / 'field.fits', make_scene())
    output_dir = tmp_path / 'out'
    output_dir.mkdir()

    def run_stopped_by(stop):
        monkeypatch.setattr(run_module, '_write_overview',
                            lambda *args, **kwargs: stop())
        status = main(['run', str(image), '--output-dir', str(output_dir),
                       '--no-progress'])
        return status, output_dir

    return run_stopped_by


def test_ctrl_c_is_one_line_and_status_130(stopped_run, capsys):
    def interrupt():
        raise KeyboardInterrupt

    status, output_dir = stopped_run(interrupt)
    assert status == 130
    captured = capsys.readouterr()
    assert captured.err == 'pais-deblend run: interrupted\n'
    # the partial FITS and the catalog were written to temporaries: gone
    assert list(output_dir.iterdir()) == []


def test_sigterm_exits_143_and_removes_the_temporaries(stopped_run, capsys):
    def terminate():
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail('SIGTERM did not stop the command')

    handler = signal.getsignal(signal.SIGTERM)
    status, output_dir = stopped_run(terminate)
    assert status == 128 + signal.SIGTERM
    assert capsys.readouterr().err == 'pais-deblend run: terminated\n'
    assert list(output_dir.iterdir()) == []
    # the handler is the command's only
    assert signal.getsignal(signal.SIGTERM) is handler


@pytest.mark.parametrize('stop', [KeyboardInterrupt, SystemExit])
def test_atomic_output_removes_its_temporary_when_stopped(tmp_path, stop):
    target = tmp_path / 'out.fits'
    with pytest.raises(stop, match='stopped'):
        with atomic_output(target) as temporary:
            with open(temporary, 'w') as handle:
                handle.write('half')
            raise stop('stopped')
    assert list(tmp_path.iterdir()) == []


def test_an_open_bar_is_closed_before_the_next_line(capsys):
    with pytest.raises(KeyboardInterrupt, match='in the loop'):
        for item in progress_bar(range(5), desc='items'):
            if item == 2:
                raise KeyboardInterrupt('in the loop')
    close_progress_bars()
    print('next', file=sys.stderr)
    error = capsys.readouterr().err
    # not a terminal: the bar keeps its last state and ends its line
    assert error.endswith('\nnext\n')
    assert 'items' in error.splitlines()[-2]
