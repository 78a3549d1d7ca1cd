"""Minibatch training of a model with the update rules of ``optim``.

The model must have ``params`` (a dict of arrays) and ``loss(X, y=None)`` returning
scores when y is None and ``(loss, grads)`` otherwise, as FullyConnectedNet does.
"""

import pickle

import numpy as np

from . import optim


class Solver:
    """Trains a classification model and records its loss and accuracy.

    Example::

        solver = Solver(model, data, update_rule="adam",
                        optim_config={"learning_rate": 5e-4}, num_epochs=10)
        solver.train()
        solver.best_val_acc, solver.train_acc_history, solver.val_acc_history

    ``data`` holds ``X_train, y_train, X_val, y_val``. After ``train()`` the model's
    parameters are those with the best validation accuracy.
    """

    def __init__(self, model, data, **kwargs):
        """
        Required:
        - model: object with ``params`` and ``loss``
        - data: dict with X_train (N_train, ...), y_train (N_train,), X_val, y_val

        Optional keyword arguments:
        - update_rule: name of a function in ``optim`` (default "sgd")
        - optim_config: hyperparameters for the update rule, e.g. {"learning_rate": 1e-3}
        - lr_decay: learning rate multiplier applied after each epoch (default 1.0)
        - batch_size: minibatch size (default 100)
        - num_epochs: number of passes over the training data (default 10)
        - num_train_samples: training examples used to measure train accuracy (default 1000)
        - num_val_samples: validation examples used to measure accuracy (default None: all)
        - checkpoint_name: if given, save a checkpoint file after every epoch
        - print_every: print the loss every this many iterations (default 10)
        - verbose: whether to print during training (default True)
        """
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule_name = kwargs.pop("update_rule", "sgd")
        self.optim_config = kwargs.pop("optim_config", {})
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.batch_size = kwargs.pop("batch_size", 100)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.checkpoint_name = kwargs.pop("checkpoint_name", None)
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)
        if kwargs:
            raise ValueError(f"Unrecognized arguments to Solver: {', '.join(sorted(kwargs))}")
        if not hasattr(optim, self.update_rule_name):
            raise ValueError(f'Invalid update_rule "{self.update_rule_name}": optim has no such function')
        self.update_rule = getattr(optim, self.update_rule_name)
        self._reset()

    def _reset(self):
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        # Each parameter gets its own copy of the optimizer state.
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}

    def _step(self):
        """One gradient update on a random minibatch."""
        batch = np.random.choice(self.X_train.shape[0], self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self.loss_history.append(loss)
        for name, w in self.model.params.items():
            next_w, self.optim_configs[name] = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w

    def _save_checkpoint(self):
        if self.checkpoint_name is None:
            return
        checkpoint = {
            "model": self.model, "update_rule": self.update_rule_name, "lr_decay": self.lr_decay,
            "optim_config": self.optim_config, "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples, "num_val_samples": self.num_val_samples,
            "epoch": self.epoch, "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history, "val_acc_history": self.val_acc_history,
        }
        with open(f"{self.checkpoint_name}_epoch_{self.epoch}.pkl", "wb") as f:
            pickle.dump(checkpoint, f)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of X classified as y, on a random subsample of num_samples examples if given."""
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            keep = np.random.choice(N, num_samples)
            X, y = X[keep], y[keep]
            N = num_samples
        predictions = [np.argmax(self.model.loss(X[start:start + batch_size]), axis=1)
                       for start in range(0, N, batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    def train(self):
        """Run the optimization; afterwards the model holds the best parameters found."""
        iterations_per_epoch = max(self.X_train.shape[0] // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch

        for t in range(num_iterations):
            self._step()
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")

            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for config in self.optim_configs.values():
                    config["learning_rate"] = config.get("learning_rate", 1e-2) * self.lr_decay

            if t == 0 or t == num_iterations - 1 or epoch_end:
                train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
                val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
                self.train_acc_history.append(train_acc)
                self.val_acc_history.append(val_acc)
                self._save_checkpoint()
                if self.verbose:
                    print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
                if val_acc > self.best_val_acc:
                    self.best_val_acc = val_acc
                    self.best_params = {k: v.copy() for k, v in self.model.params.items()}

        self.model.params = self.best_params
