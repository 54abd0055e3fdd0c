"""
``pais-deblend run``: detect and deblend the sources of a FITS image with
partial attribution and write the partial segmentation, a catalog, an
overview figure and (optionally) the deblended image of every source.

The job, in the order of a SExtractor run:

1. read the image (one 2-D HDU, or several stacked along a last axis for
   a multi-band model), its WCS and its unit (``BUNIT``);
2. estimate the background and its RMS on a mesh (photutils
   `~photutils.background.Background2D` with the
   `~photutils.background.SExtractorBackground` estimator, 3-sigma
   clipping and a 3 x 3 median filter of the mesh), and subtract it
   unless the image is already background-subtracted;
3. deblend with `pais_deblend.deblend.Deblender`: the PAIS network
   (Hausen & Robertson 2022, arXiv:2201.04714) detects the sources and
   shares each pixel's flux among up to ``n`` of them;
4. measure `~pais_deblend.segmentation.PartialSourceCatalog` on the
   background-subtracted image, with the background RMS as the error (a
   multi-band image: shapes on the band sum, ``segment_flux_<band>`` and
   its error per band, and ``class_star`` when the model classifies).

Every output is written to a temporary file and the set is moved into
place only when all of them are complete; existing outputs are never
replaced without ``--overwrite``.
"""

import argparse
import contextlib
import os
import warnings

import numpy as np

from ..deblend.core import MODEL_DEFAULT
from . import (UserError, add_attribution_option, add_companion_option,
               companion_threshold)

__all__ = ['add_parser', 'run']

_DESCRIPTION = """\
Detect and deblend the sources of a FITS image with partial attribution
(PAIS, Hausen & Robertson 2022): every pixel's flux is shared among up to
N overlapping sources instead of going to a single one.

The background is estimated on a mesh (SExtractor estimator, 3-sigma
clipping, 3x3 median filter) and subtracted; its RMS is the error of the
catalog. Outputs, named after the image (STEM = name without .fits):

  STEM_partial.fits   partial segmentation: DOMINANT map (with the image
                      WCS), CONTRIBUTORS and WEIGHTS cubes, CENTERS table
  STEM_catalog.ecsv   one row per source, photutils SourceCatalog columns
                      measured on each source's share M_i x I
  STEM_overview.png   image, dominant-source map and blended view
  STEM_cutouts.fits   with --cutouts: one HDU per source, M_i x I
"""

_EPILOG = """\
examples:
  pais-deblend run image.fits --output-dir out
  pais-deblend run mosaic.fits --hdu SCI --mask-hdu DQ --cutouts
  pais-deblend run stack.fits --band-hdus G R Z --model my_model.keras
  pais-deblend run image.fits --background-subtracted --overwrite

Read the outputs in Python with
  PartialSegmentationImage.read('out/image_partial.fits')
  astropy.table.QTable.read('out/image_catalog.ecsv')

Compared with SExtractor: --detection-threshold is not DETECT_THRESH in
sigma but the lowest peak (0-1) of the network's centre-of-mass map;
--n-pixels is DETECT_MINAREA (in weighted pixels); --background-box and
--background-filter are BACK_SIZE and BACK_FILTERSIZE.
"""

# suffixes removed from the image name to make the output stem
_FITS_SUFFIXES = ('.fits', '.fit', '.fts')
_COMPRESSION_SUFFIXES = ('.gz', '.fz', '.bz2')


