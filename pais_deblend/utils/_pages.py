"""
Large arrays without transparent huge pages.

On Linux NumPy marks every array of 4 MiB or more with
``madvise(MADV_HUGEPAGE)``. Where the kernel's
``/sys/kernel/mm/transparent_hugepage/defrag`` is ``madvise`` (a common
default) and free memory is fragmented, the first write to such an array
waits for the kernel to compact memory into 2 MiB pages instead of falling
back to 4 KiB pages (numpy issue #31590). A deblending call writes 2-3
GiB of fresh whole-frame arrays on a 4096 x 4096 image, so on such a
machine the stalls can cost more than the numerics (measured on the
benchmarks page of the documentation). `small_pages` turns NumPy's
marking off for the duration of a call and restores it afterwards; the
operating system's own setting (``enabled = always``) still applies.
"""

import contextlib
import threading

__all__ = ['small_pages']

_lock = threading.Lock()
_depth = 0
_previous = None


def _switch():
    """NumPy's private setter of the huge-page marking (it returns the
    previous setting), or None where this NumPy has none."""
    import numpy as np

    for module in ('_core', 'core'):
        multiarray = getattr(getattr(np, module, None), 'multiarray', None)
        setter = getattr(multiarray, '_set_madvise_hugepage', None)
        if setter is not None:
            return setter
    return None


@contextlib.contextmanager
def small_pages():
    """
    Within the block, new NumPy arrays are not marked for huge pages.

    Nested and concurrent blocks (threads of a Dask mosaic) are counted:
    the first to enter turns the marking off, the last to leave restores
    the setting found by the first, also when the block raises.
    """
    global _depth, _previous
    setter = _switch()
    if setter is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _previous = bool(setter(False))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setter(_previous)
