"""
Image-based partial attribution: after detection, each pixel's flux is
shared among the overlapping sources in proportion to symmetric,
radially monotonic templates (Lupton's SDSS deblender; Bosch et al. 2018,
PASJ 70, S5; Melchior et al. 2018, Astronomy and Computing 24, 129).

numba is imported only when a function first needs a kernel, so
importing this subpackage is cheap.
"""

from .templates import *  # noqa: F401, F403

__all__ = ['TemplateAttribution', 'attribute_with_templates',
           'refine_centers', 'source_templates', 'smoothed_noise_factor']
