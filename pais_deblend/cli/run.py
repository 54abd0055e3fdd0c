"""
``pais-deblend run``: detect and deblend the sources of a FITS image with
partial attribution and write the partial segmentation, a catalog, an
overview figure and (optionally) the deblended image of every source.

The job, in the order of a SExtractor run:

1. read the image (one 2-D HDU; for a multi-band model a cube in one
   HDU, several 2-D HDUs, or one file per band, stacked along a last
   axis), its WCS, its unit (``BUNIT``), its zero point (``PHOTZP`` and
   the like) and an optional error or inverse-variance map;
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
import sys
import warnings

import numpy as np

from ..deblend.core import MODEL_DEFAULT
from ..utils._fits import find_hdu
from . import (UserError, add_attribution_option, add_companion_option,
               before_network, companion_threshold)

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
                      (label, y, x: 0-based pixels, row then column);
                      provenance cards (PDVERS, PDMODEL, PDMODSHA,
                      PDINPUT, PDOPTS, BUNIT) in the primary header
  STEM_catalog.ecsv   one row per source, photutils SourceCatalog columns
                      measured on each source's share M_i x I
  STEM_overview.png   image, dominant-source map and blended view
  STEM_cutouts.fits   with --cutouts: one HDU per source, M_i x I
"""

