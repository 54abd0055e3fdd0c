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


#: The AB zero point of HST WFC3/IR F160W for electrons/s (the hst_f160w
#: simulation preset's, and the HLF v2.0 mosaics').
F160W_ZERO_POINT = 25.946

#: Pixels whose largest weight is below this are drawn as shared.
SHARED_WEIGHT = 0.9


def _write_catalog(partial, image, unit, catalog_centers, filename,
                   overwrite):
    from ..evaluation import match_sources
    from ..segmentation import PartialSourceCatalog
    from ..utils._io import atomic_output
    from .run import add_magnitudes

    table = PartialSourceCatalog(image * unit, partial).to_table()
    add_magnitudes(table, 'segment_flux', F160W_ZERO_POINT)
    add_magnitudes(table, 'kron_flux', F160W_ZERO_POINT)
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
        f'pais_deblend example: HLF GOODS-South cutout, F160W, {unit}',
        'segment_flux = sum of M_i * I (partial attribution)',
        f'*_mag: AB, zero point {F160W_ZERO_POINT} (F160W, electrons/s)',
        'y_peak, x_peak: the source centre found by the network (0-based '
        'pixels)',
        f'catalog_index: matched 3D-HST source within {_MATCH_RADIUS:g} px']
    with atomic_output(filename, overwrite=overwrite) as temporary:
        table.write(temporary, format='ascii.ecsv', overwrite=True)
    return table, matches


def _number_sources(ax, partial, colors, labels=None, box=None):
    """Write each source's label (its catalog row's) at its centre, in its
    colour."""
    from matplotlib import patheffects

    # a white outline reads on the dark maps and the light image alike
    outline = [patheffects.withStroke(linewidth=2.5, foreground='white')]
    for label, (y, x) in sorted(partial.centers.items()):
        if labels is not None and label not in labels:
            continue
        if box is not None and not (box[0].start <= y < box[0].stop
                                    and box[1].start <= x < box[1].stop):
            continue
        ax.text(x, y, str(label), color=colors[label], fontsize=10,
                fontweight='bold', ha='center', va='center',
                path_effects=outline)


def _shared_pixels(partial):
    """Attributed pixels whose largest weight is below `SHARED_WEIGHT`."""
    attributed = (partial.contributors > 0).any(axis=-1)
    return attributed & (partial.weights.max(axis=-1) < SHARED_WEIGHT)


def _zoom_box(partial, label, shape, margin=6):
    y_slice, x_slice = partial.partial_slices[label]
    return (slice(max(0, y_slice.start - margin),
                  min(shape[0], y_slice.stop + margin)),
            slice(max(0, x_slice.start - margin),
                  min(shape[1], x_slice.stop + margin)))


def _write_figure(partial, image, table, filename, overwrite, unit=None):
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from astropy.visualization import (AsinhStretch, ImageNormalize,
                                       PercentileInterval)
    from matplotlib.colors import ListedColormap

    from ..segmentation.plotting import (label_colors, plot_blended,
                                         plot_dominant)
    from ..utils._io import atomic_output

    norm = ImageNormalize(image, interval=PercentileInterval(99.8),
                          stretch=AsinhStretch(0.02))
    colors = label_colors(partial, 0, '#000000')
    shared = _shared_pixels(partial)
    highlight = ListedColormap(['none', '#ff00ff'])
    # the sources that share most of their light with others first, then
    # the brightest
    blendedness = np.nan_to_num(np.asarray(table['blendedness'], float))
    flux = np.nan_to_num(np.asarray(getattr(table['segment_flux'], 'value',
                                            table['segment_flux']), float))
    order = np.lexsort((-flux, -blendedness))
    zoomed = [int(table['label'][i]) for i in order[:3]]

    fig, axes = plt.subplots(2, 3, figsize=(12.0, 8.4))
    axes = axes.ravel()
    shown = axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm,
                           interpolation='nearest')
    bar = fig.colorbar(shown, ax=axes[0], fraction=0.046, pad=0.03)
    bar.set_label(f'flux per pixel ({unit:unicode})' if unit is not None
                  else 'flux per pixel')
    _number_sources(axes[0], partial, colors)
    axes[0].set_title('HLF GOODS-S, F160W (asinh stretch)')
    plot_dominant(partial, ax=axes[1])
    _number_sources(axes[1], partial, colors)
    axes[1].set_title('dominant source (numbers: catalog label)')
    plot_blended(partial, ax=axes[2], data=image)
    axes[2].imshow(shared, origin='lower', cmap=highlight, vmin=0, vmax=1,
                   interpolation='nearest', alpha=0.6)
    _number_sources(axes[2], partial, colors)
    axes[2].set_title(f'blended view; magenta: shared pixels\n(largest '
                      f'weight < {SHARED_WEIGHT:g}: {int(shared.sum())} px)')
    for ax, label in zip(axes[3:], zoomed):
        box = _zoom_box(partial, label, image.shape)
        plot_blended(partial, ax=ax, data=image)
        ax.imshow(shared, origin='lower', cmap=highlight, vmin=0, vmax=1,
                  interpolation='nearest', alpha=0.6)
        _number_sources(ax, partial, colors, box=box)
        ax.set_xlim(box[1].start - 0.5, box[1].stop - 0.5)
        ax.set_ylim(box[0].start - 0.5, box[0].stop - 0.5)
        row = int(np.flatnonzero(np.asarray(table['label']) == label)[0])
        ax.set_title(f'source {label} zoomed: blendedness '
                     f"{blendedness[row]:.2f}, "
                     f"{int(shared[partial.partial_slices[label]].sum())} "
                     'shared px', fontsize=9)
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[3:]:
        ax.tick_params(labelsize=7)
    for ax in axes[len(zoomed) + 3:]:
        ax.set_axis_off()
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
    from ..deblend import Deblender
    from ..evaluation import flux_conservation
    from . import before_network

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
    deblender = Deblender(model, n_contributors=n_contributors,
                          progress_bar=progress_bar)
    before_network(deblender, image.shape)
    partial = deblender(image)
    if partial is None:
        msg = 'the model found no source in the HLF cutout'
        raise RuntimeError(msg)
    partial.write(paths['partial.fits'], overwrite=overwrite)
    table, matches = _write_catalog(partial, image, hlf.unit, hlf.centers,
                                    paths['catalog.ecsv'], overwrite)
    _write_figure(partial, image, table, paths['overview.png'], overwrite,
                  unit=hlf.unit)
    return {
        'partial segmentation': paths['partial.fits'],
        'catalog': paths['catalog.ecsv'],
        'figure': paths['overview.png'],
        'sources deblended': len(table),
        'catalog sources recovered': f'{len(matches.true_indices)} of '
                                     f'{len(hlf.centers)}',
        'flux conservation L1': f'{flux_conservation(partial, image):.3g}',
    }
