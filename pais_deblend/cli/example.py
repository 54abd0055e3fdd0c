"""
``pais-deblend example``: the main job on the bundled real HLF cutout.

Deblends the F160W band of the Hubble Legacy Fields GOODS-South cutout
shipped with the package with the bundled ``hst_f160w`` PAIS model
(`~pais_deblend.deblend_sources`: the network detects the sources and
shares each pixel's flux among them), then writes the partial
segmentation (FITS), a photometry catalog (ECSV, with the index of the
matched 3D-HST catalog source) and a figure (PNG: image, dominant-source
map, blended view and a few deblended sources).
"""

import os

import numpy as np

__all__ = ['add_parser', 'run', 'run_example']

# The 3D-HST catalog positions of the cutout sit up to ~3.5 px from the
# flux peaks of its bright sources, so catalog sources are matched within
# two PSF FWHM (2 x 3 px), as in the benchmark harness's hlf suite.
_MATCH_RADIUS = 6.0


def add_parser(subparsers):
    from ..model.bundled import available_models

    parser = subparsers.add_parser(
        'example',
        help='run the main job on the bundled HST GOODS-South cutout',
        description=('Deblend the bundled Hubble Legacy Fields GOODS-South '
                     'cutout (F160W) with the bundled PAIS model and write '
                     'the partial segmentation (FITS), a catalog (ECSV) and '
                     'a figure (PNG).'))
    parser.add_argument('--output-dir', default='pais_deblend_output',
                        help='directory for the outputs (created if needed; '
                        'default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--n-contributors', type=int, default=3,
                        help='contributors per pixel (default: %(default)s)')
    parser.add_argument('--model', default='hst_f160w',
                        help='bundled model, one of '
                        f'{", ".join(available_models())} (default: '
                        '%(default)s)')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.set_defaults(run=run)
    return parser


def run(args):
    summary = run_example(args.output_dir, overwrite=args.overwrite,
                          n_contributors=args.n_contributors,
                          model=args.model,
                          progress_bar=not args.no_progress)
    for key, value in summary.items():
        print(f'{key}: {value}')


def _write_catalog(partial, image, catalog_centers, filename, overwrite):
    from ..evaluation import match_sources
    from ..segmentation import PartialSourceCatalog
    from ..utils._io import atomic_output

    table = PartialSourceCatalog(image, partial).to_table()
    positions = np.column_stack([np.asarray(table['y_centroid'], float),
                                 np.asarray(table['x_centroid'], float)])
    centers = partial.centers
    peaks = np.array([centers[int(label)] for label in table['label']],
                     dtype=np.float64).reshape(-1, 2)
    table['y_peak'] = peaks[:, 0]
    table['x_peak'] = peaks[:, 1]
    matches = match_sources(peaks, catalog_centers,
                            max_distance=_MATCH_RADIUS)
    table['catalog_index'] = -1
    for predicted, true in zip(matches.predicted_indices,
                               matches.true_indices):
        table['catalog_index'][predicted] = true
    table.meta['comments'] = [
        'pais_deblend example: HLF GOODS-South cutout, F160W, electrons/s',
        'segment_flux = sum of M_i * I (partial attribution)',
        'y_peak, x_peak: the source centre found by the network',
        f'catalog_index: matched 3D-HST source within {_MATCH_RADIUS:g} px']
    with atomic_output(filename, overwrite=overwrite) as temporary:
        table.write(temporary, format='ascii.ecsv', overwrite=True)
    return table, matches


def _write_figure(partial, image, table, filename, overwrite):
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize

    from ..segmentation.plotting import plot_blended, plot_dominant
    from ..utils._io import atomic_output

    norm = ImageNormalize(image, stretch=AsinhStretch(0.01))
    # the three sources that share most of their light with others
    order = np.argsort(-np.asarray(table['blendedness'], dtype=float))
    labels = [int(table['label'][i]) for i in order[:3]]
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 7.4))
    axes = axes.ravel()
    axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm)
    axes[0].set_title('HLF GOODS-S, F160W')
    plot_dominant(partial, ax=axes[1])
    axes[1].set_title('dominant source')
    plot_blended(partial, ax=axes[2], data=image)
    axes[2].set_title('blended view (colours mixed by M_i)')
    for ax, label in zip(axes[3:], labels):
        frame = np.zeros(image.shape)
        cutout = partial.source_image(label, image)
        frame[cutout.slices] = cutout.data
        ax.imshow(frame, origin='lower', cmap='gray_r', norm=norm)
        ax.set_title(f'source {label}: M_i x I')
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_output(filename, overwrite=overwrite) as temporary:
        fig.savefig(temporary, format='png', dpi=80)
    plt.close(fig)


def run_example(output_dir, *, overwrite=False, n_contributors=3,
                model='hst_f160w', progress_bar=True):
    """
    Run the example job and write its three outputs into ``output_dir``.

    Parameters
    ----------
    output_dir : str or path-like
        Output directory, created if needed.
    overwrite : bool, optional
        Whether existing outputs may be replaced.
    n_contributors : int, optional
        Contributor slots per pixel.
    model : str, optional
        The bundled model.
    progress_bar : bool, optional
        Show the deblender's progress bar.

    Returns
    -------
    summary : dict
        The output paths and the headline figures.
    """
    from ..datasets import load_hlf_goodss
    from ..deblend import deblend_sources
    from ..evaluation import flux_conservation

    output_dir = os.fspath(output_dir)
    paths = {name: os.path.join(output_dir, f'hlf_goodss_{name}')
             for name in ('partial.fits', 'catalog.ecsv', 'overview.png')}
    if not overwrite:
        existing = [path for path in paths.values() if os.path.exists(path)]
        if existing:
            msg = (f'{existing[0]} already exists; pass --overwrite '
                   '(overwrite=True) to replace it')
            raise FileExistsError(msg)
    os.makedirs(output_dir, exist_ok=True)

    hlf = load_hlf_goodss()
    image = hlf.flux[..., hlf.bands.index('F160W')].astype(np.float64)
    partial = deblend_sources(image, model=model,
                              n_contributors=n_contributors,
                              progress_bar=progress_bar)
    if partial is None:
        msg = 'the model found no source in the HLF cutout'
        raise RuntimeError(msg)
    partial.write(paths['partial.fits'], overwrite=overwrite)
    table, matches = _write_catalog(partial, image, hlf.centers,
                                    paths['catalog.ecsv'], overwrite)
    _write_figure(partial, image, table, paths['overview.png'], overwrite)
    return {
        'partial segmentation': paths['partial.fits'],
        'catalog': paths['catalog.ecsv'],
        'figure': paths['overview.png'],
        'sources deblended': len(table),
        'catalog sources recovered': f'{len(matches.true_indices)} of '
                                     f'{len(hlf.centers)}',
        'flux conservation L1': f'{flux_conservation(partial, image):.3g}',
    }
