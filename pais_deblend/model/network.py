"""
The PAIS network (Hausen & Robertson 2022, arXiv:2201.04714, section 3.2)
in Keras 3.

Architecture (:ref:`model-architecture` in the documentation):

- **Shared encoder**: a 3x3 stem convolution, then one residual stage per
  entry of ``filters`` (the authors used 8, 16, 32, 32); stage 0 keeps the
  full resolution, every later stage halves it with a strided residual
  block. Each stage ends with a fast-attention block
  (`~pais_deblend.model.layers.LocalLinearAttention`: L2-normalised
  queries and keys, no softmax).
- **Spatial decoder**: nearest-neighbour upsampling, concatenation with the
  encoder stage of the same scale, two 3x3 convolutions per scale; heads
  for C^c (1x1 convolution, sigmoid) and C^v (1x1 convolution predicting
  v / ``vector_scale``, rescaled to pixels by
  `~pais_deblend.model.layers.ContributionVectors`).
- **Attribution decoder**: the same structure, also reading the spatial
  decoder's features at every scale through
  `~pais_deblend.model.layers.StopGradient`; head: C^m logits
  (1x1 convolution, no activation).
- Optional heads (off by default, so the single-band model keeps its
  graph): ``classify=True`` adds a star/galaxy head on the spatial
  decoder, a per-pixel sigmoid ``star_probability`` (the share of the
  pixel's flux that comes from stars; read at a source's centre it
  classifies the source, as the class branch of the Mask R-CNN deblender
  of Burke et al. 2019 does per box); ``band_maps=True`` adds per-band
  contribution maps ``band_contribution_maps`` (h, w, b, n) logits on
  the attribution decoder, so blended sources keep their own colours.

``architecture='light'`` (``_build_light_graph``) builds a network with
the same outputs, optional heads included, for about a fifth of the CPU
time: a stride-2 stem, so that only a narrow head (two 3x3 convolutions
of 8 channels on the upsampled features and the input image) runs at
full resolution; one shared decoder up to 1/2 resolution instead of the
spatial and attribution decoders; attention at 1/4 resolution and
coarser only. Its ``filters`` are the widths at 1/2, 1/4, ... resolution
and its downsampling factor is 2**len(filters).

The model is fully convolutional: any (h, w) and a fixed number of bands
b. Inputs are zero-padded at the bottom/right to a multiple of the
downsampling factor (2**(len(filters) - 1) for 'pais') and outputs
cropped back.

**Tiling.** There is no normalisation layer with per-image statistics
and the attention is local (a sliding window, not global over the
image), so every output pixel depends only on input pixels within
`receptive_field_radius` of it (plus the frame's zero padding). When an
image is cut into tiles whose origins are multiples of the downsampling
factor and which overlap by at least the receptive-field radius, the
stitched tile cores equal a single pass over the whole image to float
rounding (`pais_deblend.model.predict_pcr`). A global linear attention,
as in the authors' network, would make every output depend on the tile
extent; the windowed attention trades that global context (here a
window of ``attention_window`` pixels at each scale, i.e. up to
``attention_window * 2**(len(filters) - 1)`` input pixels at the coarsest
scale) for exact tile independence.

Inputs must be normalised with `pais_deblend.model.normalize_image`.
"""

import keras

from .layers import (BandContributionMaps, ContributionVectors,
                     CropToReference, LocalLinearAttention, PadToMultiple,
                     StopGradient)

__all__ = ['PAISModel', 'build_pais_model', 'load_model',
           'receptive_field_radius', 'OUTPUT_NAMES', 'OPTIONAL_OUTPUT_NAMES']

#: The names of the model's outputs (a dict of tensors).
OUTPUT_NAMES = ('center_of_mass', 'contribution_vectors',
                'contribution_maps')

#: The names of the optional outputs (``classify``, ``band_maps``).
OPTIONAL_OUTPUT_NAMES = ('star_probability', 'band_contribution_maps')

#: The architectures `build_pais_model` can build.
ARCHITECTURES = ('pais', 'light')

