"""
Running methods on suites and measuring them (:ref:`evaluation-metrics`).
"""

import datetime
import platform
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table, vstack

from pais_deblend.benchmark.registry import (BLENDEDNESS_BINS,
                                             METHODS, Method,
                                             get_method)
from pais_deblend.benchmark.suites import get_suite, SUITES
from pais_deblend.utils._progress import progress_bar as _progress_bar
from pais_deblend.utils.exceptions import (OptionalDependencyWarning,
                                           PaisDeblendWarning)

__all__ = ['BenchmarkResults', 'run_benchmark', 'evaluate_output',
           'measure_method', 'detection_footprint', 'matched_filter_snr',
           'cpu_name']

_RESULT_FILES = ('summary.ecsv', 'images.ecsv', 'sources.ecsv',
                 'binned.ecsv', 'timing_ratios.ecsv')


@dataclass
class BenchmarkResults:
    """
    The tables of a benchmark run.

    Attributes
    ----------
    summary : `~astropy.table.Table`
        One row per (suite, method): detection (precision, recall, F1,
        ``recall_fainter`` for pairs), ``AP`` / ``AP50`` (COCO mask AP),
        flux errors (median absolute error and bias of ``flux`` and of
        ``flux_segment``), median reconstruction error, worst flux
        conservation (partial methods), mean KS p-value (encoding suite),
        median and total wall time, peak memory and ``time_ratio`` (median
        time per image over the fastest method's in the same suite).
    images : `~astropy.table.Table`
        One row per (suite, image, method).
    sources : `~astropy.table.Table`
        One row per (suite, image, method, true in-frame source).
    binned : `~astropy.table.Table`
        Recall and flux errors binned by blendedness, and for pairs by
        separation and flux ratio (``subset`` 'all' or 'fainter').
    timing_ratios : `~astropy.table.Table`
        Per suite, the ratio of median per-image times: row method over
        column method.
    examples : dict
        ``{suite: (BenchmarkImage, {method: MethodOutput})}`` for one
        example image per suite (used by the example figure).
    meta : dict
        Date, machine, quick flag, seed, skipped methods.
    """

    summary: Table
    images: Table
    sources: Table
    binned: Table
    timing_ratios: Table
    examples: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def write(self, output_dir, *, overwrite=False, figures=True):
        """
        Write the ECSV tables, ``summary.md``, ``summary.rst`` and (with
        ``figures``) the PNG figures to ``output_dir``.

        Returns
        -------
        paths : list of `pathlib.Path`
        """
        from pais_deblend.benchmark.report import write_results

        return write_results(self, output_dir, overwrite=overwrite,
                             figures=figures)

    def to_markdown(self):
        """The summary and timing-ratio tables as Markdown."""
        from pais_deblend.benchmark.report import format_markdown

        return format_markdown(self)

    def to_rst(self):
        """The summary and timing-ratio tables as reStructuredText."""
        from pais_deblend.benchmark.report import format_rst

        return format_rst(self)


def measure_method(method, image, *, memory=False):
    """
    Run ``method`` on ``image`` and measure it.

    Parameters
    ----------
    method : `Method`
    image : `BenchmarkImage`
    memory : bool, optional
        Trace Python allocations with `tracemalloc` (slows the run a
        little, so timed runs do not use it).

    Returns
    -------
    output : `MethodOutput`
    wall_time : float
        Seconds (`time.perf_counter`).
    peak_memory : float
        Peak traced allocation above the start, bytes (NaN when not
        traced). numpy and Python allocations are traced; memory held by
        external programs (SExtractor: see ``output.meta``) or by XLA
        (JAX, used by scarlet2) is not.
    """
    if not memory:
        start = time.perf_counter()
        output = method.run(image)
        return output, time.perf_counter() - start, float('nan')
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    try:
        output = method.run(image)
    finally:
        wall_time = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base
        if not was_tracing:
            tracemalloc.stop()
    return output, wall_time, float(peak)


def _in_frame_positions(positions, shape):
    height, width = shape
    return ((positions[:, 0] >= -0.5) & (positions[:, 0] < height - 0.5)
            & (positions[:, 1] >= -0.5) & (positions[:, 1] < width - 0.5))


