"""
Tests of pais_deblend.evaluation.masks (COCO average precision).
"""

import numpy as np
import pytest

from pais_deblend.evaluation import (average_precision, predicted_masks,
                                     truth_masks)
from pais_deblend.benchmark import make_sersic_scene
from pais_deblend.segmentation import PartialSegmentationImage

pytest.importorskip('pycocotools')


def _squares():
    masks = np.zeros((3, 20, 20), dtype=bool)
    masks[0, 0:5, 0:5] = True
    masks[1, 10:20, 10:20] = True
    masks[2, 0:4, 12:20] = True
    return masks


def test_perfect_and_empty():
    masks = _squares()
    result = average_precision(masks, masks)
    for key in ('AP', 'AP50', 'AP75'):
        assert result[key] == pytest.approx(1.0)
    assert result['n_true'] == result['n_predicted'] == 3
    none = average_precision(masks, masks[:0])
    assert none['AP'] == none['AP50'] == 0.0
    assert np.isnan(average_precision(masks[:0], masks)['AP'])


def test_partial_overlap_thresholds():
    truth = _squares()[:1]
    prediction = np.zeros_like(truth)
    prediction[0, 0:5, 0:4] = True
    prediction[0, 0, 4] = True  # IoU = 21 / 25 = 0.84
    result = average_precision(truth, prediction)
    assert result['AP50'] == pytest.approx(1.0)
    assert result['AP75'] == pytest.approx(1.0)
    # true for IoU thresholds 0.50 .. 0.80 (7 of 10)
    assert result['AP'] == pytest.approx(0.7)
    prediction[0, 0:5, 0:3] = True
    prediction[0, :, 3:] = False  # IoU = 0.6
    result = average_precision(truth, prediction)
    assert result['AP50'] == pytest.approx(1.0)
    assert result['AP75'] == 0.0


def test_label_map_and_false_positive_ranking():
    truth = _squares()
    label_map = np.zeros((20, 20), dtype=np.int32)
    for i, mask in enumerate(truth):
        label_map[mask] = i + 1
    extra = np.zeros((1, 20, 20), dtype=bool)
    extra[0, 6:9, 0:3] = True
    predictions = np.concatenate([extra, truth])
    # a false positive ranked last does not lower AP, ranked first it does
    low = average_precision(label_map, predictions, scores=[0.1, 1, 1, 1])
    high = average_precision(label_map, predictions, scores=[2.0, 1, 1, 1])
    assert low['AP'] == pytest.approx(1.0)
    assert high['AP'] < 1.0
    # pooling several images
    pooled = average_precision([truth, truth], [truth, truth])
    assert pooled['AP'] == pytest.approx(1.0) and pooled['n_true'] == 6


def test_masks_from_scene_and_partial_segmentation():
    image, sources, _ = make_sersic_scene((32, 32), 5, seed=4, n_off_edge=0)
    footprint = truth_masks(sources, threshold=0.2, shape=image.shape)
    dominant = truth_masks(sources, threshold=0.2, shape=image.shape,
                           mode='dominant')
    assert footprint.shape == dominant.shape == (5, 32, 32)
    # dominant masks are disjoint and cover the above-threshold pixels
    assert dominant.sum(axis=0).max() == 1
    np.testing.assert_array_equal(dominant.any(axis=0), image > 0.2)
    # a hand-built partial segmentation with the true fractions
    frames = np.array([s.to_frame(image.shape) for s in sources])
    order = np.argsort(-frames, axis=0)[:2]
    contributors = (order + 1).transpose(1, 2, 0).astype(np.int32)
    weights = np.take_along_axis(frames, order, axis=0).transpose(1, 2, 0)
    total = weights.sum(axis=-1, keepdims=True)
    attributed = image > 0.2
    weights = np.where(attributed[..., None] & (weights > 0),
                       weights / np.where(total > 0, total, 1), 0)
    contributors = np.where(weights > 0, contributors, 0)
    weights = weights / np.where(weights.sum(-1, keepdims=True) > 0,
                                 weights.sum(-1, keepdims=True), 1)
    segmentation = PartialSegmentationImage(contributors,
                                            weights.astype(np.float32))
    labels, masks = predicted_masks(segmentation)
    assert masks.dtype == bool and masks.shape[1:] == (32, 32)
    result = average_precision(dominant[labels - 1], masks)
    assert result['AP'] == pytest.approx(1.0)
    labels_w, masks_w = predicted_masks(segmentation, mode='weight',
                                        weight_threshold=0.3)
    assert np.all(masks_w.sum(axis=(1, 2)) >= masks.sum(axis=(1, 2))[
        np.searchsorted(labels, labels_w)])


def test_bad_input():
    masks = _squares()
    with pytest.raises(ValueError, match='predicted_masks has image shape'):
        average_precision(masks, masks[:, :10])
    with pytest.raises(ValueError, match='scores has shape'):
        average_precision(masks, masks, scores=[1.0])
    with pytest.raises(ValueError, match='scores must be finite'):
        average_precision(masks, masks, scores=[1.0, np.nan, 1.0])
    with pytest.raises(TypeError, match='both be lists'):
        average_precision([masks], masks)
    with pytest.raises(ValueError, match='true_masks has 1 images'):
        average_precision([masks], [masks, masks])
    with pytest.raises(TypeError, match='label map must be integer'):
        average_precision(np.ones((4, 4)), masks)
    with pytest.raises(ValueError, match=r'true_masks must be an \(N, h, w\)'):
        average_precision(np.ones(4, dtype=int), masks)
    with pytest.raises(ValueError, match='threshold must be >= 0'):
        truth_masks(masks.astype(float), threshold=-1.0)
    with pytest.raises(ValueError, match='mode must be one of'):
        truth_masks(masks.astype(float), threshold=0.0, mode='bad')