def add_parser(subparsers):
    # the names only: bundled.py imports neither TensorFlow nor Keras
    from ..model.bundled import available_models

    parser = subparsers.add_parser(
        'run',
        help='deblend a FITS image: partial segmentation, catalog, figure',
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image', metavar='IMAGE.fits',
                        help='the FITS image to deblend')

    inputs = parser.add_argument_group('input')
    hdus = inputs.add_mutually_exclusive_group()
    hdus.add_argument('--hdu', metavar='N|NAME', default=None,
                      help='the HDU holding the image, by index (0 = '
                      'primary) or EXTNAME (default: the first HDU with '
                      '2-D image data)')
    hdus.add_argument('--band-hdus', metavar='N|NAME', nargs='+',
                      default=None,
                      help='for a multi-band model: the HDUs of the bands, '
                      'in the order the model reads them; they are stacked '
                      'along a last axis, the WCS and unit are those of the '
                      'first, and the catalog is measured on the first '
                      '(default: one band, see --hdu)')
    inputs.add_argument('--mask-hdu', metavar='N|NAME', default=None,
                        help='an HDU of the same file whose non-zero pixels '
                        'are bad (e.g. a data-quality or flag map); NaN and '
                        'infinite pixels are always masked (default: none)')

    detection = parser.add_argument_group('detection and deblending')
    detection.add_argument('--model', metavar='NAME|PATH',
                           default='hst_f160w',
                           help='a bundled model, one of '
                           f'{", ".join(available_models())}, or the path '
                           'of a .keras model written by pais-deblend train '
                           '(default: %(default)s, HST WFC3/IR F160W at '
                           '0.06"/pixel)')
    detection.add_argument('--n-contributors', metavar='N', type=int,
                           default=3,
                           help='the most sources that may share a pixel, '
                           'at most the model\'s (default: %(default)s)')
    detection.add_argument('--detection-threshold', metavar='T', type=float,
                           default=None,
                           help='lowest peak of the predicted centre-of-mass '
                           'map kept as a source, in (0, 1]; lower finds '
                           'fainter sources and more spurious ones (default: '
                           'the value tuned for a bundled model, else 0.5)')
    detection.add_argument('--n-pixels', metavar='N', type=int, default=5,
                           help='smallest source kept, in weighted pixels '
                           '(sum of its fractions M_i), and smallest '
                           'detection footprint (default: %(default)s)')
    add_attribution_option(detection)
    add_companion_option(detection)

    background = parser.add_argument_group('background')
    background.add_argument('--background-subtracted', action='store_true',
                            help='the image is already background-subtracted: '
                            'nothing is subtracted (the background RMS is '
                            'still measured for the catalog errors)')
    background.add_argument('--background-box', metavar='PIXELS', type=int,
                            default=64,
                            help='side of the background mesh boxes, pixels '
                            '(cut to the image size; default: %(default)s)')
    background.add_argument('--background-filter', metavar='BOXES',
                            type=int, default=3,
                            help='side of the median filter over the mesh, '
                            'boxes; odd (default: %(default)s)')

    output = parser.add_argument_group('output')
    output.add_argument('--output-dir', metavar='DIR', default='.',
                        help='directory for the outputs, created if needed '
                        '(default: the current directory)')
    output.add_argument('--overwrite', action='store_true',
                        help='replace existing outputs (default: stop, '
                        'writing nothing, if any output exists)')
    output.add_argument('--cutouts', action='store_true',
                        help='also write STEM_cutouts.fits, the deblended '
                        'image M_i x I of every source in its bounding box')
    output.add_argument('--no-progress', action='store_true',
                        help='hide the progress bars')
    parser.set_defaults(run=run)
    return parser


def run(args):
    summary = run_image(
        args.image, hdu=args.hdu, band_hdus=args.band_hdus,
        mask_hdu=args.mask_hdu, model=args.model,
        output_dir=args.output_dir, overwrite=args.overwrite,
        background_subtracted=args.background_subtracted,
        background_box=args.background_box,
        background_filter=args.background_filter, cutouts=args.cutouts,
        n_contributors=args.n_contributors,
        detection_threshold=args.detection_threshold,
        n_pixels=args.n_pixels, progress_bar=not args.no_progress,
        attribution=args.attribution,
        companion_threshold=companion_threshold(args))
    print(f"{summary['image']}: {summary['n_sources']} sources deblended "
          f"(model {summary['model']})")
    for path in summary['written']:
        print(f'  wrote {path}')


# --- paths ------------------------------------------------------------------

def _stem(path):
    name = os.path.basename(path)
    lower = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            name, lower = name[:-len(suffix)], lower[:-len(suffix)]
            break
    for suffix in _FITS_SUFFIXES:
        if lower.endswith(suffix):
            return name[:-len(suffix)]
    return name


