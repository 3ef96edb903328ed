"""SageMaker's built-in XGBoost algorithm (the sagemaker-xgboost images, every tag).

`python -m algorithms.xgboost train|serve` is what the image's `train` and `serve` run:
- train: algorithm mode (train.py) unless hyperparameter `sagemaker_program` is set, in which case
  AWS's sagemaker-training toolkit runs the user's script (script mode, same image);
- serve: the model server (serve.py, inference.py).
"""