#: The ``filters`` and ``attention_window`` of each architecture when not
#: given (``'light'``: the variant chosen with
#: ``benchmarks/bench_network_cost.py``, :ref:`model-architecture`).
DEFAULTS = {'pais': {'filters': (8, 16, 32, 32), 'attention_window': 5},
            'light': {'filters': (8, 16, 32, 64), 'attention_window': 3}}

#: Fixed choices of the 'light' architecture (``_build_light_graph``);
#: the benchmark script varies them, a model file never records them.
LIGHT_OPTIONS = dict(head_filters=8, decoder_convs=1, separable=False,
                     attention_from=1)


def _check_config(n_bands, n_contributors, filters, attention_window,
                  key_dim, vector_scale):
    for name, value in (('n_bands', n_bands),
                        ('n_contributors', n_contributors)):
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f'{name} must be a positive integer, got {value!r}'
            raise TypeError(msg)
        if value < 1:
            msg = f'{name} must be a positive integer, got {value}'
            raise ValueError(msg)
    filters = tuple(filters)
    if not filters or not all(isinstance(f, int) and not isinstance(f, bool)
                              and f > 0 for f in filters):
        msg = f'filters must be a non-empty sequence of positive ints, got {filters!r}'
        raise ValueError(msg)
    if attention_window is not None and (
            not isinstance(attention_window, int) or attention_window < 1
            or attention_window % 2 == 0):
        msg = ('attention_window must be None or a positive odd integer, '
               f'got {attention_window!r}')
        raise ValueError(msg)
    if key_dim is not None and (not isinstance(key_dim, int)
                                or key_dim < 1):
        msg = f'key_dim must be None or a positive integer, got {key_dim!r}'
        raise ValueError(msg)
    if not (isinstance(vector_scale, (int, float))
            and vector_scale > 0):
        msg = f'vector_scale must be a number > 0, got {vector_scale!r}'
        raise ValueError(msg)
    return filters


def _defaults(architecture, filters, attention_window):
    """``filters`` and ``attention_window``, the architecture's defaults
    (`DEFAULTS`) where None and 'default'."""
    if architecture not in ARCHITECTURES:
        msg = (f'architecture must be one of {ARCHITECTURES}, '
               f'got {architecture!r}')
        raise ValueError(msg)
    if filters is None:
        filters = DEFAULTS[architecture]['filters']
    if isinstance(attention_window, str) and attention_window == 'default':
        attention_window = DEFAULTS[architecture]['attention_window']
    return filters, attention_window


def receptive_field_radius(filters=None, attention_window='default', *,
                           architecture='pais'):
    """
    An upper bound on the receptive-field radius of the network, in pixels.

    Every output pixel depends only on input pixels within this distance
    (along each axis) of it. Tiles overlapping by at least this much (see
    `pais_deblend.model.predict_pcr`) give the same result as one pass.

    Parameters
    ----------
    filters : sequence of int, optional
        The encoder filters (one per scale); default: those of
        ``architecture`` (``network.DEFAULTS``).
    attention_window : int or None, optional
        The attention window (None: no attention); default: that of
        ``architecture``.
    architecture : {'pais', 'light'}, optional
        The network (`build_pais_model`).

    Returns
    -------
    radius : int
        For 'light' the bound is exact: some output pixel depends on an
        input pixel at this distance (tested).
    """
    filters, attention_window = _defaults(architecture, filters,
                                          attention_window)
    if architecture == 'light':
        return _light_receptive_field(len(filters), attention_window,
                                      **LIGHT_OPTIONS)
    attention = 0 if attention_window is None else attention_window // 2
    jump = 1
    radius = 1  # stem 3x3
    skips = []
    for stage in range(len(filters)):
        if stage == 0:
            radius += 2 * jump
        else:
            radius += 2 * jump  # strided 3x3: offsets 0..2 at the old jump
            jump *= 2
            radius += jump
        radius += attention * jump
        skips.append((radius, jump))
    spatial = attribution = skips[-1][0]
    for stage in range(len(filters) - 2, -1, -1):
        skip_radius, jump = skips[stage]
        spatial = max(spatial + jump, skip_radius) + 2 * jump
        attribution = max(attribution + jump, skip_radius,
                          spatial - 2 * jump) + 2 * jump
    return int(max(spatial, attribution))


