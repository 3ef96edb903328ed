"""Request authentication: every call to an AWS API of the emulator must be signed.

Stock clients (boto3, the SDKs, the AWS CLI) always sign, with SigV4 in the Authorization header, or
in the query string of a presigned URL (SigV4 `X-Amz-*`, or SigV2 `AWSAccessKeyId`/`Signature`/
`Expires`, which botocore uses for S3 URLs presigned against a custom endpoint). A web page cannot
send an Authorization header to another origin without a CORS preflight, which the emulator never
grants, so requiring one stops cross-site requests from changing anything.

Two modes (docs/security.md):
- default: any well-formed signature is accepted, whatever the key (as in LocalStack and moto);
- SAGEMAKER_EMULATOR_CREDENTIALS=AKID:SECRET[,...]: the key must be one of those and the signature
  must verify (header and presigned SigV4 and SigV2, a 15-minute clock skew for header SigV4). The
  payload hash is taken as the client declared it (x-amz-content-sha256); the bytes are not hashed
  again and aws-chunked chunk signatures are not checked.

Failures are worded per protocol family as AWS words them (S3 AccessDenied / SignatureDoesNotMatch /
InvalidAccessKeyId, JSON MissingAuthenticationTokenException / InvalidSignatureException /
UnrecognizedClientException, query MissingAuthenticationToken / SignatureDoesNotMatch / InvalidClientTokenId).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import HmacV1Auth
from botocore.awsrequest import HTTPHeaders
from botocore.utils import normalize_url_path

from emulator.aws.errors import AwsError

MAX_SKEW_SECONDS = 15 * 60
_V4_HEADER = re.compile(r"^AWS4-HMAC-SHA256\s+(?P<params>.+)$", re.DOTALL)
_V4_CREDENTIAL = re.compile(r"^(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request$")
_V2_HEADER = re.compile(r"^AWS (?P<key>[^:\s]+):(?P<signature>[A-Za-z0-9+/=]+)$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

_SIGNATURE_MESSAGE = ("The request signature we calculated does not match the signature you provided. Check your "
                      "AWS Secret Access Key and signing method. Consult the service documentation for details.")
_TOKEN_MESSAGE = "The security token included in the request is invalid."
# failure -> family -> (HTTP status, code, message)
_ERRORS = {
    "missing": {"s3": (403, "AccessDenied", "Access Denied"),
                "json": (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
                "query": (403, "MissingAuthenticationToken", "Request is missing Authentication Token")},
    "malformed": {"s3": (400, "AuthorizationHeaderMalformed", "The authorization header is malformed; {detail}"),
                  "json": (400, "IncompleteSignatureException", "{detail}"),
                  "query": (400, "IncompleteSignature", "{detail}")},
    "unknown-key": {"s3": (403, "InvalidAccessKeyId",
                           "The AWS Access Key Id you provided does not exist in our records."),
                    "json": (403, "UnrecognizedClientException", _TOKEN_MESSAGE),
                    "query": (403, "InvalidClientTokenId", _TOKEN_MESSAGE)},
    "mismatch": {"s3": (403, "SignatureDoesNotMatch", _SIGNATURE_MESSAGE),
                 "json": (403, "InvalidSignatureException", _SIGNATURE_MESSAGE),
                 "query": (403, "SignatureDoesNotMatch", _SIGNATURE_MESSAGE)},
    "skewed": {"s3": (403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large."),
               "json": (403, "InvalidSignatureException", "Signature expired: {detail}"),
               "query": (403, "SignatureDoesNotMatch", "Signature expired: {detail}")},
}


@dataclass
class SignedRequest:
    """What a signature covers, as the request arrived."""
    method: str
    raw_path: str               # percent-encoded, as on the request line
    raw_query: str
    headers: list[tuple[str, str]]  # (lower-case name, value), repeats kept
    body: bytes | None = None   # None when not read (S3: the declared payload hash is used)

    @classmethod
    def from_scope(cls, scope: dict, body: bytes | None = None) -> SignedRequest:
        """From an ASGI HTTP scope (raw path and headers as they came over the wire)."""
        raw_path = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
        return cls(scope["method"], raw_path.decode("latin-1"), scope.get("query_string", b"").decode("latin-1"),
                   [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]], body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def query_params(self) -> list[tuple[str, str]]:
        pairs = []
        for part in self.raw_query.split("&") if self.raw_query else []:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
        return pairs


def authenticate(request: SignedRequest, family: str, credentials: dict[str, str], *,
                 s3_auth_path: str | None = None, now: float | None = None) -> str | None:
    """Check the request's signature; return the access key it was signed with.

    `family` is s3 | json | query (the error wording); `s3_auth_path` the /bucket/key a SigV2 S3
    signature covers (virtual-host requests sign the bucket in the path). Raises AuthFailure."""
    authorization = request.header("authorization")
    query = dict(request.query_params())
    if authorization:
        if authorization.startswith("AWS4-HMAC-SHA256"):
            return _check_v4(request, family, credentials, _v4_header_fields(authorization, family), now)
        if authorization.startswith("AWS "):
            match = _V2_HEADER.match(authorization.strip())
            if not match:
                raise AuthFailure("malformed", family, "the Authorization header is not 'AWS AccessKeyId:Signature'")
            return _check_v2(request, family, credentials, match["key"], match["signature"], None, s3_auth_path)
        raise AuthFailure("malformed", family, "unsupported Authorization header (expected AWS4-HMAC-SHA256)")
    if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise AuthFailure("malformed", family, "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
        fields = {"Credential": query.get("X-Amz-Credential", ""), "SignedHeaders": query.get("X-Amz-SignedHeaders", ""),
                  "Signature": query.get("X-Amz-Signature", "")}
        return _check_v4(request, family, credentials, _v4_fields(fields, family), now, presigned=True)
    if "Signature" in query and "AWSAccessKeyId" in query:
        if "Expires" not in query:
            raise AuthFailure("malformed", family, "a SigV2 presigned URL needs Expires")
        return _check_v2(request, family, credentials, query["AWSAccessKeyId"], query["Signature"], query["Expires"],
                         s3_auth_path)
    raise AuthFailure("missing", family)


class AuthFailure(AwsError):
    def __init__(self, failure: str, family: str, detail: str = "") -> None:
        status, code, message = _ERRORS[failure][family]
        super().__init__(message.format(detail=detail), code=code, status=status)
        self.failure = failure


# --- SigV4 -----------------------------------------------------------------------------------------

@dataclass
class _V4Fields:
    key: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str


def _v4_header_fields(authorization: str, family: str) -> _V4Fields:
    match = _V4_HEADER.match(authorization.strip())
    if not match:
        raise AuthFailure("malformed", family, "the Authorization header has no parameters")
    fields = {}
    for part in match["params"].split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return _v4_fields(fields, family)


def _v4_fields(fields: dict[str, str], family: str) -> _V4Fields:
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise AuthFailure("malformed", family, f"Authorization is missing {', '.join(missing)}")
    credential = _V4_CREDENTIAL.match(fields["Credential"])
    if not credential:
        raise AuthFailure("malformed", family, "the Credential must be <key>/<yyyymmdd>/<region>/<service>/aws4_request")
    if not _HEX64.match(fields["Signature"]):
        raise AuthFailure("malformed", family, "the Signature must be 64 lower-case hex digits")
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed:
        raise AuthFailure("malformed", family, "SignedHeaders must include host")
    return _V4Fields(credential["key"], credential["date"], credential["region"], credential["service"], signed,
                     fields["Signature"])


def _check_v4(request: SignedRequest, family: str, credentials: dict[str, str], fields: _V4Fields,
              now: float | None, *, presigned: bool = False) -> str:
    if not credentials:
        return fields.key
    secret = credentials.get(fields.key)
    if secret is None:
        raise AuthFailure("unknown-key", family)
    query = request.query_params()
    stamp = dict(query).get("X-Amz-Date") if presigned else request.header("x-amz-date")
    if not stamp or not re.match(r"^\d{8}T\d{6}Z$", stamp) or stamp[:8] != fields.date:
        raise AuthFailure("malformed", family, "X-Amz-Date is missing or does not match the credential scope")
    if not presigned:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        current = time.time() if now is None else now
        if abs(current - signed_at) > MAX_SKEW_SECONDS:
            raise AuthFailure("skewed", family, f"{stamp} is more than 15 minutes from the server time")
    if presigned:
        query = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        payload = "UNSIGNED-PAYLOAD"
    else:
        payload = request.header("x-amz-content-sha256")
        if payload is None:
            if request.body is None:
                raise AuthFailure("malformed", family, "x-amz-content-sha256 is required")
            payload = hashlib.sha256(request.body).hexdigest()
    path = request.raw_path or "/"
    if family != "s3":
        path = quote(normalize_url_path(path), safe="/~")  # botocore signs the path encoded twice
    canonical_query = "&".join(sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query))
    headers = []
    for name in fields.signed_headers:
        values = [" ".join(v.split()) for k, v in request.headers if k == name]
        headers.append(f"{name}:{','.join(values)}")
    canonical = "\n".join([request.method.upper(), path, canonical_query, "\n".join(headers) + "\n",
                           ";".join(fields.signed_headers), payload])
    scope = f"{fields.date}/{fields.region}/{fields.service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (fields.date, fields.region, fields.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.signature):
        raise AuthFailure("mismatch", family)
    return fields.key


# --- SigV2 (S3) ------------------------------------------------------------------------------------

def _check_v2(request: SignedRequest, family: str, credentials: dict[str, str], key: str, signature: str,
              expires: str | None, auth_path: str | None) -> str:
    if not credentials:
        return key
    secret = credentials.get(key)
    if secret is None:
        raise AuthFailure("unknown-key", family)
    headers = HTTPHeaders()
    for name, value in request.headers:
        headers[name] = value
    date = expires if expires is not None else (request.header("date") or "")
    lines = [request.method.upper(), request.header("content-md5") or "", request.header("content-type") or "", date]
    signer = HmacV1Auth(None)
    custom = signer.canonical_custom_headers(headers)
    split = urlsplit(f"{request.raw_path}?{request.raw_query}" if request.raw_query else request.raw_path)
    resource = signer.canonical_resource(split, auth_path=auth_path)
    to_sign = "\n".join(lines) + "\n" + (custom + "\n" if custom else "") + resource
    expected = base64.b64encode(hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise AuthFailure("mismatch", family)
    return key