_EPILOG = """\
examples:
  pais-deblend run image.fits --output-dir out
  pais-deblend run mosaic.fits --hdu SCI --mask-hdu DQ --weight-hdu WHT
  pais-deblend run stack.fits --band-hdus G R Z --model my_model.keras
  pais-deblend run g.fits r.fits z.fits --model ground_grz
  pais-deblend run hsc_grizy.fits --model ground_grz --bands 0 1 3
  pais-deblend run hlf_cube.fits --band-axis 1 --bands 0
  pais-deblend run image.fits --zero-point 25.946 --cutouts

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
    parser = subparsers.add_parser(
        'run',
        help='deblend a FITS image: partial segmentation, catalog, figure',
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image', metavar='IMAGE.fits', nargs='+',
                        help='the FITS image to deblend; several files are '
                        'the bands of a multi-band model, one 2-D image '
                        'each, in the order the model reads them (e.g. '
                        'g.fits r.fits z.fits for ground_grz); the WCS, unit '
                        'and output names come from the first')

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
    inputs.add_argument('--band-axis', metavar='N', type=int, default=None,
                        help='for a 3-D cube in one HDU: the FITS axis '
                        'NAXISn along which the bands lie (3 for a (bands, '
                        'y, x) cube as Subaru HSC cutouts, 1 for (y, x, '
                        'bands)); default: the one axis much shorter than '
                        'the other two')
    inputs.add_argument('--bands', metavar='I', type=int, nargs='+',
                        default=None,
                        help='for a cube: the 0-based planes along the band '
                        'axis, in the order the model reads them (e.g. '
                        '--bands 0 1 3 for g, r, z of a grizy cube; a single '
                        'plane for a one-band model); default: all')
    inputs.add_argument('--mask-hdu', metavar='N|NAME', default=None,
                        help='an HDU of the same file whose non-zero pixels '
                        'are bad (e.g. a data-quality or flag map); NaN and '
                        'infinite pixels are always masked (default: none)')
    errors = inputs.add_mutually_exclusive_group()
    errors.add_argument('--error-hdu', metavar='N|NAME', default=None,
                        help='an HDU of the same file(s) holding the 1-sigma '
                        'error of each pixel, laid out as the image; it '
                        'replaces the background RMS as the catalog errors '
                        '(default: the background RMS)')
    errors.add_argument('--weight-hdu', metavar='N|NAME', default=None,
                        help='as --error-hdu, an inverse-variance weight map '
                        '(error = 1/sqrt(weight)); pixels of weight <= 0 are '
                        'masked')

    _add_detection_options(parser)
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

    photometry = parser.add_argument_group('photometry')
    photometry.add_argument('--zero-point', metavar='MAG', type=float,
                            default=None,
                            help='AB magnitude of one unit of the image '
                            '(flux f has magnitude ZP - 2.5 log10 f); adds '
                            'segment_mag and kron_mag (and their errors) to '
                            'the catalog (default: the PHOTZP, MAGZERO, '
                            'MAGZPT or ZEROPT card of the image header, if '
                            'any)')

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


def _add_detection_options(parser):
    """The options of the detection and deblending group."""
    # the names only: bundled.py imports neither TensorFlow nor Keras
    from ..model.bundled import available_models

    detection = parser.add_argument_group('detection and deblending')
    detection.add_argument('--model', metavar='NAME|PATH',
                           default='hst_f160w',
                           help='a bundled model, one of '
                           f'{", ".join(available_models())}, or the path '
                           'of a .keras model written by pais-deblend train '
                           '(or of its .onnx export) '
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
    detection.add_argument('--runtime', choices=('auto', 'tensorflow',
                                                 'onnx'),
                           default='auto',
                           help='what runs the network of a bundled model: '
                           'TensorFlow, or ONNX Runtime on the model\'s ONNX '
                           'twin (same results to float rounding, starts '
                           'faster as TensorFlow is never imported; an '
                           '.onnx --model always runs on it); auto: ONNX '
                           'Runtime for images of fewer than 4 network '
                           'tiles, TensorFlow with XLA for larger ones '
                           '(default: %(default)s)')
    add_attribution_option(detection)
    add_companion_option(detection)


def run(args):
    from ..utils.exceptions import ModelMismatchWarning

    def show(message, category, *rest, **kwargs):
        print(f'pais-deblend run: warning: {message}', file=sys.stderr)

    with warnings.catch_warnings():
        # the image does not suit the model: one line, as the errors
        warnings.simplefilter('always', ModelMismatchWarning)
        warnings.showwarning = show
        summary = _run(args)
    print(f"{summary['image']}: {summary['n_sources']} sources deblended "
          f"(model {summary['model']})")
    for path in summary['written']:
        print(f'  wrote {path}')


def _run(args):
    images = args.image
    if len(images) > 1 and args.band_hdus:
        msg = ('several files are one band each; --band-hdus stacks the HDUs '
               'of one file: give one or the other')
        raise UserError(msg)
    return run_image(
        images[0] if len(images) == 1 else images, hdu=args.hdu,
        band_hdus=args.band_hdus, band_axis=args.band_axis,
        bands=args.bands, mask_hdu=args.mask_hdu, error_hdu=args.error_hdu,
        weight_hdu=args.weight_hdu, zero_point=args.zero_point,
        model=args.model,
        output_dir=args.output_dir, overwrite=args.overwrite,
        background_subtracted=args.background_subtracted,
        background_box=args.background_box,
        background_filter=args.background_filter, cutouts=args.cutouts,
        n_contributors=args.n_contributors,
        detection_threshold=args.detection_threshold,
        n_pixels=args.n_pixels, progress_bar=not args.no_progress,
        attribution=args.attribution,
        companion_threshold=companion_threshold(args),
        runtime=args.runtime, options=_options(args))


def _options(args):
    """The command line options as given, for the output headers."""
    skip = {'image', 'run', 'command', 'verbose', 'no_progress'}
    return {key: value for key, value in sorted(vars(args).items())
            if key not in skip and value not in (None, False)
            # the default runtime is left out, as before the option existed
            and (key, value) != ('runtime', 'auto')}


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


def _shared_stem(image):
    if isinstance(image, (str, os.PathLike)):
        return _stem(os.fspath(image))
    stems = [_stem(os.fspath(name)) for name in image]
    # whole words only: the shared part ends (or starts) at a separator
    prefix = os.path.commonprefix(stems)
    prefix = prefix[:max(0, *(prefix.rfind(c) for c in '_-.'))]
    suffix = os.path.commonprefix([stem[::-1] for stem in stems])[::-1]
    cut = [suffix.find(c) for c in '_-.' if c in suffix]
    suffix = suffix[min(cut) + 1:] if cut else ''
    shared = prefix if len(prefix) >= len(suffix) else suffix
    return shared.strip('_-.') or stems[0]


def output_paths(image, output_dir, *, cutouts=False):
    """
    The output files of one image, ``{kind: path}``.

    Parameters
    ----------
    image : str, path-like or list of them
        The input FITS file; for one file per band, the list, named after
        the stem their names share (``g_band.fits``, ``r_band.fits`` ->
        ``band``; ``set0_g.fits``, ``set0_r.fits`` -> ``set0``), else
        after the first.
    output_dir : str or path-like
        The output directory.
    cutouts : bool, optional
        Whether the cutouts file is written.

    Returns
    -------
    paths : dict
        ``partial``, ``catalog``, ``overview`` (and ``cutouts``) paths.
    """
    stem = _shared_stem(image)
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
    index = find_hdu(hdul, key)
    if index is not None:
        return index
    if isinstance(key, int):
        msg = (f'{what} {key} is out of range: {filename} has '
               f'{len(hdul)} HDU(s), numbered 0 to {len(hdul) - 1}')
        raise UserError(msg)
    names = ', '.join(hdu.name or '(unnamed)' for hdu in hdul)
    msg = f'{what} {key!r}: {filename} has no HDU of that name ({names})'
    raise UserError(msg)


def _hdu_array(hdul, index, filename, what):
    """The numeric data of one image HDU, degenerate axes dropped."""
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
    if data.dtype.kind not in 'biuf':
        msg = f'{label} of {filename} holds {data.dtype} data, not numbers'
        raise UserError(msg)
    return (np.squeeze(data) if data.ndim > 2 else data), label


def _band_axis(shape, band_axis, label, filename):
    """The numpy axis of the bands of a 3-D cube: ``band_axis`` counts as
    FITS NAXISn (1 = the fastest, last numpy axis); without it, the one
    axis much shorter than the other two."""
    if band_axis is not None:
        if band_axis not in (1, 2, 3):
            msg = (f'--band-axis must be 1, 2 or 3 (the NAXISn of the band '
                   f'axis), got {band_axis}')
            raise UserError(msg)
        return 3 - band_axis
    shortest = int(np.argmin(shape))
    others = [n for axis, n in enumerate(shape) if axis != shortest]
    if shape[shortest] <= 32 and shape[shortest] < min(others):
        return shortest
    naxis = ', '.join(f'NAXIS{3 - axis}={n}' for axis, n in enumerate(shape))
    msg = (f'{label} of {filename} is a cube ({naxis}) without an obvious '
           'band axis; name it with --band-axis N (the n of NAXISn)')
    raise UserError(msg)


def _image_data(hdul, index, filename, what='image', *, band_axis=None,
                bands=None):
    """
    The float64 data of one HDU, checked: (h, w), or (h, w, b) for a cube
    (bands moved last, ``bands`` picked along them).
    """
    data, label = _hdu_array(hdul, index, filename, what)
    if data.ndim == 3 and what != 'mask':
        axis = _band_axis(data.shape, band_axis, label, filename)
        data = np.moveaxis(data, axis, -1)
        if bands is not None:
            n_planes = data.shape[-1]
            wrong = [band for band in bands if not 0 <= band < n_planes]
            if wrong:
                msg = (f'--bands {wrong[0]} is out of range: {label} of '
                       f'{filename} has {n_planes} band planes along '
                       f'NAXIS{3 - axis}, numbered 0 to {n_planes - 1}')
                raise UserError(msg)
            data = data[..., list(bands)]
            if len(bands) == 1:
                data = data[..., 0]
        return np.array(data, dtype=np.float64)
    if data.ndim != 2:
        msg = (f'{label} of {filename} holds {data.ndim}-D data of shape '
               f'{hdul[index].data.shape}; the {what} must be 2-D')
        if what == 'image':
            msg += (' or a 3-D cube (name its band axis with --band-axis '
                    'and the planes with --bands)')
        raise UserError(msg)
    if bands is not None or band_axis is not None:
        msg = (f'--bands and --band-axis pick the planes of a cube, but '
               f'{label} of {filename} is 2-D')
        raise UserError(msg)
    return np.array(data, dtype=np.float64)


def _first_image_hdu(hdul, filename):
    for index, hdu in enumerate(hdul):
        shape = getattr(hdu, 'shape', None)
        if getattr(hdu, 'is_image', False) and shape and len(
                [n for n in shape if n > 1]) in (2, 3):
            return index
    msg = (f'{filename} has no HDU with a 2-D image or a 3-D cube; name one '
           'with --hdu (or --band-hdus)')
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
        wcs = WCS(header).celestial
        cards = wcs.to_header(relax=True)
    except Exception:  # a broken WCS is not a reason to stop
        return None, fits.Header()
    return (wcs if wcs.has_celestial else None), cards


#: header keywords read as the photometric zero point (AB magnitude of one
#: unit of flux), in this order
ZERO_POINT_KEYWORDS = ('PHOTZP', 'MAGZERO', 'MAGZPT', 'ZEROPT')


def _zero_point(header):
    """(zero point, keyword) from the header, or (None, None)."""
    for keyword in ZERO_POINT_KEYWORDS:
        value = header.get(keyword)
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and np.isfinite(value):
            return float(value), keyword
    return None, None


def read_image(filename, *, hdu=None, band_hdus=None, mask_hdu=None,
               band_axis=None, bands=None, error_hdu=None, weight_hdu=None):
    """
    Read the image to deblend from a FITS file.

    Parameters
    ----------
    filename : str or path-like
        The FITS file.
    hdu : int or str, optional
        The image HDU (index or EXTNAME); default the first with 2-D data
        or a 3-D cube.
    band_hdus : sequence of int or str, optional
        Several 2-D HDUs stacked along a last axis (for a multi-band
        model); instead of ``hdu``.
    mask_hdu : int or str, optional
        An HDU whose non-zero pixels are bad.
    band_axis : {1, 2, 3}, optional
        For a cube, the FITS axis (NAXISn) along which the bands lie;
        default the one axis much shorter than the other two.
    bands : sequence of int, optional
        For a cube, the 0-based planes along the band axis, in the order
        the model reads them (default all).
    error_hdu, weight_hdu : int or str, optional
        An HDU of the 1-sigma errors, or of the inverse-variance weights
        (error = 1 / sqrt(weight); pixels of weight <= 0 are masked), laid
        out as the image.

    Returns
    -------
    image : dict
        ``data`` (h, w) or (h, w, b) float64, ``mask`` (h, w) bool (the
        mask HDU and pixels without a valid weight), ``error`` (as
        ``data``, or None), ``header`` (of the first image HDU), ``wcs``
        (`~astropy.wcs.WCS` or None without a celestial WCS),
        ``wcs_header`` (its WCS cards alone), ``unit``
        (`~astropy.units.UnitBase` or None), ``bunit`` (the raw card),
        ``zero_point`` and ``zero_point_keyword`` (from PHOTZP, MAGZERO,
        MAGZPT or ZEROPT; None without), ``hdus`` (the indices read),
        ``files`` (the file names).

    Raises
    ------
    UserError
        For a missing or unreadable file, or an HDU that does not exist or
        holds no 2-D image or cube.
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
        return _read_hdus(hdul, filename, hdu, band_hdus, mask_hdu,
                          {'band_axis': band_axis, 'bands': bands},
                          error_hdu, weight_hdu)


