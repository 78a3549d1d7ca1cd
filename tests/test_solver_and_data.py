"""Solver and the data loaders."""

import pickle

import numpy as np
import pytest

from source_pkg import data
from source_pkg.fc_net import FullyConnectedNet
from source_pkg.solver import Solver


@pytest.fixture(scope="module")
def digits():
    return data.load_digits_data()


def test_digits_shapes_and_preprocessing(digits):
    shapes = {k: v.shape for k, v in digits.items()}
    assert shapes == {"X_train": (1200, 64), "y_train": (1200,), "X_val": (300, 64), "y_val": (300,),
                      "X_test": (297, 64), "y_test": (297,)}
    assert np.allclose(digits["X_train"].mean(axis=0), 0)
    assert set(np.unique(digits["y_train"])) == set(range(10))


def test_solver_overfits_fifty_examples(digits):
    np.random.seed(0)
    small = {"X_train": digits["X_train"][:50], "y_train": digits["y_train"][:50],
             "X_val": digits["X_val"], "y_val": digits["y_val"]}
    model = FullyConnectedNet([100, 100], input_dim=64, weight_scale=5e-2)
    solver = Solver(model, small, update_rule="adam", optim_config={"learning_rate": 5e-3},
                    num_epochs=40, batch_size=25, verbose=False)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert solver.best_val_acc > 0.5
    assert len(solver.loss_history) == 80 and len(solver.val_acc_history) == 41
    assert model.params is solver.best_params


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_every_update_rule_descends(rule, digits):
    np.random.seed(1)
    model = FullyConnectedNet([50], input_dim=64, dtype=np.float64)
    solver = Solver(model, digits, update_rule=rule, optim_config={"learning_rate": 1e-2 if rule != "sgd" else 0.5},
                    num_epochs=2, verbose=False)
    solver.train()
    assert np.mean(solver.loss_history[-5:]) < np.mean(solver.loss_history[:5])


def test_solver_rejects_unknown_arguments(digits):
    model = FullyConnectedNet([5], input_dim=64)
    with pytest.raises(ValueError, match="learning_rat"):
        Solver(model, digits, learning_rat=1e-3)
    with pytest.raises(ValueError, match="nesterov"):
        Solver(model, digits, update_rule="nesterov")


def write_cifar_batch(path, n, seed):
    rng = np.random.RandomState(seed)
    batch = {b"data": rng.randint(0, 256, size=(n, 3072), dtype=np.uint8), b"labels": list(rng.randint(0, 10, size=n))}
    with open(path, "wb") as f:
        pickle.dump(batch, f)


@pytest.fixture
def cifar_folder(tmp_path):
    for i, name in enumerate(data.CIFAR10_TRAIN_BATCHES):
        write_cifar_batch(tmp_path / name, 4, i)
    write_cifar_batch(tmp_path / data.CIFAR10_TEST_BATCH, 3, 9)
    return tmp_path


def test_cifar_loader_reads_python_batches(cifar_folder, monkeypatch):
    loaded = data.load_cifar10_data(cifar_folder, num_training=15, num_validation=5, num_test=3)
    assert {k: v.shape for k, v in loaded.items()} == {
        "X_train": (15, 3, 32, 32), "y_train": (15,), "X_val": (5, 3, 32, 32), "y_val": (5,),
        "X_test": (3, 3, 32, 32), "y_test": (3,)}
    monkeypatch.setenv(data.CIFAR10_ENV_VAR, str(cifar_folder))
    from_env = data.load_cifar10_data(num_training=15, num_validation=5, num_test=3)
    assert np.array_equal(from_env["X_val"], loaded["X_val"])


def test_cifar_loader_errors_name_the_path(cifar_folder, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        data.load_cifar10_data(tmp_path / "nowhere")
    (cifar_folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3.*CIFAR-10 python batch"):
        data.load_cifar10_data(cifar_folder, num_training=15, num_validation=5)
    (cifar_folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.*missing"):
        data.load_cifar10_data(cifar_folder, num_training=15, num_validation=5)
    monkeypatch.delenv(data.CIFAR10_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match=data.CIFAR10_ENV_VAR):
        data.load_cifar10_data()


def test_digits_read_without_sklearn_equal_sklearns_loader():
    from sklearn.datasets import load_digits

    X, y = data._digits()
    reference = load_digits()
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert np.array_equal(X, reference.data) and np.array_equal(y, reference.target)


def test_digits_fall_back_to_sklearns_loader_when_its_file_moved(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    X, y = data._digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
