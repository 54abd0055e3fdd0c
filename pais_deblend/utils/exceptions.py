"""
Warning classes used throughout pais_deblend.
"""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['PaisDeblendWarning', 'NoDetectionWarning', 'ModelMismatchWarning',
           'OptionalDependencyWarning']


class PaisDeblendWarning(AstropyUserWarning):
    """
    Base class of every warning issued by pais_deblend.
    """


class NoDetectionWarning(PaisDeblendWarning):
    """
    Warning issued when an image yields no source.
    """


class OptionalDependencyWarning(PaisDeblendWarning):
    """
    Warning issued when an optional dependency is missing and a feature is
    skipped because of it.
    """


class ModelMismatchWarning(PaisDeblendWarning):
    """
    Warning issued when an image does not look like those the model was
    trained on: another pixel scale (from its WCS), or a background
    pedestal that was not subtracted. The deblending still runs, but
    detections and attributions are not to be trusted.
    """
