"""scikit-learn digits: shapes, scaling, deterministic stratified split."""

import pytest
import torch

from hostsw.data import DATASETS, digits, load_dataset
from hostsw.errors import ConfigError


def test_shapes_and_scaling():
    train, test = load_dataset("digits")
    assert tuple(train.x.shape) == (1437, *DATASETS["digits"].input_shape) == (1437, 1, 8, 8)
    assert tuple(test.x.shape) == (360, 1, 8, 8)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    scaled = torch.cat([train.x, test.x]) * 16
    assert torch.equal(scaled, scaled.round()) and scaled.min() == 0 and scaled.max() == 16
    counts = torch.bincount(test.y, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class


def test_deterministic():
    a_train, a_test = digits._load.__wrapped__()  # bypass the cache: a fresh split must be identical
    b_train, b_test = load_dataset("digits")
    assert torch.equal(a_train.x, b_train.x) and torch.equal(a_train.y, b_train.y)
    assert torch.equal(a_test.x, b_test.x) and torch.equal(a_test.y, b_test.y)


def test_a_data_folder_is_refused_not_ignored(tmp_path):
    with pytest.raises(ConfigError, match="digits dataset ships with scikit-learn"):
        load_dataset("digits", root=tmp_path)