def output_paths(image, output_dir, *, cutouts=False):
    """
    The output files of one image, ``{kind: path}``.

    Parameters
    ----------
    image : str or path-like
        The input FITS file.
    output_dir : str or path-like
        The output directory.
    cutouts : bool, optional
        Whether the cutouts file is written.

    Returns
    -------
    paths : dict
        ``partial``, ``catalog``, ``overview`` (and ``cutouts``) paths.
    """
    stem = _stem(os.fspath(image))
    kinds = {'partial': 'partial.fits', 'catalog': 'catalog.ecsv',
             'overview': 'overview.png'}
    if cutouts:
        kinds['cutouts'] = 'cutouts.fits'
    return {kind: os.path.join(os.fspath(output_dir), f'{stem}_{suffix}')
            for kind, suffix in kinds.items()}


def _check_outputs(paths, overwrite):
    for path in paths.values():
        if os.path.isdir(path):
            raise UserError(f'output {path} is a directory')
    existing = [path for path in paths.values() if os.path.exists(path)]
    if existing and not overwrite:
        others = len(existing) - 1
        more = f' (and {others} other output(s))' if others else ''
        msg = (f'output {existing[0]} already exists{more}; pass '
               '--overwrite to replace the outputs (nothing was written)')
        raise UserError(msg)


# --- reading ----------------------------------------------------------------

def _parse_hdu(text):
    """An HDU index (non-negative int) or EXTNAME (str)."""
    text = str(text).strip()
    if text.lstrip('+-').isdigit():
        return int(text)
    return text


def _hdu_label(hdul, index):
    name = hdul[index].name
    return f'HDU {index} ({name})' if name else f'HDU {index}'


def _select_hdu(hdul, spec, filename, what='--hdu'):
    """The index of the HDU named by ``spec`` (int or EXTNAME)."""
    key = _parse_hdu(spec)
    if isinstance(key, int):
        if not 0 <= key < len(hdul):
            msg = (f'{what} {key} is out of range: {filename} has '
                   f'{len(hdul)} HDU(s), numbered 0 to {len(hdul) - 1}')
            raise UserError(msg)
        return key
    matches = [i for i, hdu in enumerate(hdul)
               if hdu.name.upper() == key.upper()]
    if not matches:
        names = ', '.join(hdu.name or '(unnamed)' for hdu in hdul)
        msg = f'{what} {key!r}: {filename} has no HDU of that name ({names})'
        raise UserError(msg)
    return matches[0]


def _image_data(hdul, index, filename, what='image'):
    """The 2-D float64 data of one HDU, checked."""
    from astropy.io import fits

    hdu = hdul[index]
    label = _hdu_label(hdul, index)
    if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU,
                            fits.CompImageHDU)):
        msg = f'{label} of {filename} is a table, not an {what}'
        raise UserError(msg)
    data = hdu.data
    if data is None:
        msg = f'{label} of {filename} has no data'
        raise UserError(msg)
    data = np.squeeze(data) if data.ndim > 2 else data
    if data.ndim != 2:
        msg = (f'{label} of {filename} holds {data.ndim}-D data of shape '
               f'{hdu.data.shape}; the {what} must be 2-D (give the bands of '
               'a multi-band model with --band-hdus)')
        raise UserError(msg)
    if data.dtype.kind not in 'biuf':
        msg = f'{label} of {filename} holds {data.dtype} data, not numbers'
        raise UserError(msg)
    return np.array(data, dtype=np.float64)


def _first_image_hdu(hdul, filename):
    for index, hdu in enumerate(hdul):
        shape = getattr(hdu, 'shape', None)
        if getattr(hdu, 'is_image', False) and shape and len(
                [n for n in shape if n > 1]) == 2:
            return index
    msg = (f'{filename} has no HDU with a 2-D image; name one with --hdu '
           '(or --band-hdus)')
    raise UserError(msg)


