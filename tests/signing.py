"""Raw HTTP requests signed as an AWS SDK signs them (the emulator refuses unsigned API calls), for
tests that need bytes on the wire a client library would not send."""

from __future__ import annotations

import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.testing.emulator import CREDENTIALS, REGION

DEFAULT_CREDENTIALS = Credentials(CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


def sign_headers(method: str, url: str, data: bytes | str = b"", headers: dict | None = None, *,
                 service: str = "s3", region: str = REGION, credentials: Credentials = DEFAULT_CREDENTIALS) -> dict:
    """The headers (Authorization, X-Amz-Date, ...) a SigV4 client would send with this request."""
    body = data.encode() if isinstance(data, str) else data
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


def signed(method: str, url: str, data: bytes | str = b"", headers: dict | None = None, *, service: str = "s3",
           credentials: Credentials = DEFAULT_CREDENTIALS, **kwargs) -> requests.Response:
    return requests.request(method, url, data=data, headers=sign_headers(
        method, url, data, headers, service=service, credentials=credentials), verify=False, **kwargs)
