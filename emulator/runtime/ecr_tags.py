"""`sagemaker-emulator images tag-ecr`: the emulator's framework images under the ECR URIs the
SageMaker SDK asks for, so the SDK's own local mode (`instance_type="local"`, LocalPipelineSession)
runs them offline.

Local mode starts containers with docker-compose and pulls an image only when `docker images -q
<uri>` finds nothing (sagemaker/local/image.py; sdk_and_local_mode.md §2.1): an image tagged with the
exact URI is used as it is. URIs follow the SDK's `image_uris.retrieve` (`<account>.dkr.ecr.<region>.
<domain>/<repository>:<tag>`, accounts from its image_uri_config); each framework version gets the
local image that framework_version_for() chooses, as jobs sent to the emulator do. The emulator's own
resolver ignores these tags (they carry its image label) and keeps mapping URIs itself.
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.runtime.docker_backend import client
from emulator.runtime.images import ensure_image
from emulator.runtime.images.catalogue import FRAMEWORK_VERSIONS, framework_version_for

# The SDK's framework versions and how their tags are written (image_uri_config/{sklearn,xgboost}.json).
TAGS: dict[str, list[str]] = {
    "sagemaker-scikit-learn": [f"{v}-cpu-py3" for v in ("0.20.0", "0.23-1", "1.0-1", "1.2-1", "1.4-2")],
    "sagemaker-xgboost": [*(f"{v}-cpu-py3" for v in ("0.90-1", "0.90-2", "1.0-1")),
                          "1.2-1", "1.2-2", "1.3-1", "1.5-1", "1.7-1", "3.0-5"],
}

# Registry accounts of the sagemaker-scikit-learn / sagemaker-xgboost images per region (the SDK's
# image_uri_config; sdk_and_local_mode.md §4). Other regions: pass --account.
ACCOUNTS: dict[str, str] = {
    "us-east-1": "683313688378", "us-east-2": "257758044811", "us-west-1": "746614075791",
    "us-west-2": "246618743249", "eu-west-1": "141502667606", "eu-central-1": "492215442770",
    "ap-southeast-1": "121021644041", "af-south-1": "510948584623", "cn-north-1": "450853457545",
}


def ecr_uri(account: str, region: str, repository: str, tag: str) -> str:
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{repository}:{tag}"


def tag_ecr(regions: list[str], account: str | None = None, say: Callable[[str], None] = print) -> list[str]:
    """Tag (building first if needed) each framework image under its ECR URIs; the URIs tagged."""
    tagged = []
    for region in regions:
        owner = account or ACCOUNTS.get(region)
        if owner is None:
            raise ValueError(f"no known image account for region {region}; pass --account "
                             f"(known: {', '.join(sorted(ACCOUNTS))})")
        for repository, tags in TAGS.items():
            for tag in tags:
                asked, local_name, runs = framework_version_for(repository, tag)
                image = client().images.get(ensure_image(local_name, say))
                uri = ecr_uri(owner, region, repository, tag)
                repo, _, version = uri.rpartition(":")
                image.tag(repo, version)
                library, versions = FRAMEWORK_VERSIONS[repository]
                say(f"{uri} -> {library} {versions[runs][1]}" + ("" if asked == runs else f" (nearest to {asked})"))
                tagged.append(uri)
    return tagged
