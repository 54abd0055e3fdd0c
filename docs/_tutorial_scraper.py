"""
The image scraper of the tutorials (docs/tutorials, sphinx-gallery):
sphinx-gallery's matplotlib scraper saving with a tight bounding box, so
that titles above image axes are not clipped.

It lives in a module of its own (named in ``docs/conf.py`` by its import
path) because Sphinx pickles its configuration, and a function defined in
``conf.py`` cannot be pickled.
"""


def tight_matplotlib_scraper(block, block_vars, gallery_conf, **kwargs):
    """`sphinx_gallery.scrapers.matplotlib_scraper` with
    ``bbox_inches='tight'``."""
    from sphinx_gallery.scrapers import matplotlib_scraper

    return matplotlib_scraper(block, block_vars, gallery_conf,
                              bbox_inches='tight', **kwargs)
