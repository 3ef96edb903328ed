"""Processing, training and transform job operations (thin: behaviour lives in emulator.core.jobs)."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core import jobs


@handler("sagemaker", "CreateTrainingJob")
def create_training_job(ctx: RequestContext, req: dict) -> dict:
    job = jobs.create_training_job(ctx.services, ctx.region, req)
    return {"TrainingJobArn": job["TrainingJobArn"]}


@handler("sagemaker", "DescribeTrainingJob")
def describe_training_job(ctx: RequestContext, req: dict) -> dict:
    return jobs.describe_job(ctx.services, jobs.TRAINING, req["TrainingJobName"])


@handler("sagemaker", "ListTrainingJobs")
def list_training_jobs(ctx: RequestContext, req: dict) -> dict:
    summaries, token = jobs.list_jobs(ctx.services, jobs.TRAINING, req)
    return {"TrainingJobSummaries": summaries, "NextToken": token}


@handler("sagemaker", "StopTrainingJob")
def stop_training_job(ctx: RequestContext, req: dict) -> dict:
    jobs.request_stop(ctx.services, jobs.TRAINING, req["TrainingJobName"])
    return {}


@handler("sagemaker", "CreateProcessingJob")
def create_processing_job(ctx: RequestContext, req: dict) -> dict:
    job = jobs.create_processing_job(ctx.services, ctx.region, req)
    return {"ProcessingJobArn": job["ProcessingJobArn"]}


@handler("sagemaker", "DescribeProcessingJob")
def describe_processing_job(ctx: RequestContext, req: dict) -> dict:
    return jobs.describe_job(ctx.services, jobs.PROCESSING, req["ProcessingJobName"])


@handler("sagemaker", "ListProcessingJobs")
def list_processing_jobs(ctx: RequestContext, req: dict) -> dict:
    summaries, token = jobs.list_jobs(ctx.services, jobs.PROCESSING, req)
    return {"ProcessingJobSummaries": summaries, "NextToken": token}


@handler("sagemaker", "StopProcessingJob")
def stop_processing_job(ctx: RequestContext, req: dict) -> dict:
    jobs.request_stop(ctx.services, jobs.PROCESSING, req["ProcessingJobName"])
    return {}


@handler("sagemaker", "CreateTransformJob")
def create_transform_job(ctx: RequestContext, req: dict) -> dict:
    job = jobs.create_transform_job(ctx.services, ctx.region, req)
    return {"TransformJobArn": job["TransformJobArn"]}


@handler("sagemaker", "DescribeTransformJob")
def describe_transform_job(ctx: RequestContext, req: dict) -> dict:
    return jobs.describe_job(ctx.services, jobs.TRANSFORM, req["TransformJobName"])


@handler("sagemaker", "ListTransformJobs")
def list_transform_jobs(ctx: RequestContext, req: dict) -> dict:
    summaries, token = jobs.list_jobs(ctx.services, jobs.TRANSFORM, req)
    return {"TransformJobSummaries": summaries, "NextToken": token}


@handler("sagemaker", "StopTransformJob")
def stop_transform_job(ctx: RequestContext, req: dict) -> dict:
    jobs.request_stop(ctx.services, jobs.TRANSFORM, req["TransformJobName"])
    return {}
