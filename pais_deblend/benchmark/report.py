"""
Writing benchmark results: ECSV tables, Markdown and reStructuredText
summary tables, and the figures (recall of the fainter pair member against
separation, flux error against blendedness, one example blend with every
method's attribution).
"""

import json
import pathlib

import numpy as np

from pais_deblend.benchmark.registry import BLENDEDNESS_BINS

__all__ = ['write_results', 'format_markdown', 'format_rst',
           'summary_rows_for_display', 'plot_recall_vs_separation',
           'plot_flux_error_vs_blendedness', 'plot_example_blend']

#: Summary columns shown in the Markdown / RST tables, with headers.
DISPLAY_COLUMNS = (
    ('suite', 'suite'), ('method', 'method'), ('n_images', 'images'),
    ('precision', 'precision'), ('recall', 'recall'), ('f1', 'F1'),
    ('recall_fainter', 'recall (fainter)'), ('AP', 'AP'),
    ('flux_median_abs_error', 'flux |err|'), ('flux_bias', 'flux bias'),
    ('segment_median_abs_error', 'segment |err|'),
    ('segment_bias', 'segment bias'),
    ('reconstruction_error', 'recon. err'),
    ('flux_conservation', 'flux cons.'), ('ks_pvalue', 'KS p'),
    ('time_median', 'time/image [s]'), ('time_ratio', 'time ratio'),
    ('peak_memory_mib', 'peak mem [MiB]'))


def _format(value, name):
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        return '-'
    if name == 'flux_conservation':
        return f'{value:.1e}'
    if name in ('time_median',):
        return f'{value:.3g}'
    if name == 'time_ratio':
        return f'{value:.3g}'
    if name in ('peak_memory_mib',):
        return f'{value:.1f}'
    return f'{value:.3f}'


def summary_rows_for_display(results, columns=DISPLAY_COLUMNS):
    """
    The summary as a header and rows of strings (columns whose values are
    all missing are dropped).
    """
    summary = results.summary
    keep = []
    for name, header in columns:
        if name not in summary.colnames:
            continue
        values = [_format(v, name) for v in summary[name]]
        if len(values) and all(v == '-' for v in values):
            continue
        keep.append((name, header, values))
    header = [h for _, h, _ in keep]
    rows = [[values[i] for _, _, values in keep]
            for i in range(len(summary))]
    return header, rows


def _ratio_display(results):
    table = results.timing_ratios
    if len(table) == 0:
        return None, []
    methods = [c for c in table.colnames if c not in ('suite', 'method')]
    header = ['suite', 'method'] + [f'/ {m}' for m in methods]
    rows = [[str(r['suite']), str(r['method'])]
            + [_format(r[m], 'time_ratio') for m in methods] for r in table]
    return header, rows


def _markdown_table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def _rst_cell(text):
    # '|x|' would be a substitution and a lone '-' an empty bullet list
    text = str(text).replace('|', '\\|')
    return 'n/a' if text == '-' else text


def _rst_table(header, rows):
    header = [_rst_cell(h) for h in header]
    rows = [[_rst_cell(c) for c in row] for row in rows]
    widths = [max(len(str(x)) for x in column)
              for column in zip(header, *rows)]
    rule = '  '.join('=' * w for w in widths)

    def line(cells):
        return '  '.join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return '\n'.join([rule, line(header), rule] + [line(r) for r in rows]
                     + [rule])


def _preamble(results):
    meta = results.meta
    mode = 'quick' if meta.get('quick') else 'full'
    text = (f"pais_deblend benchmark ({mode} mode, seed {meta.get('seed')}), "
            f"{meta.get('date')}, {meta.get('machine')}")
    skipped = meta.get('skipped') or {}
    if skipped:
        text += '. Skipped: ' + '; '.join(f'{k} ({v})'
                                           for k, v in skipped.items())
    return text


def format_markdown(results):
    """Summary and timing-ratio tables as Markdown text."""
    return _tables_text(results, _markdown_table)


def format_rst(results):
    """Summary and timing-ratio tables as reStructuredText."""
    return _tables_text(results, _rst_table)


def _tables_text(results, table):
    """The summary and timing-ratio tables, each made by ``table``."""
    header, rows = summary_rows_for_display(results)
    parts = [_preamble(results), '', table(header, rows)]
    ratio_header, ratio_rows = _ratio_display(results)
    if ratio_header:
        parts += ['', 'Median time per image, row method / column method:',
                  '', table(ratio_header, ratio_rows)]
    return '\n'.join(parts) + '\n'