def _read_hdus(hdul, filename, hdu, band_hdus, mask_hdu, cube, error_hdu,
               weight_hdu):
    with hdul:
        if band_hdus:
            if any(value is not None for value in cube.values()):
                msg = ('--band-axis and --bands pick the planes of one cube; '
                       '--band-hdus stacks 2-D HDUs: give one or the other')
                raise UserError(msg)
            indices = [_select_hdu(hdul, spec, filename, '--band-hdus')
                       for spec in band_hdus]
            cube = {}
        elif hdu is not None:
            indices = [_select_hdu(hdul, hdu, filename)]
        else:
            indices = [_first_image_hdu(hdul, filename)]
        bands = [_image_data(hdul, index, filename, **cube)
                 for index in indices]
        shapes = {band.shape for band in bands}
        if len(shapes) > 1:
            msg = (f'--band-hdus of {filename} have different shapes '
                   f'{[band.shape for band in bands]}; they must match')
            raise UserError(msg)
        data = bands[0] if not band_hdus else np.stack(bands, axis=-1)
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
        error = None
        if error_hdu is not None or weight_hdu is not None:
            error, invalid = _read_error(hdul, filename, error_hdu,
                                         weight_hdu, data.shape, cube)
            mask |= invalid
    unit, bunit = _unit(header)
    wcs, wcs_header = _wcs(header)
    zero_point, zero_point_keyword = _zero_point(header)
    return {'data': data, 'mask': mask, 'error': error, 'header': header,
            'wcs': wcs, 'wcs_header': wcs_header, 'unit': unit,
            'bunit': bunit, 'zero_point': zero_point,
            'zero_point_keyword': zero_point_keyword, 'hdus': indices,
            'files': [filename], 'float64': float64}


