"""
Per-class (star / galaxy) detection and mask metrics and colour errors:
the figures of the Mask R-CNN deblender papers.

Burke et al. (2019, MNRAS 490, 3952, "Deblending and classifying
astronomical sources with Mask R-CNN deep learning") rank the detections
of each class by the network's class score, trace precision-recall curves
by lowering the score threshold, and quote the precision reached at 80 %
recall: 92 % for stars and 98 % for galaxies (simulated DECam-like g, r, z
fields, ~30 galaxies per arcmin^2). The follow-up on the same code (Shah,
with Burke, Aleo & Liu, "Galaxy Segmentation and Deblending Using Deep
Learning") reports the COCO mask average precision per class, the area
under the precision-recall curve at IoU thresholds 0.50:0.05:0.95, with
AP 0.708 for stars and 0.816 for galaxies at IoU 0.5. `MASK_RCNN_FIGURES`
holds these numbers.

Every detection counts for both classes: a detection with star
probability p is a "star" prediction with score p and a "galaxy"
prediction with score 1 - p (as a two-class detector reports one score
per class), and each class is scored against the true objects of that
class only, the way COCO evaluates each category on its own.
"""

import warnings
from typing import NamedTuple

import numpy as np
from astropy.table import Table

from pais_deblend.evaluation._utils import as_source_cutouts
from pais_deblend.evaluation.detection import match_sources
from pais_deblend.evaluation.masks import (average_precision,
                                           predicted_masks, truth_masks)
from pais_deblend.utils._validation import (as_positions, check_finite_float,
                                            check_in, check_nonnegative_int)
from pais_deblend.utils.exceptions import PaisDeblendWarning

__all__ = ['MASK_RCNN_FIGURES', 'CLASSES', 'ColorErrors',
           'precision_at_recall', 'ranked_average_precision',
           'class_detection_metrics', 'class_mask_average_precision',
           'color_error']

#: The two classes, in the order of the result tables.
CLASSES = ('star', 'galaxy')

#: Reference figures of the Mask R-CNN deblender. ``precision_at_80_recall``:
#: Burke et al. (2019, MNRAS 490, 3952), abstract and precision-recall
#: curves of the simulated test set. ``AP50``: mask AP at IoU 0.5 of the
#: follow-up by Shah, Burke, Aleo & Liu (Network Performance section).
MASK_RCNN_FIGURES = {
    'star': {'precision_at_80_recall': 0.92, 'AP50': 0.708},
    'galaxy': {'precision_at_80_recall': 0.98, 'AP50': 0.816},
}


class ColorErrors(NamedTuple):
    """
    The result of `color_error`.

    Attributes
    ----------
    errors : `~numpy.ndarray`
        (N,) float64 signed colour errors, magnitudes, recovered minus
        true; NaN for the skipped sources.
    median_abs_error : float
        Median of ``abs(errors)`` over the used sources (NaN if none).
    n_used : int
        Sources with positive fluxes in both bands, recovered and true.
    n_skipped : int
        Sources left out (a non-positive or non-finite recovered flux, or
        a non-positive true flux, in either band).
    """

    errors: np.ndarray
    median_abs_error: float
    n_used: int
    n_skipped: int


# --------------------------------------------------------------------------
# input checks