def _recovered_cutout(output, label, data, objects):
    from pais_deblend.segmentation.cutout import SourceCutout

    if output.source_images is not None and label in output.source_images:
        return output.source_images[label]
    segmentation = output.segmentation
    if output.is_partial:
        if label not in set(np.asarray(segmentation.partial_labels).tolist()):
            return None
        cutout = segmentation.source_image(label, data)
        return SourceCutout(np.asarray(cutout.data, dtype=np.float64),
                            cutout.slices)
    if label - 1 >= len(objects) or objects[label - 1] is None:
        return None
    slices = objects[label - 1]
    inside = np.asarray(segmentation.data)[slices] == label
    return SourceCutout(np.where(inside, data[slices], 0.0), slices)


def detection_footprint(image):
    """
    (h, w) boolean footprint of a `BenchmarkImage`: the pixels of the
    image, filtered by a Gaussian of its PSF FWHM, above the default
    `DetectionSettings` threshold times its noise sigma.
    """
    from scipy.ndimage import convolve

    from pais_deblend.benchmark.adapters import DetectionSettings
    from pais_deblend.benchmark.registry import gaussian_kernel

    settings = DetectionSettings()
    filtered = convolve(np.asarray(image.data, dtype=np.float64),
                        gaussian_kernel(image.psf_fwhm), mode='constant')
    return filtered > settings.threshold_sigma * image.noise_sigma


def matched_filter_snr(image):
    """
    (N,) matched-filter signal-to-noise of each true source,
    sqrt(sum S_i^2) / sigma (white noise of the per-pixel sigma); NaN
    without flux truth.
    """
    n_true = len(image.true_centers)
    if not image.has_flux_truth or not image.noise_sigma > 0:
        return np.full(n_true, np.nan)
    return np.array([np.sqrt(np.sum(np.square(c.data, dtype=np.float64)))
                     for c in image.true_source_images]) / image.noise_sigma