def _read_error(hdul, filename, error_hdu, weight_hdu, shape, cube):
    """(error, pixels without a usable error) from an error or an
    inverse-variance HDU laid out as the image."""
    what = '--error-hdu' if error_hdu is not None else '--weight-hdu'
    index = _select_hdu(hdul, error_hdu if error_hdu is not None
                        else weight_hdu, filename, what)
    values = _image_data(hdul, index, filename, what='error map', **cube)
    if values.shape != shape:
        msg = (f'{what} {_hdu_label(hdul, index)} of {filename} has shape '
               f'{values.shape} but the image has shape {shape}; they '
               'must match')
        raise UserError(msg)
    if weight_hdu is not None:
        with np.errstate(divide='ignore', invalid='ignore'):
            values = np.where(values > 0, 1.0 / np.sqrt(values), np.nan)
    invalid = ~(np.isfinite(values) & (values >= 0))
    if invalid.ndim == 3:
        invalid = invalid.any(axis=-1)
    return values, invalid


def read_images(filenames, *, hdu=None, mask_hdu=None, error_hdu=None,
                weight_hdu=None):
    """
    Read one band from each of several FITS files (``pais-deblend run
    g.fits r.fits z.fits``): the bands are stacked along a last axis in
    the order given; the header, WCS and unit are those of the first
    file, the masks are combined.

    Returns
    -------
    image : dict
        As `read_image`.
    """
    reads = [read_image(name, hdu=hdu, mask_hdu=mask_hdu,
                        error_hdu=error_hdu, weight_hdu=weight_hdu)
             for name in filenames]
    first = reads[0]
    for read in reads:
        if read['data'].ndim != 2:
            msg = (f"{read['files'][0]} holds a cube of shape "
                   f"{read['data'].shape}; give one 2-D image per file")
            raise UserError(msg)
        if read['data'].shape != first['data'].shape:
            msg = (f"{read['files'][0]} has shape {read['data'].shape} but "
                   f"{first['files'][0]} has {first['data'].shape}; the "
                   'band images must match pixel for pixel')
            raise UserError(msg)
        if read['unit'] != first['unit']:
            msg = (f"{read['files'][0]} is in {read['bunit']!r} but "
                   f"{first['files'][0]} in {first['bunit']!r}; give the "
                   'bands in one unit')
            raise UserError(msg)
    image = dict(first)
    image['data'] = np.stack([read['data'] for read in reads], axis=-1)
    image['mask'] = np.any([read['mask'] for read in reads], axis=0)
    image['error'] = (None if first['error'] is None else np.stack(
        [read['error'] for read in reads], axis=-1))
    image['files'] = [read['files'][0] for read in reads]
    image['float64'] = any(read['float64'] for read in reads)
    return image


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
        return _flat_background(data, bad, box, exc)
    return (np.asarray(estimate.background, dtype=np.float64),
            np.asarray(estimate.background_rms, dtype=np.float64))


