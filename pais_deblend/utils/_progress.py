"""
The one progress-bar helper used by every long-running step.
"""

import sys
import weakref

__all__ = ['progress_bar', 'close_progress_bars']

# the bars not closed yet, so that an error or interruption message can
# close them first instead of running into the bar's line
_open_bars = weakref.WeakSet()


def progress_bar(iterable=None, *, desc=None, total=None, enabled=True,
                 unit='it'):
    """
    Wrap ``iterable`` in a tqdm progress bar, or return it unchanged.

    Parameters
    ----------
    iterable : iterable, optional
        The items to iterate over.
    desc : str, optional
        Text shown before the bar.
    total : int, optional
        The number of items, if ``iterable`` has no ``len``.
    enabled : bool, optional
        If `False`, ``iterable`` is returned unwrapped (no tqdm import).
    unit : str, optional
        The unit of the items.

    Returns
    -------
    result : iterable
        ``iterable``, possibly wrapped in ``tqdm.auto.tqdm``.

    Notes
    -----
    On a terminal the finished bar is erased (``leave=False``) and the
    cursor is back at the start of its line. Elsewhere (a log file, a
    pipe, a notebook) a carriage return erases nothing, so the bar is
    left with its final state and ends with a newline: what is written
    next starts on a line of its own.
    """
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    stream = sys.stderr
    on_terminal = bool(getattr(stream, 'isatty', None) and stream.isatty())
    bar = tqdm(iterable, desc=desc, total=total, unit=unit,
               leave=not on_terminal)
    _open_bars.add(bar)
    return bar


def close_progress_bars():
    """
    Close every progress bar still open (e.g. one whose loop was left by
    an exception), so that the next output starts on a line of its own.
    """
    for bar in list(_open_bars):
        bar.close()
    _open_bars.clear()
