"""Sphinx configuration for the pais_deblend documentation."""

import datetime
import os
import sys

import pais_deblend

project = 'pais_deblend'
author = 'pais_deblend developers'
copyright = f'{datetime.date.today().year}, {author}'
release = pais_deblend.__version__
version = release

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.intersphinx',
    'sphinx.ext.mathjax',
    'sphinx.ext.napoleon',
    'sphinx.ext.doctest',
    'sphinx_automodapi.automodapi',
    'sphinx_automodapi.smart_resolver',
    'matplotlib.sphinxext.plot_directive',
    'sphinx_gallery.gen_gallery',
]

numpydoc_show_class_members = False
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False
autosummary_generate = True
napoleon_use_rtype = False
# 'Attributes' sections as :ivar: fields, so NamedTuple and dataclass fields
# are not described twice (once by napoleon, once by autodoc)
napoleon_use_ivar = True
default_role = 'obj'
nitpicky = False
# numpydoc type fields such as "ndarray, shape (h, w)" make Sphinx try to
# cross-reference the word "shape", which several classes define; those
# ambiguous automatic references are harmless, so their warning is muted.
suppress_warnings = ['ref.python']

# The docs are built offline: no intersphinx inventories are fetched, so
# cross-references to numpy/astropy/photutils render as plain literals.
intersphinx_mapping = {}

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [('png', 100)]
plot_rcparams = {'figure.dpi': 100}

html_theme = 'pydata_sphinx_theme'
html_title = f'pais_deblend {release}'
html_theme_options = {'navigation_depth': 2}
templates_path = []
exclude_patterns = ['_build', 'api/*.inc']

# --- tutorials (sphinx-gallery) ---------------------------------------------
# The scripts in docs/tutorials/ are executed during every build (their
# outputs are never stored: docs/generated/ is ignored by git), so the
# figures and printed numbers always come from the current code.
os.environ.setdefault('MPLBACKEND', 'Agg')
# TensorFlow's C++ start-up messages would fill the build log
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


# the image scraper is named by import path (Sphinx pickles its config)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

sphinx_gallery_conf = {
    'examples_dirs': 'tutorials',
    'gallery_dirs': 'generated/tutorials',
    # every plot_*.py is executed; see also 'ignore_pattern'
    'filename_pattern': r'/plot_',
    'ignore_pattern': r'__init__\.py',
    'within_subsection_order': 'FileNameSortKey',
    'download_all_examples': False,
    'remove_config_comments': True,
    'show_signature': False,
    'image_scrapers': ('_tutorial_scraper.tight_matplotlib_scraper',),
    'reset_modules': ('matplotlib',),
    'matplotlib_animations': False,
    'min_reported_time': 0,
    # a tutorial that raises fails the build
    'only_warn_on_example_error': False,
    'abort_on_example_error': False,
    'capture_repr': (),
    'plot_gallery': 'True',
}