def _flat_background(data, bad, box, exc):
    """A constant background and RMS over the whole frame (3-sigma clipped,
    SExtractor mode), when the mesh has no usable box (a small, crowded
    image, e.g. a cutout of one blend)."""
    from astropy.stats import sigma_clipped_stats

    from ..utils.exceptions import PaisDeblendWarning

    good = data[~bad]
    if good.size < 2:
        msg = f'the background could not be estimated: {exc}'
        raise UserError(' '.join(msg.split())) from None
    mean, median, std = sigma_clipped_stats(good, sigma=3.0, maxiters=10)
    # SExtractor's mode, or the median when the mode is off (crowding)
    level = (2.5 * median - 1.5 * mean
             if abs(mean - median) / max(std, 1e-300) < 0.3 else median)
    warnings.warn(f'no {box[0]} x {box[1]} background box has enough sky '
                  'pixels (a small or crowded image): a constant background '
                  f'{level:.4g} and RMS {std:.4g} from the whole frame are '
                  'used; a smaller --background-box, or '
                  '--background-subtracted for a subtracted image, may do '
                  'better', PaisDeblendWarning, stacklevel=3)
    return (np.full(data.shape, level, dtype=np.float64),
            np.full(data.shape, std, dtype=np.float64))


def _warn_flat_background(flat, shape, box_size, rms, subtracted):
    """One warning for the bands whose background mesh had no sky."""
    from ..utils.exceptions import PaisDeblendWarning

    box = f'{min(box_size, shape[0])} x {min(box_size, shape[1])}'
    which = ('' if shape[-1] == 1 else
             f" in band(s) {', '.join(str(band) for band in flat)}")
    values = ', '.join(f'{rms[band].flat[0]:.3g}' for band in flat)
    remedy = ('' if subtracted else ' (or --background-subtracted if the '
              'image is)')
    warnings.warn(f'no {box} background box has enough sky pixels{which} (a '
                  'small or crowded image): the background and its RMS '
                  f'({values}) are constants from the whole frame; try a '
                  f'smaller --background-box{remedy}', PaisDeblendWarning,
                  stacklevel=3)


