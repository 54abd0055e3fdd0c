"""
Instance-mask quality: COCO-style average precision over IoU thresholds
0.50:0.05:0.95 (the Mask R-CNN papers' metric; :ref:`evaluation-masks`),
computed
with pycocotools.
"""

import contextlib
import io

import numpy as np

from pais_deblend.evaluation._utils import as_source_cutouts
from pais_deblend.utils._optional_deps import require
from pais_deblend.utils._validation import check_finite_float, check_in

__all__ = ['truth_masks', 'predicted_masks', 'average_precision']


def truth_masks(source_images, *, threshold, mode='footprint', shape=None):
    """
    True instance masks from the noiseless per-source images S_i.

    Parameters
    ----------
    source_images : array_like or sequence of `SourceCutout`
        The noiseless source images S_i: an (N, h, w) array or N cutouts.
    threshold : float
        Surface-brightness threshold (same unit as S_i, >= 0), e.g. the
        image noise level or a multiple of it.
    mode : {'footprint', 'dominant'}, optional
        ``'footprint'``: mask_i = S_i > threshold (masks may overlap; the
        natural truth for thresholded M_i predictions). ``'dominant'``:
        each pixel with ``sum_j S_j > threshold`` goes to the source with
        the largest S_i there (disjoint masks, the natural truth for a
        dominant-source label map).
    shape : tuple of int, optional
        The (h, w) frame shape for cutout input.

    Returns
    -------
    masks : `~numpy.ndarray`
        (N, h, w) bool, in the order of ``source_images``.
    """
    threshold = check_finite_float(threshold, 'threshold', minimum=0.0,
                                   include_minimum=True)
    check_in(mode, ('footprint', 'dominant'), 'mode')
    cutouts, shape = as_source_cutouts(source_images, 'source_images',
                                       shape=shape)
    masks = np.zeros((len(cutouts),) + tuple(shape), dtype=bool)
    if mode == 'footprint':
        for i, cutout in enumerate(cutouts):
            masks[i][cutout.slices] = cutout.data > threshold
        return masks
    total = np.zeros(shape)
    best = np.full(shape, -np.inf)
    owner = np.full(shape, -1, dtype=np.intp)
    for i, cutout in enumerate(cutouts):
        total[cutout.slices] += cutout.data
        better = cutout.data > best[cutout.slices]
        best[cutout.slices] = np.where(better, cutout.data,
                                       best[cutout.slices])
        owner[cutout.slices] = np.where(better, i, owner[cutout.slices])
    selected = (total > threshold) & (owner >= 0)
    masks[owner[selected], *np.nonzero(selected)] = True
    return masks


def predicted_masks(partial_segmentation_image, *, mode='dominant',
                    weight_threshold=0.5):
    """
    Predicted instance masks from a partial segmentation.

    Parameters
    ----------
    partial_segmentation_image : `~pais_deblend.segmentation.PartialSegmentationImage`
        The deblending result.
    mode : {'dominant', 'weight'}, optional
        ``'dominant'``: mask of label l = pixels of the dominant-source
        label map (``.data``) equal to l (disjoint masks). ``'weight'``:
        mask = ``weight_map(l) >= weight_threshold`` (masks may overlap
        when ``weight_threshold < 0.5``).
    weight_threshold : float, optional
        Threshold on M_i for ``mode='weight'``, in (0, 1].

    Returns
    -------
    labels : `~numpy.ndarray`
        (K,) int labels of the masks (every label with a non-empty mask,
        ascending).
    masks : `~numpy.ndarray`
        (K, h, w) bool.
    """
    check_in(mode, ('dominant', 'weight'), 'mode')
    weight_threshold = check_finite_float(weight_threshold,
                                          'weight_threshold', minimum=0.0,
                                          maximum=1.0)
    segmentation = partial_segmentation_image
    if mode == 'dominant':
        label_map = np.asarray(segmentation.data)
        labels = np.unique(label_map)
        labels = labels[labels > 0]
        masks = label_map[None, :, :] == labels[:, None, None]
        return labels.astype(np.int64), masks
    labels, masks = [], []
    for label in np.asarray(segmentation.partial_labels):
        mask = segmentation.weight_map(int(label)) >= weight_threshold
        if mask.any():
            labels.append(int(label))
            masks.append(mask)
    shape = tuple(segmentation.shape)
    masks = (np.array(masks) if masks else np.zeros((0,) + shape, dtype=bool))
    return np.array(labels, dtype=np.int64), masks


