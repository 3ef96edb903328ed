"""JumpStart TabTransformer (pytorch-tabtransformer{classification,regression}-model): training.

Our own script with the behaviour AWS documents: CSV with the target in column 0, optional
categorical_index.json (those columns go through the Transformer), early stopping with `patience`
on the validation data, per-epoch `metrics={'f1': ...}` / `metrics={'r2': ...}` log lines (the
regexes of AWS's example tuning jobs). Writes model.pt (tab_transformer.py checkpoint) and
model_info.json.
"""

import jumpstart_tabular as jt
import tab_transformer
import torch


def main() -> None:
    task = jt.model_info()["task"]
    hp = jt.hyperparameters()
    data = jt.load_training_data(task)
    checkpoint = tab_transformer.train(data.x_train, data.y_train, data.x_val, data.y_val, data.categorical,
                                       task, hp, log=lambda line: print(line, flush=True))
    out = jt.model_dir()
    torch.save(checkpoint, out / "model.pt")
    jt.write_model_metadata(out, categorical=data.categorical)


if __name__ == "__main__":
    main()
