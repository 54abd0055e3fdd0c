"""
Atomic, non-clobbering file output.
"""

import contextlib
import os
import tempfile

__all__ = ['atomic_output']


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
        os.replace(temporary, filename)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
