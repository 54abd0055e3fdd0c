"""Shared fixtures: small seeded scenes in the partial form."""

import numpy as np
import pytest

# A script, not a test module: ``python tests/fuzz_public_api.py``.
# Keep --doctest-modules from importing it.
collect_ignore = ['fuzz_public_api.py']


def random_partial_form(shape=(24, 30), n_slots=3, n_labels=6, seed=0,
                        empty_fraction=0.2):
    """
    A valid random partial form: distinct labels per pixel, weights summing
    to 1, some unattributed pixels and some half-filled pixels.
    """
    return partial_form_from_rng(np.random.default_rng(seed), shape, n_slots,
                                 n_labels, empty_fraction)


def partial_form_from_rng(rng, shape, n_slots, n_labels, empty_fraction=0.2):
    """`random_partial_form` drawn from the generator ``rng``."""
    height, width = shape
    contributors = np.zeros((height, width, n_slots), dtype=np.int32)
    weights = np.zeros((height, width, n_slots), dtype=np.float32)
    for y in range(height):
        for x in range(width):
            if rng.random() < empty_fraction:
                continue
            count = rng.integers(1, min(n_slots, n_labels) + 1)
            labels = rng.choice(np.arange(1, n_labels + 1), size=count,
                                replace=False)
            values = rng.random(count) + 1e-3
            contributors[y, x, :count] = labels
            weights[y, x, :count] = values / values.sum()
    return contributors, weights


@pytest.fixture
def partial_form():
    return random_partial_form()