# The receptive field of the 'light' network, tracked through its layers:
# a feature of index i at a scale of ``jump`` input pixels per feature
# depends on the input pixels i * jump - lo ... i * jump + hi.

def _field_conv(field, kernel=3):
    """A stride-1 ``kernel`` x ``kernel`` convolution (or window)."""
    lo, hi, jump = field
    reach = (kernel // 2) * jump
    return lo + reach, hi + reach, jump


def _field_strided(field):
    """A 3x3, stride-2 'same' convolution of an even-sized input: feature
    i reads features 2i, 2i + 1, 2i + 2 (TensorFlow pads 0 before and 1
    after)."""
    lo, hi, jump = field
    return lo, hi + 2 * jump, 2 * jump


def _field_upsampled(field):
    """Nearest-neighbour upsampling by 2: feature p reads p // 2."""
    lo, hi, jump = field
    return lo + jump // 2, hi, jump // 2


def _field_merged(*fields):
    """Concatenation or addition of features of the same scale."""
    return (max(f[0] for f in fields), max(f[1] for f in fields),
            fields[0][2])


def _light_receptive_field(n_scales, attention_window, *, head_filters=8,
                           decoder_convs=1, separable=False,
                           attention_from=1):
    """
    The receptive-field radius of ``_build_light_graph`` with these
    options (``head_filters`` and ``separable`` do not change it): exact
    for `LIGHT_OPTIONS` (tested against the gradient support), an upper
    bound otherwise.
    """
    image = (0, 0, 1)
    x = _field_strided(image)  # stem
    skips = []
    for stage in range(n_scales):
        # residual block (its shortcut reaches less far)
        if stage == 0:
            x = _field_conv(_field_conv(x))
        else:
            x = _field_conv(_field_strided(x))
        if attention_window is not None and stage >= attention_from:
            x = _field_conv(x, attention_window)
        skips.append(x)
    for stage in range(n_scales - 2, -1, -1):
        x = _field_merged(_field_upsampled(x), skips[stage])
        for _ in range(decoder_convs):
            x = _field_conv(x)
    x = _field_merged(_field_upsampled(x), image)  # head
    x = _field_conv(_field_conv(x))
    return int(max(x[0], x[1]))


@keras.saving.register_keras_serializable(package='pais_deblend')
class PAISModel(keras.Model):
    """
    The PAIS network as a Keras functional model with a compact config.

    Use `build_pais_model` to create one. Calling the model on a
    (batch, h, w, b) float32 tensor of normalised images returns a dict:

    - ``center_of_mass``: (batch, h, w, 1), sigmoid, C^c;
    - ``contribution_vectors``: (batch, h, w, n, 2), C^v in pixels,
      (dy, dx) = centre - pixel;
    - ``contribution_maps``: (batch, h, w, n), C^m logits (softmax over
      the n slots gives the fractions);
    - with ``classify=True``, ``star_probability``: (batch, h, w, 1),
      sigmoid, the share of the pixel's flux from stars;
    - with ``band_maps=True``, ``band_contribution_maps``:
      (batch, h, w, b, n), per-band C^m logits.

    ``get_config`` holds only the constructor arguments, so the model
    saves to ``.keras`` and reloads with ``safe_mode=True``.
    """

    def __init__(self, n_bands=1, n_contributors=3, filters=None,
                 attention_window='default', key_dim=None, vector_scale=32.0,
                 activation='silu', classify=False, band_maps=False,
                 architecture='pais', name='pais_model', **kwargs):
        filters, attention_window = _defaults(architecture, filters,
                                              attention_window)
        filters = _check_config(n_bands, n_contributors, filters,
                                attention_window, key_dim, vector_scale)
        for option, value in (('classify', classify),
                              ('band_maps', band_maps)):
            if not isinstance(value, bool):
                msg = f'{option} must be True or False, got {value!r}'
                raise TypeError(msg)
        build = _build_light_graph if architecture == 'light' else (
            _build_graph)
        options = LIGHT_OPTIONS if architecture == 'light' else {}
        inputs, outputs = build(
            n_bands, n_contributors, filters, attention_window, key_dim,
            float(vector_scale), activation, classify, band_maps, **options)
        kwargs.pop('trainable', None)
        super().__init__(inputs=inputs, outputs=outputs, name=name)
        self._architecture = dict(
            n_bands=int(n_bands), n_contributors=int(n_contributors),
            filters=list(filters), attention_window=attention_window,
            key_dim=key_dim, vector_scale=float(vector_scale),
            activation=activation)
        # recorded only when on, so older model files keep their config
        if classify:
            self._architecture['classify'] = True
        if band_maps:
            self._architecture['band_maps'] = True
        if architecture != 'pais':
            self._architecture['architecture'] = architecture

    @property
    def architecture_name(self):
        """The network built: 'pais' or 'light' (`build_pais_model`)."""
        return self._architecture.get('architecture', 'pais')

    @property
    def classify(self):
        """Whether the model has the star/galaxy head."""
        return self._architecture.get('classify', False)

    @property
    def band_maps(self):
        """Whether the model predicts per-band contribution maps."""
        return self._architecture.get('band_maps', False)

    @property
    def architecture(self):
        """The constructor arguments (a new dict)."""
        return dict(self._architecture,
                    filters=list(self._architecture['filters']))

    @property
    def n_bands(self):
        """The number b of input bands."""
        return self._architecture['n_bands']

    @property
    def n_contributors(self):
        """The number n of contributor slots."""
        return self._architecture['n_contributors']

    @property
    def downsampling_factor(self):
        """The total encoder downsampling factor: 2**(len(filters) - 1)
        for 'pais', 2**len(filters) for 'light' (its stem halves the
        resolution)."""
        n_scales = len(self._architecture['filters'])
        if self.architecture_name == 'light':
            return 2 ** n_scales
        return 2 ** (n_scales - 1)

    @property
    def receptive_field_radius(self):
        """See `receptive_field_radius`."""
        return receptive_field_radius(self._architecture['filters'],
                                      self._architecture['attention_window'],
                                      architecture=self.architecture_name)

    def get_config(self):
        return dict(self.architecture, name=self.name)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """
        Rebuild the model from the dictionary made by ``get_config``.
        """
        return cls(**config)


class _Blocks:
    """The convolution blocks shared by the architectures."""

    def __init__(self, activation, separable=False):
        self.activation = activation
        self.separable = separable

    def conv(self, x, n_filters, name, strides=1):
        """A 3x3 convolution ('same' padding), separable if asked."""
        layer = (keras.layers.SeparableConv2D if self.separable
                 else keras.layers.Conv2D)
        return layer(n_filters, 3, strides=strides, padding='same',
                     name=name)(x)

    def act(self, x, name):
        return keras.layers.Activation(self.activation, name=name)(x)

    def residual(self, x, n_filters, strides, name):
        """Two 3x3 convolutions (the first with ``strides``) plus a 1x1
        shortcut where the shape changes."""
        y = self.act(self.conv(x, n_filters, f'{name}_conv1', strides),
                     f'{name}_act1')
        y = self.conv(y, n_filters, f'{name}_conv2')
        shortcut = x
        if strides != 1 or x.shape[-1] != n_filters:
            shortcut = keras.layers.Conv2D(n_filters, 1, strides=strides,
                                           name=f'{name}_shortcut')(x)
        y = keras.layers.Add(name=f'{name}_add')([y, shortcut])
        return self.act(y, f'{name}_out')


def _build_graph(n_bands, n_contributors, filters, attention_window,
                 key_dim, vector_scale, activation, classify=False,
                 band_maps=False):
    """
    The 'pais' network (module docstring): encoder, spatial and
    attribution decoders, output heads at full resolution.
    """
    layers = keras.layers
    blocks = _Blocks(activation)
    conv, act = blocks.conv, blocks.act
    n_scales = len(filters)

    inputs = keras.Input(shape=(None, None, n_bands), name='image')
    x = PadToMultiple(2 ** (n_scales - 1), name='pad')(inputs)
    x = act(conv(x, filters[0], 'stem_conv'), 'stem_act')
    skips = []
    for stage, n_filters in enumerate(filters):
        x = blocks.residual(x, n_filters, 1 if stage == 0 else 2,
                            f'encoder{stage}')
        if attention_window is not None:
            dim = key_dim if key_dim is not None else max(4, n_filters // 4)
            x = LocalLinearAttention(dim, attention_window,
                                     name=f'encoder{stage}_attention')(x)
        skips.append(x)

    spatial = skips[-1]
    spatial_features = {}
    for stage in range(n_scales - 2, -1, -1):
        name = f'spatial{stage}'
        spatial = layers.UpSampling2D(2, name=f'{name}_up')(spatial)
        spatial = layers.Concatenate(name=f'{name}_concat')(
            [spatial, skips[stage]])
        spatial = act(conv(spatial, filters[stage], f'{name}_conv1'),
                      f'{name}_act1')
        spatial = act(conv(spatial, filters[stage], f'{name}_conv2'),
                      f'{name}_act2')
        spatial_features[stage] = spatial

    attribution = skips[-1]
    for stage in range(n_scales - 2, -1, -1):
        name = f'attribution{stage}'
        attribution = layers.UpSampling2D(2, name=f'{name}_up')(attribution)
        frozen = StopGradient(name=f'{name}_stop_gradient')(
            spatial_features[stage])
        attribution = layers.Concatenate(name=f'{name}_concat')(
            [attribution, skips[stage], frozen])
        attribution = act(conv(attribution, filters[stage],
                               f'{name}_conv1'), f'{name}_act1')
        attribution = act(conv(attribution, filters[stage],
                               f'{name}_conv2'), f'{name}_act2')
    return inputs, _output_heads(spatial, attribution, inputs, n_bands,
                                 n_contributors, vector_scale, classify,
                                 band_maps)


def _output_heads(spatial, attribution, inputs, n_bands, n_contributors,
                  vector_scale, classify, band_maps):
    """
    The 1x1 output convolutions: C^c, C^v and the star probability read
    the (padded h, w, c) ``spatial`` features, C^m and the per-band maps
    the ``attribution`` features; every output is cropped to the (h, w)
    of ``inputs``. Returns the dict of outputs.
    """
    layers = keras.layers
    center_of_mass = layers.Conv2D(1, 1, activation='sigmoid',
                                   name='center_of_mass_head')(spatial)
    vectors = layers.Conv2D(2 * n_contributors, 1,
                            name='contribution_vectors_head')(spatial)
    vectors = ContributionVectors(n_contributors, vector_scale,
                                  name='contribution_vectors_scale')(vectors)
    maps = layers.Conv2D(n_contributors, 1,
                         name='contribution_maps_head')(attribution)
    outputs = {
        'center_of_mass': CropToReference(name='center_of_mass')(
            [center_of_mass, inputs]),
        'contribution_vectors': CropToReference(name='contribution_vectors')(
            [vectors, inputs]),
        'contribution_maps': CropToReference(name='contribution_maps')(
            [maps, inputs]),
    }
    if classify:
        star = layers.Conv2D(1, 1, activation='sigmoid',
                             name='star_probability_head')(spatial)
        outputs['star_probability'] = CropToReference(
            name='star_probability')([star, inputs])
    if band_maps:
        per_band = layers.Conv2D(n_bands * n_contributors, 1,
                                 name='band_contribution_maps_head')(
                                     attribution)
        per_band = CropToReference(name='band_contribution_maps_crop')(
            [per_band, inputs])
        outputs['band_contribution_maps'] = BandContributionMaps(
            n_bands, n_contributors, name='band_contribution_maps')(per_band)
    return outputs


# --- the 'light' architecture ----------------------------------------------


def _build_light_graph(n_bands, n_contributors, filters, attention_window,
                       key_dim, vector_scale, activation, classify=False,
                       band_maps=False, *, head_filters=8, decoder_convs=1,
                       separable=False, attention_from=1):
    """
    The 'light' network: nothing but a narrow head at full resolution.

    With K = len(filters) and f_s = filters[s], every tensor below has the
    batch axis first and the frame padded to a multiple of 2**K:

    - stem: 3x3 convolution, stride 2: (h, w, b) -> (h/2, w/2, f_0);
    - encoder stage 0: a residual block at 1/2 resolution, f_0 channels;
      stage s >= 1: a strided residual block, (h/2**s, w/2**s, f_{s-1})
      -> (h/2**(s+1), w/2**(s+1), f_s), then windowed attention for
      s >= ``attention_from`` (1: from 1/4 resolution on);
    - one shared decoder (`_light_decoder`): from the coarsest stage up to
      1/2 resolution, nearest upsampling, concatenation with the encoder
      stage of the same scale and ``decoder_convs`` 3x3 convolutions of
      f_s channels;
    - full-resolution head (`_light_head`): a 1x1 convolution to
      ``head_filters`` channels at 1/2 resolution, nearest upsampling to
      (h, w), concatenation with the (padded) input image, two 3x3
      convolutions of ``head_filters`` channels and the 1x1 output
      convolutions of the 'pais' network (same names, activations and
      shapes: C^c (h, w, 1), C^v (h, w, n, 2), C^m (h, w, n), optional
      star probability (h, w, 1) and per-band maps (h, w, b, n)).

    ``separable=True`` uses depthwise-separable 3x3 convolutions in the
    encoder and decoder (not in the stem and head).
    """
    layers = keras.layers
    blocks = _Blocks(activation, separable)
    n_scales = len(filters)

    inputs = keras.Input(shape=(None, None, n_bands), name='image')
    padded = PadToMultiple(2 ** n_scales, name='pad')(inputs)
    x = blocks.act(layers.Conv2D(filters[0], 3, strides=2, padding='same',
                                 name='stem_conv')(padded), 'stem_act')
    skips = []
    for stage, n_filters in enumerate(filters):
        x = blocks.residual(x, n_filters, 1 if stage == 0 else 2,
                            f'encoder{stage}')
        if attention_window is not None and stage >= attention_from:
            dim = key_dim if key_dim is not None else max(4, n_filters // 4)
            x = LocalLinearAttention(dim, attention_window,
                                     name=f'encoder{stage}_attention')(x)
        skips.append(x)
    features = _light_decoder(blocks, skips, filters, decoder_convs)
    features = _light_head(blocks, features, padded, head_filters)
    return inputs, _output_heads(features, features, inputs, n_bands,
                                 n_contributors, vector_scale, classify,
                                 band_maps)


def _light_decoder(blocks, skips, filters, n_convs):
    """
    The shared decoder of the 'light' network: from ``skips[-1]`` up to
    the scale of ``skips[0]`` (1/2 resolution), (h/2, w/2, filters[0]).
    """
    layers = keras.layers
    x = skips[-1]
    for stage in range(len(filters) - 2, -1, -1):
        name = f'decoder{stage}'
        x = layers.UpSampling2D(2, name=f'{name}_up')(x)
        x = layers.Concatenate(name=f'{name}_concat')([x, skips[stage]])
        for i in range(1, n_convs + 1):
            x = blocks.act(blocks.conv(x, filters[stage], f'{name}_conv{i}'),
                           f'{name}_act{i}')
    return x


def _light_head(blocks, features, image, n_filters):
    """
    The full-resolution head of the 'light' network: (h/2, w/2, c)
    features and the (h, w, b) padded image -> (h, w, ``n_filters``).
    """
    layers = keras.layers
    x = layers.Conv2D(n_filters, 1, name='head_reduce')(features)
    x = layers.UpSampling2D(2, name='head_up')(x)
    x = layers.Concatenate(name='head_concat')([x, image])
    for i in (1, 2):
        x = blocks.act(layers.Conv2D(n_filters, 3, padding='same',
                                     name=f'head_conv{i}')(x),
                       f'head_act{i}')
    return x


def build_pais_model(n_bands=1, n_contributors=3, filters=None,
                     *, attention_window='default', key_dim=None,
                     vector_scale=32.0,
                     activation='silu', classify=False, band_maps=False,
                     architecture='pais', seed=None):
    """
    Build the PAIS network (untrained).

    Parameters
    ----------
    n_bands : int, optional
        The number b of input bands.
    n_contributors : int, optional
        The number n of contributor slots of the PCR (paper: 3).
    filters : sequence of int, optional
        Encoder filters per scale; the decoders use the same numbers.
        'pais': the scales are 1, 1/2, 1/4, ... of the input resolution,
        default (and paper) 8, 16, 32, 32, downsampling factor
        2**(len(filters) - 1). 'light': the scales are 1/2, 1/4, ...,
        default 8, 16, 32, 64, downsampling factor 2**len(filters).
    attention_window : int or None, optional
        The odd side of the sliding attention window, in pixels of its
        scale: at every scale for 'pais' (default 5), at 1/4 resolution
        and coarser for 'light' (default 3); None disables the attention
        blocks.
    key_dim : int, optional
        Query/key channels of the attention blocks (default
        max(4, filters // 4)).
    vector_scale : float, optional
        The C^v head predicts v / vector_scale (pixels).
    activation : str, optional
        A Keras activation name.
    classify : bool, optional
        Add the star/galaxy head (``star_probability``).
    band_maps : bool, optional
        Add per-band contribution maps (``band_contribution_maps``), for
        multi-band images.
    architecture : {'pais', 'light'}, optional
        'pais' (default): the network of the paper (module docstring).
        'light': the same outputs for about a fifth of the CPU time
        (``_build_light_graph``, :ref:`model-architecture`): a stride-2
        stem, one shared decoder up to 1/2 resolution, attention at 1/4
        resolution and coarser, and a narrow full-resolution head reading
        the upsampled features and the input image. Recorded in the model
        config (and in the ``architecture`` dict of the model) when not
        'pais'; ``model.architecture_name`` gives it either way.
    seed : int, optional
        Seeds Keras' weight initialisation (``keras.utils.set_random_seed``)
        for a reproducible initial model.

    Returns
    -------
    model : `PAISModel`
        A Keras model mapping (batch, h, w, b) normalised images to the
        dict of outputs described in `PAISModel`.
    """
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    return PAISModel(n_bands=n_bands, n_contributors=n_contributors,
                     filters=None if filters is None else tuple(filters),
                     attention_window=attention_window, key_dim=key_dim,
                     vector_scale=vector_scale, activation=activation,
                     classify=classify, band_maps=band_maps,
                     architecture=architecture)


def load_model(filename):
    """
    Load a saved PAIS model (``.keras``) with Keras safe mode on.

    Parameters
    ----------
    filename : str or path-like
        A file written by ``model.save`` (e.g. by
        `~pais_deblend.model.train`).

    Returns
    -------
    model : `PAISModel`

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a whole ``.keras`` archive (truncated or corrupt:
        every member's CRC is checked before Keras reads it), Keras cannot
        read it (e.g. no ``config.json``, an unknown layer), or it holds a
        Keras model that is not a PAIS model; the message names the file
        and the cause.
    """
    import os
    import zipfile

    from . import layers  # noqa: F401  (registers the custom layers)

    path = os.fspath(filename)
    if not os.path.isfile(path):
        msg = f'model file {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.testzip()
        damaged = None if member is None else f'member {member!r} fails its CRC'
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        damaged = f'not a zip archive ({error})'
    if damaged is not None:
        msg = (f'model file {path!r} is truncated or corrupt ({damaged}); '
               'save or copy it again')
        raise ValueError(msg)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except MemoryError:
        raise
    except Exception as error:  # Keras raises KeyError, TypeError, ...
        msg = (f'model file {path!r} is not a Keras model Keras can read '
               f'({type(error).__name__}: {error})')
        raise ValueError(msg) from error
    missing = [name for name in ('n_contributors', 'receptive_field_radius')
               if not hasattr(model, name)]
    if missing:
        msg = (f'model file {path!r} holds a Keras {type(model).__name__}, '
               f'not a PAIS model (no {", ".join(missing)}); pass a model '
               'written by pais_deblend.model.train or a bundled model name')
        raise ValueError(msg)
    return model