def _as_mask_stack(masks, name):
    from photutils.segmentation import SegmentationImage

    if isinstance(masks, SegmentationImage):
        masks = masks.data
    array = np.asarray(masks)
    if array.dtype.kind not in 'biuf':
        msg = f'{name} must hold booleans or integers, got dtype {array.dtype}'
        raise TypeError(msg)
    if array.ndim == 2:
        if array.dtype.kind not in 'iu':
            msg = (f'{name} given as a 2-D label map must be integer, got '
                   f'dtype {array.dtype}')
            raise TypeError(msg)
        labels = np.unique(array)
        labels = labels[labels > 0]
        return array[None, :, :] == labels[:, None, None]
    if array.ndim != 3:
        msg = (f'{name} must be an (N, h, w) mask stack or an (h, w) label '
               f'map, got shape {array.shape}')
        raise ValueError(msg)
    if array.dtype.kind == 'f' and not np.all(np.isfinite(array)):
        msg = f'{name} must be finite, got non-finite values'
        raise ValueError(msg)
    return array != 0


def _encode(mask_utils, stack):
    if stack.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(
        np.moveaxis(stack, 0, -1).astype(np.uint8)))


def _mask_images(true_masks, predicted_masks, scores):
    """The ``(truth, prediction, score)`` of each image."""
    if isinstance(true_masks, list) != isinstance(predicted_masks, list):
        msg = ('true_masks and predicted_masks must both be lists (one item '
               'per image) or both single images')
        raise TypeError(msg)
    if not isinstance(true_masks, list):
        return [(true_masks, predicted_masks, scores)]
    if len(true_masks) != len(predicted_masks):
        msg = (f'true_masks has {len(true_masks)} images but '
               f'predicted_masks has {len(predicted_masks)}; they must '
               'match')
        raise ValueError(msg)
    if scores is None:
        scores = [None] * len(true_masks)
    elif not isinstance(scores, list) or len(scores) != len(true_masks):
        msg = 'scores must be a list with one item per image'
        raise TypeError(msg)
    return list(zip(true_masks, predicted_masks, scores))


def _nonempty_masks(truth, prediction, score):
    """One image's checked mask stacks and scores, less the empty masks."""
    truth = _as_mask_stack(truth, 'true_masks')
    prediction = _as_mask_stack(prediction, 'predicted_masks')
    if score is not None:
        score = np.asarray(score, dtype=np.float64)
        if score.shape != (prediction.shape[0],):
            msg = (f'scores has shape {score.shape} but there are '
                   f'{prediction.shape[0]} predicted masks')
            raise ValueError(msg)
    else:
        score = np.ones(prediction.shape[0])
    if not np.all(np.isfinite(score)):
        msg = 'scores must be finite'
        raise ValueError(msg)
    # an empty mask can neither be found nor be right: ignore it
    predicted_area = prediction.any(axis=(1, 2))
    truth = truth[truth.any(axis=(1, 2))]
    prediction, score = prediction[predicted_area], score[predicted_area]
    if truth.shape[1:] != prediction.shape[1:]:
        msg = (f'predicted_masks has image shape {prediction.shape[1:]} '
               f'but true_masks has {truth.shape[1:]}; they must match')
        raise ValueError(msg)
    return truth, prediction, score


