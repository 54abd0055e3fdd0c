"""
Repository-level pytest configuration.

The Keras modules of pais_deblend.model import keras at module level by
design (custom layers are registered Keras classes); skip collecting their
doctests when TensorFlow is not installed.
"""

import importlib.util

collect_ignore = []
if (importlib.util.find_spec('tensorflow') is None
        or importlib.util.find_spec('keras') is None):
    collect_ignore = [f'pais_deblend/model/{name}'
                      for name in ('layers.py', 'network.py', 'losses.py')]
