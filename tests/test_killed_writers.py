"""
Fault injection on writers: a process writing a partial segmentation
FITS file or a mosaic store is killed with SIGKILL at several points.
The output name then either does not exist or holds the whole, valid
output (never a truncated file), and the next write into the folder
removes the temporaries of the dead writer (``.tmp-HOST-PID-*`` files,
``.NAME.zarr.HOST-PID-*.tmp`` stores) but not those of a live one. Two
runs writing one mosaic store: one succeeds, the other gets a
`FileExistsError`.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from tests.test_mosaic import SETTINGS, gaussian_scene, tiny_model_file

__all__ = ['tiny_model_file']  # the fixture, shared with test_mosaic

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, 'SIGKILL'),
                       reason='needs SIGKILL'),
    pytest.mark.filterwarnings(
        'ignore:__array__ implementation:DeprecationWarning')]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Writes a 1024 x 1024 partial segmentation to argv[1]; with argv[2] ==
#: 'pause', stops (printing 'placing') once the temporary is whole,
#: before it takes the final name.
PARTIAL_WRITER = textwrap.dedent('''
    import sys, time
    import numpy as np
    from pais_deblend.segmentation import PartialSegmentationImage
    from pais_deblend.utils import _io

    contributors = np.zeros((1024, 1024, 3), dtype=np.int32)
    contributors[..., 0] = 1
    contributors[:, 512:, 1] = 2
    weights = np.zeros((1024, 1024, 3), dtype=np.float32)
    weights[..., 0] = 1
    weights[:, 512:, :2] = 0.5
    image = PartialSegmentationImage(contributors, weights,
                                     centers={1: (5.0, 5.0), 2: (9.0, 600.0)})
    if sys.argv[2] == 'pause':
        place = _io._place_new

        def paused(temporary, filename):
            print('placing', flush=True)
            time.sleep(60)
            place(temporary, filename)

        _io._place_new = paused
    print('ready', flush=True)
    image.write(sys.argv[1])
    print('done', flush=True)
''')

#: Deblends a 256 x 256 scene (16 tiles) into argv[2] with the model of
#: argv[1]; stops for a minute (printing 'paused') at the point argv[3]
#: names: 'tile5' (the first pass), 'relabel3' (the third pass),
#: 'place' (before the finished store takes its name).
MOSAIC_WRITER = textwrap.dedent('''
    import sys, time
    import numpy as np
    from pais_deblend.mosaic import core
    from tests.test_mosaic import SETTINGS, gaussian_scene

    model, output, point = sys.argv[1:4]
    calls = {}

    def pausing(name, function, at):
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            if name + str(calls[name]) == at or name == at:
                print('paused', flush=True)
                time.sleep(60)
            return function(*args, **kwargs)
        return wrapper

    core._deblend_tile_task = pausing('tile', core._deblend_tile_task, point)
    core._relabel_tile_task = pausing('relabel', core._relabel_tile_task,
                                      point)
    core._move_into_place = pausing('place', core._move_into_place, point)
    print('ready', flush=True)
    core.deblend_mosaic(gaussian_scene((256, 256), n_sources=40, seed=5),
                        output, model=model, tile_size=64, margin=32,
                        **SETTINGS)
    print('done', flush=True)
''')


def start(script, *args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep
               + os.environ.get('PYTHONPATH', ''), TF_CPP_MIN_LOG_LEVEL='3')
    return subprocess.Popen([sys.executable, '-c', script, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=ROOT, env=env)


def wait_for(process, line, timeout=120):
    """Read the child's output until ``line`` (or it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = process.stdout.readline()
        if got.strip() == line:
            return True
        if got == '' and process.poll() is not None:
            return False
    raise AssertionError(f'the writer never printed {line!r}')


def kill(process):
    process.kill()  # SIGKILL: no cleanup of any kind runs
    process.wait()
    process.stdout.close()
    assert process.returncode in (-signal.SIGKILL, 0)


def temporaries(folder):
    return sorted(name for name in os.listdir(folder)
                  if name.startswith('.'))


def check_partial(path):
    """``path`` is absent or the whole image the writer meant."""
    from pais_deblend.segmentation import PartialSegmentationImage

    if not path.exists():
        return False
    image = PartialSegmentationImage.read(path)
    assert image.contributors.shape == (1024, 1024, 3)
    assert (image.contributors[:, :512, 0] == 1).all()
    assert (image.contributors[:, 512:, 1] == 2).all()
    np.testing.assert_allclose(image.weights.sum(axis=-1), 1)
    assert set(image.centers) == {1, 2}
    return True


