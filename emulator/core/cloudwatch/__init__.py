"""CloudWatch metrics and alarms (the `monitoring` service), with no HTTP: storage and statistics
(metrics.py, statistics.py), alarms and their evaluation (alarms.py, evaluation.py), and what
SageMaker itself publishes (sagemaker.py)."""
