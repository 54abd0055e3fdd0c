"""
The PAIS training loss (Hausen & Robertson 2022, arXiv:2201.04714,
Eq. 3), written with ``keras.ops``.

    L = lambda_c MSE(C^c) + lambda_v MAE(C^v) + lambda_m CE(C^m)
        + lambda_S H(C^m)

with the paper's weights lambda_c = 15, lambda_v = 0.06, lambda_m = 4,
lambda_S = 2 as defaults (the authors' configuration file used 1 for the
entropy term; :ref:`model-loss` in the documentation). The C^v and C^m
terms are averages over pixels weighted by a per-pixel weight from the labels
(``pixel_weight``: 1 on pixels that carry source flux, 0 elsewhere, or any
non-negative soft weight), because contribution vectors and maps are
meaningless on empty sky. The C^c term covers every pixel: the
centre-of-mass map must also be 0 on empty sky.

Terms, for a batch (sums over pixels p of all images):

- ``center_of_mass``: mean over pixels of (C^c_pred - C^c_true)^2;
- ``contribution_vectors``: sum_p w_p mean_{k, axis}
  |C^v_pred - C^v_true| / sum_p w_p, in pixels;
- ``contribution_maps``: sum_p w_p (-sum_k y_k log softmax(z)_k) /
  sum_p w_p, with y the true fractions and z the predicted logits;
- ``entropy``: sum_p w_p (-sum_k q_k log q_k) / sum_p w_p with
  q = softmax(z). The paper does not state the sign convention of its
  entropy regulariser; here a positive ``entropy_weight`` *penalises*
  entropy (sharper, more decisive attributions) and a negative one
  rewards it. The weighted terms are 0 when a batch has no weighted
  pixel.

Two terms belong to the optional heads (`pais_deblend.model.network`)
and are computed only when the model has the head and the labels carry
its target:

- ``star_probability``: sum_p w_p BCE(s_true, s_pred) / sum_p w_p, the
  binary cross-entropy of the per-pixel share of flux from stars;
- ``band_contribution_maps``: the ``contribution_maps`` cross-entropy of
  each band's own fractions, averaged over the b bands.

Slot matching. The labels order a pixel's contributors nearest first
(`pais_deblend.pcr.encode_pcr`). Near the bisector between two sources,
and wherever a faint source sits in a bright one's light, that order
depends on where the faint centre lies to within a pixel; a network
trained to reproduce it slot by slot learned to point *both* of its
first two slots at the brighter source (measured on the bundled models
with ``benchmarks/bench_slots.py``: on the pixels two sources truly
share, slots 1 and 2 reach the same detected centre 99.4-99.7 % of the
time, so every pixel goes to a single source). Decoding adds the
weights of slots that reach the same centre, so it does not need the
order: with ``slot_matching='permutation'`` the C^v, C^m and per-band
C^m terms of each pixel are computed for the permutation of the true
slots that costs the prediction least (weighted sum of the three terms,
as in permutation-invariant training of set predictions), and the
network may keep the slots in any consistent order. A 600- or
1,000-step fine-tune of the bundled ``ground_grz`` model with it did
not separate the slots (docs, benchmarks page); it is meant for
training from scratch.
"""

import itertools

from keras import ops

__all__ = ['PAISLoss', 'DEFAULT_LOSS_WEIGHTS']

#: The paper's loss weights (Eq. 3).
DEFAULT_LOSS_WEIGHTS = {
    'center_of_mass': 15.0,
    'contribution_vectors': 0.06,
    'contribution_maps': 4.0,
    'entropy': 2.0,
    'star_probability': 2.0,
    'band_contribution_maps': 4.0,
}

#: Keeps log() finite in the binary cross-entropy.
_EPSILON = 1e-6

#: The ways the loss may pair predicted and true slots.
SLOT_MATCHING = ('ordered', 'permutation')

#: Most slots for which ``slot_matching='permutation'`` tries every
#: permutation (5! = 120 per pixel).
_MAX_PERMUTED_SLOTS = 5


def _star_term(true, predicted, weight, denominator):
    """Weighted binary cross-entropy of the star share, (batch, h, w)."""
    true = ops.cast(true, 'float32')
    predicted = ops.cast(predicted, 'float32')
    if len(predicted.shape) == 4:
        predicted = predicted[..., 0]
    predicted = ops.clip(predicted, _EPSILON, 1.0 - _EPSILON)
    cross_entropy = -(true * ops.log(predicted)
                      + (1.0 - true) * ops.log(1.0 - predicted))
    return ops.sum(weight * cross_entropy) / denominator


