"""
The PAIS network (Hausen & Robertson 2022, arXiv:2201.04714, section 3):
Keras 3 layers and model, the training loss, input normalisation,
label-consistent augmentation, training data streaming, the training
loop and tiled inference.

The NumPy-only parts (normalisation, augmentation, data, and tiled
inference with an ONNX model, `OnnxPAISModel`) import without
TensorFlow; the names that need TensorFlow/Keras (install the ``model``
extra) are imported on first use, so ``import pais_deblend.model`` itself
stays light.

Known TensorFlow issue: TensorFlow 2.21's oneDNN CPU kernels (its
default) corrupt memory (segfaults, "double free", failed alignment
checks) when gradients are taken on inputs of several shapes in one
process, as in a short training run with a validation pass. Importing
this subpackage therefore sets ``TF_ENABLE_ONEDNN_OPTS=0`` unless the
variable is already set; that takes effect only if TensorFlow has not been
imported yet. The plain Eigen kernels are correct and about half as fast
on CPU. Export ``TF_ENABLE_ONEDNN_OPTS=1`` beforehand to opt back in (at
your own risk; forward passes do not crash in our tests).
"""

import os

from ..utils._lazy import lazy_loader

# see the module docstring: must run before TensorFlow is imported
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

# public name -> module that defines it
_LAZY_NAMES = {
    'build_pais_model': 'network',
    'PAISModel': 'network',
    'receptive_field_radius': 'network',
    'PAISLoss': 'losses',
    'DEFAULT_LOSS_WEIGHTS': 'losses',
    'estimate_noise': 'normalization',
    'normalize_image': 'normalization',
    'NORMALIZATION_METHODS': 'normalization',
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
    'predict_pcr_batch': 'inference',
    'load_model': 'network',
    'available_models': 'bundled',
    'load_bundled_model': 'bundled',
    'load_bundled_onnx_model': 'bundled',
    'OnnxPAISModel': 'onnx_runtime',
    'export_onnx': 'onnx_runtime',
    'load_onnx_model': 'onnx_runtime',
}

__all__ = sorted(_LAZY_NAMES)

# inference runs an ONNX model without TensorFlow too: it asks for
# TensorFlow itself when it wraps a Keras model
_NEEDS_TENSORFLOW = {'network', 'losses', 'layers', 'training'}


def _require_tensorflow(module_name):
    if module_name in _NEEDS_TENSORFLOW:
        from ..utils._optional_deps import require

        require('tensorflow')
        require('keras')


__getattr__, __dir__ = lazy_loader(__name__, globals(), _LAZY_NAMES,
                                   before_import=_require_tensorflow)