# --- writing ----------------------------------------------------------------

def _catalog_table(data, partial, error, mask, image, *, progress_bar,
                   filename, model_name, background_subtracted,
                   zero_point=None, zero_point_source=None):
    from ..segmentation import PartialSourceCatalog

    # a multi-band image: shapes on the band sum, fluxes and errors per
    # band (segment_flux_<band> columns)
    reference = data
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
    errors = ('errors: the error map given (no source Poisson noise added)'
              if image['error'] is not None else
              'errors: the background RMS only (no source Poisson noise)')
    comments = [
        f'pais-deblend run: {filename} (HDU {hdus}), model {model_name}',
        'segment_flux etc. are measured on M_i * I (partial attribution)',
        'x_peak, y_peak: the source centre found by the network (0-based '
        'pixels, the first pixel centred on 0)', errors,
        ('the image was given background-subtracted' if background_subtracted
         else 'background: Background2D, SExtractor estimator, subtracted')]
    if image['bunit'] is not None and image['unit'] is None:
        comments.append(f"unrecognised BUNIT {image['bunit']!r}: no unit")
    if zero_point is not None:
        fluxes = [name for name in table.colnames
                  if name.startswith('segment_flux_')
                  and not name.startswith('segment_flux_err')]
        if not fluxes:  # one band: the band-summed flux is the band's
            fluxes = ['segment_flux', 'kron_flux']
        for name in fluxes:
            add_magnitudes(table, name, zero_point)
        comments.append(f'*_mag: AB magnitude ZP - 2.5 log10(flux), ZP = '
                        f'{zero_point:g} (from {zero_point_source}); NaN '
                        'for a flux <= 0')
        table.meta['zero_point'] = zero_point
    table.meta['comments'] = comments
    return table


