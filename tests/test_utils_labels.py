"""The label-presence kernel against NumPy."""

import numpy as np
import pytest

from pais_deblend.utils._labels import keep_labels, label_sizes, present_labels


@pytest.mark.parametrize('seed', range(3))
def test_present_labels_matches_unique(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 2, 5, 9], size=(33, 21)).astype(np.int32)
    present = present_labels(labels, 12)
    expected = np.zeros(13, dtype=bool)
    expected[np.unique(labels)] = True
    expected[0] = False
    np.testing.assert_array_equal(present, expected)


def test_no_labels():
    assert not present_labels(np.zeros((4, 4), dtype=np.int64), 3).any()


@pytest.mark.parametrize('seed', range(3))
def test_label_sizes_matches_bincount(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 4, 7], size=(40, 29)).astype(np.int32)
    np.testing.assert_array_equal(
        label_sizes(labels, 9), np.bincount(labels.ravel(), minlength=10))


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('serial', [False, True])
def test_keep_labels_matches_where(seed, serial):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, size=(40, 29)).astype(np.int32)
    keep = rng.random(8) < 0.5
    keep[0] = False
    expected = np.where(keep[labels], labels, 0)
    kernel = keep_labels.serial_twin if serial else keep_labels
    kernel(labels, keep)
    np.testing.assert_array_equal(labels, expected)
