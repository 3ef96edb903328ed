"""Errors of the first-party algorithms, split the way SageMaker reports them.

A CustomerError is the user's to fix (bad hyperparameter, unreadable data): the failure file says
`ClientError: <message> (caused by <cause>)`, which is what DescribeTrainingJob.FailureReason shows
for built-in algorithms on AWS. Anything else is the algorithm's fault and is reported as an
AlgorithmError with the exception text.
"""

from __future__ import annotations


class CustomerError(Exception):
    """Something about the job's configuration or data that the user must change."""

    caused_by = "CustomerError"

    def failure_text(self) -> str:
        return f"ClientError: {self} (caused by {self.caused_by})"


class DataError(CustomerError):
    caused_by = "ValueError"