def add_magnitudes(table, flux_column, zero_point):
    """
    Add the AB magnitude of a flux column (``segment_flux`` ->
    ``segment_mag``, ``segment_flux_g`` -> ``segment_mag_g``) and, when
    the table has the flux error, its error, right after the flux.

    ``mag = zero_point - 2.5 log10(flux)`` in `~astropy.units.ABmag`
    (the flux in the image's unit, whatever it is: ``zero_point`` is the
    AB magnitude of one unit), NaN for a flux <= 0 or NaN; the error is
    ``2.5 / ln(10) * flux_err / flux`` in mag.
    """
    from astropy import units as u

    flux = np.asarray(getattr(table[flux_column], 'value',
                              table[flux_column]), dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        mag = np.where(flux > 0, zero_point - 2.5 * np.log10(flux), np.nan)
    name = flux_column.replace('_flux', '_mag', 1)
    at = table.colnames.index(flux_column) + 1
    table.add_column(mag * u.ABmag, name=name, index=at)
    error_column = flux_column.replace('_flux', '_flux_err', 1)
    if error_column in table.colnames:
        flux_err = np.asarray(getattr(table[error_column], 'value',
                                      table[error_column]), dtype=np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            mag_err = np.where(flux > 0, 2.5 / np.log(10) * flux_err / flux,
                               np.nan)
        table.add_column(mag_err * u.mag, name=name.replace('_mag', '_mag_err',
                                                            1), index=at + 1)


def model_sha256(model, runtime='tensorflow'):
    """The SHA-256 of a bundled model (from the package; of its ONNX twin
    with ``runtime='onnx'``) or of a model file, or None."""
    from ..model.bundled import BUNDLED_MODELS
    from ..utils._io import file_sha256

    if model in BUNDLED_MODELS:
        return BUNDLED_MODELS[model].get(
            'onnx_sha256' if runtime == 'onnx' else 'sha256')
    if isinstance(model, (str, os.PathLike)) and os.path.isfile(model):
        return file_sha256(model)
    return None


def provenance_cards(image, deblender, model, options):
    """
    The provenance cards of every FITS file ``run`` writes: package
    version, model and its SHA-256, the input files and HDUs, the
    options, BUNIT and the zero point.
    """
    import json

    from astropy.io import fits

    from ..version import version

    cards = fits.Header()

    def card(key, value, comment):
        # a comment only where it fits the card, beside a long string
        fits_card = len(str(value)) + len(comment) <= 60
        cards[key] = (value, comment) if fits_card else value

    card('PDVERS', version, 'pais_deblend version')
    card('PDMODEL', deblender.model_name, 'PAIS model')
    runtime = getattr(deblender, 'runtime', 'tensorflow')
    sha = model_sha256(model, runtime)
    if sha is not None:
        card('PDMODSHA', sha, 'SHA-256 of the model file')
    if runtime == 'auto':
        # small images ran on the ONNX twin, large ones on the Keras model
        card('PDONXSHA', model_sha256(model, 'onnx'),
             'SHA-256 of the ONNX twin')
    card('PDINPUT', ', '.join(os.path.basename(name)
                              for name in image['files']),
         'input FITS file(s), one per band if several')
    card('PDHDUS', ', '.join(str(index) for index in image['hdus']),
         'input HDU(s)')
    card('PDOPTS', json.dumps(options, sort_keys=True, default=str),
         'pais-deblend run options (JSON)')
    if image['bunit'] is not None:
        card('BUNIT', image['bunit'], 'unit of the input image')
    if image['zero_point'] is not None:
        card('PHOTZP', image['zero_point'],
             f"zero point (input {image['zero_point_keyword']})")
    return cards


def _write_cutouts(partial, data, image, temporary, *, progress_bar,
                   provenance=None):
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
    if provenance is not None:
        primary.header.update(provenance)
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


def _check_model_bands(deblender, data):
    """Raise `UserError` unless ``data`` has the model's number of bands."""
    n_bands = 1 if data.ndim == 2 else data.shape[-1]
    if n_bands != deblender.n_bands:
        names = (f" ({', '.join(deblender.band_names)})"
                 if deblender.band_names else '')
        msg = (f'model {deblender.model_name!r} reads {deblender.n_bands} '
               f'band(s){names} but the image has {n_bands}; give exactly '
               f'{deblender.n_bands}: one file per band, --band-hdus, or '
               '--bands to pick the planes of a cube')
        raise UserError(msg)


def _subtract_backgrounds(data, mask, *, background_box, background_filter,
                          background_subtracted):
    """
    The image with each band's background subtracted (unchanged with
    ``background_subtracted``), and the list of the bands' background rms;
    warns once for the bands whose background is flat.
    """
    from ..utils.exceptions import PaisDeblendWarning

    stack = data if data.ndim == 3 else data[..., np.newaxis]
    subtracted = np.empty_like(stack)
    rms, flat = [], []
    for band in range(stack.shape[-1]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', PaisDeblendWarning)
            background, band_rms = estimate_background(
                stack[..., band], mask, box_size=background_box,
                filter_size=background_filter)
        if caught:
            flat.append(band)
        subtracted[..., band] = (stack[..., band] if background_subtracted
                                 else stack[..., band] - background)
        rms.append(band_rms)
    subtracted = subtracted if data.ndim == 3 else subtracted[..., 0]
    if flat:
        _warn_flat_background(flat, stack.shape, background_box, rms,
                              background_subtracted)
    return subtracted, rms


def _write_run_outputs(paths, output_dir, overwrite, partial, table,
                       subtracted, read, provenance, *, cutouts, progress_bar):
    """
    Write the outputs of ``run`` to ``paths`` all together (none of them
    when one fails), creating ``output_dir`` (removed again if it stays
    empty); `UserError` names what could not be written.
    """
    created = not os.path.isdir(output_dir)
    try:
        os.makedirs(output_dir, exist_ok=True)
        with _output_set(paths, overwrite) as temporaries:
            partial.write(temporaries['partial'], overwrite=True,
                          header=read['wcs_header'], cards=provenance)
            table.write(temporaries['catalog'], format='ascii.ecsv',
                        overwrite=True)
            if cutouts:
                _write_cutouts(partial, subtracted, read,
                               temporaries['cutouts'],
                               progress_bar=progress_bar,
                               provenance=provenance)
            _write_overview(partial, subtracted, temporaries['overview'],
                            os.path.basename(read['files'][0]))
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


def run_image(image, *, hdu=None, band_hdus=None, mask_hdu=None,
              band_axis=None, bands=None, error_hdu=None, weight_hdu=None,
              zero_point=None, model='hst_f160w', output_dir='.',
              overwrite=False, background_subtracted=False,
              background_box=64, background_filter=3, cutouts=False,
              n_contributors=3, detection_threshold=None, n_pixels=5,
              progress_bar=True, attribution=None,
              companion_threshold=MODEL_DEFAULT, runtime='auto',
              options=None):
    """
    Deblend one FITS image and write its outputs (the ``run`` command).

    Parameters are those of the command line (see
    ``pais-deblend run --help``); ``image`` is a file name, or a list of
    them for one band per file. ``options`` (a dict) is recorded in the
    output headers (default: the keyword arguments given).

    Returns
    -------
    summary : dict
        ``image``, ``model``, ``n_sources`` and ``written`` (the paths).

    Raises
    ------
    UserError, ValueError, TypeError, FileNotFoundError, FileExistsError
        For what the user asked; nothing is written then.
    """
    from astropy.nddata import NDData

    from ..utils.exceptions import NoDetectionWarning

    several = not isinstance(image, (str, os.PathLike))
    if several:
        image_name = [os.fspath(name) for name in image]
        if band_hdus or band_axis is not None or bands is not None:
            msg = ('with one file per band, --band-hdus, --band-axis and '
                   '--bands do not apply')
            raise UserError(msg)
    else:
        image_name = os.fspath(image)
    if options is None:
        options = {key: value for key, value in sorted(dict(
            hdu=hdu, band_hdus=band_hdus, mask_hdu=mask_hdu,
            band_axis=band_axis, bands=bands, error_hdu=error_hdu,
            weight_hdu=weight_hdu, zero_point=zero_point, model=model,
            background_subtracted=background_subtracted,
            background_box=background_box,
            background_filter=background_filter,
            n_contributors=n_contributors,
            detection_threshold=detection_threshold, n_pixels=n_pixels,
            attribution=attribution,
            runtime=None if runtime == 'auto' else runtime).items())
            if value not in (None, False)}
    output_dir = os.fspath(output_dir)
    _check_background_options(background_box, background_filter)
    if zero_point is not None and not np.isfinite(zero_point):
        raise UserError(f'--zero-point must be finite, got {zero_point}')
    if several:
        read = read_images(image_name, hdu=hdu, mask_hdu=mask_hdu,
                           error_hdu=error_hdu, weight_hdu=weight_hdu)
    else:
        read = read_image(image_name, hdu=hdu, band_hdus=band_hdus,
                          mask_hdu=mask_hdu, band_axis=band_axis,
                          bands=bands, error_hdu=error_hdu,
                          weight_hdu=weight_hdu)
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
                                companion_threshold=companion_threshold,
                                runtime=runtime)
    _check_model_bands(deblender, data)
    subtracted, rms = _subtract_backgrounds(
        data, mask, background_box=background_box,
        background_filter=background_filter,
        background_subtracted=background_subtracted)

    label = image_name if not several else ' '.join(image_name)
    before_network(deblender, subtracted.shape)
    with warnings.catch_warnings():
        warnings.simplefilter('error', NoDetectionWarning)
        try:
            # with its WCS, so that the deblender checks the pixel scale
            partial = deblender(NDData(subtracted, wcs=read['wcs']),
                                n_pixels=n_pixels, mask=mask)
        except NoDetectionWarning as exc:
            msg = (f'no source detected in {label} ({exc}); try a lower '
                   '--detection-threshold; nothing was written')
            raise UserError(msg) from None

    if zero_point is None:
        zero_point = read['zero_point']
        zero_point_source = read['zero_point_keyword']
    else:
        zero_point_source = '--zero-point'
    error = read['error']
    if error is None:
        error = rms[0] if data.ndim == 2 else np.stack(rms, axis=-1)
    table = _catalog_table(subtracted, partial, error, mask, read,
                           progress_bar=progress_bar, filename=label,
                           model_name=deblender.model_name,
                           background_subtracted=background_subtracted,
                           zero_point=zero_point,
                           zero_point_source=zero_point_source)
    provenance = provenance_cards(read, deblender, model, options)

    _write_run_outputs(paths, output_dir, overwrite, partial, table,
                       subtracted, read, provenance, cutouts=cutouts,
                       progress_bar=progress_bar)
    return {'image': label, 'model': deblender.model_name,
            'n_sources': len(table), 'written': list(paths.values())}
