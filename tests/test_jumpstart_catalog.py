"""The JumpStart content buckets the server seeds at start-up (emulator.core.jumpstart), read the way
the SageMaker SDK's JumpStart helpers read them. No Docker: training and serving the JumpStart
algorithms is in test_algorithm_jumpstart.py."""

from __future__ import annotations

import json

from tests.jobhelpers import read_tar


def test_sdk_reads_the_jumpstart_bucket(sagemaker_session):
    from sagemaker import hyperparameters, image_uris, model_uris, script_uris

    uri = image_uris.retrieve(region="us-east-1", framework=None, model_id="lightgbm-classification-model",
                              model_version="*", image_scope="training", instance_type="ml.m5.xlarge")
    assert uri == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:1.9.0-cpu-py38"
    assert image_uris.retrieve(region="us-east-1", framework=None, model_id="autogluon-regression-ensemble",
                               model_version="*", image_scope="inference", instance_type="ml.m5.large") \
        == "763104351884.dkr.ecr.us-east-1.amazonaws.com/autogluon-inference:0.4.3-cpu-py38"
    script = script_uris.retrieve(region="us-east-1", model_id="catboost-regression-model", model_version="*",
                                  script_scope="training")
    assert script == ("s3://jumpstart-cache-prod-us-east-1/source-directory-tarballs/catboost/"
                      "transfer_learning/regression/v1.2.0/sourcedir.tar.gz")
    files = read_tar(sagemaker_session.boto_session.client("s3"), script)
    assert {"transfer_learning.py", "jumpstart_tabular.py", "model_info.json"} <= set(files)
    assert json.loads(files["model_info.json"])["task"] == "regression"
    assert model_uris.retrieve(region="us-east-1", model_id="catboost-regression-model", model_version="*",
                               model_scope="training").endswith("/catboost-training/train-catboost-regression-model.tar.gz")
    hps = hyperparameters.retrieve_default(region="us-east-1", model_id="lightgbm-regression-model", model_version="*")
    assert hps["num_boost_round"] == "5000" and hps["learning_rate"] == "0.009"
    assert "sagemaker_program" not in hps and "is_unbalance" not in hps and hps["tweedie_variance_power"] == "1.5"
    assert hyperparameters.retrieve_default(region="us-east-1", model_id="pytorch-tabtransformerclassification-model",
                                            model_version="*")["input_dim"] == "32"


def test_the_server_seeds_the_jumpstart_buckets_at_start_up_and_after_a_reset(own_server):
    """Nothing here writes the JumpStart buckets: a fresh emulator must have them, and a reset one."""
    from emulator.core.jumpstart import bucket_objects

    s3 = own_server.client("s3")
    expected = bucket_objects()
    for _ in range(2):
        for bucket in ("jumpstart-cache-prod-us-east-1", "jumpstart-cache-prod-us-west-2"):
            keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                    for o in page.get("Contents", [])}
            assert keys == set(expected), bucket
            manifest = s3.get_object(Bucket=bucket, Key="models_manifest.json")["Body"].read()
            assert manifest == expected["models_manifest.json"]
        own_server.reset()


def test_seeding_is_idempotent(services):
    from emulator.core.jumpstart import bucket_objects, seed_jumpstart_cache

    services.settings.region = "eu-west-1"
    written = seed_jumpstart_cache(services)
    assert written == 2 * len(bucket_objects())
    assert seed_jumpstart_cache(services) == 0
    assert services.objects.head_object("jumpstart-cache-prod-eu-west-1", "models_manifest.json") is not None
    assert services.objects.head_object("jumpstart-cache-prod-us-west-2", "models_manifest.json") is not None
