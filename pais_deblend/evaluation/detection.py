"""
Detection quality: one-to-one matching of predicted to true source
positions and precision / recall / F1 (:ref:`evaluation-detection`).
"""

from typing import NamedTuple

import numpy as np

from pais_deblend.utils._validation import as_positions
from pais_deblend.utils._validation import check_finite_float

__all__ = ['SourceMatches', 'DetectionScores', 'match_sources',
           'detection_scores']


class SourceMatches(NamedTuple):
    """
    The result of `match_sources`.

    Attributes
    ----------
    predicted_indices : `~numpy.ndarray`
        (K,) int indices into the predicted positions of the matched pairs,
        sorted by true index.
    true_indices : `~numpy.ndarray`
        (K,) int indices into the true positions of the same pairs.
    distances : `~numpy.ndarray`
        (K,) float64 separations of the pairs, pixels.
    unmatched_predicted : `~numpy.ndarray`
        Indices of predictions without a match (false positives).
    unmatched_true : `~numpy.ndarray`
        Indices of true sources without a match (false negatives).
    """

    predicted_indices: np.ndarray
    true_indices: np.ndarray
    distances: np.ndarray
    unmatched_predicted: np.ndarray
    unmatched_true: np.ndarray


class DetectionScores(NamedTuple):
    """
    The result of `detection_scores`.

    Attributes
    ----------
    precision, recall, f1 : float
        In [0, 1]; see `detection_scores` for the empty-input convention.
    n_true_positive, n_false_positive, n_false_negative : int
        The counts they come from.
    max_distance : float
        The matching radius used, pixels.
    """

    precision: float
    recall: float
    f1: float
    n_true_positive: int
    n_false_positive: int
    n_false_negative: int
    max_distance: float


def _matching_radius(max_distance, psf_fwhm, fwhm_factor):
    if (max_distance is None) == (psf_fwhm is None):
        msg = ('give exactly one of max_distance and psf_fwhm, got '
               f'max_distance={max_distance!r}, psf_fwhm={psf_fwhm!r}')
        raise ValueError(msg)
    if max_distance is not None:
        return check_finite_float(max_distance, 'max_distance', minimum=0.0,
                                  include_minimum=True)
    psf_fwhm = check_finite_float(psf_fwhm, 'psf_fwhm', minimum=0.0)
    fwhm_factor = check_finite_float(fwhm_factor, 'fwhm_factor', minimum=0.0)
    return psf_fwhm * fwhm_factor