def write_results(results, output_dir, *, overwrite=False, figures=True):
    """
    Write ``summary.ecsv``, ``images.ecsv``, ``sources.ecsv``,
    ``binned.ecsv``, ``timing_ratios.ecsv``, ``summary.md``,
    ``summary.rst``, ``meta.json`` and (with ``figures``)
    ``recall_vs_separation.png``, ``flux_error_vs_blendedness.png`` and
    ``example_blend.png``.

    Returns
    -------
    paths : list of `pathlib.Path`
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ('summary', 'images', 'sources', 'binned', 'timing_ratios'):
        table = getattr(results, name).copy()
        table.meta.update({k: v for k, v in results.meta.items()
                           if k != 'skipped'})
        path = output_dir / f'{name}.ecsv'
        if path.exists() and not overwrite:
            msg = f'{path} exists; pass overwrite=True to replace it'
            raise FileExistsError(msg)
        table.write(path, format='ascii.ecsv', overwrite=True)
        paths.append(path)
    for name, text in (('summary.md', results.to_markdown()),
                       ('summary.rst', results.to_rst()),
                       ('meta.json', json.dumps(results.meta, indent=2))):
        path = output_dir / name
        path.write_text(text)
        paths.append(path)
    if figures:
        import matplotlib.pyplot as plt

        for name, function in (
                ('recall_vs_separation.png', plot_recall_vs_separation),
                ('flux_error_vs_blendedness.png',
                 plot_flux_error_vs_blendedness),
                ('example_blend.png', plot_example_blend)):
            figure = function(results)
            if figure is None:
                continue
            path = output_dir / name
            figure.savefig(path, dpi=100)
            plt.close(figure)
            paths.append(path)
    return paths


def _method_styles(methods):
    import matplotlib.pyplot as plt

    # distinct markers, line styles and shrinking sizes, so that methods
    # with identical results (the detection codes often agree) stay visible
    colors = plt.get_cmap('tab10').colors
    markers = 'osD^vPX*'
    lines = ('-', '--', ':', '-.')
    return {m: dict(color=colors[i % len(colors)],
                    marker=markers[i % len(markers)],
                    linestyle=lines[i % len(lines)],
                    markersize=max(3.0, 9.0 - 1.2 * i))
            for i, m in enumerate(methods)}


def plot_recall_vs_separation(results, *, suite='pairs'):
    """
    Recall of the fainter pair member against separation, one line per
    method and one panel per flux ratio. Returns the figure or None.

    Below one FWHM (the matching radius) a single merged detection lies
    within reach of both members and the one-to-one matching gives it to
    the nearer, which can be the fainter: read those points as "one of
    the two was found".
    """
    import matplotlib.pyplot as plt

    table = results.binned
    if len(table) == 0 or 'quantity' not in table.colnames:
        return None
    rows = table[(table['suite'] == suite) & (table['quantity'] == 'separation')
                 & (table['subset'] == 'fainter')
                 & np.isfinite(table['flux_ratio'])]
    if len(rows) == 0:
        return None
    ratios = sorted(set(rows['flux_ratio']))
    methods = list(dict.fromkeys(rows['method']))
    styles = _method_styles(methods)
    figure, axes = plt.subplots(1, len(ratios), figsize=(3.6 * len(ratios), 3.2),
                                sharey=True, squeeze=False, layout='constrained')
    for axis, ratio in zip(axes[0], ratios):
        for method in methods:
            own = rows[(rows['method'] == method) & (rows['flux_ratio'] == ratio)]
            order = np.argsort(own['low'])
            axis.plot(own['low'][order], own['recall'][order],
                      label=method, **styles[method])
        axis.set_title(f'flux ratio {ratio:g}:1')
        axis.set_xlabel('separation [PSF FWHM]')
        axis.set_ylim(-0.05, 1.05)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel('recall of the fainter source')
    axes[0][-1].legend(fontsize='small')
    return figure


def plot_flux_error_vs_blendedness(results, *, suite=None):
    """
    Median absolute relative flux error of matched sources against blendedness,
    one line per method (``suite`` None pools the suites with flux truth,
    except ``encoding``). Returns the figure or None.
    """
    import matplotlib.pyplot as plt

    sources = results.sources
    if len(sources) == 0 or 'blendedness' not in sources.colnames:
        return None
    if suite is None:
        chosen = sources['suite'] != 'encoding'
    else:
        chosen = sources['suite'] == suite
    sources = sources[chosen & np.isfinite(sources['flux_error'])
                      & np.isfinite(sources['blendedness'])]
    if len(sources) == 0:
        return None
    edges = np.asarray(BLENDEDNESS_BINS)
    centres = np.sqrt(np.maximum(edges[:-1], 1e-3) * edges[1:])
    methods = list(dict.fromkeys(sources['method']))
    styles = _method_styles(methods)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout='constrained')
    for method in methods:
        own = sources[sources['method'] == method]
        beta = np.asarray(own['blendedness'])
        index = np.clip(np.searchsorted(edges, beta, side='right') - 1, 0,
                        edges.size - 2)
        medians, biases = [], []
        for k in range(edges.size - 1):
            errors = np.asarray(own['flux_error'])[index == k]
            medians.append(np.median(np.abs(errors)) if errors.size else np.nan)
            biases.append(np.median(errors) if errors.size else np.nan)
        axes[0].plot(centres, medians, label=method, **styles[method])
        axes[1].plot(centres, biases, label=method, **styles[method])
    for axis, label in zip(axes, ('median |relative flux error|',
                                  'median relative flux error (bias)')):
        axis.set_xscale('log')
        axis.set_xlabel('blendedness')
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_yscale('log')
    axes[1].set_yscale('symlog', linthresh=1e-3)
    axes[1].axhline(0, color='k', lw=0.8)
    axes[0].legend(fontsize='small')
    return figure


def _attribution_rgb(output, shape):
    """RGB image of an attribution: each label a colour, mixed by weight."""
    import matplotlib.pyplot as plt

    colors = np.asarray(plt.get_cmap('tab10').colors)
    rgb = np.zeros(tuple(shape) + (3,))
    segmentation = output.segmentation
    if output.is_partial:
        contributors = np.asarray(segmentation.contributors)
        weights = np.asarray(segmentation.weights, dtype=np.float64)
        for slot in range(contributors.shape[-1]):
            label = contributors[..., slot]
            color = colors[(label - 1) % len(colors)]
            rgb += np.where(label[..., None] > 0,
                            weights[..., slot, None] * color, 0.0)
    else:
        label = np.asarray(segmentation.data)
        rgb = np.where(label[..., None] > 0,
                       colors[(label - 1) % len(colors)], 0.0)
    attributed = rgb.sum(axis=-1) > 0
    rgb[~attributed] = 1.0
    return rgb


def plot_example_blend(results, *, suite='pairs'):
    """
    One blend from ``suite`` (the first available suite if absent): the
    image, the true dominant-source map and each method's attribution
    (colours mixed by weight for partial methods), with true centres (+)
    and detections (x). Returns the figure or None.
    """
    import matplotlib.pyplot as plt

    if not results.examples:
        return None
    if suite not in results.examples:
        suite = next(iter(results.examples))
    image, outputs = results.examples[suite]
    panels = 1 + len(outputs) + (1 if image.has_flux_truth else 0)
    figure, axes = plt.subplots(1, panels, figsize=(2.3 * panels, 2.7),
                                squeeze=False, layout='constrained')
    axes = axes[0]
    data = np.asarray(image.data, dtype=np.float64)
    scale = np.arcsinh(data / (3 * image.noise_sigma))
    axes[0].imshow(scale, origin='lower', cmap='gray_r',
                   vmin=0, vmax=np.percentile(scale, 99.8))
    axes[0].set_title(image.name, fontsize='small')
    position = 1
    if image.has_flux_truth:
        from pais_deblend.evaluation import truth_masks

        masks = truth_masks(image.true_source_images,
                            threshold=image.noise_sigma, mode='dominant',
                            shape=image.shape)
        colors = np.asarray(plt.get_cmap('tab10').colors)
        rgb = np.ones(tuple(image.shape) + (3,))
        for i, mask in enumerate(masks):
            rgb[mask] = colors[i % len(colors)]
        axes[1].imshow(rgb, origin='lower')
        axes[1].set_title('truth (dominant)', fontsize='small')
        position = 2
    for axis, (method, output) in zip(axes[position:], outputs.items()):
        axis.imshow(_attribution_rgb(output, image.shape), origin='lower')
        positions = output.positions
        if len(positions):
            axis.plot(positions[:, 1], positions[:, 0], 'kx', ms=6)
        axis.set_title(method, fontsize='small')
    # zoom on the true sources (the whole frame without truth)
    (y0, y1), (x0, x1) = (-0.5, image.shape[0] - 0.5), (-0.5, image.shape[1] - 0.5)
    if image.true_centers is not None and len(image.true_centers):
        half = max(6 * image.psf_fwhm, 12.0)
        low = image.true_centers.min(axis=0) - half
        high = image.true_centers.max(axis=0) + half
        y0, x0 = np.maximum(low, -0.5)
        y1, x1 = np.minimum(high, np.array(image.shape) - 0.5)
    for axis in axes:
        if image.true_centers is not None:
            axis.plot(image.true_centers[:, 1], image.true_centers[:, 0], 'r+',
                      ms=8)
        axis.set_xlim(x0, x1)
        axis.set_ylim(y0, y1)
        axis.set_xticks([])
        axis.set_yticks([])
    return figure
