"""
Segmentation images with partial attribution.
"""

from .cutout import *  # noqa: F401, F403
from .partial import *  # noqa: F401, F403
from .catalog import *  # noqa: F401, F403
from .plotting import *  # noqa: F401, F403

__all__ = ['SourceCutout', 'PartialSegmentationImage', 'PartialSourceCatalog',
           'SourceFlags',
           'plot_dominant', 'plot_blended']
