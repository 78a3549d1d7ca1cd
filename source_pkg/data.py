"""Data sets for the exercises, as dicts with X_train, y_train, X_val, y_val, X_test, y_test.

The default, :func:`load_digits_data`, uses the handwritten digits that ship inside
scikit-learn, so it works offline. :func:`load_cifar10_data` reads the CIFAR-10 "python
version" batches from a folder you already have.
"""

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np

CIFAR10_ENV_VAR = "CIFAR10_DIR"
CIFAR10_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST_BATCH = "test_batch"


def _split(X, y, num_val, num_test, seed):
    order = np.random.RandomState(seed).permutation(X.shape[0])
    X, y = X[order], y[order]
    test, val, train = slice(0, num_test), slice(num_test, num_test + num_val), slice(num_test + num_val, None)
    return X[train], y[train], X[val], y[val], X[test], y[test]


def _package(X_train, y_train, X_val, y_val, X_test, y_test):
    """Subtract the training mean and collect the splits in the course's dict."""
    mean = X_train.mean(axis=0)
    return {
        "X_train": X_train - mean, "y_train": y_train,
        "X_val": X_val - mean, "y_val": y_val,
        "X_test": X_test - mean, "y_test": y_test,
    }


def _digits():
    """The 1,797 digits as float64 pixels in 0..16 and int64 labels.

    Reads the file scikit-learn ships (the one ``sklearn.datasets.load_digits`` reads)
    without importing scikit-learn, which takes over a second; falls back to
    ``load_digits`` if a scikit-learn release keeps it elsewhere.
    """
    spec = importlib.util.find_spec("sklearn")
    folders = spec.submodule_search_locations if spec else None
    csv = Path(folders[0]) / "datasets" / "data" / "digits.csv.gz" if folders else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",")
        return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int64)


def load_digits_data(num_val=300, num_test=297, seed=0):
    """scikit-learn's 1,797 handwritten digits (8x8 pixels, 10 classes), split at random.

    Pixels are scaled to [0, 1] and the training mean is subtracted.

    Returns the dict: X_* of shape (N, 64) float64, y_* of shape (N,) int64. With the
    defaults, 1,200 training, 300 validation and 297 test examples.
    """
    X, y = _digits()
    X = X / 16.0
    if num_val + num_test >= X.shape[0]:
        raise ValueError(f"num_val + num_test = {num_val + num_test} leaves no training data "
                         f"out of {X.shape[0]} examples")
    return _package(*_split(X, y, num_val, num_test, seed))


def _read_cifar_batch(path):
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch {path} is missing: the folder must hold the "
                                f"'python version' files {', '.join(CIFAR10_TRAIN_BATCHES)} and {CIFAR10_TEST_BATCH}")
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as error:
        raise ValueError(f"{path} is not a CIFAR-10 python batch (a pickled dict with b'data' "
                         f"of shape (N, 3072) and b'labels' of length N): {error}") from error
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: expected b'data' of shape (N, 3072) and N labels, got data "
                         f"{data.shape} and labels {labels.shape}")
    return data.reshape(-1, 3, 32, 32).astype(np.float64), labels


def load_cifar10_data(folder=None, num_training=49000, num_validation=1000, num_test=1000):
    """CIFAR-10 from the "python version" batches in ``folder``.

    ``folder`` defaults to the environment variable CIFAR10_DIR. The validation set is
    taken from the end of the training batches, as in CS231n; the training mean image is
    subtracted.

    Returns the dict: X_* of shape (N, 3, 32, 32) float64, y_* of shape (N,) int64.
    """
    if folder is None:
        folder = os.environ.get(CIFAR10_ENV_VAR)
        if not folder:
            raise ValueError(f"No CIFAR-10 folder given: pass folder=... or set {CIFAR10_ENV_VAR}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder {folder} does not exist or is not a folder")

    train = [_read_cifar_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    X = np.concatenate([X for X, _ in train])
    y = np.concatenate([y for _, y in train])
    X_test, y_test = _read_cifar_batch(folder / CIFAR10_TEST_BATCH)
    if num_training + num_validation > X.shape[0]:
        raise ValueError(f"{folder}: asked for {num_training} + {num_validation} training and "
                         f"validation images, the batches hold {X.shape[0]}")
    val = slice(num_training, num_training + num_validation)
    return _package(X[:num_training], y[:num_training], X[val], y[val],
                    X_test[:num_test], y_test[:num_test])
