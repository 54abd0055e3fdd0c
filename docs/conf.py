"""Sphinx configuration for the pais_deblend documentation."""

import datetime

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
