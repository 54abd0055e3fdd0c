"""
Selecting an HDU of a FITS file by index or name, with one rule for
every reader of user files (the command line and the mosaic sources).
"""

import numbers

__all__ = ['find_hdu']


def find_hdu(hdulist, key):
    """
    The index of the HDU ``key`` in ``hdulist``, or `None` if it has none.

    Parameters
    ----------
    hdulist : `~astropy.io.fits.HDUList`
        The open file.
    key : int, str or tuple
        An index (0 = the primary HDU; negative or out-of-range indices
        find nothing), an EXTNAME (case-insensitive, surrounding blanks
        ignored, the first HDU of that name; ``'PRIMARY'`` is HDU 0) or
        an ``(EXTNAME, EXTVER)`` pair.

    Returns
    -------
    index : int or None
    """
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return int(key) if 0 <= key < len(hdulist) else None
    version = None
    if isinstance(key, tuple) and len(key) == 2:
        key, version = key
    if not isinstance(key, str):
        return None
    name = key.strip().upper()
    for index, hdu in enumerate(hdulist):
        if ((hdu.name.strip().upper() == name
             or (index == 0 and name == 'PRIMARY'))
                and (version is None or hdu.ver == version)):
            return index
    return None
