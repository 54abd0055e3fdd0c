"""The label-presence kernel against NumPy."""

import numpy as np
import pytest

from pais_deblend.utils._labels import present_labels


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
