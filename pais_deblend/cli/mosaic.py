"""
``pais-deblend mosaic``: deblend a survey-size image tile by tile (in this
process or on a local Dask cluster) into a Zarr store and a catalog; see
`pais_deblend.mosaic.deblend_mosaic`.
"""

import argparse
import os

from . import (UserError, add_attribution_option, add_companion_option,
               companion_threshold)

__all__ = ['add_parser', 'run']

_DESCRIPTION = """\
Deblend an image larger than memory with partial attribution (PAIS,
Hausen & Robertson 2022), tile by tile: each tile core is processed with a
margin that holds the network's context, sources belong to the tile whose
core holds their centre, and labels are unique over the whole image. The
image is read by region (FITS by section, .npy memory-mapped) and must be
background-subtracted; NaN pixels are masked. Outputs, named after the
image (STEM = name without its suffix):

  STEM.zarr           Zarr store: contributors (h, w, n) int32, weights
                      (h, w, n) float32, source labels, centres and
                      effective areas; read any region back with
                      pais_deblend.mosaic.read_mosaic
  STEM_catalog.ecsv   one row per source: label, y, x, effective_area
                      (class_star with a star/galaxy model),
                      detection_flags (8: found by the residual
                      companion search, 0: by the network)
"""

_EPILOG = """\
examples:
  pais-deblend mosaic field.fits --output-dir out --tile-size 2048 --workers 2
  pais-deblend mosaic field.npy --workers 0 --noise-sigma 0.0057
  pais-deblend mosaic --verify out/field.zarr

Read a region in Python with
  read_mosaic('out/field.zarr', np.s_[1000:2000, 3000:4000])
"""

_SUFFIXES = ('.fits.gz', '.fit.gz', '.fits', '.fit', '.fts', '.npy')


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'mosaic',
        help='deblend a survey-size image tile by tile into a Zarr store',
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image', metavar='IMAGE', nargs='?',
                        help='the background-subtracted image: a FITS file '
                        '(one 2-D HDU) or a .npy file')
    parser.add_argument('--verify', metavar='STORE', default=None,
                        help='check every chunk of a mosaic store written '
                        'before (present, checksum, values) instead of '
                        'deblending; exit status 2 when it is damaged')
    parser.add_argument('--hdu', metavar='N|NAME', default=None,
                        help='the FITS HDU, by index or EXTNAME (default: '
                        'the first 2-D image HDU)')
    parser.add_argument('--output-dir', metavar='DIR', default='.',
                        help='where to write STEM.zarr and STEM_catalog.ecsv '
                        '(default: the current directory)')
    parser.add_argument('--tile-size', metavar='T', type=int, default=2048,
                        help='side of the tile cores, pixels, a multiple of '
                        'the network downsampling factor (default: '
                        '%(default)s)')
    parser.add_argument('--margin', metavar='M', type=int, default=None,
                        help='context around each core, pixels (default: '
                        'the smallest exact margin plus 64)')
    parser.add_argument('--workers', metavar='N', type=int, default=1,
                        help='worker processes of a local Dask cluster; 0 '
                        'runs the tiles one after another in this process '
                        '(default: %(default)s)')
    parser.add_argument('--memory-limit', metavar='SIZE', default='4GiB',
                        help='memory limit per worker (default: '
                        '%(default)s)')
    parser.add_argument('--model', metavar='NAME|PATH', default='hst_f160w',
                        help='a bundled model name or a .keras file '
                        '(default: %(default)s)')
    parser.add_argument('--n-contributors', metavar='N', type=int,
                        default=None,
                        help='the most sources sharing a pixel (default: '
                        'the model\'s)')
    parser.add_argument('--detection-threshold', metavar='T', type=float,
                        default=None,
                        help='lowest centre-of-mass peak kept, in (0, 1] '
                        '(default: the model\'s tuned value)')
    parser.add_argument('--n-pixels', metavar='N', type=int, default=5,
                        help='smallest source kept, in weighted pixels '
                        '(default: %(default)s)')
    add_attribution_option(parser)
    add_companion_option(parser)
    parser.add_argument('--noise-sigma', metavar='SIGMA', type=float,
                        default=None,
                        help='the image noise in its unit (default: a '
                        'robust estimate on tiles spread over the image)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing outputs')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bars or summary')
    parser.set_defaults(run=run)
    return parser


def _stem(path):
    name = os.path.basename(path)
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return os.path.splitext(name)[0]


def output_paths(image, output_dir):
    """The (Zarr store, catalog) paths for ``image``."""
    stem = _stem(image)
    return (os.path.join(output_dir, f'{stem}.zarr'),
            os.path.join(output_dir, f'{stem}_catalog.ecsv'))


def verify(store, quiet=False):
    """``--verify STORE``: report the damaged chunks of a store."""
    from ..mosaic import verify_mosaic

    if not os.path.isdir(store):
        raise UserError(f'mosaic store {store} does not exist')
    problems = verify_mosaic(store)
    for problem in problems:
        print(problem)
    if problems:
        raise UserError(f'{store} is damaged: {len(problems)} problem(s) '
                        f'(listed above)')
    if not quiet:
        print(f'{store}: every chunk is intact')


def run(args):
    from ..utils._io import atomic_output

    if args.verify is not None:
        if args.image is not None:
            raise UserError('give either IMAGE or --verify STORE, not both')
        verify(args.verify, quiet=args.quiet)
        return
    if args.image is None:
        raise UserError('IMAGE is required (or --verify STORE)')
    if not os.path.isfile(args.image):
        raise UserError(f'image {args.image} does not exist')
    if not args.image.lower().endswith(_SUFFIXES):
        raise UserError(f'image {args.image} must be a FITS (.fits, .fit, '
                        f'.fts) or .npy file')
    if args.workers < 0:
        raise UserError(f'--workers must be >= 0, got {args.workers}')
    if not os.path.isdir(args.output_dir):
        raise UserError(f'output directory {args.output_dir} does not exist')
    store, catalog = output_paths(args.image, args.output_dir)
    existing = [path for path in (store, catalog) if os.path.lexists(path)]
    if existing and not args.overwrite:
        raise UserError(f'{", ".join(existing)} already exist(s); pass '
                        f'--overwrite to replace (nothing was written)')
    hdu = args.hdu
    if hdu is not None and str(hdu).strip().lstrip('+-').isdigit():
        hdu = int(hdu)

    from ..mosaic import deblend_mosaic, local_client

    client = None
    try:
        if args.workers > 0:
            client = local_client(args.workers,
                                  memory_limit=args.memory_limit)
        mosaic = deblend_mosaic(
            args.image, store, hdu=hdu, tile_size=args.tile_size,
            margin=args.margin, model=args.model, client=client,
            noise_sigma=args.noise_sigma,
            n_contributors=args.n_contributors,
            detection_threshold=args.detection_threshold,
            n_pixels=args.n_pixels, attribution=args.attribution,
            companion_threshold=companion_threshold(args),
            overwrite=args.overwrite, progress_bar=not args.quiet)
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            cluster.close()
    table = mosaic.catalog()
    with atomic_output(catalog, overwrite=True) as temporary:
        table.write(temporary, format='ascii.ecsv', overwrite=True)
    if not args.quiet:
        print(f'{mosaic.n_sources} sources in {mosaic.shape[0]} x '
              f'{mosaic.shape[1]} pixels ({len(mosaic.plan)} tiles): '
              f'{store}, {catalog}')
