"""A factorization machine in numpy/scipy (dense or CSR input):

    ŷ(x) = w0 + x·w + ½ Σ_f [ (x·V_f)² − (x²)·(V_f²) ]

trained by mini-batch Adam with separate learning rates and weight decays for the bias, the linear
weights and the factors (bias_lr/linear_lr/factors_lr, *_wd), eps, clip_gradient and rescale_grad
as in MXNet's optimizers, which AWS's implementation uses. Binary classifiers use the logistic
loss and score with the sigmoid; regressors use the squared loss. Outputs follow fm-in-formats.md:
{"score": 0.4, "predicted_label": 0} (predicted_label = score >= 0.5) or {"score": 0.4}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

ALGORITHM = "factorization-machines"


@dataclass
class FMModel:
    predictor_type: str
    w0: float
    w: np.ndarray  # (d,)
    V: np.ndarray  # (d, factors)
    feature_dim: int = 0

    def raw(self, X: Any) -> np.ndarray:
        XV = np.asarray(X @ self.V, dtype=np.float64)
        X2V2 = np.asarray(_square(X) @ (self.V**2), dtype=np.float64)
        return self.w0 + np.asarray(X @ self.w, dtype=np.float64).ravel() + 0.5 * (XV**2 - X2V2).sum(axis=1)

    def scores(self, X: Any) -> np.ndarray:
        raw = self.raw(X)
        if self.predictor_type == "binary_classifier":
            return 1.0 / (1.0 + np.exp(-np.clip(raw, -500, 500)))
        return raw

    def predict(self, X: Any, options: dict[str, str] | None = None) -> list[dict[str, Any]]:
        scores = self.scores(X).astype(np.float32)
        if self.predictor_type == "regressor":
            return [{"score": float(s)} for s in scores]
        return [{"score": float(s), "predicted_label": int(s >= 0.5)} for s in scores]

    def to_artifact(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return (
            {"predictor_type": self.predictor_type, "w0": self.w0, "feature_dim": self.feature_dim},
            {"w": self.w, "V": self.V},
        )

    @classmethod
    def from_artifact(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FMModel:
        return cls(meta["predictor_type"], float(meta["w0"]), arrays["w"], arrays["V"], meta["feature_dim"])


def _square(X: Any) -> Any:
    return X.multiply(X).tocsr() if hasattr(X, "multiply") else X * X


@dataclass
class Adam:
    lr: float
    wd: float
    eps: float
    clip: float | None
    rescale: float
    beta1: float = 0.9
    beta2: float = 0.999
    m: Any = 0.0
    v: Any = 0.0
    t: int = 0

    def step(self, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        # MXNet: grad = clip(rescale_grad * grad) + wd * weight, then the Adam update.
        grad = grad * self.rescale
        if self.clip is not None and self.clip > 0:
            grad = np.clip(grad, -self.clip, self.clip)
        grad = grad + self.wd * param
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        lr = self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        return param - lr * self.m / (np.sqrt(self.v) + self.eps)


def initial(
    method: str,
    shape: tuple[int, ...] | tuple[()],
    sigma: float,
    scale: float | None,
    value: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    if method == "constant":
        return np.full(shape, 0.0 if value is None else value)
    if method == "uniform":
        bound = sigma if scale is None else scale
        return rng.uniform(-bound, bound, size=shape)
    return rng.normal(0.0, sigma, size=shape)


def fit(
    X: Any,
    y: np.ndarray,
    hp: dict[str, Any],
    on_epoch: Callable[[int, FMModel], None] | None = None,
    seed: int = 0,
) -> FMModel:
    """Train a factorization machine on (X, y) with the algorithm's hyperparameters."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    factors = hp["num_factors"]
    model = FMModel(
        hp["predictor_type"],
        float(
            initial(
                hp["bias_init_method"],
                (),
                hp["bias_init_sigma"],
                hp["bias_init_scale"],
                hp["bias_init_value"],
                rng,
            )
        ),
        initial(
            hp["linear_init_method"],
            (d,),
            hp["linear_init_sigma"],
            hp["linear_init_scale"],
            hp["linear_init_value"],
            rng,
        ),
        initial(
            hp["factors_init_method"],
            (d, factors),
            hp["factors_init_sigma"],
            hp["factors_init_scale"],
            hp["factors_init_value"],
            rng,
        ),
        d,
    )
    eps = 1e-8 if hp["eps"] is None else hp["eps"]
    rescale = 1.0 if hp["rescale_grad"] is None else hp["rescale_grad"]
    optimizers = {
        name: Adam(hp[f"{name}_lr"], hp[f"{name}_wd"], eps, hp["clip_gradient"], rescale)
        for name in ("bias", "linear", "factors")
    }
    batch = hp["mini_batch_size"]
    y = y.astype(np.float64)
    binary = hp["predictor_type"] == "binary_classifier"
    for epoch in range(hp["epochs"]):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            Xb, yb = X[rows], y[rows]
            XV = np.asarray(Xb @ model.V, dtype=np.float64)
            X2 = _square(Xb)
            raw = (
                model.w0
                + np.asarray(Xb @ model.w, dtype=np.float64).ravel()
                + 0.5 * (XV**2 - np.asarray(X2 @ (model.V**2), dtype=np.float64)).sum(axis=1)
            )
            # d loss / d raw, averaged over the batch: logistic -> p - y, squared (½r²) -> r
            g = ((1.0 / (1.0 + np.exp(-np.clip(raw, -500, 500)))) - yb if binary else raw - yb) / len(rows)
            grad_w0 = np.array(g.sum())
            grad_w = np.asarray(Xb.T @ g, dtype=np.float64).ravel()
            grad_V = (
                np.asarray(Xb.T @ (g[:, None] * XV), dtype=np.float64)
                - model.V * np.asarray(X2.T @ g, dtype=np.float64).ravel()[:, None]
            )
            model.w0 = float(optimizers["bias"].step(np.array(model.w0), grad_w0))
            model.w = optimizers["linear"].step(model.w, grad_w)
            model.V = optimizers["factors"].step(model.V, grad_V)
        if on_epoch is not None:
            on_epoch(epoch, model)
    model.w = model.w.astype(np.float32)
    model.V = model.V.astype(np.float32)
    return model
