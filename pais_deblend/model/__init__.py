"""
The PAIS network (Hausen & Robertson 2022, arXiv:2201.04714, section 3):
Keras 3 layers and model, the training loss, input normalisation,
label-consistent augmentation, training data streaming, the training
loop and tiled inference.

The NumPy-only parts (normalisation, augmentation, data) import without
TensorFlow; the names that need TensorFlow/Keras (install the ``model``
extra) are imported on first use, so ``import pais_deblend.model`` itself
stays light.

Known TensorFlow issue: with TensorFlow 2.21's oneDNN CPU kernels (the
default), computing gradients *eagerly* on inputs of several different
shapes in one process crashed (memory corruption in the oneDNN
convolution backprop-filter primitive). Training here runs in a
``tf.function`` with a fixed batch shape and is not affected, nor is
inference (forward only, where oneDNN is about 2x faster). Export
``TF_ENABLE_ONEDNN_OPTS=0`` before TensorFlow is imported to avoid
oneDNN altogether; the tests do so.
"""

import importlib

# public name -> module that defines it
_LAZY_NAMES = {
    'build_pais_model': 'network',
    'PAISModel': 'network',
    'receptive_field_radius': 'network',
    'PAISLoss': 'losses',
    'DEFAULT_LOSS_WEIGHTS': 'losses',
    'estimate_noise': 'normalization',
    'normalize_image': 'normalization',
    'augment_sample': 'augmentation',
    'augment_array': 'augmentation',
    'augment_vectors': 'augmentation',
    'augment_centers': 'augmentation',
    'make_training_sample': 'data',
    'write_shard': 'data',
    'ShardDataset': 'data',
    'BatchStream': 'data',
    'train': 'training',
    'evaluate': 'training',
    'predict_pcr': 'inference',
    'load_model': 'network',
}

__all__ = sorted(_LAZY_NAMES)

_NEEDS_TENSORFLOW = {'network', 'losses', 'layers', 'training', 'inference'}


def __getattr__(name):
    if name in _LAZY_NAMES:
        module_name = _LAZY_NAMES[name]
        if module_name in _NEEDS_TENSORFLOW:
            from ..utils._optional_deps import require

            require('tensorflow')
            require('keras')
        module = importlib.import_module(f'.{module_name}', __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))
