"""
``pais-deblend example``: the main job on the bundled real HLF cutout.

Until the PAIS network ships, the job exercises the Partial Contribution
Representation end to end on real data: each of the 7 catalog sources of
the HLF GOODS-South cutout gets a reference light model (an elliptical
Gaussian whose shape comes from the source's second moments and whose
amplitude is a non-negative least-squares fit to the F160W image); the
models are encoded into the PCR, the PCR is decoded (centres found again
by peak finding on the centre-of-mass map) and the partial segmentation,
a catalog and a figure are written. Pixels are attributed inside the
footprint of the sources that photutils detects at 1.5 sigma.
"""

import os

import numpy as np

__all__ = ['add_parser', 'run', 'run_example']

# half-size of the window used to measure each source's moments, pixels
_MOMENT_RADIUS = 12
# elliptical Gaussian sigmas are kept within these bounds, pixels
_SIGMA_RANGE = (1.0, 20.0)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'example',
        help='run the main job on the bundled HST GOODS-South cutout',
        description=('Encode and decode the 7 catalog sources of the bundled '
                     'Hubble Legacy Fields GOODS-South cutout (F160W) and '
                     'write the partial segmentation (FITS), a catalog '
                     '(ECSV) and a figure (PNG).'))
    parser.add_argument('--output-dir', default='pais_deblend_output',
                        help='directory for the outputs (created if needed; '
                        'default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--n-contributors', type=int, default=3,
                        help='contributors per pixel (default: %(default)s)')
    parser.add_argument('--contributor-choice', default=None,
                        choices=('nearest', 'most_flux'),
                        help="how each pixel's contributors are chosen "
                        '(default: the encoder\'s default)')
    parser.set_defaults(run=run)
    return parser


def run(args):
    summary = run_example(args.output_dir, overwrite=args.overwrite,
                          n_contributors=args.n_contributors,
                          contributor_choice=args.contributor_choice)
    for key, value in summary.items():
        print(f'{key}: {value}')


def _nearest_source_map(shape, centers):
    from scipy.spatial import cKDTree

    yy, xx = np.indices(shape)
    pixels = np.column_stack([yy.ravel(), xx.ravel()])
    return cKDTree(centers).query(pixels)[1].reshape(shape)


def _moment_sigmas(image, centers):
    """Second-moment covariance of each source in its own Voronoi cell."""
    nearest = _nearest_source_map(image.shape, centers)
    yy, xx = np.indices(image.shape)
    covariances = []
    for index, (cy, cx) in enumerate(centers):
        window = ((np.abs(yy - cy) <= _MOMENT_RADIUS)
                  & (np.abs(xx - cx) <= _MOMENT_RADIUS)
                  & (nearest == index) & (image > 0))
        flux = image[window]
        dy, dx = yy[window] - cy, xx[window] - cx
        total = flux.sum()
        if total <= 0:
            covariances.append(np.eye(2) * _SIGMA_RANGE[0] ** 2)
            continue
        covariance = np.array([[np.sum(flux * dy * dy), np.sum(flux * dy * dx)],
                               [np.sum(flux * dy * dx), np.sum(flux * dx * dx)]])
        covariance /= total
        values, vectors = np.linalg.eigh(covariance)
        values = np.clip(values, *np.square(_SIGMA_RANGE))
        covariances.append(vectors @ np.diag(values) @ vectors.T)
    return covariances


def _gaussian(shape, center, covariance):
    yy, xx = np.indices(shape)
    offsets = np.stack([yy - center[0], xx - center[1]], axis=-1)
    inverse = np.linalg.inv(covariance)
    exponent = np.einsum('...i,ij,...j->...', offsets, inverse, offsets)
    return np.exp(-0.5 * exponent)


def reference_source_images(image, centers):
    """
    Elliptical Gaussian light models of the sources, fitted to ``image``.

    Parameters
    ----------
    image : `~numpy.ndarray`, shape (h, w)
        Background-subtracted image.
    centers : `~numpy.ndarray`, shape (N, 2)
        Source (y, x) positions.

    Returns
    -------
    models : `~numpy.ndarray`, shape (N, h, w)
        Non-negative model image of each source.
    """
    from scipy.optimize import nnls

    templates = np.array([_gaussian(image.shape, center, covariance)
                          for center, covariance in
                          zip(centers, _moment_sigmas(image, centers))])
    finite = np.isfinite(image)
    design = templates[:, finite].T
    amplitudes, _ = nnls(design, image[finite])
    return templates * amplitudes[:, None, None]


