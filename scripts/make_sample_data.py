"""Generate the sample prediction files shipped in ``sample_data/``.

The files hold real predictions from small scikit-learn models fitted on
datasets bundled with scikit-learn itself (no network access is needed):

* ``regression.{csv,parquet}``: Ridge regression on ``load_diabetes``.
* ``regression_gbm.csv``: gradient-boosted trees on the same rows and split, a second model to
  compare with the first (it fits its training rows far better than new ones: it overfits).
* ``binary.{csv,parquet}``: logistic regression on ``load_breast_cancer``.
* ``multiclass.{csv,parquet}``: softmax logistic regression on ``load_digits``.
* ``binary_preds.csv`` / ``binary_labels.csv``: the binary predictions and
  labels stored separately (predictions shuffled) and joined on ``id``.

Every row carries a ``split`` column ("train" or "validation") from a fixed
75/25 split, so train/validation gaps can be demonstrated. Everything is
seeded, so rerunning the script yields byte-identical CSV files.

Rerun from the repository root with::

    python scripts/make_sample_data.py

scikit-learn is a development-only dependency: it is used solely by this
script and is not required by lossctl itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

RANDOM_STATE = 0
VALIDATION_SIZE = 0.25
OUT_DIR = Path(__file__).resolve().parent.parent / "sample_data"


def split_indices(y: np.ndarray, *, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, validation) row indices for a seeded 75/25 split."""
    idx = np.arange(len(y))
    train, val = train_test_split(
        idx,
        test_size=VALIDATION_SIZE,
        random_state=RANDOM_STATE,
        stratify=y if stratify else None,
    )
    return np.sort(train), np.sort(val)


def split_column(n: int, val_idx: np.ndarray) -> np.ndarray:
    """Label each of ``n`` rows as "train" or "validation"."""
    split = np.full(n, "train", dtype=object)
    split[val_idx] = "validation"
    return split


def write_frame(df: pd.DataFrame, name: str, *, parquet: bool = True) -> None:
    """Write ``df`` as ``<name>.csv`` (and ``<name>.parquet``) in OUT_DIR.

    Floats are written with pandas' default shortest round-trip repr, so the CSV
    reproduces the float64 values exactly and float columns keep a decimal point.
    """
    df.to_csv(
        OUT_DIR / f"{name}.csv",
        index=False,
        lineterminator="\n",
    )
    if parquet:
        df.to_parquet(OUT_DIR / f"{name}.parquet", index=False, engine="pyarrow")


def report(name: str, metric: str, values: dict[str, float]) -> None:
    """Print a train/validation metric line for cross-checking."""
    parts = ", ".join(f"{split}={value:.10g}" for split, value in values.items())
    print(f"{name:<11} {metric:<9} {parts}")


def regression_frame(name: str, model: Any) -> pd.DataFrame:
    """``model`` fitted on the diabetes training rows; its predictions for every row."""
    X, y = load_diabetes(return_X_y=True)
    train, val = split_indices(y, stratify=False)
    y_pred = model.fit(X[train], y[train]).predict(X)
    report(
        name,
        "mse",
        {
            "train": mean_squared_error(y[train], y_pred[train]),
            "validation": mean_squared_error(y[val], y_pred[val]),
        },
    )
    return pd.DataFrame(
        {
            "id": np.arange(len(y), dtype=np.int64),
            "split": split_column(len(y), val),
            "y_true": y.astype(np.float64),
            "y_pred": y_pred.astype(np.float64),
        }
    )


def make_regression() -> pd.DataFrame:
    """Ridge regression on the diabetes dataset."""
    return regression_frame("regression", Ridge(alpha=1.0))


def make_regression_gbm() -> pd.DataFrame:
    """Gradient-boosted trees on the diabetes dataset, same split as the Ridge model."""
    return regression_frame("gbm", GradientBoostingRegressor(n_estimators=300, max_depth=4, random_state=RANDOM_STATE))


def fit_logistic(X: np.ndarray, y: np.ndarray, train: np.ndarray, *, C: float) -> Pipeline:
    """Fit a standardised logistic regression on the training rows."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=10_000))
    return model.fit(X[train], y[train])


def make_binary() -> pd.DataFrame:
    """Logistic regression on the breast cancer dataset."""
    X, y = load_breast_cancer(return_X_y=True)
    train, val = split_indices(y, stratify=True)
    model = fit_logistic(X, y, train, C=1.0)
    proba = model.predict_proba(X)[:, 1]
    logit = model.decision_function(X)
    hard = (proba >= 0.5).astype(np.int64)
    splits = (("train", train), ("validation", val))
    report("binary", "log_loss", {s: log_loss(y[r], proba[r]) for s, r in splits})
    report("binary", "accuracy", {s: accuracy_score(y[r], hard[r]) for s, r in splits})
    return pd.DataFrame(
        {
            "id": np.arange(len(y), dtype=np.int64),
            "split": split_column(len(y), val),
            "y_true": y.astype(np.int64),
            "y_pred": proba.astype(np.float64),
            "logit": logit.astype(np.float64),
        }
    )


def make_multiclass() -> pd.DataFrame:
    """Softmax (multinomial) logistic regression on the digits dataset."""
    X, y = load_digits(return_X_y=True)
    train, val = split_indices(y, stratify=True)
    model = fit_logistic(X, y, train, C=0.05)
    proba = model.predict_proba(X)
    logits = model.decision_function(X)
    classes = model.classes_
    hard = classes[proba.argmax(axis=1)]
    splits = (("train", train), ("validation", val))
    report(
        "multiclass",
        "log_loss",
        {s: log_loss(y[r], proba[r], labels=classes) for s, r in splits},
    )
    report("multiclass", "accuracy", {s: accuracy_score(y[r], hard[r]) for s, r in splits})
    df = pd.DataFrame(
        {
            "id": np.arange(len(y), dtype=np.int64),
            "split": split_column(len(y), val),
            "label": y.astype(np.int64),
        }
    )
    probs = pd.DataFrame(proba.astype(np.float64), columns=[f"p_{c}" for c in classes])
    logit_df = pd.DataFrame(logits.astype(np.float64), columns=[f"logit_{c}" for c in classes])
    return pd.concat([df, probs, logit_df], axis=1)


def main() -> None:
    """Fit all models and write every sample file."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_frame(make_regression(), "regression")
    write_frame(make_regression_gbm(), "regression_gbm", parquet=False)

    binary = make_binary()
    write_frame(binary, "binary")
    rng = np.random.default_rng(RANDOM_STATE)
    shuffled = binary.loc[rng.permutation(len(binary)), ["id", "y_pred"]]
    write_frame(shuffled, "binary_preds", parquet=False)
    write_frame(binary[["id", "y_true"]], "binary_labels", parquet=False)

    write_frame(make_multiclass(), "multiclass")
    print(f"wrote sample files to {OUT_DIR}")


if __name__ == "__main__":
    main()
