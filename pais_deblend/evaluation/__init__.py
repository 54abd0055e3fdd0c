"""
Quality metrics for partial-attribution deblending
(:ref:`evaluation-metrics`):
flux conservation, PCR encoding efficacy, detection matching, instance-mask
average precision, per-source photometry and per-class (star / galaxy)
metrics.
"""

from .classification import *  # noqa: F401, F403
from .conservation import *  # noqa: F401, F403
from .detection import *  # noqa: F401, F403
from .efficacy import *  # noqa: F401, F403
from .masks import *  # noqa: F401, F403
from .photometry import *  # noqa: F401, F403

__all__ = ['flux_conservation',
           'SourceMatches', 'DetectionScores', 'match_sources',
           'detection_scores',
           'flux_radius', 'r90_ks_test', 'encoding_efficacy',
           'efficacy_summary', 'PAPER_TABLE2',
           'truth_masks', 'predicted_masks', 'average_precision',
           'relative_flux_error', 'reconstruction_error', 'blendedness',
           'flux_error_summary', 'median_error_ratio',
           'MASK_RCNN_FIGURES', 'CLASSES', 'ColorErrors',
           'precision_at_recall', 'ranked_average_precision',
           'class_detection_metrics', 'class_mask_average_precision',
           'color_error']
