"""
Tests of pais_deblend.evaluation.classification (per-class precision at
recall, detection and mask AP, colour errors).
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.evaluation import (MASK_RCNN_FIGURES, average_precision,
                                     class_detection_metrics,
                                     class_mask_average_precision,
                                     color_error, precision_at_recall,
                                     ranked_average_precision)
from pais_deblend.segmentation import PartialSegmentationImage
from pais_deblend.utils.exceptions import PaisDeblendWarning


# ---------------------------------------------------------------- ranking

def test_precision_at_recall_hand_computed():
    scores = [0.9, 0.8, 0.7, 0.6]
    matched = [True, False, True, True]
    assert precision_at_recall(scores, matched, 4, recall=0.25) == 1.0
    assert precision_at_recall(scores, matched, 4, recall=0.5) == \
        pytest.approx(2 / 3)
    assert precision_at_recall(scores, matched, 4, recall=0.75) == \
        pytest.approx(3 / 4)
    # default recall 0.8 with 5 true objects needs 4 matches: never
    with pytest.warns(PaisDeblendWarning, match='never reached'):
        assert np.isnan(precision_at_recall(scores, matched, 5))
    # 0.8 of 4 objects needs 3.2 matches: also never (3 matched)
    with pytest.warns(PaisDeblendWarning, match='at most 0.75'):
        assert np.isnan(precision_at_recall(scores, matched, 4))
    # interpolated: the best precision at any recall >= 0.5
    assert precision_at_recall(scores, matched, 4, recall=0.5,
                               interpolated=True) == pytest.approx(3 / 4)
    # the input order does not matter, only the scores
    order = [3, 1, 0, 2]
    assert precision_at_recall(np.array(scores)[order],
                               np.array(matched)[order], 4,
                               recall=0.5) == pytest.approx(2 / 3)


def test_precision_at_recall_ties_enter_together():
    # a threshold cannot separate equal scores: both enter at once
    for matched in ([False, True, True], [True, False, True]):
        assert precision_at_recall([0.9, 0.9, 0.5], matched, 2,
                                   recall=0.5) == pytest.approx(0.5)


def test_precision_at_recall_empty():
    with pytest.warns(PaisDeblendWarning, match='n_true=0'):
        assert np.isnan(precision_at_recall([0.5], [False], 0))
    with pytest.warns(PaisDeblendWarning, match='never reached'):
        assert np.isnan(precision_at_recall([], [], 3))
    assert precision_at_recall(np.array([1.0]), np.array([1]), 1) == 1.0


def test_ranked_average_precision_hand_computed():
    # recall 0.5 at precision 1, never more: 51 of the 101 recall points
    assert ranked_average_precision([0.9, 0.8], [True, False], 2) == \
        pytest.approx(51 / 101)
    assert ranked_average_precision([0.8, 0.9], [True, False], 2) == \
        pytest.approx(51 / 101 * 0.5)
    assert ranked_average_precision([], [], 2) == 0.0
    assert np.isnan(ranked_average_precision([0.3], [False], 0))
    assert ranked_average_precision([0.3, 0.2], [True, True], 2) == \
        pytest.approx(1.0)


def _square_masks(n, size=6, columns=8):
    masks = np.zeros((n, (n // columns + 1) * (size + 2),
                      columns * (size + 2)), dtype=bool)
    for i in range(n):
        row, column = divmod(i, columns)
        masks[i, row * (size + 2):row * (size + 2) + size,
              column * (size + 2):column * (size + 2) + size] = True
    return masks


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ranked_average_precision_equals_pycocotools(seed):
    pytest.importorskip('pycocotools')
    rng = np.random.default_rng(seed)
    n_true, n_false = 9, 7
    masks = _square_masks(n_true + n_false + 3)
    truth = masks[:n_true + 3]  # 3 true objects are never found
    found = masks[:n_true]
    false = masks[n_true + 3:]
    predicted = np.concatenate([found, false])
    matched = np.r_[np.ones(n_true, bool), np.zeros(n_false, bool)]
    scores = rng.permutation(len(predicted)) / len(predicted)
    coco = average_precision(truth, predicted, scores=scores)['AP50']
    ours = ranked_average_precision(scores, matched, n_true + 3)
    assert ours == pytest.approx(coco, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=30),
       st.integers(0, 10), st.floats(0.05, 1.0))
def test_ranking_metrics_bounded(detections, extra, recall):
    scores = [s for s, _ in detections]
    matched = [m for _, m in detections]
    n_true = sum(matched) + extra
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', PaisDeblendWarning)
        value = precision_at_recall(scores, matched, n_true, recall=recall)
        interpolated = precision_at_recall(scores, matched, n_true,
                                           recall=recall, interpolated=True)
    assert np.isnan(value) or 0 <= value <= 1
    assert np.isnan(value) == np.isnan(interpolated)
    if not np.isnan(value):
        assert interpolated >= value
    ap = ranked_average_precision(scores, matched, n_true)
    assert np.isnan(ap) == (n_true == 0)
    assert np.isnan(ap) or 0 <= ap <= 1


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 20), st.integers(0, 20), st.floats(0.05, 1.0),
       st.integers(0, 2**31))
def test_perfect_ranking_gives_one(n_matched, n_false, recall, seed):
    rng = np.random.default_rng(seed)
    # every match ranked above every false positive, all objects found
    scores = np.r_[rng.uniform(0.6, 1.0, n_matched),
                   rng.uniform(0.0, 0.5, n_false)]
    matched = np.r_[np.ones(n_matched, bool), np.zeros(n_false, bool)]
    order = rng.permutation(scores.size)
    scores, matched = scores[order], matched[order]
    assert precision_at_recall(scores, matched, n_matched,
                               recall=recall) == 1.0
    assert ranked_average_precision(scores, matched, n_matched) == \
        pytest.approx(1.0)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(scores=[[0.5]], matched=[True], n_true=1), ValueError,
     'scores must be 1-D'),
    (dict(scores=['a'], matched=[True], n_true=1), TypeError,
     'scores must hold real numbers'),
    (dict(scores=None, matched=[True], n_true=1), TypeError,
     'scores must be a 1-D array'),
    (dict(scores=[np.nan], matched=[True], n_true=1), ValueError,
     'scores must be finite'),
    (dict(scores=[0.5], matched=[0.5], n_true=1), TypeError,
     'matched must hold booleans'),
    (dict(scores=[0.5], matched=[2], n_true=1), TypeError,
     'matched must hold booleans'),
    (dict(scores=[0.5, 0.4], matched=[True], n_true=1), ValueError,
     'matched has shape'),
    (dict(scores=[0.5], matched=[True], n_true=-1), ValueError, 'n_true'),
    (dict(scores=[0.5], matched=[True], n_true=1.5), TypeError, 'n_true'),
    (dict(scores=[0.5, 0.4], matched=[True, True], n_true=1), ValueError,
     'n_true must be at least the number of matched detections'),
])
def test_ranking_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        precision_at_recall(**kwargs)
    with pytest.raises(error, match=match):
        ranked_average_precision(**kwargs)


@pytest.mark.parametrize('recall, error', [(0.0, ValueError),
                                           (1.5, ValueError),
                                           (np.nan, ValueError),
                                           ('0.8', TypeError)])
def test_precision_at_recall_bad_recall(recall, error):
    with pytest.raises(error, match='recall'):
        precision_at_recall([0.5], [True], 1, recall=recall)


# ------------------------------------------------------ class detection

TRUE_CENTERS = np.array([[10.0, 10.0], [50.0, 50.0],    # stars
                         [10.0, 30.0], [50.0, 10.0]])   # galaxies
TRUE_IS_STAR = np.array([True, True, False, False])
PREDICTED = np.array([[10.0, 10.0], [50.0, 50.5], [10.0, 30.5],
                      [50.0, 10.0], [80.0, 80.0]])
STAR_P = np.array([0.95, 0.4, 0.1, 0.3, 0.6])


def test_class_detection_metrics_hand_computed():
    table = class_detection_metrics(PREDICTED, STAR_P, TRUE_CENTERS,
                                    TRUE_IS_STAR, max_distance=2.0)
    star, galaxy = table
    assert list(table['class']) == ['star', 'galaxy']
    # stars ranked .95 TP, .6 FP, .4 TP, .3 FP, .1 FP
    assert star['n_true'] == 2 and star['n_predicted'] == 5
    assert star['n_true_positive'] == 2 and star['max_recall'] == 1.0
    assert star['precision_at_recall'] == pytest.approx(2 / 3)
    assert star['score_at_recall'] == pytest.approx(0.4)
    assert star['AP'] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert star['precision_at_threshold'] == pytest.approx(0.5)
    assert star['recall_at_threshold'] == pytest.approx(0.5)
    # galaxies ranked .9 TP, .7 TP, .6 FP, .4 FP, .05 FP
    assert galaxy['precision_at_recall'] == 1.0
    assert galaxy['score_at_recall'] == pytest.approx(0.7)
    assert galaxy['AP'] == pytest.approx(1.0)
    assert galaxy['precision_at_threshold'] == pytest.approx(2 / 3)
    assert galaxy['recall_at_threshold'] == 1.0
    assert table.meta['recall'] == 0.8
    assert table.meta['max_distance'] == 2.0


def test_class_detection_metrics_ignore_and_pooling():
    ignore = np.array([False, True, False, False])
    table = class_detection_metrics(PREDICTED, STAR_P, TRUE_CENTERS,
                                    TRUE_IS_STAR, max_distance=2.0,
                                    ignore=ignore)
    star = table[0]
    # the detection of the ignored star counts neither way
    assert star['n_true'] == 1 and star['n_predicted'] == 4
    assert star['precision_at_recall'] == 1.0
    assert table.meta['n_ignored_detections'] == {'star': 1, 'galaxy': 0}
    # two copies of one image pool to the same ranking figures
    pooled = class_detection_metrics(
        [PREDICTED, PREDICTED], [STAR_P, STAR_P],
        [TRUE_CENTERS, TRUE_CENTERS], [TRUE_IS_STAR, TRUE_IS_STAR],
        max_distance=2.0)
    single = class_detection_metrics(PREDICTED, STAR_P, TRUE_CENTERS,
                                     TRUE_IS_STAR, max_distance=2.0)
    assert list(pooled['n_true']) == [4, 4]
    for column in ('precision_at_recall', 'AP', 'precision_at_threshold'):
        np.testing.assert_allclose(pooled[column], single[column])
    # an image without detections, given as a (0, 2) array
    pooled = class_detection_metrics(
        [PREDICTED, np.zeros((0, 2))], [STAR_P, []],
        [TRUE_CENTERS, TRUE_CENTERS], [TRUE_IS_STAR, TRUE_IS_STAR],
        max_distance=2.0, recall=0.5)
    assert pooled['precision_at_recall'][1] == 1.0
    assert pooled['max_recall'][1] == 0.5


@pytest.mark.filterwarnings('ignore:the recall')
def test_class_detection_metrics_greedy_vs_optimal():
    true = [[0.0, 0.0], [0.0, 3.0]]
    predicted = [[0.0, 1.4], [0.0, -1.5]]
    kwargs = dict(max_distance=2.0, recall=0.5)
    greedy = class_detection_metrics(predicted, [0.9, 0.8], true,
                                     [True, True], **kwargs)
    # the first-ranked detection takes the nearest star (0, 0): the other
    # detection is left without a star within 2 px
    assert greedy['n_true_positive'][0] == 1
    optimal = class_detection_metrics(predicted, [0.9, 0.8], true,
                                      [True, True], matching='optimal',
                                      **kwargs)
    assert optimal['n_true_positive'][0] == 2


def test_class_detection_metrics_no_objects_of_a_class():
    with pytest.warns(PaisDeblendWarning, match='n_true=0'):
        table = class_detection_metrics([[1.0, 1.0]], [0.2], [[1.0, 1.0]],
                                        [False], max_distance=1.0)
    assert np.isnan(table['precision_at_recall'][0])
    assert np.isnan(table['AP'][0])
    assert table['precision_at_recall'][1] == 1.0


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(predicted_star_probability=[0.5]), ValueError,
     'predicted_star_probability has shape'),
    (dict(predicted_star_probability=[0.5, 0.5, 0.5, 1.5, 0.5]), ValueError,
     r'predicted_star_probability must lie in \[0, 1\]'),
    (dict(true_is_star=[True]), ValueError, 'true_is_star has shape'),
    (dict(true_is_star=[0.5] * 4), TypeError,
     'true_is_star must hold booleans'),
    (dict(ignore=[True]), ValueError, 'ignore has shape'),
    (dict(predicted_centers=[[1.0, 2.0, 3.0]]), ValueError,
     'predicted_centers must have shape'),
    (dict(true_centers=[[np.nan, 1.0]] * 4), ValueError,
     'true_centers must be finite'),
    (dict(max_distance=-1.0), ValueError, 'max_distance'),
    (dict(recall=0.0), ValueError, 'recall'),
    (dict(score_threshold=2.0), ValueError, 'score_threshold'),
    (dict(matching='hungarian'), ValueError, 'matching'),
    (dict(predicted_centers=[PREDICTED, PREDICTED]), TypeError,
     'predicted_star_probability must be a list with one item per image'),
])
def test_class_detection_metrics_errors(kwargs, error, match):
    arguments = dict(predicted_centers=PREDICTED,
                     predicted_star_probability=STAR_P,
                     true_centers=TRUE_CENTERS, true_is_star=TRUE_IS_STAR,
                     max_distance=2.0)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        class_detection_metrics(**arguments)


# ----------------------------------------------------------- class masks

def _mask_scene():
    masks = _square_masks(3, size=5, columns=3)
    source_images = masks.astype(np.float64)
    is_star = np.array([True, False, False])
    label_map = np.zeros(masks.shape[1:], dtype=np.int32)
    for i, mask in enumerate(masks):
        label_map[mask] = i + 1
    return source_images, is_star, label_map


def _partial(label_map):
    contributors = label_map[..., None].astype(np.int32)
    weights = (contributors > 0).astype(np.float32)
    return PartialSegmentationImage(contributors, weights)


def test_class_mask_average_precision_hand_computed():
    pytest.importorskip('pycocotools')
    from photutils.segmentation import SegmentationImage

    source_images, is_star, label_map = _mask_scene()
    right = {1: 0.9, 2: 0.2, 3: 0.1}
    for segmentation in (SegmentationImage(label_map), _partial(label_map)):
        table = class_mask_average_precision(
            segmentation, source_images, is_star, threshold=0.5,
            star_probability=right)
        assert list(table['class']) == ['star', 'galaxy']
        np.testing.assert_allclose(table['AP'], 1.0)
        assert list(table['n_true']) == [1, 2]
        assert list(table['n_predicted']) == [3, 3]
    # the star scored below a galaxy: precision 1/2 at its recall
    wrong = {1: 0.5, 2: 0.9, 3: 0.1}
    table = class_mask_average_precision(
        _partial(label_map), source_images, is_star, threshold=0.5,
        star_probability=wrong)
    assert table['AP50'][0] == pytest.approx(0.5)
    # galaxies ranked .9 (label 3) TP, .5 FP, .1 (label 2) TP
    assert table['AP50'][1] == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_class_mask_average_precision_class_star_footprint_pooling():
    pytest.importorskip('pycocotools')
    from photutils.segmentation import SegmentationImage

    source_images, is_star, label_map = _mask_scene()
    segmentation = SegmentationImage(label_map)
    segmentation.class_star = {1: 0.9, 2: 0.2, 3: 0.1}
    table = class_mask_average_precision(segmentation, source_images,
                                         is_star, threshold=0.5)
    np.testing.assert_allclose(table['AP'], 1.0)
    # a footprint that halves the star's predicted mask (IoU ~ 0.6)
    footprint = np.ones(label_map.shape, dtype=bool)
    footprint[:2] = False
    table = class_mask_average_precision(segmentation, source_images,
                                         is_star, threshold=0.5,
                                         footprint=footprint)
    assert table['AP50'][0] == pytest.approx(1.0)
    assert table['AP75'][0] == 0.0
    pooled = class_mask_average_precision(
        [segmentation, segmentation], [source_images, source_images],
        [is_star, is_star], threshold=0.5)
    assert list(pooled['n_true']) == [2, 4]
    np.testing.assert_allclose(pooled['AP'], 1.0)


def test_class_mask_average_precision_ignore():
    pytest.importorskip('pycocotools')
    from photutils.segmentation import SegmentationImage

    source_images, is_star, label_map = _mask_scene()
    probability = {1: 0.9, 2: 0.2, 3: 0.1}
    # label 3 predicted nowhere: galaxy recall 1/2
    missing = SegmentationImage(np.where(label_map == 3, 0, label_map))
    table = class_mask_average_precision(missing, source_images, is_star,
                                         threshold=0.5,
                                         star_probability=probability)
    assert table['AP50'][1] == pytest.approx(51 / 101)
    # the missed galaxy ignored: perfect again
    table = class_mask_average_precision(
        missing, source_images, is_star, threshold=0.5,
        star_probability=probability, ignore=[False, False, True])
    np.testing.assert_allclose(table['AP'], 1.0)
    assert list(table['n_true']) == [1, 1]
    # a galaxy ignored but still predicted: a false positive unless its
    # label is left out too
    full = SegmentationImage(label_map)
    table = class_mask_average_precision(
        full, source_images, is_star, threshold=0.5,
        star_probability=probability, ignore=[False, True, False])
    assert table['AP50'][1] < 1
    table = class_mask_average_precision(
        full, source_images, is_star, threshold=0.5,
        star_probability={1: 0.9, 3: 0.1}, ignore=[False, True, False],
        ignore_labels=[2])
    np.testing.assert_allclose(table['AP'], 1.0)
    assert list(table['n_predicted']) == [2, 2]


def test_class_mask_average_precision_errors():
    pytest.importorskip('pycocotools')
    from photutils.segmentation import SegmentationImage

    source_images, is_star, label_map = _mask_scene()
    segmentation = SegmentationImage(label_map)
    probability = {1: 0.9, 2: 0.2, 3: 0.1}

    def call(**kwargs):
        arguments = dict(segmentation_images=segmentation,
                         true_source_images=source_images,
                         true_is_star=is_star, threshold=0.5,
                         star_probability=probability)
        arguments.update(kwargs)
        return class_mask_average_precision(**arguments)

    with pytest.raises(TypeError, match='star_probability must be given'):
        call(star_probability=None)
    with pytest.raises(TypeError, match='star_probability must be a dict'):
        call(star_probability=[0.9, 0.2, 0.1])
    with pytest.raises(ValueError, match='no value for label 3'):
        call(star_probability={1: 0.9, 2: 0.2})
    with pytest.raises(ValueError, match=r'star_probability must lie in'):
        call(star_probability={1: 0.9, 2: 0.2, 3: -0.1})
    with pytest.raises(TypeError, match='segmentation_images must be'):
        call(segmentation_images=label_map)
    with pytest.raises(TypeError, match="prediction_mode='weight' needs"):
        call(prediction_mode='weight')
    with pytest.raises(ValueError, match='prediction_mode'):
        call(prediction_mode='union')
    with pytest.raises(ValueError, match='truth_mode'):
        call(truth_mode='union')
    with pytest.raises(ValueError, match='threshold'):
        call(threshold=-1.0)
    with pytest.raises(ValueError, match='true_is_star has shape'):
        call(true_is_star=[True])
    with pytest.raises(ValueError, match='true_source_images has frame shape'):
        call(true_source_images=source_images[:, :-1])
    with pytest.raises(TypeError, match='footprint must be boolean'):
        call(footprint=np.ones(label_map.shape))
    with pytest.raises(ValueError, match='footprint has shape'):
        call(footprint=np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match='ignore has shape'):
        call(ignore=[True])
    with pytest.raises(TypeError, match='ignore must hold booleans'):
        call(ignore=[0.5, 0.5, 0.5])
    with pytest.raises(TypeError, match='ignore_labels must be a 1-D'):
        call(ignore_labels=[1.5])
    with pytest.raises(TypeError, match='true_source_images must be a list'):
        call(segmentation_images=[segmentation])
    # weight mode on a partial segmentation works
    table = call(segmentation_images=_partial(label_map),
                 prediction_mode='weight')
    np.testing.assert_allclose(table['AP'], 1.0)


# ---------------------------------------------------------------- colours

def test_color_error_hand_computed():
    recovered = np.array([[2.0, 1.0, 5.0], [1.0, 1.0, 1.0],
                          [-1.0, 1.0, 1.0], [np.nan, 1.0, 1.0],
                          [10.0, 10.0, 1.0]])
    true = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0],
                     [1.0, 1.0, 1.0], [1.0, 1.0, 3.0]])
    result = color_error(recovered, true)
    expected = [-2.5 * np.log10(2.0), np.nan, np.nan, np.nan, 0.0]
    np.testing.assert_allclose(result.errors, expected)
    assert result.n_used == 2 and result.n_skipped == 3
    assert result.median_abs_error == pytest.approx(2.5 * np.log10(2) / 2)
    # g - z: band 2
    result = color_error(recovered, true, bands=(0, 2))
    assert result.errors[0] == pytest.approx(
        -2.5 * np.log10(2.0 / 5.0))
    assert result.errors[4] == pytest.approx(-2.5 * np.log10(10 / (1 / 3)))
    # the input is not modified
    assert np.isnan(recovered[3, 0])


def test_color_error_scale_invariant_and_empty():
    rng = np.random.default_rng(3)
    true = rng.uniform(1, 10, (20, 3))
    # a grey (all-band) factor leaves the colours unchanged
    result = color_error(true * rng.uniform(0.1, 10, (20, 1)), true)
    np.testing.assert_allclose(result.errors, 0.0, atol=1e-12)
    empty = color_error(np.zeros((0, 3)), np.zeros((0, 3)))
    assert empty.n_used == 0 and np.isnan(empty.median_abs_error)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(recovered_flux=[1.0, 2.0]), ValueError,
     r'recovered_flux must have shape \(N, b\)'),
    (dict(true_flux=[['a', 'b']]), TypeError,
     'true_flux must hold real numbers'),
    (dict(true_flux=[[1.0, 2.0, 3.0]]), ValueError, 'recovered_flux has shape'),
    (dict(true_flux=[[1.0, np.inf]]), ValueError, 'true_flux must be finite'),
    (dict(bands=(0,)), TypeError, 'bands must be a pair'),
    (dict(bands=(0.0, 1.0)), TypeError, 'bands must be a pair'),
    (dict(bands=(0, 0)), ValueError, 'bands must be two different'),
    (dict(bands=(0, 2)), ValueError, 'bands must be two different'),
])
def test_color_error_errors(kwargs, error, match):
    arguments = dict(recovered_flux=[[1.0, 2.0]], true_flux=[[1.0, 2.0]])
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        color_error(**arguments)


def test_reference_figures():
    assert MASK_RCNN_FIGURES['star']['precision_at_80_recall'] == 0.92
    assert MASK_RCNN_FIGURES['galaxy']['precision_at_80_recall'] == 0.98
    assert MASK_RCNN_FIGURES['star']['AP50'] == 0.708
    assert MASK_RCNN_FIGURES['galaxy']['AP50'] == 0.816
