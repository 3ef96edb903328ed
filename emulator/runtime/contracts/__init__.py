"""SageMaker's container contracts, one module per kind of job: what a container of that kind sees
(the files under /opt/ml, its command, its environment) and what is collected when it ends. Pure
functions of the job record; emulator.runtime.runner carries them out.

A kind provides:
  KIND, SCRATCH                    its JobKind and its scratch folder under <data dir>/jobs/
  image_uri(job), resources(job), isolated(job), metric_definitions(job)
  staging_plan(job, host, hosts)   -> HostPlan (raises StagingError for what the emulator cannot stage)
  command(job)                     -> (entrypoint, command)
  environment(job)                 -> the kind's own variables (the runner adds region, credentials,
                                      the endpoint and the request's Environment)
  continuous_outputs(job)          -> [(container path, S3 URI)] uploaded while the job runs
  result_files                     files under /opt/ml the outcome reads (first host that has one)
  outcome(job, codes, stop_reason, texts) -> Outcome: what to upload and how the job ends

The shapes (HostPlan, Upload, Outcome) are in `plan`. A kind whose containers serve (`serves = True`:
batch transform) is driven by the emulator once they answer /ping and ends when that driving does; the
hosting contract it shares with endpoints is `serving`.
"""

from __future__ import annotations

from types import ModuleType

from emulator.runtime.contracts import processing, training, transform

CONTRACTS: dict[str, ModuleType] = {module.KIND.kind: module for module in (training, processing, transform)}
