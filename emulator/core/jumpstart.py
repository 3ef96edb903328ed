"""The JumpStart content bucket, so unchanged SageMaker SDK code finds the tabular algorithms.

`image_uris` / `script_uris` / `model_uris` / `hyperparameters.retrieve_default(model_id=...)` and
JumpStartEstimator read `s3://jumpstart-cache-prod-<region>/` through a plain boto3 S3 client
(sagemaker/jumpstart/cache.py, accessors.py), so with AWS_ENDPOINT_URL pointing here they read our
object store. What they read (sagemaker 2.257.7):
  models_manifest.json                                  [{model_id, version, min_version, spec_key}]
  community_models/<model_id>/specs_v<version>.json     JumpStartModelSpecs (types.py)
  source-directory-tarballs/<algo>/{transfer_learning,inference}/<task>/v<x>/sourcedir.tar.gz
  <algo>-training/train-<model_id>.tar.gz, <algo>-infer/infer-<model_id>.tar.gz   placeholder models
Everything is generated from algorithms/jumpstart/ (catalog.json + our own scripts). Image URIs are
AWS's DLC URIs; emulator/runtime/images/catalogue.py maps them to the local images.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import logging
import tarfile
from collections.abc import Iterable
from typing import Any

from emulator.config import SOURCES_DIR

log = logging.getLogger(__name__)

JUMPSTART_DIR = SOURCES_DIR / "algorithms" / "jumpstart"
COMMON_FILES = [JUMPSTART_DIR / "common" / "jumpstart_tabular.py"]
MANIFEST_KEY = "models_manifest.json"
# Regions whose specs carry image aliases (the SDK resolves image URIs per region).
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
    "eu-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
    "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-south-1", "ap-south-2", "ap-east-1",
    "me-south-1", "me-central-1", "il-central-1", "af-south-1", "cn-north-1", "cn-northwest-1",
    "us-gov-west-1", "us-gov-east-1",
]
# AWS Deep Learning Container accounts (container_contracts.md section 8): 763104351884 elsewhere.
DLC_ACCOUNTS = {
    "af-south-1": "626614931356", "ap-east-1": "871362719292", "ap-northeast-3": "364406365360",
    "ap-southeast-3": "907027046896", "ap-southeast-4": "457447274322", "ca-west-1": "204538143572",
    "eu-south-1": "692866216735", "il-central-1": "780543022126", "me-south-1": "217643126080",
    "me-central-1": "914824155844", "cn-north-1": "727897471807", "cn-northwest-1": "727897471807",
    "us-gov-west-1": "442386744353", "us-gov-east-1": "446045086412",
}
CPU_FAMILIES = ["c4", "c5", "c5d", "c5n", "c6i", "c7i", "m4", "m5", "m5d", "m6i", "m7i", "r5", "r6i", "t2", "t3"]
GPU_FAMILIES = ["p2", "p3", "p3dn", "p4d", "g4dn", "g5"]
INFERENCE_ENV = [  # AWS's spec values for all four algorithms (section 7.2)
    ("SAGEMAKER_PROGRAM", "text", "inference.py", True),
    ("SAGEMAKER_SUBMIT_DIRECTORY", "text", "/opt/ml/model/code", False),
    ("SAGEMAKER_CONTAINER_LOG_LEVEL", "text", "20", False),
    ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "text", "3600", False),
    ("ENDPOINT_SERVER_TIMEOUT", "int", 3600, True),
    ("MODEL_CACHE_ROOT", "text", "/opt/ml/model", True),
    ("SAGEMAKER_ENV", "text", "1", True),
    ("SAGEMAKER_MODEL_SERVER_WORKERS", "int", 1, True),
]
CONTAINER_HYPERPARAMETERS = [
    {"name": "sagemaker_submit_directory", "type": "text", "default": "/opt/ml/input/data/code/sourcedir.tar.gz",
     "scope": "container"},
    {"name": "sagemaker_program", "type": "text", "default": "transfer_learning.py", "scope": "container"},
    {"name": "sagemaker_container_log_level", "type": "text", "default": "20", "scope": "container"},
]


def content_bucket(region: str) -> str:
    return f"jumpstart-cache-prod-{region}"


def load_catalog() -> dict[str, Any]:
    return json.loads((JUMPSTART_DIR / "catalog.json").read_text())


# --- what the bucket holds -----------------------------------------------------------------------


def bucket_objects(catalog: dict[str, Any] | None = None) -> dict[str, bytes]:
    """key -> bytes of every object in a JumpStart content bucket (the same for every region)."""
    catalog = catalog or load_catalog()
    objects: dict[str, bytes] = {}
    manifest = []
    for model in catalog["models"]:
        spec = model_spec(catalog, model)
        spec_key = f"community_models/{model['model_id']}/specs_v{model['version']}.json"
        manifest.append({"model_id": model["model_id"], "version": model["version"],
                         "min_version": model["min_version"], "spec_key": spec_key})
        objects[spec_key] = _json_bytes(spec)
        info = _model_info(catalog, model)
        objects[spec["training_script_key"]] = script_tarball(model["algorithm"], "transfer_learning.py", info)
        objects[spec["hosting_script_key"]] = script_tarball(model["algorithm"], "inference.py", info)
        objects[spec["training_artifact_key"]] = placeholder_tarball(model["model_id"], "training")
        objects[spec["hosting_artifact_key"]] = placeholder_tarball(model["model_id"], "inference")
    objects[MANIFEST_KEY] = _json_bytes(manifest)
    return objects


def model_spec(catalog: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """A JumpStartModelSpecs document: the fields the SDK reads for training, deploying and predicting."""
    algorithm = catalog["algorithms"][model["algorithm"]]
    images = catalog["images"][algorithm["images"]]
    algo, task, model_id = model["algorithm"], model["task"], model["model_id"]
    return {
        "model_id": model_id,
        "url": "https://github.com/aws/sagemaker-python-sdk",  # AWS points at the algorithm's home page
        "version": model["version"],
        "min_sdk_version": model["min_version"],
        "training_supported": True,
        "incremental_training_supported": False,
        "hosting_ecr_specs": images["ecr_specs"],
        "training_ecr_specs": images["ecr_specs"],
        "hosting_instance_type_variants": _instance_variants(images["inference"]),
        "training_instance_type_variants": _instance_variants(images["training"]),
        "hosting_artifact_key": f"{algo}-infer/infer-{model_id}.tar.gz",
        "hosting_script_key": f"source-directory-tarballs/{algo}/inference/{task}/"
                              f"v{algorithm['inference_script_version']}/sourcedir.tar.gz",
        "training_artifact_key": f"{algo}-training/train-{model_id}.tar.gz",
        "training_script_key": f"source-directory-tarballs/{algo}/transfer_learning/{task}/"
                               f"v{algorithm['training_script_version']}/sourcedir.tar.gz",
        "hosting_use_script_uri": True,
        "hyperparameters": algorithm_hyperparameters(algorithm, task) + copy.deepcopy(CONTAINER_HYPERPARAMETERS),
        "inference_environment_variables": [
            {"name": name, "type": kind, "default": default, "scope": "container", "required_for_model_class": required}
            for name, kind, default, required in INFERENCE_ENV],
        "inference_vulnerable": False, "inference_dependencies": [], "inference_vulnerabilities": [],
        "training_vulnerable": False, "training_dependencies": [], "training_vulnerabilities": [],
        "deprecated": False,
        "default_inference_instance_type": "ml.m5.large",
        "supported_inference_instance_types": ["ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge",
                                               "ml.p3.2xlarge", "ml.g4dn.xlarge"],
        "default_training_instance_type": "ml.m5.xlarge",
        "supported_training_instance_types": ["ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.c5.2xlarge",
                                              "ml.p3.2xlarge", "ml.g4dn.xlarge"],
        "metrics": algorithm["metrics"][task],
        "model_kwargs": {}, "deploy_kwargs": {}, "estimator_kwargs": {}, "fit_kwargs": {},
        "predictor_specs": {
            "supported_content_types": ["text/csv"],
            "supported_accept_types": ["application/json;verbose", "application/json"],
            "default_content_type": "text/csv",
            "default_accept_type": "application/json",
        },
        "inference_enable_network_isolation": algorithm["network_isolation"],
        "training_enable_network_isolation": algorithm["network_isolation"],
        "resource_name_base": model_id,
    }


def algorithm_hyperparameters(algorithm: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """The catalog's hyperparameters for one task (drops other tasks' ones, picks per-task options)."""
    result = []
    for hp in algorithm["hyperparameters"]:
        if task not in hp.get("tasks", [task]):
            continue
        hp = {k: v for k, v in hp.items() if k != "tasks"}
        if isinstance(hp.get("options"), dict):
            hp["options"] = hp["options"][task]
        result.append(hp)
    return result


def _instance_variants(uris: dict[str, str]) -> dict[str, Any]:
    aliases = {}
    for region in REGIONS:
        account = DLC_ACCOUNTS.get(region, "763104351884")
        domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        aliases[region] = {f"{kind}_ecr_uri_1": f"{account}.dkr.ecr.{region}.{domain}/{uri}"
                           for kind, uri in uris.items()}
    variants = {family: {"regional_properties": {"image_uri": "$cpu_ecr_uri_1"}} for family in CPU_FAMILIES}
    variants.update({family: {"regional_properties": {"image_uri": "$gpu_ecr_uri_1"}} for family in GPU_FAMILIES})
    return {"regional_aliases": aliases, "variants": variants}


def _model_info(catalog: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    algorithm = catalog["algorithms"][model["algorithm"]]
    return {"model_id": model["model_id"], "version": model["version"], "algorithm": model["algorithm"],
            "task": model["task"], "hyperparameters": algorithm_hyperparameters(algorithm, model["task"])}


def script_tarball(algorithm: str, entry_point: str, info: dict[str, Any]) -> bytes:
    """sourcedir.tar.gz: the entry point, the algorithm's helper modules, the shared helper and
    model_info.json, at the archive root (what the toolkit extracts into /opt/ml/code)."""
    other_entry = {"transfer_learning.py": "inference.py", "inference.py": "transfer_learning.py"}[entry_point]
    files = {path.name: path.read_bytes() for path in sorted((JUMPSTART_DIR / algorithm).glob("*.py"))
             if path.name != other_entry}
    files.update({path.name: path.read_bytes() for path in COMMON_FILES})
    files["model_info.json"] = _json_bytes(info)
    return _tar_gz(files)


def placeholder_tarball(model_id: str, scope: str) -> bytes:
    """AWS's model tarballs for these algorithms hold no pretrained weights either."""
    note = (f"Placeholder {scope} artifact for {model_id}: the JumpStart tabular algorithms train from "
            "scratch; the training script ignores the `model` channel.\n")
    return _tar_gz({"README.txt": note.encode()})