def _coco_inputs(mask_utils, images):
    """The COCO ground-truth dataset and the detections of ``images``."""
    dataset = {'images': [], 'annotations': [], 'categories': [{'id': 1}]}
    detections = []
    for image_id, (truth, prediction, score) in enumerate(images, start=1):
        truth, prediction, score = _nonempty_masks(truth, prediction, score)
        height, width = truth.shape[1:]
        dataset['images'].append({'id': image_id, 'height': int(height),
                                  'width': int(width)})
        for rle, mask in zip(_encode(mask_utils, truth), truth):
            dataset['annotations'].append({
                'id': len(dataset['annotations']) + 1,
                'image_id': image_id, 'category_id': 1, 'segmentation': rle,
                'area': float(mask.sum()),
                'bbox': list(mask_utils.toBbox(rle)), 'iscrowd': 0})
        for rle, value in zip(_encode(mask_utils, prediction), score):
            detections.append({'image_id': image_id, 'category_id': 1,
                               'segmentation': rle, 'score': float(value)})
    return dataset, detections


def _coco_average_precision(dataset, detections, n_images):
    """AP, AP50 and AP75 of `pycocotools.cocoeval.COCOeval`, quietly."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = dataset
        ground_truth.createIndex()
        predicted = ground_truth.loadRes(detections)
        evaluation = COCOeval(ground_truth, predicted, iouType='segm')
        max_per_image = max(
            [100] + [sum(d['image_id'] == i for d in detections)
                     for i in range(1, n_images + 1)])
        evaluation.params.maxDets = [1, 10, int(max_per_image)]
        evaluation.evaluate()
        evaluation.accumulate()
    # precision: [iou threshold, recall, class, area range, max dets]
    precision = evaluation.eval['precision'][:, :, 0, 0, -1]
    iou_thresholds = evaluation.params.iouThrs

    def mean_precision(rows):
        values = precision[rows]
        values = values[values > -1]
        return float(values.mean()) if values.size else 0.0

    return {'AP': mean_precision(slice(None)),
            'AP50': mean_precision(np.isclose(iou_thresholds, 0.5)),
            'AP75': mean_precision(np.isclose(iou_thresholds, 0.75))}


def average_precision(true_masks, predicted_masks, *, scores=None):
    """
    COCO-style mask average precision of predicted against true instances.

    Single-class COCO evaluation (`pycocotools.cocoeval.COCOeval`,
    ``iouType='segm'``) of run-length-encoded masks: AP is the mean over
    IoU thresholds 0.50:0.05:0.95 of the 101-point interpolated precision
    over recall, with all object areas and at most ``max(100, number of
    predictions)`` detections per image. Predictions are ranked by
    ``scores`` (ties keep the input order).

    Truth masks usually come from the noiseless S_i (`truth_masks`) and
    predictions from a partial segmentation (`predicted_masks`: the
    dominant-source map, or thresholded M_i).

    Empty masks (no pixel set) are ignored, both true and predicted.
    Conventions: with true instances but no predictions, AP, AP50 and
    AP75 are 0 (nothing was recalled); with no true instance at all they
    are NaN (undefined: COCO reports -1).

    Parameters
    ----------
    true_masks : array_like or list
        (N, h, w) boolean mask stack, or an (h, w) integer label map (each
        positive label one instance), or a photutils
        `~photutils.segmentation.SegmentationImage`; or a list of these,
        one per image, to pool several images into one AP.
    predicted_masks : array_like or list
        The predictions in the same forms (a list exactly when
        ``true_masks`` is a list, of the same length, with matching image
        shapes).
    scores : array_like or list, optional
        Confidence of each predicted mask ((K,) per image, a list when the
        masks are); default all 1.

    Returns
    -------
    result : dict
        ``'AP'`` (IoU 0.50:0.95), ``'AP50'``, ``'AP75'``, ``'n_true'`` and
        ``'n_predicted'``.
    """
    require('pycocotools')
    from pycocotools import mask as mask_utils

    images = _mask_images(true_masks, predicted_masks, scores)
    dataset, detections = _coco_inputs(mask_utils, images)
    n_true = len(dataset['annotations'])
    n_predicted = len(detections)
    result = {'n_true': n_true, 'n_predicted': n_predicted}
    if n_true == 0:
        return {'AP': np.nan, 'AP50': np.nan, 'AP75': np.nan, **result}
    if n_predicted == 0:
        return {'AP': 0.0, 'AP50': 0.0, 'AP75': 0.0, **result}
    return {**_coco_average_precision(dataset, detections, len(images)),
            **result}
