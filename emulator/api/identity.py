"""STS GetCallerIdentity and IAM GetRole: enough identity for the SageMaker SDK's helpers
(default_bucket(), get_execution_role(), expand_role()). Every role name resolves to a role in the
emulator's account (sdk_and_local_mode.md §3.6).

The caller is an assumed role, as in a SageMaker notebook or job: `get_execution_role()` turns
`arn:aws:sts::<account>:assumed-role/<role>/<session>` into `arn:aws:iam::<account>:role/<role>` and
then asks IAM GetRole for it; an account-root or user ARN makes it raise "The current AWS identity
is not a role". The role is SAGEMAKER_EMULATOR_ROLE_NAME (default SageMakerRole)."""

from __future__ import annotations

import hashlib
import time

from emulator.aws.handlers import RequestContext, handler
from emulator.core.arns import partition, role_arn


def _role_id(name: str) -> str:
    return "AROA" + hashlib.sha1(name.encode()).hexdigest()[:17].upper()


SESSION_NAME = "SageMaker"  # the session name SageMaker notebooks and jobs assume their role with


@handler("sts", "GetCallerIdentity")
def get_caller_identity(ctx: RequestContext, req: dict) -> dict:
    account, role = ctx.account_id, ctx.services.settings.role_name
    # UserId of an assumed role is "<role id>:<session name>" (STS GetCallerIdentity reference).
    return {"UserId": f"{_role_id(role)}:{SESSION_NAME}", "Account": account,
            "Arn": f"arn:{partition(ctx.region)}:sts::{account}:assumed-role/{role}/{SESSION_NAME}"}


@handler("iam", "GetRole")
def get_role(ctx: RequestContext, req: dict) -> dict:
    name = req["RoleName"]
    return {"Role": {
        "Path": "/", "RoleName": name, "RoleId": _role_id(name),
        "Arn": role_arn(name, ctx.account_id, ctx.region),
        "CreateDate": time.time(),
        "AssumeRolePolicyDocument": ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                                     '"Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}'),
        "MaxSessionDuration": 3600,
    }}


@handler("iam", "SimulatePrincipalPolicy")
def simulate_principal_policy(ctx: RequestContext, req: dict) -> dict:
    """The emulator enforces no IAM policy, so every action is allowed. SDK v3 asks this before
    training to check the execution role's permissions."""
    resources = req.get("ResourceArns") or ["*"]
    return {"IsTruncated": False, "EvaluationResults": [
        {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": "allowed",
         "MatchedStatements": [], "MissingContextValues": []}
        for action in req["ActionNames"] for resource in resources]}
