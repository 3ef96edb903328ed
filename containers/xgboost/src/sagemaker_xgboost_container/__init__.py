"""The emulator's own `sagemaker_xgboost_container` package, importable in the XGBoost image as in
AWS's (aws/sagemaker-xgboost-container, not on PyPI): scripts written for the real image import its
public helpers, e.g. `from sagemaker_xgboost_container.data_utils import get_dmatrix`.

Written from the behaviour of AWS's package, on top of the emulator's XGBoost algorithm
(algorithms/xgboost), which reads data the same way.
"""