def match_sources(predicted_xy, true_xy, *, max_distance=None, psf_fwhm=None,
                  fwhm_factor=1.0):
    """
    Match predicted to true source positions one-to-one.

    The matching maximises the number of pairs closer than the matching
    radius and, among such matchings, minimises the summed distance
    (Hungarian algorithm, `scipy.optimize.linear_sum_assignment`, on a
    cost matrix where pairs farther than the radius cost more than any
    possible sum of allowed pairs). To stay fast on large catalogues, the
    problem is split into the connected components of the "within the
    radius" graph (found with a KD-tree), each solved on its own; the
    result is the same as one global assignment.

    Parameters
    ----------
    predicted_xy : array_like
        (P, 2) predicted positions, pixels. Any consistent axis order works
        (distances are symmetric); the package convention is (y, x).
    true_xy : array_like
        (T, 2) true positions in the same order and unit.
    max_distance : float, optional
        Matching radius, pixels (pairs with distance <= it may match).
    psf_fwhm : float, optional
        PSF FWHM in pixels; the radius is then ``fwhm_factor * psf_fwhm``.
        Give exactly one of ``max_distance`` and ``psf_fwhm``.
    fwhm_factor : float, optional
        Radius in units of the PSF FWHM (default 1).

    Returns
    -------
    matches : `SourceMatches`
        Matched index pairs, their distances and the unmatched indices.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    predicted = as_positions(predicted_xy, 'predicted_xy')
    true = as_positions(true_xy, 'true_xy')
    radius = _matching_radius(max_distance, psf_fwhm, fwhm_factor)
    n_pred, n_true = len(predicted), len(true)
    empty = np.zeros(0, dtype=np.intp)
    if n_pred == 0 or n_true == 0:
        return SourceMatches(empty, empty.copy(), np.zeros(0),
                             np.arange(n_pred), np.arange(n_true))

    # candidate pairs from a KD-tree with a slightly padded radius ('ndarray'
    # output keeps pairs at zero distance, a sparse matrix would drop them),
    # then the exact test with np.hypot, so that the result does not depend
    # on the tree's rounding
    pairs = cKDTree(predicted).sparse_distance_matrix(
        cKDTree(true), radius * (1 + 1e-9) + 1e-12, output_type='ndarray')
    pred_index = pairs['i'].astype(np.intp)
    true_index = pairs['j'].astype(np.intp)
    distance = np.hypot(*(predicted[pred_index] - true[true_index]).T)
    keep = distance <= radius
    pred_index, true_index = pred_index[keep], true_index[keep]
    distance = distance[keep]

    matched_pred, matched_true, matched_distance = [], [], []
    if pred_index.size:
        graph = coo_matrix((np.ones(pred_index.size),
                            (pred_index, n_pred + true_index)),
                           shape=(n_pred + n_true,) * 2)
        _, component = connected_components(graph, directed=False)
        pair_component = component[pred_index]
        order = np.argsort(pair_component, kind='stable')
        bounds = np.flatnonzero(np.diff(pair_component[order])) + 1
        for group in np.split(order, bounds):
            rows, row_index = np.unique(pred_index[group],
                                        return_inverse=True)
            cols, col_index = np.unique(true_index[group],
                                        return_inverse=True)
            # a forbidden pair costs more than any sum of allowed ones, so
            # the assignment maximises the number of allowed pairs first
            forbidden = (radius + 1.0) * (min(rows.size, cols.size) + 1)
            cost = np.full((rows.size, cols.size), forbidden)
            cost[row_index, col_index] = distance[group]
            assigned_rows, assigned_cols = linear_sum_assignment(cost)
            allowed = cost[assigned_rows, assigned_cols] < forbidden
            matched_pred.append(rows[assigned_rows[allowed]])
            matched_true.append(cols[assigned_cols[allowed]])
            matched_distance.append(cost[assigned_rows[allowed],
                                         assigned_cols[allowed]])
    if matched_pred:
        matched_pred = np.concatenate(matched_pred).astype(np.intp)
        matched_true = np.concatenate(matched_true).astype(np.intp)
        matched_distance = np.concatenate(matched_distance)
        order = np.argsort(matched_true, kind='stable')
        matched_pred, matched_true = matched_pred[order], matched_true[order]
        matched_distance = matched_distance[order]
    else:
        matched_pred, matched_true = empty, empty.copy()
        matched_distance = np.zeros(0)
    unmatched_pred = np.setdiff1d(np.arange(n_pred), matched_pred)
    unmatched_true = np.setdiff1d(np.arange(n_true), matched_true)
    return SourceMatches(matched_pred, matched_true, matched_distance,
                         unmatched_pred, unmatched_true)


def detection_scores(predicted_xy, true_xy, *, max_distance=None,
                     psf_fwhm=None, fwhm_factor=1.0):
    """
    Precision, recall and F1 of a detection against the truth.

    Predictions and true sources are matched one-to-one with
    `match_sources`; matched predictions are true positives (TP), the
    other predictions false positives (FP) and the other true sources
    false negatives (FN). precision = TP / (TP + FP), recall = TP / (TP +
    FN), F1 = 2 TP / (2 TP + FP + FN).

    Empty inputs never divide by zero: with no predictions precision is 1
    (no false positive was made) and recall 0 (unless there is also no
    true source); with no true source recall is 1 and precision 0 (unless
    there is also no prediction); with neither, all three are 1. F1 is 0
    whenever TP = 0 and FP + FN > 0.

    Parameters
    ----------
    predicted_xy, true_xy, max_distance, psf_fwhm, fwhm_factor
        As in `match_sources`.

    Returns
    -------
    scores : `DetectionScores`
        precision, recall, f1, the counts and the radius used.

    Examples
    --------
    >>> from pais_deblend.evaluation import detection_scores
    >>> scores = detection_scores([[10.0, 10.0], [40.0, 5.0]],
    ...                           [[10.5, 10.0], [20.0, 20.0]], psf_fwhm=2.0)
    >>> print(scores.precision, scores.recall, scores.f1)
    0.5 0.5 0.5
    """
    matches = match_sources(predicted_xy, true_xy, max_distance=max_distance,
                            psf_fwhm=psf_fwhm, fwhm_factor=fwhm_factor)
    radius = _matching_radius(max_distance, psf_fwhm, fwhm_factor)
    tp = len(matches.true_indices)
    fp = len(matches.unmatched_predicted)
    fn = len(matches.unmatched_true)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return DetectionScores(float(precision), float(recall), float(f1),
                           tp, fp, fn, radius)