def _tar_gz(files: dict[str, bytes]) -> bytes:
    """A byte-for-byte reproducible tar.gz (fixed mtimes and owners), so re-seeding is a no-op."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in sorted(files):
            member = tarfile.TarInfo(name)
            member.size, member.mode, member.mtime = len(files[name]), 0o644, 0
            tar.addfile(member, io.BytesIO(files[name]))
    return raw.getvalue()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()


# --- seeding -------------------------------------------------------------------------------------


def seed_jumpstart_cache(services: Any, regions: Iterable[str] | None = None) -> int:
    """Create jumpstart-cache-prod-<region> and write what is missing or out of date; returns the
    number of objects written (0 when everything was already there).

    Regions: the emulator's own and us-west-2, the SDK's fallback when no region is configured
    (sagemaker.jumpstart.constants.JUMPSTART_DEFAULT_REGION_NAME)."""
    objects_store = services.objects
    if objects_store is None:
        return 0
    regions = list(dict.fromkeys(regions or [services.settings.region, "us-west-2"]))
    objects = bucket_objects()
    written = 0
    for region in regions:
        bucket = content_bucket(region)
        objects_store.create_bucket(bucket, region)
        for key, data in objects.items():
            existing = objects_store.head_object(bucket, key)
            if existing is not None and existing.etag == hashlib.md5(data).hexdigest():
                continue
            content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
            objects_store.put_object_bytes(bucket, key, data, content_type=content_type)
            written += 1
    if written:
        log.info("JumpStart content: wrote %d objects to %s", written,
                 ", ".join(content_bucket(r) for r in regions))
    return written
