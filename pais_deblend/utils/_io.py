"""
Atomic, non-clobbering file output, ``.npz`` reading that names a
damaged file, and file checksums.
"""

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import threading
import zlib

__all__ = ['atomic_output', 'read_npz', 'npz_headers', 'writer_tag',
           'remove_stale_temporaries', 'file_sha256']

#: This machine, in the names of temporaries: a process id means nothing
#: on another host sharing the file system.
_HOST = format(zlib.crc32(socket.gethostname().encode()), '08x')

#: The temporaries of `atomic_output`: host, process id, thread, random.
_TEMPORARY = re.compile(r'\.tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-\d+-'
                        r'[0-9a-f]{8}')


def writer_tag():
    """``HOST-PID``: what a temporary's name holds so that a later run can
    tell whether its writer still lives."""
    return f'{_HOST}-{os.getpid()}'


def _alive(pid):
    """Whether process ``pid`` (of this host) exists."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or cannot tell: keep it
    return True


def remove_stale_temporaries(directory, pattern=_TEMPORARY):
    """
    Remove the temporaries in ``directory`` left by writers of this host
    that no longer run (killed, or the machine lost power): names that
    ``pattern`` matches from their start, with groups ``host`` and
    ``pid``. A file or a folder (a Zarr store) alike; a temporary another
    process removes meanwhile is skipped. Never raises for what it cannot
    remove.

    Returns
    -------
    removed : list of str
        The paths removed.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if (match is None or match.group('host') != _HOST
                or _alive(int(match.group('pid')))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.remove(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed

#: Errors of `os.link` on file systems without hard links.
_NO_LINK_ERRNOS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV,
                   errno.EMLINK, errno.ENOSYS, errno.EACCES}


def _exists_error(filename):
    msg = f'{filename!r} already exists; pass overwrite=True to replace it'
    return FileExistsError(errno.EEXIST, msg, filename)


def _create_temporary(directory, suffix):
    """
    Create an empty temporary file in ``directory`` and return its path:
    the name holds the host, process and thread ids (and a random part),
    and the file is created with mode 0o666, so the process umask applies
    as to any new file (the umask is never changed).
    """
    while True:
        path = os.path.join(
            directory, f'.tmp-{writer_tag()}-{threading.get_ident()}-'
            f'{secrets.token_hex(4)}{suffix}')
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return path


def _place_new(temporary, filename):
    """
    Give ``temporary`` the name ``filename`` only if nothing has it (a
    dangling symbolic link included): a hard link, which the system
    creates only when the name is free, so of two writers one gets a
    `FileExistsError`.
    """
    try:
        os.link(temporary, filename)
    except FileExistsError:
        raise _exists_error(filename) from None
    except OSError as error:
        if error.errno not in _NO_LINK_ERRNOS:
            raise
        # no hard links here: reserve the name exclusively, then fill it
        try:
            handle = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o666)
        except FileExistsError:
            raise _exists_error(filename) from None
        os.close(handle)
        os.replace(temporary, filename)
    else:
        os.remove(temporary)


@contextlib.contextmanager
def atomic_output(filename, *, overwrite=False):
    """
    Yield a temporary path next to ``filename``; move it into place when
    the block succeeds, remove it when the block fails.

    A crash therefore never leaves a truncated file under the final name,
    and an existing file is replaced only when asked: without
    ``overwrite`` the final name is taken with a hard link, which fails
    when anything holds the name (a file written meanwhile by another
    process or thread, a dangling symbolic link), so two writers of one
    name never both succeed. The file gets the permissions a plain
    ``open()`` would give it under the process umask, which is left
    unchanged. The temporary (``.tmp-HOST-PID-...``) names its writer:
    those in the folder whose writer no longer runs (a killed process)
    are removed first.

    Parameters
    ----------
    filename : str or path-like
        The final output path.
    overwrite : bool, optional
        Whether an existing ``filename`` may be replaced.

    Raises
    ------
    FileExistsError
        If ``filename`` exists (or appears while the block runs), or is
        a symbolic link, and ``overwrite`` is `False`.
    """
    filename = os.fspath(filename)
    if os.path.lexists(filename) and not overwrite:
        raise _exists_error(filename)
    directory = os.path.dirname(os.path.abspath(filename))
    remove_stale_temporaries(directory)
    suffix = os.path.splitext(filename)[1]
    temporary = _create_temporary(directory, suffix)
    try:
        yield temporary
        if overwrite:
            os.replace(temporary, filename)
        else:
            _place_new(temporary, filename)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


#: What reading a damaged ``.npz`` can raise: a truncated or garbled zip
#: directory, a failed CRC or inflate, a cut ``.npy`` header or payload.
_NPZ_ERRORS = None


def _npz_errors():
    global _NPZ_ERRORS
    if _NPZ_ERRORS is None:
        import zipfile
        import zlib

        _NPZ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError,
                       KeyError, OSError)
    return _NPZ_ERRORS


def read_npz(filename, *, keys=None):
    """
    Read every array (or those in ``keys``) of an ``.npz`` file into memory.

    Parameters
    ----------
    filename : str or path-like
        The file.
    keys : iterable of str, optional
        The array names to read (default: all).

    Returns
    -------
    arrays : dict
        ``{name: ndarray}``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    OSError
        If the file is truncated or corrupt; the message names it (a bare
        `zipfile.BadZipFile` or `zlib.error` would not).
    """
    import numpy as np

    path = os.fspath(filename)
    if not os.path.isfile(path):
        msg = f'file {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = data.files if keys is None else list(keys)
            return {name: data[name] for name in names}
    except _npz_errors() as error:
        msg = (f'{path!r} is truncated or corrupt ({type(error).__name__}: '
               f'{error})')
        raise OSError(msg) from error


def npz_headers(filename):
    """
    ``{name: (shape, dtype)}`` of the arrays of an ``.npz`` file, reading
    only the ``.npy`` headers.

    Raises
    ------
    FileNotFoundError, OSError
        As `read_npz`.
    """
    import zipfile

    import numpy as np

    path = os.fspath(filename)
    if not os.path.isfile(path):
        msg = f'file {path!r} does not exist'
        raise FileNotFoundError(msg)
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if not name.endswith('.npy'):
                    continue
                with archive.open(name) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        header = np.lib.format.read_array_header_1_0(handle)
                    else:
                        header = np.lib.format.read_array_header_2_0(handle)
                headers[name[:-4]] = (header[0], header[2])
    except _npz_errors() as error:
        msg = (f'{path!r} is truncated or corrupt ({type(error).__name__}: '
               f'{error})')
        raise OSError(msg) from error
    return headers


def file_sha256(filename):
    """
    The SHA-256 of a file's contents, as a hexadecimal string (read in
    1 MiB blocks).
    """
    digest = hashlib.sha256()
    with open(filename, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
