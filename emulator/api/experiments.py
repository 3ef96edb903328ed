"""Experiments, trials, trial components and their associations; plus the two lineage calls the
SDK's `Run.log_confusion_matrix` / `log_roc_curve` / `log_precision_recall` make on exit
(CreateArtifact, AddAssociation)."""

from __future__ import annotations

import hashlib
import time

from emulator.aws.errors import ResourceNotFound, ValidationException
from emulator.aws.handlers import RequestContext, handler
from emulator.core import experiments as core
from emulator.core.arns import sagemaker_arn
from emulator.core.listing import ListFields, filter_sort_page, pick

_ARTIFACT_FIELDS = ("ArtifactName", "Source", "ArtifactType", "Properties", "MetadataProperties")
_EXPERIMENT_SUMMARY = ("ExperimentArn", "ExperimentName", "DisplayName", "CreationTime", "LastModifiedTime")
_TRIAL_SUMMARY = ("TrialArn", "TrialName", "DisplayName", "CreationTime", "LastModifiedTime")
_COMPONENT_SUMMARY = ("TrialComponentName", "TrialComponentArn", "DisplayName", "Status", "StartTime",
                      "EndTime", "CreationTime", "CreatedBy", "LastModifiedTime", "LastModifiedBy")


def _page(key: str, items: list[dict], token: str | None) -> dict:
    return {key: items, **({"NextToken": token} if token else {})}


# --- experiments -------------------------------------------------------------------------------

@handler("sagemaker", "CreateExperiment")
def create_experiment(ctx: RequestContext, req: dict) -> dict:
    return {"ExperimentArn": core.create_experiment(ctx.services, ctx.region, req)["ExperimentArn"]}


@handler("sagemaker", "DescribeExperiment")
def describe_experiment(ctx: RequestContext, req: dict) -> dict:
    return core.get(ctx.services, core.EXPERIMENT, req["ExperimentName"], ctx.region)


@handler("sagemaker", "UpdateExperiment")
def update_experiment(ctx: RequestContext, req: dict) -> dict:
    return {"ExperimentArn": core.update_experiment(ctx.services, ctx.region, req)["ExperimentArn"]}


@handler("sagemaker", "DeleteExperiment")
def delete_experiment(ctx: RequestContext, req: dict) -> dict:
    body = core.delete_experiment(ctx.services, ctx.region, req["ExperimentName"])
    return {"ExperimentArn": body["ExperimentArn"]}


@handler("sagemaker", "ListExperiments")
def list_experiments(ctx: RequestContext, req: dict) -> dict:
    page, token = core.list_experiments(ctx.services, req)
    return _page("ExperimentSummaries",
                 [{**pick(e, _EXPERIMENT_SUMMARY), "ExperimentSource": e.get("Source")} for e in page], token)


# --- trials ------------------------------------------------------------------------------------

@handler("sagemaker", "CreateTrial")
def create_trial(ctx: RequestContext, req: dict) -> dict:
    return {"TrialArn": core.create_trial(ctx.services, ctx.region, req)["TrialArn"]}


@handler("sagemaker", "DescribeTrial")
def describe_trial(ctx: RequestContext, req: dict) -> dict:
    return core.get(ctx.services, core.TRIAL, req["TrialName"], ctx.region)


@handler("sagemaker", "UpdateTrial")
def update_trial(ctx: RequestContext, req: dict) -> dict:
    return {"TrialArn": core.update_trial(ctx.services, ctx.region, req)["TrialArn"]}


@handler("sagemaker", "DeleteTrial")
def delete_trial(ctx: RequestContext, req: dict) -> dict:
    return {"TrialArn": core.delete_trial(ctx.services, ctx.region, req["TrialName"])["TrialArn"]}


@handler("sagemaker", "ListTrials")
def list_trials(ctx: RequestContext, req: dict) -> dict:
    page, token = core.list_trials(ctx.services, ctx.region, req)
    summaries = [{**pick(t, _TRIAL_SUMMARY), "TrialSource": t.get("Source")} for t in page]
    return _page("TrialSummaries", summaries, token)


# --- trial components --------------------------------------------------------------------------

@handler("sagemaker", "CreateTrialComponent")
def create_trial_component(ctx: RequestContext, req: dict) -> dict:
    body = core.create_trial_component(ctx.services, ctx.region, req)
    return {"TrialComponentArn": body["TrialComponentArn"]}


@handler("sagemaker", "DescribeTrialComponent")
def describe_trial_component(ctx: RequestContext, req: dict) -> dict:
    return core.describe_trial_component(ctx.services, ctx.region, req["TrialComponentName"])


