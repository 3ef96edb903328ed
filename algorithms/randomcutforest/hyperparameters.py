"""Random Cut Forest's hyperparameters (AWS rcf_hyperparameters.md): feature_dim (required,
1..10000), eval_metrics (a list of accuracy and precision_recall_fscore, both by default),
num_samples_per_tree (1..2048, default 256), num_trees (50..1000, default 100)."""

from __future__ import annotations

from algorithms.common.hyperparameters import Schema, choice_list, integer

EVAL_METRICS = ("accuracy", "precision_recall_fscore")

SCHEMA = Schema([
    integer("feature_dim", min=1, max=10000, required=True),
    choice_list("eval_metrics", EVAL_METRICS, default=list(EVAL_METRICS)),
    integer("num_samples_per_tree", min=1, max=2048, default=256),
    integer("num_trees", min=50, max=1000, default=100),
    # The SDK's RandomCutForest always sends it (its default 1000); the forest does not use it.
    integer("mini_batch_size", min=1, default=1000),
])