def _unit(header):
    from astropy import units as u

    bunit = header.get('BUNIT')
    if not bunit or not str(bunit).strip():
        return None, None
    bunit = str(bunit).strip()
    for fmt in ('fits', None):
        try:
            unit = u.Unit(bunit, format=fmt)
        except ValueError:
            continue
        return unit, bunit
    return None, bunit


def _wcs(header):
    """(celestial WCS or None, the header's WCS cards as a new header)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    try:
        wcs = WCS(header, naxis=2)
        cards = wcs.to_header(relax=True)
    except Exception:  # a broken WCS is not a reason to stop
        return None, fits.Header()
    return (wcs if wcs.has_celestial else None), cards


def read_image(filename, *, hdu=None, band_hdus=None, mask_hdu=None):
    """
    Read the image to deblend from a FITS file.

    Parameters
    ----------
    filename : str or path-like
        The FITS file.
    hdu : int or str, optional
        The image HDU (index or EXTNAME); default the first with 2-D data.
    band_hdus : sequence of int or str, optional
        Several 2-D HDUs stacked along a last axis (for a multi-band
        model); instead of ``hdu``.
    mask_hdu : int or str, optional
        An HDU whose non-zero pixels are bad.

    Returns
    -------
    image : dict
        ``data`` (h, w) or (h, w, b) float64, ``mask`` (h, w) bool (the
        mask HDU only), ``header`` (of the first image HDU), ``wcs``
        (`~astropy.wcs.WCS` or None without a celestial WCS),
        ``wcs_header`` (its WCS cards alone), ``unit``
        (`~astropy.units.UnitBase` or None), ``bunit`` (the raw card),
        ``hdus`` (the indices read).

    Raises
    ------
    UserError
        For a missing or unreadable file, or an HDU that does not exist or
        holds no 2-D image.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning

    filename = os.fspath(filename)
    if not os.path.exists(filename):
        raise UserError(f'{filename}: no such file')
    if os.path.isdir(filename):
        raise UserError(f'{filename} is a directory, not a FITS file')
    # non-standard cards (e.g. ESO-LOG) are a matter for the file's author
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstropyWarning)
        hdul = None
        try:
            hdul = fits.open(filename, memmap=False)
            hdul.readall()
        except (OSError, ValueError, TypeError, IndexError) as exc:
            if hdul is not None:
                hdul.close()
            reason = str(exc).splitlines()[0] if str(exc) else type(
                exc).__name__
            msg = f'{filename} is not a readable FITS file ({reason})'
            raise UserError(msg) from None
        return _read_hdus(hdul, filename, hdu, band_hdus, mask_hdu)


def _read_hdus(hdul, filename, hdu, band_hdus, mask_hdu):
    with hdul:
        if band_hdus:
            indices = [_select_hdu(hdul, spec, filename, '--band-hdus')
                       for spec in band_hdus]
        elif hdu is not None:
            indices = [_select_hdu(hdul, hdu, filename)]
        else:
            indices = [_first_image_hdu(hdul, filename)]
        bands = [_image_data(hdul, index, filename) for index in indices]
        shapes = {band.shape for band in bands}
        if len(shapes) > 1:
            msg = (f'--band-hdus of {filename} have different shapes '
                   f'{[band.shape for band in bands]}; they must match')
            raise UserError(msg)
        data = bands[0] if band_hdus is None else np.stack(bands, axis=-1)
        header = hdul[indices[0]].header.copy()
        float64 = any(hdul[index].data.dtype.itemsize == 8
                      and hdul[index].data.dtype.kind == 'f'
                      for index in indices)
        mask = np.zeros(data.shape[:2], dtype=bool)
        if mask_hdu is not None:
            index = _select_hdu(hdul, mask_hdu, filename, '--mask-hdu')
            values = _image_data(hdul, index, filename, what='mask')
            if values.shape != data.shape[:2]:
                msg = (f'--mask-hdu {_hdu_label(hdul, index)} of {filename} '
                       f'has shape {values.shape} but the image has shape '
                       f'{data.shape[:2]}; they must match')
                raise UserError(msg)
            mask = values != 0
    unit, bunit = _unit(header)
    wcs, wcs_header = _wcs(header)
    return {'data': data, 'mask': mask, 'header': header, 'wcs': wcs,
            'wcs_header': wcs_header, 'unit': unit, 'bunit': bunit,
            'hdus': indices, 'float64': float64}


