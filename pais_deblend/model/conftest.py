# Skip collecting (doctest-importing) the Keras modules when TensorFlow is
# not installed: they import keras at module level by design (custom
# layers are registered Keras classes).
import importlib.util

collect_ignore = []
if (importlib.util.find_spec('tensorflow') is None
        or importlib.util.find_spec('keras') is None):
    collect_ignore = ['layers.py', 'network.py', 'losses.py']