@handler("sagemaker", "UpdateTrialComponent")
def update_trial_component(ctx: RequestContext, req: dict) -> dict:
    body = core.update_trial_component(ctx.services, ctx.region, req)
    return {"TrialComponentArn": body["TrialComponentArn"]}


@handler("sagemaker", "DeleteTrialComponent")
def delete_trial_component(ctx: RequestContext, req: dict) -> dict:
    body = core.delete_trial_component(ctx.services, ctx.region, req["TrialComponentName"])
    return {"TrialComponentArn": body["TrialComponentArn"]}


@handler("sagemaker", "ListTrialComponents")
def list_trial_components(ctx: RequestContext, req: dict) -> dict:
    page, token = core.list_trial_components(ctx.services, ctx.region, req)
    summaries = [{**pick(c, _COMPONENT_SUMMARY), "TrialComponentSource": c.get("Source")} for c in page]
    return _page("TrialComponentSummaries", summaries, token)


@handler("sagemaker", "AssociateTrialComponent")
def associate_trial_component(ctx: RequestContext, req: dict) -> dict:
    tc, trial = core.associate(ctx.services, ctx.region, req["TrialComponentName"], req["TrialName"])
    return {"TrialComponentArn": tc["TrialComponentArn"], "TrialArn": trial["TrialArn"]}


@handler("sagemaker", "DisassociateTrialComponent")
def disassociate_trial_component(ctx: RequestContext, req: dict) -> dict:
    tc, trial = core.disassociate(ctx.services, ctx.region, req["TrialComponentName"], req["TrialName"])
    return {"TrialComponentArn": tc["TrialComponentArn"], "TrialArn": trial["TrialArn"]}


# --- lineage (the slice the experiments SDK uses) -----------------------------------------------

@handler("sagemaker", "CreateArtifact")
def create_artifact(ctx: RequestContext, req: dict) -> dict:
    # One artifact per source (URI + ETag-like ids): the SDK treats a repeat as "already exists".
    identity = req["Source"]["SourceUri"] + repr(sorted((t["SourceIdType"], t["Value"])
                                                         for t in req["Source"].get("SourceTypes") or []))
    artifact_id = hashlib.md5(identity.encode()).hexdigest()
    arn = sagemaker_arn("Artifact", artifact_id, ctx.region, ctx.account_id)
    now = time.time()
    body = {"ArtifactArn": arn, "CreationTime": now, "LastModifiedTime": now,
            **{k: req[k] for k in _ARTIFACT_FIELDS if k in req}}
    ctx.services.records.insert("Artifact", artifact_id, arn, body,
                                lambda: ValidationException(f"Artifact {arn} already exists."))
    if req.get("Tags"):
        ctx.services.records.add_tags(arn, req["Tags"])
    return {"ArtifactArn": arn}


@handler("sagemaker", "DescribeArtifact")
def describe_artifact(ctx: RequestContext, req: dict) -> dict:
    hit = ctx.services.records.get_by_arn(req["ArtifactArn"])
    if hit is None or hit[0] != "Artifact":
        raise ResourceNotFound(f"Artifact {req['ArtifactArn']} does not exist.")
    return hit[2]


@handler("sagemaker", "AddAssociation")
def add_association(ctx: RequestContext, req: dict) -> dict:
    source, destination = req["SourceArn"], req["DestinationArn"]
    for arn in (source, destination):
        if not ctx.services.records.arn_exists(arn):
            raise ResourceNotFound(f"Lineage entity {arn} does not exist.")
    key = f"{source}|{destination}"
    body = {"SourceArn": source, "DestinationArn": destination,
            "AssociationType": req.get("AssociationType") or "AssociatedWith", "CreationTime": time.time()}
    ctx.services.records.insert(
        "Association", key, key, body,
        lambda: ValidationException(f"Association {source} -> {destination} already exists."))
    return {"SourceArn": source, "DestinationArn": destination}


@handler("sagemaker", "ListAssociations")
def list_associations(ctx: RequestContext, req: dict) -> dict:
    wanted = {k: req[k] for k in ("SourceArn", "DestinationArn", "AssociationType") if req.get(k)}
    items = [a for a in ctx.services.records.list("Association")
             if all(a.get(k) == v for k, v in wanted.items())]
    request = {**req, "CreationTimeAfter": req.get("CreatedAfter"),
               "CreationTimeBefore": req.get("CreatedBefore")}
    page, token = filter_sort_page(items, request, ListFields(name="SourceArn"),
                                   sort_keys={"SourceArn": "SourceArn", "DestinationArn": "DestinationArn"})
    return _page("AssociationSummaries", page, token)