def evaluate_output(image, output, *, profile_metrics=False):
    """
    Score one method output against the image's truth.

    Parameters
    ----------
    image : `BenchmarkImage`
    output : `MethodOutput`
    profile_metrics : bool, optional
        Also run the r90 KS test per matched source.

    Returns
    -------
    image_row : dict
        Detection counts and scores, flux conservation.
    source_rows : list of dict
        One per true in-frame source (empty without position truth).
    masks : tuple or None
        ``(true_masks, predicted_masks, scores)`` for the pooled AP, or
        None without flux truth.
    """
    from scipy.ndimage import find_objects

    from pais_deblend.evaluation import (blendedness, flux_conservation,
                                         match_sources, r90_ks_test,
                                         reconstruction_error, truth_masks)

    data = np.asarray(image.data, dtype=np.float64)
    shape = image.shape
    catalog = output.catalog
    positions = output.positions
    keep = np.flatnonzero(_in_frame_positions(positions, shape))
    row = {'n_predicted': len(keep)}
    row['flux_conservation'] = (flux_conservation(output.segmentation, data)
                                if output.is_partial else np.nan)
    if not image.has_position_truth:
        row.update(n_true=0, n_true_positive=0, n_false_positive=len(keep),
                   n_false_negative=0, precision=np.nan, recall=np.nan,
                   f1=np.nan)
        return row, [], None
    centers = np.asarray(image.true_centers, dtype=np.float64)
    truth = (np.flatnonzero(image.in_frame) if image.in_frame is not None
             else np.arange(len(centers)))
    radius = (image.match_radius if image.match_radius is not None
              else image.psf_fwhm)
    matches = match_sources(positions[keep], centers[truth],
                            max_distance=radius)
    tp = len(matches.true_indices)
    fp = len(matches.unmatched_predicted)
    fn = len(matches.unmatched_true)
    row.update(n_true=len(truth), n_true_positive=tp, n_false_positive=fp,
               n_false_negative=fn,
               precision=tp / (tp + fp) if tp + fp else 1.0,
               recall=tp / (tp + fn) if tp + fn else 1.0,
               f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    matched_row = {int(truth[t]): int(keep[p]) for p, t in
                   zip(matches.predicted_indices, matches.true_indices)}
    distance = {int(truth[t]): float(d) for t, d in
                zip(matches.true_indices, matches.distances)}

    fluxes = image.true_fluxes()
    snr = matched_filter_snr(image)
    beta = (blendedness(image.true_source_images, shape=shape)
            if image.has_flux_truth else np.full(len(centers), np.nan))
    label_map = np.asarray(output.segmentation.data)
    objects = find_objects(label_map) if not output.is_partial else None
    labels = np.asarray(catalog['label'], dtype=np.int64) if len(catalog) \
        else np.zeros(0, dtype=np.int64)
    source_rows = []
    for index in truth:
        index = int(index)
        true_flux = fluxes[index] if fluxes is not None else np.nan
        source = {'source': index, 'y_true': centers[index, 0],
                  'x_true': centers[index, 1], 'true_flux': true_flux,
                  'blendedness': beta[index], 'snr': snr[index],
                  'detected': index in matched_row,
                  'distance': distance.get(index, np.nan),
                  'flux': np.nan, 'flux_error': np.nan,
                  'flux_segment': np.nan, 'flux_segment_error': np.nan,
                  'reconstruction_error': np.nan, 'ks_pvalue': np.nan}
        if index in matched_row:
            catalog_row = matched_row[index]
            label = int(labels[catalog_row])
            flux = float(catalog['flux'][catalog_row])
            flux_segment = float(catalog['flux_segment'][catalog_row])
            source.update(flux=flux, flux_segment=flux_segment)
            if fluxes is not None and true_flux > 0:
                source['flux_error'] = (flux - true_flux) / true_flux
                source['flux_segment_error'] = ((flux_segment - true_flux)
                                                / true_flux)
                recovered = _recovered_cutout(output, label, data, objects)
                true_cutout = image.true_source_images[index]
                if recovered is not None:
                    source['reconstruction_error'] = reconstruction_error(
                        recovered, true_cutout)
                    if profile_metrics:
                        source['ks_pvalue'] = r90_ks_test(
                            true_cutout.to_frame(shape),
                            recovered.to_frame(shape),
                            centers[index])[1]
        source_rows.append(source)

    masks = None
    if image.has_flux_truth:
        true_masks = truth_masks(image.true_source_images,
                                 threshold=image.noise_sigma, mode='dominant',
                                 shape=shape)[truth]
        predicted_labels = labels[keep]
        if output.is_partial:
            # partial attributions extend below the noise: compare them on
            # the footprint the detection codes use (filtered image above
            # the shared threshold), an observable, not the truth
            label_map = np.where(detection_footprint(image), label_map, 0)
        predicted = label_map[None, :, :] == predicted_labels[:, None, None]
        scores = np.nan_to_num(np.asarray(catalog['flux'], float)[keep])
        masks = (true_masks, predicted, scores)
    return row, source_rows, masks


def _median(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else np.nan


def _flux_stats(errors):
    errors = np.asarray(errors, dtype=np.float64)
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        return np.nan, np.nan
    return float(np.median(np.abs(errors))), float(np.median(errors))


def _select_methods(methods, suite):
    if methods is None:
        chosen = [method for method in METHODS.values() if method.default]
    else:
        chosen = [get_method(name) for name in methods]
    if suite.methods is not None:
        chosen = [method for method in chosen if method.name in suite.methods]
    return chosen


def _pick_example(images):
    for image in images:
        if (image.meta.get('separation') == 1.0
                and image.meta.get('flux_ratio') == 4.0):
            return image.name
    for image in images:
        if image.true_centers is not None and len(image.true_centers) >= 2:
            return image.name
    return images[0].name if images else None


def run_benchmark(methods=None, suites=None, *, quick=False, output_dir=None,
                  overwrite=False, progress_bar=True, seed=0, figures=True):
    """
    Run deblending methods on benchmark suites and measure them.

    Every method runs in this process on the same images. Per method and
    suite the first image is run once more beforehand, untimed, with
    `tracemalloc` on: this warms caches and JIT compilers (numba, JAX) and
    gives the peak memory; the timed runs that follow do not trace (JAX
    compiles again for every new image shape, so the warm-up is needed per
    suite).

    Parameters
    ----------
    methods : sequence of str or `Method`, optional
        Registered method names (see `available_methods`); default: every
        default method. A suite with a ``methods`` list runs only those
        (``encoding`` runs ``pcr_ceiling`` only). Methods whose optional
        dependency or program is missing are skipped with an
        `~pais_deblend.utils.exceptions.OptionalDependencyWarning`;
        oracles are skipped on images without the truth they need.
    suites : sequence of str, optional
        Registered suite names (``'pairs'``, ``'field'``, ``'hlf'``,
        ``'encoding'``); default all.
    quick : bool, optional
        Small suites (the CI smoke test; under two minutes on two cores)
        and fewer scarlet2 iterations.
    output_dir : str or path-like, optional
        Where to write the tables and figures (see
        `BenchmarkResults.write`); nothing is written when None.
    overwrite : bool, optional
        Replace earlier results in ``output_dir``; without it an existing
        ``summary.ecsv`` there raises `FileExistsError` before anything
        runs.
    progress_bar : bool, optional
        Show progress bars.
    seed : int, optional
        Master seed of the simulated suites.
    figures : bool, optional
        Also write the figures (needs matplotlib).

    Returns
    -------
    results : `BenchmarkResults`
    """
    output_dir = _check_output_dir(output_dir, overwrite)
    methods, suite_objects = _resolve_selection(methods, suites)

    skipped = {}
    image_rows, source_rows, summary_rows, ratio_rows = [], [], [], []
    binned_tables = []
    examples = {}
    for suite in suite_objects:
        images = list(suite.images(quick=quick, seed=seed))
        example_name = _pick_example(images)
        example_outputs = {}
        suite_summary = []
        suite_sources = []
        for method in _select_methods(methods, suite):
            if not _method_runs(method, suite, quick, skipped):
                continue
            usable = _usable_images(method, images, quick, example_name)
            if not usable:
                continue
            method_sources, summary = _run_method(
                suite, method, usable, quick=quick,
                progress_bar=progress_bar, example_name=example_name,
                image_rows=image_rows, example_outputs=example_outputs)
            suite_sources.extend(method_sources)
            suite_summary.append(summary)
        _add_time_ratios(suite_summary)
        summary_rows.extend(suite_summary)
        ratio_rows.extend(_ratio_rows(suite.name, suite_summary))
        source_rows.extend(suite_sources)
        if suite_sources:
            binned_tables.append(_binned(suite.name, suite_sources))
        if example_name is not None and example_outputs:
            example_image = next(i for i in images if i.name == example_name)
            examples[suite.name] = (example_image, example_outputs)

    results = BenchmarkResults(
        summary=_table(summary_rows, _SUMMARY_COLUMNS),
        images=_table(image_rows),
        sources=_table(source_rows),
        binned=(vstack(binned_tables, metadata_conflicts='silent')
                if binned_tables else Table()),
        timing_ratios=_table(ratio_rows),
        examples=examples,
        meta=_run_meta(quick, seed, skipped))
    if output_dir is not None:
        results.write(output_dir, overwrite=True, figures=figures)
    return results


def _check_output_dir(output_dir, overwrite):
    """The output directory as a path (None stays None); refuse to replace
    earlier results there without *overwrite*."""
    import pathlib

    if output_dir is None:
        return None
    output_dir = pathlib.Path(output_dir)
    existing = [name for name in _RESULT_FILES
                if (output_dir / name).exists()]
    if existing and not overwrite:
        msg = (f'output_dir {str(output_dir)!r} already holds benchmark '
               f'results ({existing[0]}); pass overwrite=True '
               '(--overwrite) to replace them')
        raise FileExistsError(msg)
    return output_dir


def _resolve_selection(methods, suites):
    """The chosen `Method` objects (None for the defaults) and suites."""
    if isinstance(methods, (str, Method)):
        methods = [methods]
    if isinstance(suites, str):
        suites = [suites]
    if methods is not None:
        methods = [get_method(name) for name in methods]
        if not methods:
            msg = 'methods must name at least one method'
            raise ValueError(msg)
    suite_objects = [get_suite(name) for name in
                     (SUITES if suites is None else suites)]
    if not suite_objects:
        msg = 'suites must name at least one suite'
        raise ValueError(msg)
    return methods, suite_objects


def _method_runs(method, suite, quick, skipped):
    """Whether *method* runs on *suite*; record (and warn once about) a
    method whose dependency is missing in *skipped*."""
    if (quick and method.quick_suites is not None
            and suite.name not in method.quick_suites):
        return False
    ok, reason = method.available()
    if not ok:
        if method.name not in skipped:
            skipped[method.name] = reason
            warnings.warn(f'benchmark method {method.name!r} skipped: '
                          f'{reason}', OptionalDependencyWarning)
        return False
    return True


def _usable_images(method, images, quick, example_name):
    """The images *method* runs on: those it applies to, thinned evenly to
    its quick-run limit (keeping the example image) when *quick*."""
    usable = [image for image in images if method.applicable(image)]
    if quick and method.quick_max_images is not None and \
            len(usable) > method.quick_max_images:
        step = len(usable) / method.quick_max_images
        subset = [usable[int(k * step)]
                  for k in range(method.quick_max_images)]
        example = [i for i in usable if i.name == example_name]
        if example and example[0] not in subset:
            subset[0] = example[0]
        usable = subset
    return usable


def _warm_up(method, image):
    """Run *method* once, untimed, on *image*; its peak memory (NaN when
    it fails, with a warning)."""
    try:
        _, _, peak = measure_method(method, image, memory=True)
    except Exception as exc:  # noqa: BLE001 - recorded, not hidden
        warnings.warn(f'benchmark method {method.name!r} failed on '
                      f'{image.name}: {exc!r}', PaisDeblendWarning)
        peak = np.nan
    return peak


def _run_method(suite, method, usable, *, quick, progress_bar, example_name,
                image_rows, example_outputs):
    """Run and measure one method on the usable images of one suite.

    Appends a row per image to *image_rows* and the method's output on the
    example image to *example_outputs*; returns the per-source rows and
    the suite summary row of the method.
    """
    method.configure(quick=quick)
    peak = _warm_up(method, usable[0])
    times, externals, pooled = [], [], ([], [], [])
    method_sources = []
    n_failed = 0
    for image in _progress_bar(usable, desc=f'{suite.name}/{method.name}',
                               enabled=progress_bar, unit='image'):
        base = {'suite': suite.name, 'image': image.name,
                'method': method.name}
        try:
            output, wall_time, _ = measure_method(method, image)
        except Exception as exc:  # noqa: BLE001 - recorded, not hidden
            n_failed += 1
            warnings.warn(f'benchmark method {method.name!r} failed '
                          f'on {image.name}: {exc!r}',
                          PaisDeblendWarning)
            image_rows.append({**base, 'status': f'error: {exc!r}'[:200],
                               'time': np.nan})
            continue
        times.append(wall_time)
        external = output.meta.get('external_peak_memory')
        if external is not None:
            externals.append(external)
        row, rows, masks = evaluate_output(
            image, output, profile_metrics=suite.profile_metrics)
        image_rows.append({**base, 'status': 'ok', 'time': wall_time,
                           **row, **_meta_columns(image.meta)})
        for source in rows:
            source.update(base)
            source.update(_meta_columns(image.meta))
            source['fainter'] = bool(
                'flux_ratio' in image.meta and source['source'] == 1)
        method_sources.extend(rows)
        if masks is not None:
            for store, value in zip(pooled, masks):
                store.append(value)
        if image.name == example_name:
            example_outputs[method.name] = output
    summary = _summarise(
        suite, method, method_sources,
        [r for r in image_rows if r['suite'] == suite.name
         and r['method'] == method.name and r['status'] == 'ok'],
        pooled, times, peak, externals, n_failed)
    return method_sources, summary


def _meta_columns(meta):
    return {'separation': float(meta.get('separation', np.nan)),
            'flux_ratio': float(meta.get('flux_ratio', np.nan)),
            'density': float(meta.get('density', np.nan))}


_SUMMARY_COLUMNS = (
    'suite', 'method', 'n_images', 'n_failed', 'n_true', 'n_predicted',
    'precision', 'recall', 'f1', 'recall_fainter', 'AP', 'AP50',
    'flux_median_abs_error', 'flux_bias', 'segment_median_abs_error',
    'segment_bias', 'reconstruction_error', 'flux_conservation', 'ks_pvalue',
    'time_median', 'time_total', 'time_ratio', 'peak_memory_mib',
    'external_memory_mib')


def _summarise(suite, method, sources, image_rows, pooled, times, peak,
               externals, n_failed):
    from pais_deblend.evaluation import average_precision

    tp = sum(r['n_true_positive'] for r in image_rows)
    fp = sum(r['n_false_positive'] for r in image_rows)
    fn = sum(r['n_false_negative'] for r in image_rows)
    n_true = sum(r['n_true'] for r in image_rows)
    has_truth = n_true > 0
    row = {'suite': suite.name, 'method': method.name,
           'n_images': len(image_rows), 'n_failed': n_failed,
           'n_true': n_true,
           'n_predicted': sum(r['n_predicted'] for r in image_rows),
           'precision': tp / (tp + fp) if (tp + fp) else np.nan,
           'recall': tp / (tp + fn) if has_truth else np.nan,
           'f1': 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else np.nan}
    fainter = [s for s in sources if s['fainter']]
    row['recall_fainter'] = (float(np.mean([s['detected'] for s in fainter]))
                             if fainter else np.nan)
    if pooled[0]:
        ap = average_precision(list(pooled[0]), list(pooled[1]),
                               scores=list(pooled[2]))
        row['AP'], row['AP50'] = ap['AP'], ap['AP50']
    else:
        row['AP'] = row['AP50'] = np.nan
    row['flux_median_abs_error'], row['flux_bias'] = _flux_stats(
        [s['flux_error'] for s in sources])
    row['segment_median_abs_error'], row['segment_bias'] = _flux_stats(
        [s['flux_segment_error'] for s in sources])
    row['reconstruction_error'] = _median(
        [s['reconstruction_error'] for s in sources])
    conservation = np.asarray([r['flux_conservation'] for r in image_rows],
                              dtype=np.float64)
    conservation = conservation[np.isfinite(conservation)]
    row['flux_conservation'] = (float(conservation.max()) if conservation.size
                                else np.nan)
    pvalues = np.asarray([s['ks_pvalue'] for s in sources], dtype=np.float64)
    pvalues = pvalues[np.isfinite(pvalues)]
    row['ks_pvalue'] = float(pvalues.mean()) if pvalues.size else np.nan
    row['time_median'] = _median(times)
    row['time_total'] = float(np.sum(times)) if times else np.nan
    row['time_ratio'] = np.nan
    row['peak_memory_mib'] = peak / 2**20
    row['external_memory_mib'] = (max(externals) / 2**20 if externals
                                  else np.nan)
    return row


def _add_time_ratios(rows):
    times = [r['time_median'] for r in rows if np.isfinite(r['time_median'])]
    fastest = min(times) if times else np.nan
    for row in rows:
        row['time_ratio'] = (row['time_median'] / fastest
                             if fastest and np.isfinite(fastest) else np.nan)


def _ratio_rows(suite_name, rows):
    ratios = []
    for row in rows:
        entry = {'suite': suite_name, 'method': row['method']}
        for other in rows:
            denominator = other['time_median']
            entry[other['method']] = (row['time_median'] / denominator
                                      if denominator else np.nan)
        ratios.append(entry)
    return ratios


def _group_stats(sources):
    detected = np.array([s['detected'] for s in sources], dtype=bool)
    median_abs, bias = _flux_stats([s['flux_error'] for s in sources])
    median_abs_seg, bias_seg = _flux_stats(
        [s['flux_segment_error'] for s in sources])
    n_measured = int(np.sum(np.isfinite(
        [s['flux_error'] for s in sources])))
    return {'n_sources': len(sources), 'n_detected': int(detected.sum()),
            'recall': float(detected.mean()) if len(sources) else np.nan,
            'n_measured': n_measured,
            'flux_median_abs_error': median_abs, 'flux_bias': bias,
            'segment_median_abs_error': median_abs_seg,
            'segment_bias': bias_seg,
            'reconstruction_error': _median(
                [s['reconstruction_error'] for s in sources])}


def _binned(suite_name, sources):
    rows = []
    methods = list(dict.fromkeys(s['method'] for s in sources))
    edges = np.asarray(BLENDEDNESS_BINS)
    for method in methods:
        own = [s for s in sources if s['method'] == method]
        beta = np.array([s['blendedness'] for s in own], dtype=np.float64)
        if np.any(np.isfinite(beta)):
            for k in range(edges.size - 1):
                last = k == edges.size - 2
                inside = (beta >= edges[k]) & (
                    beta <= edges[k + 1] if last else beta < edges[k + 1])
                group = [s for s, i in zip(own, inside) if i]
                if group:
                    rows.append({'suite': suite_name, 'method': method,
                                 'quantity': 'blendedness', 'subset': 'all',
                                 'low': edges[k], 'high': edges[k + 1],
                                 'flux_ratio': np.nan, **_group_stats(group)})
        separations = np.array([s['separation'] for s in own])
        if not np.any(np.isfinite(separations)):
            continue
        ratios = np.array([s['flux_ratio'] for s in own])
        fainter = np.array([s['fainter'] for s in own], dtype=bool)
        for subset, chosen in (('all', np.ones(len(own), bool)),
                               ('fainter', fainter)):
            for ratio in [np.nan] + sorted(set(ratios[np.isfinite(ratios)])):
                by_ratio = chosen & (np.isfinite(ratios) if np.isnan(ratio)
                                     else ratios == ratio)
                for value in sorted(set(separations[by_ratio])):
                    group = [s for s, i in zip(
                        own, by_ratio & (separations == value)) if i]
                    rows.append({'suite': suite_name, 'method': method,
                                 'quantity': 'separation', 'subset': subset,
                                 'low': value, 'high': value,
                                 'flux_ratio': ratio, **_group_stats(group)})
            for ratio in sorted(set(ratios[chosen & np.isfinite(ratios)])):
                group = [s for s, i in zip(own, chosen & (ratios == ratio))
                         if i]
                rows.append({'suite': suite_name, 'method': method,
                             'quantity': 'flux_ratio', 'subset': subset,
                             'low': ratio, 'high': ratio, 'flux_ratio': ratio,
                             **_group_stats(group)})
    return _table(rows)


def _table(rows, names=None):
    if not rows:
        return Table(names=names) if names else Table()
    names = names or list(dict.fromkeys(k for row in rows for k in row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, str):
            columns[name] = [v if v is not None else '' for v in values]
        elif isinstance(sample, (bool, np.bool_)):
            columns[name] = [bool(v) if v is not None else False
                             for v in values]
        elif isinstance(sample, (int, np.integer)) and all(
                isinstance(v, (int, np.integer)) for v in values):
            columns[name] = values
        else:
            columns[name] = [float(v) if v is not None else np.nan
                             for v in values]
    return Table(columns, names=names)


def cpu_name():
    """
    The processor's model name (from ``/proc/cpuinfo`` on Linux, else
    what `platform` knows), for the machine line of benchmark results.

    Returns
    -------
    name : str
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return cpu


def _run_meta(quick, seed, skipped):
    import os

    cpu = cpu_name()
    return {'date': datetime.datetime.now(datetime.timezone.utc).strftime(
                '%Y-%m-%d %H:%M UTC'),
            'machine': f'{cpu}, {os.cpu_count()} CPUs, {platform.system()} '
                       f'{platform.release()}',
            'python': platform.python_version(),
            'quick': bool(quick), 'seed': int(seed),
            'skipped': dict(skipped),
            'time_unit': 's', 'memory_unit': 'MiB'}

