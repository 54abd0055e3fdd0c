"""
Survey-size images: deblend a mosaic larger than memory tile by tile, in
one process or on a Dask cluster, into a Zarr store read back by region.

`TilePlan` cuts the image into cores that cover it once, each extended by
a margin; `deblend_mosaic` runs the `~pais_deblend.deblend.Deblender`
pipeline on every tile and makes the labels unique across tiles;
`MosaicSegmentation` (and `read_mosaic`) reads any region back as a
`~pais_deblend.segmentation.PartialSegmentationImage`, checking each
chunk it reads, and `verify_mosaic` checks a whole store; `local_client`
starts a local Dask cluster suited to it.

Nothing here imports dask, distributed, zarr or TensorFlow until it is
used (the ``distributed`` extra: ``pip install 'pais_deblend[distributed]'``).
"""

from .core import deblend_mosaic, local_client
from .plan import Tile, TilePlan
from .store import MosaicSegmentation, read_mosaic, verify_mosaic

__all__ = ['TilePlan', 'Tile', 'deblend_mosaic', 'MosaicSegmentation',
           'read_mosaic', 'verify_mosaic', 'local_client']
