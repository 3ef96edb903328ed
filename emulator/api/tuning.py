"""Hyperparameter tuning job operations (thin: behaviour lives in emulator.core.tuning)."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core import tuning


@handler("sagemaker", "CreateHyperParameterTuningJob")
def create_hyper_parameter_tuning_job(ctx: RequestContext, req: dict) -> dict:
    job = tuning.create_tuning_job(ctx.services, ctx.region, req)
    return {"HyperParameterTuningJobArn": job["HyperParameterTuningJobArn"]}


@handler("sagemaker", "DescribeHyperParameterTuningJob")
def describe_hyper_parameter_tuning_job(ctx: RequestContext, req: dict) -> dict:
    return tuning.describe_tuning_job(ctx.services, req["HyperParameterTuningJobName"])


@handler("sagemaker", "ListHyperParameterTuningJobs")
def list_hyper_parameter_tuning_jobs(ctx: RequestContext, req: dict) -> dict:
    summaries, token = tuning.list_tuning_jobs(ctx.services, req)
    return {"HyperParameterTuningJobSummaries": summaries, "NextToken": token}


@handler("sagemaker", "StopHyperParameterTuningJob")
def stop_hyper_parameter_tuning_job(ctx: RequestContext, req: dict) -> dict:
    tuning.stop_tuning_job(ctx.services, req["HyperParameterTuningJobName"])
    return {}


@handler("sagemaker", "DeleteHyperParameterTuningJob")
def delete_hyper_parameter_tuning_job(ctx: RequestContext, req: dict) -> dict:
    tuning.delete_tuning_job(ctx.services, req["HyperParameterTuningJobName"])
    return {}


@handler("sagemaker", "ListTrainingJobsForHyperParameterTuningJob")
def list_training_jobs_for_hyper_parameter_tuning_job(ctx: RequestContext, req: dict) -> dict:
    summaries, token = tuning.list_training_jobs_for_tuning_job(ctx.services, req)
    return {"TrainingJobSummaries": summaries, "NextToken": token}
