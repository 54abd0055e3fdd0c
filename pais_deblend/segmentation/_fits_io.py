"""
FITS input and output of `~pais_deblend.segmentation.PartialSegmentationImage`.

`PartialSegmentationImage.write` and `PartialSegmentationImage.read` are
the public entry points; they call `write_partial` and `read_partial`
here, which hold the file layout (extensions, header cards, checksums)
and the checks of the extensions read back.
"""

import json
import os
import warnings

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..utils._io import atomic_output

__all__ = []

#: Format version written to (and checked in) the FITS header.
FITS_FORMAT_VERSION = 1


def write_partial(partial, filename, *, overwrite=False, header=None,
                  cards=None):
    """
    Write ``partial`` (a `PartialSegmentationImage`) to a multi-extension
    FITS file: the implementation of `PartialSegmentationImage.write`,
    which documents the layout and the parameters.
    """
    wcs_cards = _wcs_cards(header)
    primary = fits.PrimaryHDU()
    _add_primary_cards(primary.header, partial, wcs_cards, cards)
    hdus = [primary,
            fits.ImageHDU(partial.data, header=wcs_cards.copy(),
                          name='DOMINANT'),
            fits.ImageHDU(np.moveaxis(partial._contributors, -1, 0),
                          name='CONTRIBUTORS'),
            fits.ImageHDU(np.moveaxis(partial._weights, -1, 0),
                          name='WEIGHTS')]
    labels = np.array(sorted(partial._centers), dtype=np.int32)
    positions = np.array([partial._centers[label] for label in labels],
                         dtype=np.float64).reshape(-1, 2)
    centers = Table([labels, positions[:, 0], positions[:, 1]],
                    names=('label', 'y', 'x'))
    hdus.append(fits.table_to_hdu(centers))
    hdus[-1].name = 'CENTERS'
    hdus[-1].header['COMMENT'] = ('y, x: 0-based pixel position (row, '
                                  'column) of each source centre;')
    hdus[-1].header['COMMENT'] = ('the first pixel is centred on (0, 0): '
                                  'add 1 for FITS pixel coordinates.')
    if partial._band_weights is not None:
        hdus.append(fits.ImageHDU(
            np.ascontiguousarray(np.transpose(partial._band_weights,
                                              (3, 2, 0, 1))),
            name='BAND_WEIGHTS'))
    if partial._class_star:
        labels = np.array(sorted(partial._class_star), dtype=np.int32)
        values = np.array([partial._class_star[label] for label in labels],
                          dtype=np.float64)
        hdus.append(fits.table_to_hdu(Table(
            [labels, values], names=('label', 'class_star'))))
        hdus[-1].name = 'CLASS_STAR'
    if partial._detection_flags:
        labels = np.array(sorted(partial._detection_flags), dtype=np.int32)
        values = np.array([partial._detection_flags[label]
                           for label in labels], dtype=np.int32)
        hdus.append(fits.table_to_hdu(Table(
            [labels, values], names=('label', 'detection_flags'))))
        hdus[-1].name = 'DETECTION_FLAGS'
        hdus[-1].header['COMMENT'] = ('detection_flags: how each source was '
                                      'found (SourceFlags bits:')
        hdus[-1].header['COMMENT'] = ('0 network, 8 residual companion '
                                      'search, 16 added to a segment).')
    with atomic_output(filename, overwrite=overwrite) as temporary:
        fits.HDUList(hdus).writeto(temporary, overwrite=True,
                                   checksum=True)


def _add_primary_cards(header, partial, wcs_cards, cards):
    """
    Fill the primary ``header`` of `write_partial`: format cards, band
    names, ``wcs_cards`` and the caller's ``cards``, in that order.
    """
    from ..version import version

    header['NCONTRIB'] = (partial.n_contributors,
                          'contributor slots per pixel')
    header['PDFORMAT'] = (FITS_FORMAT_VERSION,
                          'pais_deblend partial format version')
    header['PDVERS'] = (version, 'pais_deblend version')
    if partial.n_bands is not None:
        header['NBANDS'] = (partial.n_bands, 'number of bands')
    if partial._band_names is not None:
        # JSON keeps any name exactly (FITS strings lose trailing
        # blanks and hold ASCII only)
        header['BANDNAMS'] = (json.dumps(list(partial._band_names)),
                              'band names (JSON list)')
    header.update(wcs_cards)
    if cards is not None:
        header.update(cards)


def read_partial(cls, filename):
    """
    Read an instance of ``cls`` (`PartialSegmentationImage` or a subclass)
    from a file written by `write_partial`: the implementation of
    `PartialSegmentationImage.read`, which documents the errors.
    """
    from astropy.utils.exceptions import AstropyUserWarning

    name = repr(os.fspath(filename)) if isinstance(
        filename, (str, bytes, os.PathLike)) else repr(filename)
    with warnings.catch_warnings():
        # astropy only warns when the file is shorter than its headers
        # declare; a partly read file must never pass for a whole one
        warnings.filterwarnings('error', message='.*truncated',
                                category=AstropyUserWarning)
        # `write` records CHECKSUM / DATASUM cards: a flipped byte is
        # refused rather than read as other labels or weights
        warnings.filterwarnings(
            'error', message='.*(Checksum|Datasum) verification failed',
            category=AstropyUserWarning)
        try:
            # headers first, without checksums: astropy computes a
            # DATASUM over the declared data size, so a header that
            # declares an enormous image would allocate it before the
            # truncation is noticed
            with fits.open(filename, memmap=False) as hdus:
                len(hdus)  # loads every header
            return _read_hdus(cls, filename, name)
        except AstropyUserWarning as warning:
            msg = f'{name} is truncated or corrupt: {warning}'
            raise OSError(msg) from None


