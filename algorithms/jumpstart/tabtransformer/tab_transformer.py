"""TabTransformer (Huang et al. 2020, arXiv:2012.06678) on the maintained community implementation,
PyPI's tab-transformer-pytorch (`tab_transformer_pytorch.TabTransformer`), trained the way JumpStart's
script describes its hyperparameters.

The model: per categorical column an embedding of width `input_dim` whose shared part is the
`frac_shared_embed` fraction, `n_blocks` Transformer blocks (8 heads where the width allows);
continuous columns standardised with the training mean/std inside the model and layer-normalised;
an MLP with hidden sizes 4l and 2l. Classification trains with cross-entropy, regression with MSE on a
standardised target. Early stopping: `patience` epochs without a better validation loss; the best
epoch's weights are kept.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from tab_transformer_pytorch import TabTransformer
from torch import nn

SEED = 0


def build_model(cardinalities: list[int], n_continuous: int, n_outputs: int, input_dim: int, n_blocks: int,
                attn_dropout: float, mlp_dropout: float, frac_shared_embed: float,
                continuous_mean_std: list[list[float]] | None = None) -> TabTransformer:
    """The library's TabTransformer for JumpStart's hyperparameters: categorical value 0 stands for
    "unseen", so each column has cardinality + 1 values; a fraction `frac_shared_embed` of each
    column embedding is the per-column shared part (the library's divisor is its inverse)."""
    heads = next(h for h in (8, 4, 2, 1) if input_dim % h == 0)
    mean_std = torch.tensor(continuous_mean_std, dtype=torch.float32) if n_continuous else None
    return TabTransformer(
        categories=[card + 1 for card in cardinalities], num_continuous=n_continuous, dim=input_dim,
        depth=n_blocks, heads=heads, dim_out=n_outputs, mlp_hidden_mults=(4, 2), attn_dropout=attn_dropout,
        ff_dropout=mlp_dropout, continuous_mean_std=mean_std,
        num_residual_streams=1,  # plain residual connections, as in the paper (the library adds hyper-connections)
        use_shared_categ_embed=frac_shared_embed > 0,
        shared_categ_dim_divisor=1 / frac_shared_embed if frac_shared_embed > 0 else 8.0)


class Preprocessor:
    """Categorical values -> 1..cardinality (0 = unseen); continuous -> z-scores; target scaling."""

    def __init__(self, categorical: list[int], n_features: int) -> None:
        self.categorical = categorical
        self.continuous = [i for i in range(n_features) if i not in categorical]
        self.vocabularies: list[dict] = []
        self.mean = self.std = None
        self.target_mean, self.target_std = 0.0, 1.0

    def fit(self, x: pd.DataFrame, y: pd.Series | None = None, regression: bool = False) -> Preprocessor:
        self.vocabularies = [{v: i + 1 for i, v in enumerate(sorted(x.iloc[:, c].unique().tolist()))}
                             for c in self.categorical]
        values = x.iloc[:, self.continuous].to_numpy(dtype=np.float64)
        self.mean = np.nanmean(values, axis=0) if values.size else np.zeros(0)
        std = np.nanstd(values, axis=0) if values.size else np.zeros(0)
        self.std = np.where(std > 0, std, 1.0)
        if regression and y is not None:
            self.target_mean, self.target_std = float(y.mean()), float(y.std() or 1.0)
        return self

    def transform(self, x: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        categorical = np.zeros((len(x), len(self.categorical)), dtype=np.int64)
        for j, (c, vocabulary) in enumerate(zip(self.categorical, self.vocabularies)):
            categorical[:, j] = [vocabulary.get(v, 0) for v in x.iloc[:, c].tolist()]
        continuous = x.iloc[:, self.continuous].to_numpy(dtype=np.float64)
        continuous = np.where(np.isnan(continuous), self.mean, continuous)  # missing: the training mean
        return torch.from_numpy(categorical), torch.from_numpy(continuous.astype(np.float32))

    @property
    def continuous_mean_std(self) -> list[list[float]]:
        return [[float(m), float(s)] for m, s in zip(self.mean, self.std)]

    @property
    def cardinalities(self) -> list[int]:
        return [len(v) for v in self.vocabularies]

    def state(self) -> dict:
        return {"categorical": self.categorical, "continuous": self.continuous, "vocabularies": self.vocabularies,
                "mean": self.mean.tolist(), "std": self.std.tolist(), "target_mean": self.target_mean,
                "target_std": self.target_std}

    @classmethod
    def from_state(cls, state: dict) -> Preprocessor:
        self = cls.__new__(cls)
        self.categorical, self.continuous = state["categorical"], state["continuous"]
        self.vocabularies = [dict(v) for v in state["vocabularies"]]
        self.mean, self.std = np.asarray(state["mean"]), np.asarray(state["std"])
        self.target_mean, self.target_std = state["target_mean"], state["target_std"]
        return self


def train(x_train: pd.DataFrame, y_train: pd.Series, x_val: pd.DataFrame, y_val: pd.Series,
          categorical: list[int], task: str, hp: dict, log=print) -> dict:
    """Fit a TabTransformer; returns the checkpoint dict that `load` / `predict` take."""
    torch.manual_seed(SEED)
    regression = task == "regression"
    prep = Preprocessor(categorical, x_train.shape[1]).fit(x_train, y_train, regression)
    n_outputs = 1 if regression else int(max(y_train.max(), y_val.max())) + 1
    config = {"cardinalities": prep.cardinalities, "n_continuous": len(prep.continuous), "n_outputs": n_outputs,
              "input_dim": int(hp["input_dim"]), "n_blocks": hp["n_blocks"], "attn_dropout": hp["attn_dropout"],
              "mlp_dropout": hp["mlp_dropout"], "frac_shared_embed": hp["frac_shared_embed"],
              "continuous_mean_std": prep.continuous_mean_std}
    model = build_model(**config)
    optimizer = torch.optim.Adam(model.parameters(), lr=hp["learning_rate"])
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    train_cat, train_cont = prep.transform(x_train)
    val_cat, val_cont = prep.transform(x_val)
    train_y, val_y = _target(y_train, prep, regression), _target(y_val, prep, regression)
    generator = torch.Generator().manual_seed(SEED)
    best_loss, best_state, stale = math.inf, None, 0
    for epoch in range(1, hp["n_epochs"] + 1):
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        total = 0.0
        for start in range(0, len(order), hp["batch_size"]):
            batch = order[start:start + hp["batch_size"]]
            optimizer.zero_grad()
            loss = loss_fn(_squeeze(model(train_cat[batch], train_cont[batch]), regression), train_y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        model.eval()
        with torch.no_grad():
            val_out = _squeeze(model(val_cat, val_cont), regression)
            val_loss = loss_fn(val_out, val_y).item()
        metric = _metric(val_out, y_val, prep, task)
        log(f"Epoch {epoch}: train loss {total / len(train_y):.6f}, validation loss {val_loss:.6f}, metrics={metric}")
        if val_loss < best_loss:
            best_loss, stale = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= hp["patience"]:
                log(f"Early stopping after epoch {epoch} (patience {hp['patience']})")
                break
    return {"config": config, "state_dict": best_state, "preprocessor": prep.state(), "task": task}


def _target(y: pd.Series, prep: Preprocessor, regression: bool) -> torch.Tensor:
    if regression:
        return torch.tensor(((y.to_numpy(dtype=np.float64) - prep.target_mean) / prep.target_std), dtype=torch.float32)
    return torch.tensor(y.to_numpy(dtype=np.int64))


def _squeeze(output: torch.Tensor, regression: bool) -> torch.Tensor:
    return output.squeeze(1) if regression else output


def _metric(output: torch.Tensor, y: pd.Series, prep: Preprocessor, task: str) -> dict:
    from sklearn.metrics import f1_score, r2_score
    if task == "regression":
        predicted = output.numpy() * prep.target_std + prep.target_mean
        return {"r2": round(float(r2_score(y, predicted)), 6)}
    predicted = output.argmax(dim=1).numpy()
    average = "binary" if output.shape[1] == 2 else "macro"
    return {"f1": round(float(f1_score(y, predicted, average=average)), 6)}


def load(checkpoint: dict) -> tuple[TabTransformer, Preprocessor]:
    model = build_model(**checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model, Preprocessor.from_state(checkpoint["preprocessor"])


def predict(model: TabTransformer, prep: Preprocessor, x: pd.DataFrame, task: str) -> np.ndarray:
    """Class probabilities (n, k) for classification, predictions (n,) for regression."""
    categorical, continuous = prep.transform(x)
    with torch.no_grad():
        output = model(categorical, continuous)
    if task == "regression":
        return output.squeeze(1).numpy() * prep.target_std + prep.target_mean
    return torch.softmax(output, dim=1).numpy()