@pytest.mark.parametrize('delay', [0.0, 0.05, 0.15, 0.4, 1.0])
def test_partial_write_killed(tmp_path, delay):
    path = tmp_path / 'seg.fits'
    writer = start(PARTIAL_WRITER, path, 'run')
    assert wait_for(writer, 'ready')
    time.sleep(delay)
    kill(writer)
    check_partial(path)


def test_partial_write_killed_before_placing(tmp_path):
    """Killed with the temporary whole but not yet named: no output, a
    stale temporary the next write into the folder removes."""
    from pais_deblend.utils._io import atomic_output, writer_tag

    path = tmp_path / 'seg.fits'
    writer = start(PARTIAL_WRITER, path, 'pause')
    assert wait_for(writer, 'placing')
    dead = writer.pid
    kill(writer)
    assert not path.exists()
    stale = temporaries(tmp_path)
    assert len(stale) == 1 and stale[0].startswith(f'.tmp-{writer_tag()[:8]}-'
                                                   f'{dead}-')
    # a live writer's temporary (this process's, another thread's) stays
    live = tmp_path / f'.tmp-{writer_tag()}-1-0123abcd.fits'
    live.write_bytes(b'')
    with atomic_output(tmp_path / 'other.txt') as temporary:
        with open(temporary, 'w') as handle:
            handle.write('x')
    assert temporaries(tmp_path) == [live.name]
    assert (tmp_path / 'other.txt').read_text() == 'x'


@pytest.mark.parametrize('point', ['tile5', 'relabel3', 'place'])
def test_mosaic_killed(tiny_model_file, tmp_path, point):
    pytest.importorskip('zarr')
    from pais_deblend.mosaic import deblend_mosaic, verify_mosaic

    output = tmp_path / 'field.zarr'
    writer = start(MOSAIC_WRITER, tiny_model_file, output, point)
    assert wait_for(writer, 'ready')
    assert wait_for(writer, 'paused', timeout=300)
    dead = writer.pid
    kill(writer)
    assert not output.exists()
    stale = temporaries(tmp_path)
    assert len(stale) == 1 and stale[0].startswith('.field.zarr.')
    assert f'-{dead}-' in stale[0] and stale[0].endswith('.tmp')
    # the next run into the same output removes it
    deblend_mosaic(gaussian_scene((128, 128), n_sources=10, seed=5), output,
                   model=tiny_model_file, tile_size=64, margin=32, **SETTINGS)
    assert temporaries(tmp_path) == []
    assert verify_mosaic(output) == []


def test_concurrent_mosaics(tiny_model_file, tmp_path):
    """Two runs into one output: one store, one FileExistsError."""
    pytest.importorskip('zarr')
    from pais_deblend.mosaic import deblend_mosaic, verify_mosaic

    output = tmp_path / 'field.zarr'
    outcomes = []
    start_together = threading.Barrier(2)

    def run(seed):
        start_together.wait()
        try:
            deblend_mosaic(gaussian_scene((128, 128), n_sources=10,
                                          seed=seed), output,
                           model=tiny_model_file, tile_size=64, margin=32,
                           **SETTINGS)
        except FileExistsError as error:
            outcomes.append(error)
        else:
            outcomes.append('written')

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count('written') == 1
    errors = [o for o in outcomes if o != 'written']
    assert len(errors) == 1
    with pytest.raises(FileExistsError, match='already exists'):
        raise errors[0]
    assert verify_mosaic(output) == []
    assert temporaries(tmp_path) == []


def test_store_placement_race(tmp_path):
    """Finished stores racing for one name: exactly one takes it."""
    from pais_deblend.mosaic.core import _move_into_place

    output = str(tmp_path / 'field.zarr')
    for attempt in range(20):
        folders = []
        for index in range(4):
            folder = tmp_path / f'store{attempt}-{index}'
            folder.mkdir()
            (folder / 'zarr.json').write_text(str(index))
            folders.append(folder)
        outcomes = []
        barrier = threading.Barrier(4)

        def place(folder):
            barrier.wait()
            try:
                _move_into_place(str(folder), output, False)
            except FileExistsError:
                outcomes.append('refused')
            else:
                outcomes.append('placed')

        threads = [threading.Thread(target=place, args=(f,))
                   for f in folders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ['placed'] + ['refused'] * 3
        assert os.listdir(output) == ['zarr.json']
        assert sum(f.exists() for f in folders) == 3
        for folder in folders:
            if folder.exists():
                (folder / 'zarr.json').unlink()
                folder.rmdir()
        (tmp_path / 'field.zarr' / 'zarr.json').unlink()
        (tmp_path / 'field.zarr').rmdir()