def _detection_footprint(image):
    """Pixels of sources detected at 1.5 sigma (photutils), as a mask."""
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import detect_sources

    _, _, noise = sigma_clipped_stats(image, sigma=3.0)
    smoothed = convolve(image, Gaussian2DKernel(2.0))
    segmentation = detect_sources(smoothed, 1.5 * noise / 2.0, n_pixels=5)
    return segmentation.data > 0


def _write_catalog(partial, image, catalog_centers, filename, overwrite):
    from astropy.table import QTable

    from ..evaluation import match_sources
    from ..utils._io import atomic_output

    centers = partial.centers
    labels = np.array(sorted(centers), dtype=np.int32)
    positions = np.array([centers[label] for label in labels]).reshape(-1, 2)
    attributed = set(partial.partial_labels.tolist())
    table = QTable()
    table['label'] = labels
    table['y_center'] = positions[:, 0]
    table['x_center'] = positions[:, 1]
    table['partial_flux'] = [
        float(partial.source_image(label, image).data.sum())
        if label in attributed else 0.0 for label in labels]
    table['dominant_flux'] = [float(image[partial.data == label].sum())
                              for label in labels]
    table['effective_area'] = [
        partial.get_effective_area(label) if label in attributed else 0.0
        for label in labels]
    matches = match_sources(positions, catalog_centers, max_distance=3.0)
    table['catalog_index'] = -1
    for predicted, true in zip(matches.predicted_indices,
                               matches.true_indices):
        table['catalog_index'][predicted] = true
    table.meta['comments'] = [
        'pais_deblend example: HLF GOODS-South cutout, F160W, electrons/s',
        'partial_flux = sum of M_i * I; dominant_flux = disjoint sum']
    with atomic_output(filename, overwrite=overwrite) as temporary:
        table.write(temporary, format='ascii.ecsv', overwrite=True)
    return table, matches


def _write_figure(partial, image, filename, overwrite):
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize

    from ..utils._io import atomic_output

    norm = ImageNormalize(image, stretch=AsinhStretch(0.01))
    labels = partial.partial_labels[:3]
    fig, axes = plt.subplots(1, 2 + len(labels), figsize=(3.2 * (2 + len(labels)), 3.4))
    axes[0].imshow(image, origin='lower', cmap='gray_r', norm=norm)
    axes[0].set_title('F160W image')
    partial.imshow(ax=axes[1])
    axes[1].set_title('dominant source')
    for ax, label in zip(axes[2:], labels):
        frame = np.zeros(image.shape)
        cutout = partial.source_image(label, image)
        frame[cutout.slices] = cutout.data
        ax.imshow(frame, origin='lower', cmap='gray_r', norm=norm)
        ax.set_title(f'source {label}: M_i * I')
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_output(filename, overwrite=overwrite) as temporary:
        fig.savefig(temporary, format='png', dpi=90, bbox_inches='tight')
    plt.close(fig)


def run_example(output_dir, *, overwrite=False, n_contributors=3,
                contributor_choice=None):
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
    contributor_choice : {'nearest', 'most_flux'}, optional
        Passed to `~pais_deblend.pcr.encode_pcr`; its default if `None`.

    Returns
    -------
    summary : dict
        The output paths and the headline figures.
    """
    from ..datasets import load_hlf_goodss
    from ..evaluation import flux_conservation
    from ..pcr import decode_pcr, encode_pcr

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
    image = hlf.flux[..., 0].astype(np.float64)
    models = reference_source_images(image, hlf.centers)
    options = {} if contributor_choice is None else {
        'contributor_choice': contributor_choice}
    pcr = encode_pcr(models, hlf.centers, n_contributors=n_contributors,
                     **options)
    partial = decode_pcr(pcr, image, footprint=_detection_footprint(image))
    partial.write(paths['partial.fits'], overwrite=overwrite)
    _, matches = _write_catalog(partial, image, hlf.centers,
                                paths['catalog.ecsv'], overwrite)
    _write_figure(partial, image, paths['overview.png'], overwrite)
    return {
        'partial segmentation': paths['partial.fits'],
        'catalog': paths['catalog.ecsv'],
        'figure': paths['overview.png'],
        'catalog sources recovered': f'{len(matches.true_indices)} of '
                                     f'{len(hlf.centers)}',
        'flux conservation L1': f'{flux_conservation(partial, image):.3g}',
    }
