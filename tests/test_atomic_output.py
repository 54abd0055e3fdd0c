"""
`atomic_output` under concurrency: a name is taken create-exclusively
(two writers of one name: one `FileExistsError`), symbolic links are
never replaced without ``overwrite``, the umask is left alone, and the
temporaries of processes and threads never collide.
"""

import errno
import os
import stat
import threading

import pytest

from pais_deblend.utils import _io
from pais_deblend.utils._io import atomic_output


def write(target, text, **kwargs):
    with atomic_output(target, **kwargs) as temporary:
        with open(temporary, 'w') as handle:
            handle.write(text)


def test_two_threads_one_name(tmp_path):
    target = tmp_path / 'catalog.ecsv'
    inside = threading.Barrier(2)
    outcomes = {}

    def writer(text):
        try:
            with atomic_output(target) as temporary:
                with open(temporary, 'w') as handle:
                    handle.write(text)
                inside.wait(timeout=10)  # both passed the early check
            outcomes[text] = 'written'
        except FileExistsError as error:
            outcomes[text] = error

    threads = [threading.Thread(target=writer, args=(text,))
               for text in ('first', 'second')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = [text for text, outcome in outcomes.items()
               if outcome == 'written']
    refused = [outcome for outcome in outcomes.values()
               if isinstance(outcome, FileExistsError)]
    assert len(written) == 1 and len(refused) == 1
    assert 'already exists; pass overwrite=True' in str(refused[0])
    assert target.read_text() == written[0]
    assert [p.name for p in tmp_path.iterdir()] == ['catalog.ecsv']


def test_dangling_symlink_is_refused(tmp_path):
    target = tmp_path / 'out.txt'
    target.symlink_to(tmp_path / 'nowhere')
    with pytest.raises(FileExistsError, match='already exists'):
        write(target, 'x')
    assert target.is_symlink() and not target.exists()
    # a name that turns into a link while the block runs
    other = tmp_path / 'other.txt'
    with pytest.raises(FileExistsError, match='other.txt.*already exists'):
        with atomic_output(other) as temporary:
            with open(temporary, 'w') as handle:
                handle.write('x')
            other.symlink_to(tmp_path / 'elsewhere')
    assert other.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['other.txt',
                                                          'out.txt']
    # overwrite replaces the link itself, never its target
    write(other, 'new', overwrite=True)
    assert not other.is_symlink() and other.read_text() == 'new'
    assert not (tmp_path / 'elsewhere').exists()


def test_umask_is_left_alone(tmp_path, monkeypatch):
    calls = []
    real_umask = os.umask

    def spy(mask):
        calls.append(mask)
        return real_umask(mask)

    previous = real_umask(0o077)
    try:
        monkeypatch.setattr(os, 'umask', spy)
        write(tmp_path / 'private.txt', 'x')
    finally:
        real_umask(previous)
    assert calls == []
    mode = stat.S_IMODE((tmp_path / 'private.txt').stat().st_mode)
    assert mode == 0o600


def test_temporaries_are_unique_per_thread(tmp_path):
    names = {}

    def record(index):
        with atomic_output(tmp_path / f'out{index}.txt') as temporary:
            names[index] = os.path.basename(temporary)
            with open(temporary, 'w') as handle:
                handle.write('x')

    threads = [threading.Thread(target=record, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names.values())) == 4
    for name in names.values():
        assert name.startswith(f'.tmp-{_io.writer_tag()}-') and (
            name.endswith('.txt'))


def test_without_hard_links(tmp_path, monkeypatch):
    def no_link(source, destination):
        raise OSError(errno.EPERM, 'Operation not permitted')

    monkeypatch.setattr(_io.os, 'link', no_link)
    target = tmp_path / 'out.txt'
    write(target, 'done')
    assert target.read_text() == 'done'
    other = tmp_path / 'other.txt'
    with pytest.raises(FileExistsError, match='already exists'):
        with atomic_output(other) as temporary:
            with open(temporary, 'w') as handle:
                handle.write('ours')
            other.write_text('theirs')  # appeared while we worked
    assert other.read_text() == 'theirs'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['other.txt',
                                                          'out.txt']


def test_partial_segmentation_write_keeps_a_dangling_link(tmp_path):
    import numpy as np

    from pais_deblend.segmentation import PartialSegmentationImage

    segmentation = PartialSegmentationImage(np.array([[[1, 0], [1, 2]]]),
                                            np.array([[[1.0, 0], [0.5, 0.5]]]))
    target = tmp_path / 'segm.fits'
    target.symlink_to(tmp_path / 'elsewhere.fits')
    with pytest.raises(FileExistsError, match='already exists'):
        segmentation.write(target)
    assert target.is_symlink() and not (tmp_path / 'elsewhere.fits').exists()
    segmentation.write(tmp_path / 'plain.fits')
    with pytest.raises(FileExistsError, match='already exists'):
        segmentation.write(tmp_path / 'plain.fits')