# --- background --------------------------------------------------------------

def _check_background_options(box_size, filter_size):
    if box_size < 1:
        raise UserError(f'--background-box must be >= 1, got {box_size}')
    if filter_size < 1 or filter_size % 2 == 0:
        msg = f'--background-filter must be odd and >= 1, got {filter_size}'
        raise UserError(msg)


def estimate_background(data, mask, *, box_size=64, filter_size=3):
    """
    The background and background RMS of one band on a mesh.

    photutils `~photutils.background.Background2D` with the
    `~photutils.background.SExtractorBackground` estimator, 3-sigma
    clipping and a median filter of ``filter_size`` boxes (as SExtractor's
    BACK_SIZE and BACK_FILTERSIZE).

    Parameters
    ----------
    data : `~numpy.ndarray`, shape (h, w)
        One band.
    mask : `~numpy.ndarray`, shape (h, w), bool
        Pixels excluded from the estimate (non-finite ones are added).
    box_size : int, optional
        The mesh box side, pixels (cut to the image size).
    filter_size : int, optional
        The median filter side, boxes (odd).

    Returns
    -------
    background, rms : `~numpy.ndarray`, shape (h, w)
    """
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, SExtractorBackground

    _check_background_options(box_size, filter_size)
    box = (min(box_size, data.shape[0]), min(box_size, data.shape[1]))
    bad = mask | ~np.isfinite(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            estimate = Background2D(
                data, box, mask=bad, filter_size=(filter_size, filter_size),
                sigma_clip=SigmaClip(sigma=3.0, maxiters=10),
                bkg_estimator=SExtractorBackground())
    except ValueError as exc:
        msg = f'the background could not be estimated: {exc}'
        raise UserError(' '.join(msg.split())) from None
    return (np.asarray(estimate.background, dtype=np.float64),
            np.asarray(estimate.background_rms, dtype=np.float64))


# --- writing ----------------------------------------------------------------

def _catalog_table(data, partial, rms, mask, image, *, progress_bar,
                   filename, model_name, background_subtracted):
    from ..segmentation import PartialSourceCatalog

    # a multi-band image: shapes on the band sum, fluxes and errors per
    # band (segment_flux_<band> columns)
    reference = data
    error = rms[0] if data.ndim == 2 else np.stack(rms, axis=-1)
    if image['unit'] is not None:
        reference = reference * image['unit']
        error = error * image['unit']
    catalog = PartialSourceCatalog(reference, partial, error=error,
                                   mask=mask, wcs=image['wcs'],
                                   progress_bar=progress_bar)
    columns = list(catalog.default_columns)
    if image['wcs'] is None:
        columns.remove('sky_centroid')
    table = catalog.to_table(columns)
    centers = partial.centers
    peaks = np.array([centers.get(int(label), (np.nan, np.nan))
                      for label in table['label']],
                     dtype=np.float64).reshape(-1, 2)
    table['x_peak'] = peaks[:, 1]
    table['y_peak'] = peaks[:, 0]
    hdus = ', '.join(str(index) for index in image['hdus'])
    comments = [
        f'pais-deblend run: {filename} (HDU {hdus}), model {model_name}',
        'segment_flux etc. are measured on M_i * I (partial attribution)',
        'x_peak, y_peak: the source centre found by the network (pixels)',
        'errors: the background RMS only (no source Poisson noise)',
        ('the image was given background-subtracted' if background_subtracted
         else 'background: Background2D, SExtractor estimator, subtracted')]
    if image['bunit'] is not None and image['unit'] is None:
        comments.append(f"unrecognised BUNIT {image['bunit']!r}: no unit")
    table.meta['comments'] = comments
    return table


def _write_partial(partial, header, temporary):
    partial.write(temporary, overwrite=True, header=header)


def _write_cutouts(partial, data, image, temporary, *, progress_bar):
    from astropy.io import fits

    from ..utils._progress import progress_bar as _progress_bar

    # as precise as the input: float64 only for a float64 image
    dtype = np.float64 if image['float64'] else np.float32
    primary = fits.PrimaryHDU()
    primary.header['NSOURCES'] = (len(partial.partial_labels),
                                  'number of source HDUs')
    primary.header['COMMENT'] = ('Each extension: M_i * I of one source '
                                 'over its bounding box;')
    primary.header['COMMENT'] = ('XMIN/YMIN: 0-based pixel of its first '
                                 'column/row in the image.')
    hdus = [primary]
    labels = [int(label) for label in partial.partial_labels]
    for label in _progress_bar(labels, desc='cutouts', enabled=progress_bar,
                               unit='source'):
        cutout = partial.source_image(label, data)
        values = cutout.data
        if values.ndim == 3:
            values = np.moveaxis(values, -1, 0)  # (b, h, w) for FITS
        header = fits.Header()
        header['LABEL'] = (label, 'source label in the partial segmentation')
        y_slice, x_slice = cutout.slices
        header['XMIN'] = (x_slice.start, '0-based image column of pixel 1')
        header['YMIN'] = (y_slice.start, '0-based image row of pixel 1')
        header['LTV1'] = (-x_slice.start, 'image to cutout pixel offset')
        header['LTV2'] = (-y_slice.start, 'image to cutout pixel offset')
        if image['wcs'] is not None:
            header.update(image['wcs'][cutout.slices].to_header(relax=True))
        if image['bunit'] is not None:
            header['BUNIT'] = image['bunit']
        hdus.append(fits.ImageHDU(values.astype(dtype), header=header,
                                  name=f'SOURCE{label}'))
    fits.HDUList(hdus).writeto(temporary, overwrite=True)


def _write_overview(partial, data, temporary, title):
    from astropy.visualization import (AsinhStretch, ImageNormalize,
                                       PercentileInterval)
    from matplotlib.figure import Figure

    from ..segmentation.plotting import plot_blended, plot_dominant

    image = data if data.ndim == 2 else data.sum(axis=-1)
    finite = np.isfinite(image)
    shown = np.where(finite, image, 0.0)
    norm = ImageNormalize(shown[finite] if finite.any() else shown,
                          interval=PercentileInterval(99.5),
                          stretch=AsinhStretch(0.02), clip=True)
    height, width = image.shape
    panel = 4.5
    aspect = height / width
    fig = Figure(figsize=(3 * panel, panel * aspect + 0.6))
    axes = fig.subplots(1, 3)
    axes[0].imshow(shown, origin='lower', cmap='gray_r', norm=norm,
                   interpolation='nearest')
    axes[0].set_title(title)
    plot_dominant(partial, ax=axes[1])
    axes[1].set_title(f'dominant source ({len(partial.partial_labels)})')
    plot_blended(partial, ax=axes[2], data=shown)
    axes[2].set_title('blended view (colours mixed by M_i)')
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(temporary, format='png', dpi=100)


@contextlib.contextmanager
def _output_set(paths, overwrite):
    """
    Yield ``{kind: temporary path}``; move every temporary into place only
    when the block succeeds (all or nothing), remove them otherwise.
    """
    from ..utils._io import atomic_output

    with contextlib.ExitStack() as stack:
        temporaries = {kind: stack.enter_context(
            atomic_output(path, overwrite=overwrite))
            for kind, path in paths.items()}
        yield temporaries


# --- the job ------------------------------------------------------------------

def _load_deblender(model, **options):
    """A `Deblender`; a broken model file is a user error."""
    import pathlib

    from ..deblend import Deblender

    # an existing file is a model file whatever its name; other names are
    # bundled models, or .keras paths that the deblender reports missing
    argument = pathlib.Path(model) if os.path.isfile(model) else model
    try:
        return Deblender(argument, **options)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        # the deblender's own messages name the problem; keep one line
        raise UserError(' '.join(str(exc).split())) from None
    except Exception as exc:  # e.g. a file that is not a Keras model
        reason = ' '.join(str(exc).split()) or type(exc).__name__
        msg = f'cannot load the model {model!r}: {reason}'
        raise UserError(msg) from None


def run_image(image, *, hdu=None, band_hdus=None, mask_hdu=None,
              model='hst_f160w', output_dir='.', overwrite=False,
              background_subtracted=False, background_box=64,
              background_filter=3, cutouts=False, n_contributors=3,
              detection_threshold=None, n_pixels=5, progress_bar=True,
              attribution=None, companion_threshold=MODEL_DEFAULT):
    """
    Deblend one FITS image and write its outputs (the ``run`` command).

    Parameters are those of the command line (see
    ``pais-deblend run --help``).

    Returns
    -------
    summary : dict
        ``image``, ``model``, ``n_sources`` and ``written`` (the paths).

    Raises
    ------
    UserError, ValueError, TypeError, FileNotFoundError, FileExistsError
        For what the user asked; nothing is written then.
    """
    from ..utils.exceptions import NoDetectionWarning

    image_name = os.fspath(image)
    output_dir = os.fspath(output_dir)
    _check_background_options(background_box, background_filter)
    read = read_image(image_name, hdu=hdu, band_hdus=band_hdus,
                      mask_hdu=mask_hdu)
    # every output is checked before any slow work and any writing
    paths = output_paths(image_name, output_dir, cutouts=cutouts)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UserError(f'--output-dir {output_dir} is not a directory')
    _check_outputs(paths, overwrite)
    data, mask = read['data'], read['mask']
    deblender = _load_deblender(model, n_contributors=n_contributors,
                                detection_threshold=detection_threshold,
                                progress_bar=progress_bar,
                                attribution=attribution,
                                companion_threshold=companion_threshold)
    n_bands = 1 if data.ndim == 2 else data.shape[-1]
    if n_bands != deblender.n_bands:
        msg = (f'model {deblender.model_name!r} reads {deblender.n_bands} '
               f'band(s) but the image has {n_bands}; give exactly '
               f'{deblender.n_bands} with --band-hdus')
        raise UserError(msg)

    bands = data if data.ndim == 3 else data[..., np.newaxis]
    subtracted = np.empty_like(bands)
    rms = []
    for band in range(bands.shape[-1]):
        background, band_rms = estimate_background(
            bands[..., band], mask, box_size=background_box,
            filter_size=background_filter)
        subtracted[..., band] = (bands[..., band] if background_subtracted
                                 else bands[..., band] - background)
        rms.append(band_rms)
    subtracted = subtracted if data.ndim == 3 else subtracted[..., 0]

    with warnings.catch_warnings():
        warnings.simplefilter('error', NoDetectionWarning)
        try:
            partial = deblender(subtracted, n_pixels=n_pixels, mask=mask)
        except NoDetectionWarning as exc:
            msg = (f'no source detected in {image_name} ({exc}); try a lower '
                   '--detection-threshold; nothing was written')
            raise UserError(msg) from None

    table = _catalog_table(subtracted, partial, rms, mask, read,
                           progress_bar=progress_bar, filename=image_name,
                           model_name=deblender.model_name,
                           background_subtracted=background_subtracted)

    created = not os.path.isdir(output_dir)
    try:
        os.makedirs(output_dir, exist_ok=True)
        with _output_set(paths, overwrite) as temporaries:
            _write_partial(partial, read['wcs_header'],
                           temporaries['partial'])
            table.write(temporaries['catalog'], format='ascii.ecsv',
                        overwrite=True)
            if cutouts:
                _write_cutouts(partial, subtracted, read,
                               temporaries['cutouts'],
                               progress_bar=progress_bar)
            _write_overview(partial, subtracted, temporaries['overview'],
                            os.path.basename(image_name))
    except FileExistsError as exc:
        raise UserError(f'{exc}; nothing was written') from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = exc.filename or output_dir
        raise UserError(f'cannot write {where}: {reason}') from None
    finally:
        if created and os.path.isdir(output_dir) and not os.listdir(
                output_dir):
            os.rmdir(output_dir)
    return {'image': image_name, 'model': deblender.model_name,
            'n_sources': len(table), 'written': list(paths.values())}
