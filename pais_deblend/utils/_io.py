"""
Atomic, non-clobbering file output, and ``.npz`` reading that names a
damaged file.
"""

import contextlib
import os
import tempfile

__all__ = ['atomic_output', 'read_npz', 'npz_headers']


@contextlib.contextmanager
def atomic_output(filename, *, overwrite=False):
    """
    Yield a temporary path next to ``filename``; move it into place when
    the block succeeds, remove it when the block fails.

    A crash therefore never leaves a truncated file under the final name,
    and an existing file is replaced only when asked.

    Parameters
    ----------
    filename : str or path-like
        The final output path.
    overwrite : bool, optional
        Whether an existing ``filename`` may be replaced.

    Raises
    ------
    FileExistsError
        If ``filename`` exists and ``overwrite`` is `False`.
    """
    filename = os.fspath(filename)
    if os.path.exists(filename) and not overwrite:
        msg = f'{filename!r} already exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    directory = os.path.dirname(os.path.abspath(filename))
    suffix = os.path.splitext(filename)[1]
    handle, temporary = tempfile.mkstemp(prefix='.tmp-', suffix=suffix,
                                         dir=directory)
    os.close(handle)
    try:
        yield temporary
        # mkstemp makes the file private (0600); give the final file the
        # permissions a plain open() would, under the user's umask
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, filename)
    finally:
        if os.path.exists(temporary):
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
