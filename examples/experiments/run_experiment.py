"""SageMaker Experiments on the emulator: two runs of an experiment log their parameters, a metric per
epoch and a confusion matrix with `Run`, then ExperimentAnalytics compares them in a DataFrame.
SageMaker SDK code as written for AWS; only the environment differs (see examples/README.md):

    python examples/experiments/run_experiment.py

The runs are also in the web console: http://127.0.0.1:7070/_emulator/ui/ -> Experiments.
"""

import numpy as np
import sagemaker
from sagemaker.analytics import ExperimentAnalytics
from sagemaker.experiments.run import Run
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

EXPERIMENT = "breast-cancer-sgd"
EPOCHS = 10

# With the emulator's STS set up for the SDK (`sagemaker-emulator sdk-setup`) this is the usual
# `session = sagemaker.Session()`.
session = sagemaker.Session(default_bucket="sagemaker-example-experiments")

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

for alpha in (0.0001, 0.1):
    with Run(experiment_name=EXPERIMENT, run_name=f"alpha-{alpha:g}".replace(".", "-"),
             sagemaker_session=session) as run:
        run.log_parameters({"alpha": alpha, "epochs": EPOCHS, "loss": "log_loss"})
        model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
        for epoch in range(EPOCHS):
            model.partial_fit(X_train, y_train, classes=np.unique(y))
            run.log_metric(name="train:loss", value=log_loss(y_train, model.predict_proba(X_train)), step=epoch)
            run.log_metric(name="test:accuracy", value=accuracy_score(y_test, model.predict(X_test)), step=epoch)
        run.log_confusion_matrix(y_test, model.predict(X_test), title="test-confusion-matrix")

analytics = ExperimentAnalytics(experiment_name=EXPERIMENT, sagemaker_session=session,
                                parameter_names=["alpha"], metric_names=["train:loss", "test:accuracy"])
runs = analytics.dataframe().sort_values("test:accuracy - Last", ascending=False)
print(runs[["DisplayName", "alpha", "train:loss - Min", "test:accuracy - Last", "test:accuracy - Max"]].to_string(
    index=False))
print(f"best run: {runs.iloc[0]['DisplayName']}")