class PAISLoss:
    """
    The weighted sum of the PAIS loss terms.

    Parameters
    ----------
    center_of_mass_weight, contribution_vectors_weight, contribution_maps_weight, entropy_weight : float, optional
        lambda_c, lambda_v, lambda_m, lambda_S of Eq. 3 (defaults: the
        paper's 15, 0.06, 4, 2).
    star_probability_weight, band_contribution_maps_weight : float, optional
        Weights of the optional heads' terms (defaults 2 and 4: the
        per-band maps weigh like C^m; the classification term is of the
        order of the other weighted terms at the start of training).
    vector_weighting : {'uniform', 'contribution'}, optional
        How the C^v error of a pixel averages its ``n`` slots:
        ``'uniform'`` (the paper) or ``'contribution'``, weighted by each
        slot's true share C^m of the pixel's flux. On the ``hst_f160w``
        validation labels 85 % (slot 2) and 92 % (slot 3) of the flux
        pixels give those slots under 5 % of the flux, and their vectors
        point 19 and 30 px away on average, to sources that hardly
        matter there: with uniform weighting such slots dominate the
        C^v term (MAE 18 px after 500 steps). The bundled model uses
        ``'contribution'``.
    slot_matching : {'ordered', 'permutation'}, optional
        ``'ordered'`` (the paper): predicted slot k is compared with true
        slot k. ``'permutation'``: per pixel, with the permutation of the
        true slots that minimises the pixel's weighted C^v + C^m (+
        per-band C^m) loss (module docstring; at most 5 slots).

    Notes
    -----
    Call it as ``loss(labels, predictions)`` where ``labels`` is a dict
    with ``center_of_mass`` (batch, h, w) or (batch, h, w, 1),
    ``contribution_vectors`` (batch, h, w, n, 2) in pixels,
    ``contribution_maps`` (batch, h, w, n) fractions and
    ``pixel_weight`` (batch, h, w), and ``predictions`` is the model's
    output dict. It returns ``(total, terms)`` with ``terms`` a dict of
    the unweighted scalar terms (four, plus one per optional head).
    """

    def __init__(self, *, center_of_mass_weight=15.0,
                 contribution_vectors_weight=0.06,
                 contribution_maps_weight=4.0, entropy_weight=2.0,
                 star_probability_weight=2.0,
                 band_contribution_maps_weight=4.0,
                 vector_weighting='uniform', slot_matching='ordered'):
        if vector_weighting not in ('uniform', 'contribution'):
            msg = (f"vector_weighting must be 'uniform' or 'contribution', "
                   f"got {vector_weighting!r}")
            raise ValueError(msg)
        if slot_matching not in SLOT_MATCHING:
            msg = (f"slot_matching must be 'ordered' or 'permutation', "
                   f"got {slot_matching!r}")
            raise ValueError(msg)
        self.vector_weighting = vector_weighting
        self.slot_matching = slot_matching
        weights = {
            'center_of_mass': center_of_mass_weight,
            'contribution_vectors': contribution_vectors_weight,
            'contribution_maps': contribution_maps_weight,
            'entropy': entropy_weight,
            'star_probability': star_probability_weight,
            'band_contribution_maps': band_contribution_maps_weight,
        }
        for name, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                msg = f'{name}_weight must be a real number, got {value!r}'
                raise TypeError(msg)
            if value != value or value in (float('inf'), float('-inf')):
                msg = f'{name}_weight must be finite, got {value}'
                raise ValueError(msg)
        self.weights = {name: float(value) for name, value in weights.items()}

    def get_config(self):
        """The weights as constructor keyword arguments."""
        config = {f'{name}_weight': value
                  for name, value in self.weights.items()}
        config['vector_weighting'] = self.vector_weighting
        config['slot_matching'] = self.slot_matching
        return config

    def terms(self, labels, predictions):
        """
        The unweighted loss terms (four, plus one per optional head that
        both the labels and the predictions carry).

        Returns
        -------
        terms : dict of str to scalar tensor
        """
        true_com = ops.cast(labels['center_of_mass'], 'float32')
        pred_com = ops.cast(predictions['center_of_mass'], 'float32')
        if len(true_com.shape) == 3:
            true_com = ops.expand_dims(true_com, -1)
        if len(pred_com.shape) == 3:
            pred_com = ops.expand_dims(pred_com, -1)
        center_of_mass = ops.mean(ops.square(pred_com - true_com))

        weight = ops.cast(labels['pixel_weight'], 'float32')
        total_weight = ops.sum(weight)
        denominator = ops.maximum(total_weight, 1e-12)

        true_vectors = ops.cast(labels['contribution_vectors'], 'float32')
        pred_vectors = ops.cast(predictions['contribution_vectors'],
                                'float32')
        true_maps = ops.cast(labels['contribution_maps'], 'float32')
        logits = ops.cast(predictions['contribution_maps'], 'float32')
        log_q = ops.log_softmax(logits, axis=-1)
        has_bands = ('band_contribution_maps' in labels
                     and 'band_contribution_maps' in predictions)
        true_bands = log_bands = None
        if has_bands:
            true_bands = ops.cast(labels['band_contribution_maps'], 'float32')
            log_bands = ops.log_softmax(ops.cast(
                predictions['band_contribution_maps'], 'float32'), axis=-1)

        per_pixel = self._slot_terms(true_vectors, pred_vectors, true_maps,
                                     log_q, true_bands, log_bands)
        if self.slot_matching == 'permutation':
            per_pixel = self._best_permutation(
                per_pixel, true_vectors, pred_vectors, true_maps, log_q,
                true_bands, log_bands)
        vector_error, cross_entropy, band_entropy = per_pixel

        contribution_vectors = ops.sum(weight * vector_error) / denominator
        contribution_maps = ops.sum(weight * cross_entropy) / denominator
        entropy_map = -ops.sum(ops.exp(log_q) * log_q, axis=-1)
        entropy = ops.sum(weight * entropy_map) / denominator
        terms = {
            'center_of_mass': center_of_mass,
            'contribution_vectors': contribution_vectors,
            'contribution_maps': contribution_maps,
            'entropy': entropy,
        }
        if 'star_probability' in labels and 'star_probability' in predictions:
            terms['star_probability'] = _star_term(
                labels['star_probability'], predictions['star_probability'],
                weight, denominator)
        if has_bands:
            terms['band_contribution_maps'] = (
                ops.sum(weight * band_entropy) / denominator)
        return terms

    def _slot_terms(self, true_vectors, pred_vectors, true_maps, log_q,
                    true_bands, log_bands):
        """
        Per-pixel (batch, h, w) C^v error, C^m cross-entropy and per-band
        C^m cross-entropy (``None`` without bands) for the given order of
        the true slots.
        """
        slot_error = ops.mean(ops.abs(pred_vectors - true_vectors), axis=-1)
        if self.vector_weighting == 'contribution':
            # weight each slot by its true share of the pixel's flux
            vector_error = ops.sum(true_maps * slot_error, axis=-1)
        else:
            vector_error = ops.mean(slot_error, axis=-1)
        cross_entropy = -ops.sum(true_maps * log_q, axis=-1)
        band_entropy = None
        if true_bands is not None:
            # (batch, h, w, b): cross-entropy per band, then band mean
            band_entropy = ops.mean(-ops.sum(true_bands * log_bands,
                                             axis=-1), axis=-1)
        return vector_error, cross_entropy, band_entropy

    def _pixel_cost(self, terms):
        vector_error, cross_entropy, band_entropy = terms
        cost = (self.weights['contribution_vectors'] * vector_error
                + self.weights['contribution_maps'] * cross_entropy)
        if band_entropy is not None:
            cost = cost + (self.weights['band_contribution_maps']
                           * band_entropy)
        return cost

    def _best_permutation(self, identity, true_vectors, pred_vectors,
                          true_maps, log_q, true_bands, log_bands):
        """
        The per-pixel terms of the permutation of the true slots with the
        least weighted cost (ties: the first, i.e. the identity).
        """
        n = true_maps.shape[-1]
        if n > _MAX_PERMUTED_SLOTS:
            msg = (f"slot_matching='permutation' supports at most "
                   f'{_MAX_PERMUTED_SLOTS} slots, the labels have {n}')
            raise ValueError(msg)
        candidates = [identity]
        for order in list(itertools.permutations(range(n)))[1:]:
            order = list(order)
            candidates.append(self._slot_terms(
                ops.take(true_vectors, order, axis=-2), pred_vectors,
                ops.take(true_maps, order, axis=-1), log_q,
                None if true_bands is None
                else ops.take(true_bands, order, axis=-1), log_bands))
        costs = ops.stack([self._pixel_cost(c) for c in candidates], axis=-1)
        # the choice is a selection, not something to differentiate
        best = ops.stop_gradient(ops.one_hot(ops.argmin(costs, axis=-1),
                                             len(candidates)))

        def pick(index):
            stacked = ops.stack([c[index] for c in candidates], axis=-1)
            return ops.sum(best * stacked, axis=-1)

        return (pick(0), pick(1),
                None if true_bands is None else pick(2))

    def __call__(self, labels, predictions):
        terms = self.terms(labels, predictions)
        total = sum(self.weights[name] * value
                    for name, value in terms.items())
        return total, terms

    def __repr__(self):
        args = ', '.join(f'{key}={value!r}'
                         for key, value in self.get_config().items())
        return f'PAISLoss({args})'