def _as_vector(values, name, *, kind='real'):
    if isinstance(values, (str, bytes, dict)) or values is None:
        msg = f'{name} must be a 1-D array, got {values!r}'
        raise TypeError(msg)
    array = np.asarray(values)
    if array.size == 0 and array.dtype.kind in 'biuf':
        array = array.reshape(0).astype(bool if kind == 'bool' else float)
    if kind == 'bool':
        if array.dtype.kind in 'iu' and np.all((array == 0) | (array == 1)):
            array = array.astype(bool)
        if array.dtype.kind != 'b':
            msg = (f'{name} must hold booleans (or 0/1 integers), got dtype '
                   f'{array.dtype}')
            raise TypeError(msg)
    elif array.dtype.kind not in 'iuf':
        msg = f'{name} must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.ndim != 1:
        msg = f'{name} must be 1-D, got shape {array.shape}'
        raise ValueError(msg)
    if kind == 'bool':
        return np.array(array, dtype=bool)
    array = np.array(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        msg = f'{name} must be finite, got non-finite values'
        raise ValueError(msg)
    return array


def _as_probabilities(values, name):
    array = _as_vector(values, name)
    if np.any((array < 0) | (array > 1)):
        bad = array[(array < 0) | (array > 1)][0]
        msg = f'{name} must lie in [0, 1], got {bad}'
        raise ValueError(msg)
    return array


def _ranking(scores, matched, n_true):
    """Checked (scores, matched, n_true) of one class's ranked detections."""
    scores = _as_vector(scores, 'scores')
    matched = _as_vector(matched, 'matched', kind='bool')
    if matched.shape != scores.shape:
        msg = (f'matched has shape {matched.shape} but scores has shape '
               f'{scores.shape}; they must match')
        raise ValueError(msg)
    n_true = check_nonnegative_int(n_true, 'n_true')
    n_matched = int(matched.sum())
    if n_matched > n_true:
        msg = (f'n_true must be at least the number of matched detections '
               f'({n_matched}), got {n_true}')
        raise ValueError(msg)
    return scores, matched, n_true


def _threshold_curve(scores, matched, n_true):
    """
    Precision, recall and score at every distinct score threshold (all
    detections with a score >= it kept), thresholds decreasing.
    """
    order = np.argsort(-scores, kind='stable')
    ranked = scores[order]
    true_positives = np.cumsum(matched[order])
    ends = np.append(np.flatnonzero(np.diff(ranked) != 0),
                     ranked.size - 1) if ranked.size else np.zeros(0, int)
    kept = ends + 1
    precision = true_positives[ends] / kept
    recall = (true_positives[ends] / n_true if n_true
              else np.full(ends.size, np.nan))
    return precision, recall, ranked[ends], true_positives[ends]


# --------------------------------------------------------------------------
# ranked metrics of one class

def precision_at_recall(scores, matched, n_true, *, recall=0.8,
                        interpolated=False):
    """
    Precision of one class's detections at a given recall.

    The detections are ranked by their class score and a score threshold
    is lowered until the recall (matched detections kept / ``n_true``)
    first reaches ``recall``; the precision (matched detections kept /
    detections kept) at that threshold is returned. This reads the
    precision-recall curve at the recall, as Burke et al. (2019, MNRAS
    490, 3952) do for their headline 92 % (stars) and 98 % (galaxies)
    precision at 80 % recall, whose curves are traced by the class-score
    threshold. Detections with equal scores enter together (a threshold
    cannot separate them).

    With ``interpolated=True`` the result is instead the interpolated
    precision of the VOC/COCO AP computations: the highest precision at
    any threshold whose recall is at least ``recall`` (never below the
    default value).

    Parameters
    ----------
    scores : array_like
        (K,) finite class scores of the detections (e.g. the star
        probability p for stars, 1 - p for galaxies).
    matched : array_like
        (K,) bool: whether each detection is a true positive of the class
        (matched one-to-one to a true object of the class).
    n_true : int
        The number of true objects of the class (>= the number of matched
        detections).
    recall : float, optional
        The recall to read the precision at, in (0, 1].
    interpolated : bool, optional
        Return the interpolated (non-increasing envelope) precision.

    Returns
    -------
    precision : float
        In [0, 1]; NaN, with a `~pais_deblend.utils.exceptions.PaisDeblendWarning`,
        when the recall is never reached (including ``n_true == 0``).

    Examples
    --------
    >>> from pais_deblend.evaluation import precision_at_recall
    >>> precision_at_recall([0.9, 0.8, 0.7, 0.6], [True, False, True, True],
    ...                     n_true=4, recall=0.5)
    0.6666666666666666
    """
    scores, matched, n_true = _ranking(scores, matched, n_true)
    recall = check_finite_float(recall, 'recall', minimum=0.0, maximum=1.0)
    precision, reached_recall, _, true_positives = _threshold_curve(
        scores, matched, n_true)
    needed = recall * n_true
    reached = true_positives >= needed - 1e-9 * max(needed, 1.0)
    if n_true == 0 or not reached.any():
        best = (float(np.max(reached_recall)) if reached_recall.size
                and n_true else 0.0)
        msg = (f'the recall {recall:g} is never reached (at most {best:.3g} '
               f'of n_true={n_true}); precision_at_recall is NaN')
        warnings.warn(msg, PaisDeblendWarning)
        return np.nan
    first = int(np.argmax(reached))
    if interpolated:
        return float(np.max(precision[first:]))
    return float(precision[first])


def ranked_average_precision(scores, matched, n_true):
    """
    COCO 101-point average precision of one class's ranked detections.

    The detections are sorted by decreasing score (stable for ties, as
    pycocotools does); the precision is made non-increasing in recall
    (interpolated) and averaged at the recalls 0, 0.01, ..., 1 (0 where a
    recall is never reached). For mask matches at one IoU threshold this
    equals pycocotools' AP at that threshold; with centre-distance
    matches it is the detection AP of `class_detection_metrics`.

    Parameters
    ----------
    scores, matched, n_true
        As in `precision_at_recall`.

    Returns
    -------
    ap : float
        In [0, 1]; 0 when there are true objects but no detection, NaN
        when ``n_true == 0`` (undefined, COCO reports -1).
    """
    scores, matched, n_true = _ranking(scores, matched, n_true)
    if n_true == 0:
        return np.nan
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind='mergesort')
    true_positives = np.cumsum(matched[order])
    recall = true_positives / n_true
    precision = true_positives / (np.arange(1, scores.size + 1)
                                  + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    thresholds = np.linspace(0.0, 1.0, 101)
    index = np.searchsorted(recall, thresholds, side='left')
    sampled = np.where(index < scores.size,
                       precision[np.minimum(index, scores.size - 1)], 0.0)
    return float(np.mean(sampled))


# --------------------------------------------------------------------------
# per-class detection metrics

def _per_image(value, n_images, name):
    if n_images is None:
        return [value]
    if value is None:
        return [None] * n_images
    if not isinstance(value, list) or len(value) != n_images:
        msg = (f'{name} must be a list with one item per image '
               f'({n_images}) when predicted_centers is a list')
        raise TypeError(msg)
    return value


def _outcomes(predicted, scores, true, ignore, max_distance, matching):
    """
    Per detection: 1 true positive, 0 false positive, -1 ignored (matched
    to an ignored true object only).
    """
    scored = np.flatnonzero(~ignore)
    ignored = np.flatnonzero(ignore)
    outcome = np.zeros(len(predicted), dtype=np.int8)
    if len(predicted) == 0:
        return outcome
    if matching == 'optimal':
        matches = match_sources(predicted, true[scored],
                                max_distance=max_distance)
        outcome[matches.predicted_indices] = 1
        rest = matches.unmatched_predicted
        if rest.size and ignored.size:
            second = match_sources(predicted[rest], true[ignored],
                                   max_distance=max_distance)
            outcome[rest[second.predicted_indices]] = -1
        return outcome

    from scipy.spatial import cKDTree

    # greedy in decreasing score, as COCO: each detection takes the nearest
    # free scored object within the radius, else a free ignored one
    pools = []
    for indices in (scored, ignored):
        tree = cKDTree(true[indices]) if indices.size else None
        pools.append((indices, tree, np.zeros(indices.size, dtype=bool)))
    search = max_distance * (1 + 1e-9) + 1e-12
    for detection in np.argsort(-scores, kind='stable'):
        position = predicted[detection]
        for value, (indices, tree, taken) in zip((1, -1), pools):
            if tree is None:
                continue
            candidates = np.asarray(tree.query_ball_point(position, search),
                                    dtype=np.intp)
            if candidates.size == 0:
                continue
            candidates = candidates[~taken[candidates]]
            distance = np.hypot(*(true[indices[candidates]] - position).T)
            inside = distance <= max_distance
            if not inside.any():
                continue
            candidates, distance = candidates[inside], distance[inside]
            best = candidates[np.lexsort((candidates, distance))[0]]
            taken[best] = True
            outcome[detection] = value
            break
    return outcome


def _ignore_flags(skip, n_true, noun):
    """The ``ignore`` flags of one image, all False when not given."""
    if skip is None:
        return np.zeros(n_true, dtype=bool)
    skip = _as_vector(skip, 'ignore', kind='bool')
    if skip.shape != (n_true,):
        msg = (f'ignore has shape {skip.shape} but there are '
               f'{n_true} {noun}')
        raise ValueError(msg)
    return skip


def _detection_images(predicted_centers, predicted_star_probability,
                      true_centers, true_is_star, ignore):
    """The inputs of `class_detection_metrics`, one tuple per image."""
    # a list of 2-D items is one item per image; a list of (y, x) pairs is
    # one image
    n_images = (len(predicted_centers)
                if isinstance(predicted_centers, list) and predicted_centers
                and all(np.ndim(item) == 2 for item in predicted_centers)
                else None)
    return list(zip(
        _per_image(predicted_centers, n_images, 'predicted_centers'),
        _per_image(predicted_star_probability, n_images,
                   'predicted_star_probability'),
        _per_image(true_centers, n_images, 'true_centers'),
        _per_image(true_is_star, n_images, 'true_is_star'),
        _per_image(ignore, n_images, 'ignore')))


def _checked_detections(predicted, probability, true, is_star, skip):
    """One image's detections and truth as arrays of matching lengths."""
    predicted = as_positions(predicted, 'predicted_centers')
    probability = _as_probabilities(probability,
                                    'predicted_star_probability')
    if probability.shape != (len(predicted),):
        msg = (f'predicted_star_probability has shape {probability.shape}'
               f' but there are {len(predicted)} predicted_centers')
        raise ValueError(msg)
    true = as_positions(true, 'true_centers')
    is_star = _as_vector(is_star, 'true_is_star', kind='bool')
    if is_star.shape != (len(true),):
        msg = (f'true_is_star has shape {is_star.shape} but there are '
               f'{len(true)} true_centers')
        raise ValueError(msg)
    skip = _ignore_flags(skip, len(true), 'true_centers')
    return predicted, probability, true, is_star, skip


def _class_detection_row(name, scores, matched, count, *, recall,
                         interpolated, score_threshold):
    """The row of one class of `class_detection_metrics`."""
    true_positives = int(matched.sum())
    precision = precision_at_recall(scores, matched, count, recall=recall,
                                    interpolated=interpolated)
    score_at = np.nan
    if np.isfinite(precision):
        _, _, thresholds, curve_tp = _threshold_curve(scores, matched, count)
        needed = recall * count
        score_at = float(thresholds[np.argmax(
            curve_tp >= needed - 1e-9 * max(needed, 1.0))])
    above = scores >= score_threshold
    n_above = int(above.sum())
    tp_above = int(matched[above].sum())
    return (name, count, int(scores.size), true_positives,
            true_positives / count if count else np.nan,
            precision, score_at,
            ranked_average_precision(scores, matched, count),
            tp_above / n_above if n_above else np.nan,
            tp_above / count if count else np.nan)


def class_detection_metrics(predicted_centers, predicted_star_probability,
                            true_centers, true_is_star, *, max_distance,
                            recall=0.8, ignore=None, matching='greedy',
                            interpolated=False, score_threshold=0.5):
    """
    Star and galaxy detection metrics with class scores: precision at a
    recall (80 % by default) and detection average precision.

    A detection with star probability p is a star prediction with score p
    and a galaxy prediction with score 1 - p. For each class the
    predictions are matched to the true objects of that class by centre
    distance (at most ``max_distance``) and ranked by their class score;
    `precision_at_recall` and `ranked_average_precision` are read from
    that ranking. This is the Mask R-CNN papers' per-class evaluation
    (Burke et al. 2019, precision at 80 % recall per class; COCO AP per
    category) with a centre match instead of a mask IoU.

    Several images are pooled (matched per image, ranked together) when
    the inputs are lists with one item per image: ``predicted_centers``
    is then a list of (P_k, 2) arrays (shape (0, 2) for an image without
    detections), and every other per-image input a list of the same
    length.

    Parameters
    ----------
    predicted_centers : array_like or list
        (P, 2) detected (y, x) positions, pixels (or a list of such 2-D
        arrays, one per image).
    predicted_star_probability : array_like or list
        (P,) star probability of each detection, in [0, 1].
    true_centers : array_like or list
        (T, 2) true (y, x) positions.
    true_is_star : array_like or list
        (T,) bool, True for stars, False for galaxies.
    max_distance : float
        Matching radius, pixels (>= 0), e.g. the PSF FWHM.
    recall : float, optional
        The recall of the precision column, in (0, 1].
    ignore : array_like or list, optional
        (T,) bool, true objects that are not scored (e.g. below a
        signal-to-noise cut, or with their centre outside the frame): a
        detection matched to one (and to no scored object of the class)
        is neither a true nor a false positive, like COCO's ignored
        objects. Default: none.
    matching : {'greedy', 'optimal'}, optional
        ``'greedy'`` (COCO): in decreasing class score, each detection
        takes the nearest free true object of the class within the
        radius. ``'optimal'``: the one-to-one matching of
        `~pais_deblend.evaluation.match_sources` (most pairs, then least
        summed distance), independent of the scores.
    interpolated : bool, optional
        Passed to `precision_at_recall`.
    score_threshold : float, optional
        The class-score cut of the ``precision_at_threshold`` and
        ``recall_at_threshold`` columns (the classified catalogue: with
        0.5, every detection is called a star or a galaxy).

    Returns
    -------
    table : `~astropy.table.Table`
        One row per class (``'star'``, ``'galaxy'``) with columns
        ``class``, ``n_true`` (scored true objects), ``n_predicted``
        (detections not ignored), ``n_true_positive``, ``max_recall``,
        ``precision_at_recall`` (NaN with a warning when the recall is
        never reached), ``score_at_recall`` (the class-score threshold
        where it is reached), ``AP`` (detection AP, COCO 101-point),
        ``precision_at_threshold`` and ``recall_at_threshold``. ``meta``
        holds the settings.

    Examples
    --------
    >>> from pais_deblend.evaluation import class_detection_metrics
    >>> table = class_detection_metrics(
    ...     [[10.0, 10.0], [30.0, 30.0]], [0.9, 0.2],
    ...     [[10.2, 10.0], [30.0, 29.5]], [True, False], max_distance=2.0)
    >>> table['precision_at_recall'].tolist()
    [1.0, 1.0]
    """
    max_distance = check_finite_float(max_distance, 'max_distance',
                                      minimum=0.0, include_minimum=True)
    recall = check_finite_float(recall, 'recall', minimum=0.0, maximum=1.0)
    score_threshold = check_finite_float(score_threshold, 'score_threshold',
                                         minimum=0.0, maximum=1.0,
                                         include_minimum=True)
    check_in(matching, ('greedy', 'optimal'), 'matching')
    images = _detection_images(predicted_centers, predicted_star_probability,
                               true_centers, true_is_star, ignore)
    pooled = {name: ([], []) for name in CLASSES}
    n_true = dict.fromkeys(CLASSES, 0)
    n_ignored = dict.fromkeys(CLASSES, 0)
    for predicted, probability, true, is_star, skip in (
            _checked_detections(*image) for image in images):
        for name in CLASSES:
            member = is_star if name == 'star' else ~is_star
            scores = probability if name == 'star' else 1.0 - probability
            outcome = _outcomes(predicted, scores, true[member],
                                skip[member], max_distance, matching)
            kept = outcome >= 0
            pooled[name][0].append(scores[kept])
            pooled[name][1].append(outcome[kept] == 1)
            n_true[name] += int(np.sum(member & ~skip))
            n_ignored[name] += int(np.sum(~kept))

    rows = [_class_detection_row(name, np.concatenate(pooled[name][0]),
                                 np.concatenate(pooled[name][1]),
                                 n_true[name], recall=recall,
                                 interpolated=interpolated,
                                 score_threshold=score_threshold)
            for name in CLASSES]
    table = Table(rows=rows, names=(
        'class', 'n_true', 'n_predicted', 'n_true_positive', 'max_recall',
        'precision_at_recall', 'score_at_recall', 'AP',
        'precision_at_threshold', 'recall_at_threshold'),
        dtype=('U6', int, int, int, float, float, float, float, float,
               float))
    table.meta.update(recall=recall, max_distance=max_distance,
                      matching=matching, interpolated=bool(interpolated),
                      score_threshold=score_threshold,
                      n_ignored_detections=n_ignored)
    return table


# --------------------------------------------------------------------------
# per-class mask AP

def _label_probabilities(segmentation, labels, star_probability):
    if star_probability is None:
        star_probability = getattr(segmentation, 'class_star', None)
        if star_probability is None:
            msg = ('star_probability must be given when the segmentation '
                   'has no class_star, got None')
            raise TypeError(msg)
    if not isinstance(star_probability, dict):
        msg = (f'star_probability must be a dict {{label: probability}}, '
               f'got {type(star_probability).__name__}')
        raise TypeError(msg)
    values = []
    for label in labels:
        if int(label) not in star_probability:
            msg = f'star_probability has no value for label {int(label)}'
            raise ValueError(msg)
        values.append(star_probability[int(label)])
    return _as_probabilities(np.array(values, dtype=np.float64).reshape(-1),
                             'star_probability')


def _check_segmentation(segmentation, prediction_mode):
    from photutils.segmentation import SegmentationImage

    if not isinstance(segmentation, SegmentationImage):
        msg = (f'segmentation_images must be a PartialSegmentationImage '
               f'or a photutils SegmentationImage (or a list of them), '
               f'got {type(segmentation).__name__}')
        raise TypeError(msg)
    if prediction_mode == 'weight' and not hasattr(segmentation,
                                                   'weight_map'):
        msg = ("prediction_mode='weight' needs a PartialSegmentationImage"
               f', got {type(segmentation).__name__}')
        raise TypeError(msg)


def _class_truth(segmentation, sources, is_star, skip, *, threshold,
                 truth_mode):
    """One image's true masks, star flags and ignore flags."""
    shape = tuple(segmentation.shape)
    cutouts, _ = as_source_cutouts(sources, 'true_source_images',
                                   shape=shape)
    true = truth_masks(cutouts, threshold=threshold, mode=truth_mode,
                       shape=shape)
    is_star = _as_vector(is_star, 'true_is_star', kind='bool')
    if is_star.shape != (true.shape[0],):
        msg = (f'true_is_star has shape {is_star.shape} but there are '
               f'{true.shape[0]} true_source_images')
        raise ValueError(msg)
    skip = _ignore_flags(skip, true.shape[0], 'true_source_images')
    return true, is_star, skip


def _class_predictions(segmentation, cut, skip_labels, *, prediction_mode,
                       weight_threshold):
    """One image's predicted labels and masks, less ``ignore_labels`` and
    cut to the footprint."""
    shape = tuple(segmentation.shape)
    labels, predicted = predicted_masks(segmentation, mode=prediction_mode,
                                        weight_threshold=weight_threshold)
    if skip_labels is not None:
        skip_labels = np.asarray(skip_labels)
        if skip_labels.size and (skip_labels.ndim != 1
                                 or skip_labels.dtype.kind not in 'iu'):
            msg = (f'ignore_labels must be a 1-D sequence of integer '
                   f'labels, got {skip_labels!r}')
            raise TypeError(msg)
        keep = ~np.isin(labels, skip_labels)
        labels, predicted = labels[keep], predicted[keep]
    if cut is not None:
        cut = np.asarray(cut)
        if cut.dtype.kind != 'b':
            msg = f'footprint must be boolean, got dtype {cut.dtype}'
            raise TypeError(msg)
        if cut.shape != shape:
            msg = (f'footprint has shape {cut.shape} but the segmentation '
                   f'has shape {shape}; they must match')
            raise ValueError(msg)
        predicted = predicted & cut[None, :, :]
    return labels, predicted


def class_mask_average_precision(segmentation_images, true_source_images,
                                 true_is_star, *, threshold,
                                 star_probability=None, footprint=None,
                                 ignore=None, ignore_labels=None,
                                 truth_mode='dominant',
                                 prediction_mode='dominant',
                                 weight_threshold=0.5):
    """
    COCO mask average precision per class (stars, galaxies), predictions
    ranked by their class score.

    The AP of the Mask R-CNN follow-up paper (Shah, Burke, Aleo & Liu:
    area under the precision-recall curve, IoU thresholds 0.50:0.05:0.95;
    AP 0.708 for stars and 0.816 for galaxies at IoU 0.5). True masks come
    from the noiseless per-source images (`truth_masks`), predicted masks
    from the segmentation (`predicted_masks`); each class is evaluated with
    `average_precision` on the true masks of that class against every
    predicted mask, scored p (stars) or 1 - p (galaxies).

    Parameters
    ----------
    segmentation_images : `~pais_deblend.segmentation.PartialSegmentationImage`, `~photutils.segmentation.SegmentationImage` or list
        The deblending result (a list, one per image, to pool images).
    true_source_images : array_like, sequence of `SourceCutout`, or list
        The noiseless 2-D per-source images S_i of each image (for
        several bands, e.g. their sum or a noise-weighted sum); a list of
        these when ``segmentation_images`` is a list.
    true_is_star : array_like or list
        (N,) bool per true source, True for stars.
    threshold : float
        Surface-brightness threshold of the true masks (`truth_masks`),
        in the unit of ``true_source_images``, e.g. their noise level.
    star_probability : dict or list, optional
        {label: p} star probabilities of the predicted labels; default
        the segmentation's ``class_star``. Every predicted label needs
        one.
    footprint : array_like or list, optional
        (h, w) bool: predicted masks are cut to it (e.g. the detection
        footprint, since partial attributions extend below the noise).
    ignore : array_like or list, optional
        (N,) bool, true sources left out of the truth (e.g. below a
        signal-to-noise cut); their pixels still count for the ownership
        of ``truth_mode='dominant'``.
    ignore_labels : sequence of int or list, optional
        Predicted labels left out (e.g. the detections of ignored
        sources, which would otherwise be false positives: COCO's own
        ignore flag cannot be used, pycocotools ties it to crowd
        regions).
    truth_mode : {'dominant', 'footprint'}, optional
        See `truth_masks`. The ownership of ``'dominant'`` uses all
        sources, whatever their class.
    prediction_mode : {'dominant', 'weight'}, optional
        See `predicted_masks` (``'weight'`` needs a partial segmentation).
    weight_threshold : float, optional
        See `predicted_masks`.

    Returns
    -------
    table : `~astropy.table.Table`
        One row per class with ``class``, ``AP`` (IoU 0.50:0.95),
        ``AP50``, ``AP75``, ``n_true`` (non-empty true masks) and
        ``n_predicted`` (non-empty predicted masks).
    """
    threshold = check_finite_float(threshold, 'threshold', minimum=0.0,
                                   include_minimum=True)
    check_in(truth_mode, ('dominant', 'footprint'), 'truth_mode')
    check_in(prediction_mode, ('dominant', 'weight'), 'prediction_mode')
    n_images = (len(segmentation_images)
                if isinstance(segmentation_images, list) else None)
    images = list(zip(
        _per_image(segmentation_images, n_images, 'segmentation_images'),
        _per_image(true_source_images, n_images, 'true_source_images'),
        _per_image(true_is_star, n_images, 'true_is_star'),
        _per_image(star_probability, n_images, 'star_probability'),
        _per_image(footprint, n_images, 'footprint'),
        _per_image(ignore, n_images, 'ignore'),
        _per_image(ignore_labels, n_images, 'ignore_labels')))

    pooled = {name: ([], [], []) for name in CLASSES}
    for (segmentation, sources, is_star, probability, cut, skip,
         skip_labels) in images:
        _check_segmentation(segmentation, prediction_mode)
        true, is_star, skip = _class_truth(
            segmentation, sources, is_star, skip, threshold=threshold,
            truth_mode=truth_mode)
        labels, predicted = _class_predictions(
            segmentation, cut, skip_labels, prediction_mode=prediction_mode,
            weight_threshold=weight_threshold)
        p = _label_probabilities(segmentation, labels, probability)
        for name in CLASSES:
            member = (is_star if name == 'star' else ~is_star) & ~skip
            pooled[name][0].append(true[member])
            pooled[name][1].append(predicted)
            pooled[name][2].append(p if name == 'star' else 1.0 - p)

    rows = []
    for name in CLASSES:
        result = average_precision(*pooled[name][:2], scores=pooled[name][2])
        rows.append((name, result['AP'], result['AP50'], result['AP75'],
                     result['n_true'], result['n_predicted']))
    return Table(rows=rows, names=('class', 'AP', 'AP50', 'AP75', 'n_true',
                                   'n_predicted'),
                 dtype=('U6', float, float, float, int, int))


# --------------------------------------------------------------------------
# colours

def _as_band_fluxes(values, name):
    array = np.asarray(values)
    if array.dtype.kind not in 'iuf':
        msg = f'{name} must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.ndim != 2:
        msg = f'{name} must have shape (N, b), got shape {array.shape}'
        raise ValueError(msg)
    return np.array(array, dtype=np.float64)


def color_error(recovered_flux, true_flux, *, bands=(0, 1)):
    """
    Colour error of each source, e.g. ``(m_g - m_r)_rec - (m_g - m_r)_true``.

    Colours are magnitude differences from per-band fluxes,
    ``m_a - m_b = -2.5 log10(F_a / F_b)`` (the zero points cancel when the
    bands share one, as the ``ground_grz`` preset's do; otherwise the
    constant offset cancels in the difference of recovered and true
    colours anyway). The Mask R-CNN papers motivate multi-band deblending
    by the colour information of blended sources (Burke et al. 2019).

    Parameters
    ----------
    recovered_flux : array_like
        (N, b) recovered per-band fluxes (e.g. sum over a segment, or of
        the source's band weights times the image), any linear unit.
        Non-finite or non-positive values mark the source as skipped.
    true_flux : array_like
        (N, b) true per-band fluxes in the same unit; must be finite.
    bands : tuple of int, optional
        The (a, b) band indices of the colour ``m_a - m_b``; default
        (0, 1), g - r for ``ground_grz``.

    Returns
    -------
    result : `ColorErrors`
        The signed errors (NaN where skipped), their median absolute value
        and the counts of used and skipped sources.

    Examples
    --------
    >>> from pais_deblend.evaluation import color_error
    >>> result = color_error([[2.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]])
    >>> round(float(result.errors[0]), 4), result.n_used, result.n_skipped
    (-0.7526, 1, 1)
    """
    recovered = _as_band_fluxes(recovered_flux, 'recovered_flux')
    true = _as_band_fluxes(true_flux, 'true_flux')
    if recovered.shape != true.shape:
        msg = (f'recovered_flux has shape {recovered.shape} but true_flux '
               f'has shape {true.shape}; they must match')
        raise ValueError(msg)
    if not np.all(np.isfinite(true)):
        msg = 'true_flux must be finite, got non-finite values'
        raise ValueError(msg)
    if (not isinstance(bands, (tuple, list)) or len(bands) != 2
            or not all(isinstance(b, (int, np.integer))
                       and not isinstance(b, bool) for b in bands)):
        msg = f'bands must be a pair of band indices, got {bands!r}'
        raise TypeError(msg)
    n_bands = true.shape[1]
    first, second = (int(b) for b in bands)
    if not (0 <= first < n_bands and 0 <= second < n_bands) or first == second:
        msg = (f'bands must be two different indices in [0, {n_bands}), '
               f'got {bands!r}')
        raise ValueError(msg)
    pair = [first, second]
    with np.errstate(invalid='ignore'):
        usable = (np.all(np.isfinite(recovered[:, pair]), axis=1)
                  & np.all(recovered[:, pair] > 0, axis=1)
                  & np.all(true[:, pair] > 0, axis=1))
    errors = np.full(len(true), np.nan)
    rec = recovered[usable]
    tru = true[usable]
    errors[usable] = -2.5 * (np.log10(rec[:, first] / rec[:, second])
                             - np.log10(tru[:, first] / tru[:, second]))
    n_used = int(usable.sum())
    median = float(np.median(np.abs(errors[usable]))) if n_used else np.nan
    return ColorErrors(errors, median, n_used, int(len(true) - n_used))
