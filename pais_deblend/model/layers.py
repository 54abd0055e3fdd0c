"""
Custom Keras 3 layers of the PAIS network.

Every layer is a registered serialisable class with ``get_config``, so a
saved model loads with ``keras.saving.load_model(..., safe_mode=True)``
(no ``Lambda`` layers). All layers are translation-equivariant (up to
their fixed zero padding at the frame edge), which keeps tiled inference
exact: see `pais_deblend.model.network` for the receptive-field argument.
"""

import keras
from keras import ops

__all__ = ['PadToMultiple', 'CropToReference', 'StopGradient',
           'LocalLinearAttention', 'ContributionVectors', 'CUSTOM_OBJECTS']

_PACKAGE = 'pais_deblend'


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PadToMultiple(keras.layers.Layer):
    """
    Zero-pad the bottom and right edges of (batch, h, w, c) images so that
    h and w become multiples of ``multiple``.

    Parameters
    ----------
    multiple : int
        The total downsampling factor of the encoder.
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, inputs):
        shape = ops.shape(inputs)
        pad_h = (-shape[1]) % self.multiple
        pad_w = (-shape[2]) % self.multiple
        return ops.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def compute_output_shape(self, input_shape):
        def padded(size):
            return None if size is None else -(-size // self.multiple) * (
                self.multiple)
        return (input_shape[0], padded(input_shape[1]),
                padded(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config['multiple'] = self.multiple
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CropToReference(keras.layers.Layer):
    """
    Crop ``inputs[0]`` (batch, H, W, ...) to the (h, w) of ``inputs[1]``,
    keeping the top-left corner (undoes `PadToMultiple`).
    """

    def call(self, inputs):
        tensor, reference = inputs
        shape = ops.shape(reference)
        return tensor[:, :shape[1], :shape[2]]

    def compute_output_shape(self, input_shape):
        tensor_shape, reference_shape = input_shape
        return (tensor_shape[0], reference_shape[1], reference_shape[2],
                *tensor_shape[3:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StopGradient(keras.layers.Layer):
    """
    Identity in the forward pass, zero gradient in the backward pass.

    The attribution decoder reads the spatial decoder's features through
    this layer (Hausen & Robertson 2022, arXiv:2201.04714, section 3.2),
    so the C^m loss trains only the attribution branch and the shared
    encoder, never the spatial decoder.
    """

    def call(self, inputs):
        return ops.stop_gradient(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LocalLinearAttention(keras.layers.Layer):
    """
    Fast (linear) attention restricted to a sliding square window.

    Fast attention (Hu et al. 2020, arXiv:2007.03815, used by the PAIS
    network of Hausen & Robertson 2022) replaces the softmax of dot-product
    attention by L2-normalised queries q and keys k, so that the attention
    over n positions is ``q_i . (1/n) sum_j k_j v_j^T`` and costs O(n).
    Here the sum runs over the ``window x window`` pixels centred on i
    (a box mean of the outer products k_j v_j^T, computed as two separable
    1-D window sums), instead of the whole image. The layer is therefore a
    translation-equivariant operator with a finite receptive field of
    radius ``window // 2`` (at its own scale), so the network's output at
    a pixel does not depend on how an image is cut into tiles; global
    attention over a tile would make it depend on the tile. Pixels near
    the frame edge average over the part of the window inside the frame.

    The output is ``inputs + W_o (q_i . mean_j k_j v_j^T)`` (a residual
    connection; ``W_o`` is a 1x1 projection).

    Parameters
    ----------
    key_dim : int
        The number of query/key channels.
    window : int
        The odd side of the attention window, in pixels of this scale.
    """

    def __init__(self, key_dim, window, **kwargs):
        super().__init__(**kwargs)
        self.key_dim = int(key_dim)
        self.window = int(window)
        if self.window < 1 or self.window % 2 == 0:
            msg = f'window must be a positive odd integer, got {window!r}'
            raise ValueError(msg)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.channels = channels
        # 1x1 projections as Dense layers on the channel axis (matrix
        # products; no convolution primitive)
        self.query = keras.layers.Dense(self.key_dim, name='query')
        self.key = keras.layers.Dense(self.key_dim, name='key')
        self.value = keras.layers.Dense(channels, name='value')
        self.output_projection = keras.layers.Dense(channels, name='output')
        for layer in (self.query, self.key, self.value,
                      self.output_projection):
            layer.build((None, None, None, channels))

    def _box_sum(self, tensor, axis):
        """Sum over a centred window along ``axis`` with zero padding."""
        radius = self.window // 2
        padding = [[0, 0]] * 4
        padding[axis] = [radius, radius]
        padded = ops.pad(tensor, padding)
        size = ops.shape(tensor)[axis]
        total = None
        for offset in range(self.window):
            if axis == 1:
                part = padded[:, offset:offset + size]
            else:
                part = padded[:, :, offset:offset + size]
            total = part if total is None else total + part
        return total

    def _box_mean(self, tensor):
        """
        Mean over the window, counting only pixels inside the frame.

        Written with pad, slice and add (separable, exact) rather than an
        average-pooling op, whose oneDNN CPU gradient corrupted memory in
        TensorFlow 2.21 on this project's machines.
        """
        if self.window == 1:
            return tensor
        shape = ops.shape(tensor)
        total = self._box_sum(self._box_sum(tensor, 1), 2)
        ones = ops.ones((1, shape[1], shape[2], 1), dtype=tensor.dtype)
        count = self._box_sum(self._box_sum(ones, 1), 2)
        return total / count

    def call(self, inputs):
        query = self.query(inputs)
        key = self.key(inputs)
        value = self.value(inputs)
        query = query / ops.sqrt(ops.sum(query * query, axis=-1,
                                         keepdims=True) + 1e-12)
        key = key / ops.sqrt(ops.sum(key * key, axis=-1,
                                     keepdims=True) + 1e-12)
        # k_j v_j^T flattened to key_dim * channels, as 4-D tensors only
        outer = ops.concatenate(
            [key[..., i:i + 1] * value for i in range(self.key_dim)],
            axis=-1)
        outer = self._box_mean(outer)
        channels = self.channels
        attended = None
        for i in range(self.key_dim):
            term = query[..., i:i + 1] * outer[..., i * channels:
                                               (i + 1) * channels]
            attended = term if attended is None else attended + term
        return inputs + self.output_projection(attended)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(key_dim=self.key_dim, window=self.window)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ContributionVectors(keras.layers.Layer):
    """
    Turn (batch, h, w, 2 n) channels into (batch, h, w, n, 2) offsets.

    The preceding convolution predicts ``v / scale`` (order-one numbers,
    stable to train, :ref:`model-architecture`); this layer multiplies by
    ``scale`` so the model outputs C^v in pixels, (dy, dx) = centre - pixel.

    Parameters
    ----------
    n_contributors : int
        The number n of contributor slots.
    scale : float
        The vector scale in pixels.
    """

    def __init__(self, n_contributors, scale, **kwargs):
        super().__init__(**kwargs)
        self.n_contributors = int(n_contributors)
        self.scale = float(scale)

    def call(self, inputs):
        shape = ops.shape(inputs)
        vectors = ops.reshape(inputs, (shape[0], shape[1], shape[2],
                                       self.n_contributors, 2))
        return vectors * self.scale

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.n_contributors, 2)

    def get_config(self):
        config = super().get_config()
        config.update(n_contributors=self.n_contributors, scale=self.scale)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BandContributionMaps(keras.layers.Layer):
    """
    Turn (batch, h, w, b n) channels into (batch, h, w, b, n) logits: the
    per-band contribution maps C^m_b (band-major channel order).

    Parameters
    ----------
    n_bands : int
        The number b of bands.
    n_contributors : int
        The number n of contributor slots.
    """

    def __init__(self, n_bands, n_contributors, **kwargs):
        super().__init__(**kwargs)
        self.n_bands = int(n_bands)
        self.n_contributors = int(n_contributors)

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (shape[0], shape[1], shape[2],
                                    self.n_bands, self.n_contributors))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.n_bands, self.n_contributors)

    def get_config(self):
        config = super().get_config()
        config.update(n_bands=self.n_bands,
                      n_contributors=self.n_contributors)
        return config


#: Name -> class of every custom layer, for ``keras.saving.load_model``.
CUSTOM_OBJECTS = {cls.__name__: cls for cls in (
    PadToMultiple, CropToReference, StopGradient, LocalLinearAttention,
    ContributionVectors, BandContributionMaps)}