def _read_hdus(cls, filename, name):
    """The body of `read_partial`, once every header has loaded."""
    with fits.open(filename, memmap=False, checksum=True) as hdus:
        names = {hdu.name for hdu in hdus}
        # every file written by `write` has all four extensions; a
        # missing CENTERS means the file was cut at an HDU boundary
        missing = {'CONTRIBUTORS', 'WEIGHTS', 'CENTERS'} - names
        if missing:
            msg = (f'{name} is not a partial segmentation file (or is '
                   f'truncated): missing extension(s) '
                   f'{sorted(missing)}')
            raise ValueError(msg)
        file_version = hdus[0].header.get('PDFORMAT')
        if file_version != FITS_FORMAT_VERSION:
            msg = (f'{name} has format version {file_version!r}; this '
                   f'pais_deblend reads version {FITS_FORMAT_VERSION}')
            raise ValueError(msg)
        arrays = []
        for extension in ('CONTRIBUTORS', 'WEIGHTS'):
            data = hdus[extension].data
            if not isinstance(data, np.ndarray) or data.ndim != 3 or (
                    data.dtype.names is not None):
                shape = getattr(data, 'shape', None)
                msg = (f'{name}: extension {extension} must hold an '
                       f'(n, h, w) image, got '
                       f'{"no data" if data is None else shape}')
                raise ValueError(msg)
            arrays.append(np.moveaxis(data, 0, -1))
        contributors, weights = arrays
        table = hdus['CENTERS'].data
        columns = () if table is None else (table.dtype.names or ())
        if not {'label', 'y', 'x'} <= set(columns):
            msg = (f'{name}: extension CENTERS must be a table with '
                   f'columns label, y, x, got {list(columns)}')
            raise ValueError(msg)
        centers = {int(row['label']): (float(row['y']), float(row['x']))
                   for row in table}
        if contributors.dtype.kind not in 'iu':
            msg = (f'{name}: extension CONTRIBUTORS must hold integers, '
                   f'got dtype {contributors.dtype}')
            raise ValueError(msg)
        band_weights = _read_band_weights(hdus, names, name)
        class_star = _read_class_star(hdus, names, name)
        detection_flags = _read_detection_flags(hdus, names, name)
        band_names = _read_band_names(hdus[0].header, name)
        # FITS data are big-endian; store native-endian copies
        return cls(contributors.astype(np.int32),
                   weights.astype(np.float32), centers=centers,
                   band_weights=band_weights, class_star=class_star,
                   band_names=band_names, detection_flags=detection_flags)


def _read_band_weights(hdus, names, name):
    if 'BAND_WEIGHTS' not in names:
        return None
    data = hdus['BAND_WEIGHTS'].data
    if not isinstance(data, np.ndarray) or data.ndim != 4 or (
            data.dtype.names is not None) or data.dtype.kind not in 'iuf':
        shape = getattr(data, 'shape', None)
        msg = (f'{name}: extension BAND_WEIGHTS must hold a (b, n, h, w) '
               f'image, got {"no data" if data is None else shape}')
        raise ValueError(msg)
    return np.transpose(data, (2, 3, 1, 0)).astype(np.float32)


def _read_class_star(hdus, names, name):
    if 'CLASS_STAR' not in names:
        return None
    table = hdus['CLASS_STAR'].data
    columns = () if table is None else (table.dtype.names or ())
    if not {'label', 'class_star'} <= set(columns):
        msg = (f'{name}: extension CLASS_STAR must be a table with columns '
               f'label, class_star, got {list(columns)}')
        raise ValueError(msg)
    return {int(row['label']): float(row['class_star']) for row in table}


def _read_detection_flags(hdus, names, name):
    if 'DETECTION_FLAGS' not in names:
        return None
    table = hdus['DETECTION_FLAGS'].data
    columns = () if table is None else (table.dtype.names or ())
    if not {'label', 'detection_flags'} <= set(columns) or (
            table['detection_flags'].dtype.kind not in 'iu'):
        msg = (f'{name}: extension DETECTION_FLAGS must be a table with '
               f'integer columns label, detection_flags, got '
               f'{list(columns)}')
        raise ValueError(msg)
    return {int(row['label']): int(row['detection_flags'])
            for row in table}


def _read_band_names(header, name):
    text = header.get('BANDNAMS')
    if text is None:
        return None
    try:
        band_names = json.loads(text)
    except (TypeError, ValueError):
        band_names = None
    if not isinstance(band_names, list) or not all(
            isinstance(band, str) for band in band_names):
        msg = (f'{name}: header card BANDNAMS must be a JSON list of '
               f'strings, got {text!r:.60}')
        raise ValueError(msg)
    return tuple(band_names)


def _wcs_cards(header):
    """
    The WCS cards of ``header`` (first two axes, SIP kept), as a new
    `~astropy.io.fits.Header`; empty when ``header`` is None or holds no
    WCS.
    """
    if header is None:
        return fits.Header()
    if not isinstance(header, fits.Header):
        msg = ('header must be an astropy.io.fits.Header, got '
               f'{type(header).__name__}')
        raise TypeError(msg)
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FITSFixedWarning)
        wcs = WCS(header)
        if wcs.naxis > 2:
            wcs = wcs.sub(2)
        if wcs.naxis < 2 or not any(wcs.wcs.ctype):
            return fits.Header()
        return wcs.to_header(relax=True)
