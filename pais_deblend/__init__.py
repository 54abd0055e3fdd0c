"""
pais_deblend: detection and partial-attribution deblending of astronomical
sources (Hausen & Robertson 2022, arXiv:2201.04714).

Each pixel's flux is shared among the overlapping sources with continuous
weights, so the deblended source images add up to the input image.

The public names below are imported on first use, so that
``import pais_deblend`` stays fast and pulls in neither photutils' full
segmentation stack nor any heavy optional dependency (TensorFlow, GalSim,
scarlet2, dask).
"""

from .utils._lazy import lazy_loader
from .version import version as __version__  # noqa: F401

# public name -> the subpackage that defines it
_LAZY_NAMES = {
    'deblend_sources': 'deblend',
    'Deblender': 'deblend',
    'PartialSegmentationImage': 'segmentation',
    'SourceCutout': 'segmentation',
    'PartialSourceCatalog': 'segmentation',
    'SourceFlags': 'segmentation',
    'PCR': 'pcr',
    'encode_pcr': 'pcr',
    'decode_pcr': 'pcr',
    'find_centers': 'pcr',
    'deblend_mosaic': 'mosaic',
    'TilePlan': 'mosaic',
}

__all__ = ['__version__', *_LAZY_NAMES]


__getattr__, __dir__ = lazy_loader(__name__, globals(), _LAZY_NAMES)
