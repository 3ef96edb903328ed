"""Model Monitor analyzer and ground-truth merger: our own implementation of the container contract
of SageMaker's `sagemaker-model-monitor-analyzer` and `sagemaker-model-monitor-groundtruth-merger`
images (pandas, numpy, scikit-learn, Apache DataSketches KLL).

Both run as ordinary processing jobs. What they read (environment variables, /opt/ml/processing
paths) is in contract.py; what they write (statistics.json, constraints.json,
constraint_violations.json under `output_path`, /opt/ml/output/message, CloudWatch metric files)
in analyzer.py, cloudwatch.py and merge.py.
"""
