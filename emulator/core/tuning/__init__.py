"""Hyperparameter tuning jobs.

CreateHyperParameterTuningJob checks the request (`spec`, `ranges`) and records the job InProgress
(`records`); it starts nothing. Its controller (emulator.runtime.controllers.tuning) then launches
training jobs through emulator.core.jobs.create_training_job -- the path CreateTrainingJob takes --
named as AWS names them, `<tuning job>-<NNN>-<8 hex>` (observed: `xgboost-190407-1532-005-0e830ada`),
with `TuningJobArn` set and `_tuning_objective_metric` added to their hyperparameters as SageMaker
does. It keeps up to MaxParallelTrainingJobs of them running, reads each one's objective from its
FinalMetricDataList when it ends, tells the search strategy (`strategies`), and ends the tuning job:

  InProgress -> Completed | Failed | Stopping -> Stopped

Every trial is persisted in the record before its training job is created, so a restarted emulator
continues InProgress/Stopping tuning jobs where they were (the running training jobs are the job
controller's to re-adopt; the tuning controller just waits for them again).

Where the emulator differs from AWS (by design, documented):
  - Only the first of TrainingJobDefinitions is used; its DefinitionName appears as
    TrainingJobDefinitionName on the training job summaries.
  - ScalingType Auto means Logarithmic for a positive range spanning at least two orders of
    magnitude, Linear otherwise.
  - TrainingJobEarlyStoppingType Auto does not stop jobs early; ConvergenceDetected is not evaluated
    (TargetObjectiveMetricValue and BestObjectiveNotImproving are).
  - Failed training jobs are not retried (RetryableError counts InternalServerError/CapacityError ones).
  - Autotune / AutoParameters: each AutoParameter is passed as a static hyperparameter (its ValueHint).
  - WarmStartConfig: the parents' evaluated training jobs seed the Bayesian search and compete for
    OverallBestTrainingJob.
  - ResourceLimits.MaxRuntimeInSeconds: running training jobs are stopped and the tuning job Completes.
"""

from emulator.core.tuning.ranges import Param, parse_ranges
from emulator.core.tuning.records import (
                                          create_tuning_job,
                                          delete_tuning_job,
                                          describe_tuning_job,
                                          evaluate,
                                          list_training_jobs_for_tuning_job,
                                          list_tuning_jobs,
                                          ranked_summaries,
                                          stop_tuning_job,
                                          with_evaluation,
)
from emulator.core.tuning.spec import ARN, KIND, NAME, STATUS

__all__ = ["ARN", "KIND", "NAME", "STATUS", "Param", "create_tuning_job", "delete_tuning_job", "describe_tuning_job",
           "evaluate", "list_training_jobs_for_tuning_job", "list_tuning_jobs", "parse_ranges", "ranked_summaries",
           "stop_tuning_job", "with_evaluation"]
