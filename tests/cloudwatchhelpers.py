"""CloudWatch clients for every protocol botocore's model lists (`smithy-rpc-v2-cbor`, `json`, `query`).

botocore picks the first protocol of `metadata.protocols` it supports, in its own priority order (it
speaks JSON 1.0 to CloudWatch today; other releases speak CBOR). To drive each protocol with a stock
botocore serializer and parser, a client is built from a copy of the installed model that lists only
that protocol, loaded through botocore's own data-path mechanism.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import botocore.session

from emulator.testing.emulator import CREDENTIALS, REGION


def cloudwatch_client(server, protocol: str, model_dir: Path):
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    api_version = model["metadata"]["apiVersion"]
    if protocol != "default":
        model = json.loads(json.dumps(model))
        model["metadata"]["protocol"] = protocol
        model["metadata"]["protocols"] = [protocol]
        target = model_dir / protocol / "cloudwatch" / api_version
        target.mkdir(parents=True, exist_ok=True)
        (target / "service-2.json").write_text(json.dumps(model))
        session = botocore.session.Session()
        session.get_component("data_loader").search_paths.insert(0, str(model_dir / protocol))
    client = boto3.session.Session(botocore_session=session, region_name=REGION,
                                   aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).client(
        "cloudwatch", endpoint_url=server.endpoint)
    assert protocol == "default" or client.meta.service_model.protocol == protocol
    return client
