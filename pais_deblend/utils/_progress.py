"""
The one progress-bar helper used by every long-running step.
"""

__all__ = ['progress_bar']


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
    """
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)
