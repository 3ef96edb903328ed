"""S3 through stock boto3 1.44 / requests / the aws CLI against a real emulator on loopback.

http and https matter separately: botocore sends CRC32 as a header over http and as an aws-chunked
trailer over https (peer_emulators_and_s3_wire.md §4.2)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import crc32c
import pytest
import requests
from botocore.exceptions import ClientError

from emulator.testing.waiting import wait_until
from tests.signing import sign_headers, signed

MiB = 1024 * 1024


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def composite_crc32(data: bytes, part_size: int) -> str:
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    return f"{crc32_b64(raw)}-{len(parts)}"


def multipart_etag(data: bytes, part_size: int) -> str:
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(params=["http", "https"])
def any_server(request):
    return request.getfixturevalue("server" if request.param == "http" else "tls_server")


def new_bucket(srv) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    srv.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(server):
    return new_bucket(server)


@pytest.fixture
def s3(server):
    return server.client("s3")


# ------------------------------------------------------------------ put / get
def test_put_get_bytes_roundtrip_with_checksum_and_headers(any_server):
    s3 = any_server.client("s3")
    bucket = new_bucket(any_server)
    body = b"hello world"
    put = s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=body, ContentType="text/plain",
                        Metadata={"Owner": "me", "x": "1"}, ContentDisposition="attachment",
                        CacheControl="max-age=60", ContentLanguage="en")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ChecksumCRC32"] == crc32_b64(body) == "DUoRhQ=="
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "me", "x": "1"}
    assert got["ContentDisposition"] == "attachment"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentLanguage"] == "en"
    assert got["ChecksumCRC32"] == "DUoRhQ=="  # botocore validated it against the body
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(body)
    assert head["ChecksumCRC32"] == "DUoRhQ=="
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="dir/hello.txt")


def test_put_object_other_checksum_algorithms(any_server):
    s3 = any_server.client("s3")
    bucket = new_bucket(any_server)
    body = os.urandom(70_000)
    expected = {"SHA256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
                "SHA1": base64.b64encode(hashlib.sha1(body).digest()).decode()}
    for algorithm, value in expected.items():
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
        assert put[f"Checksum{algorithm}"] == value
        got = s3.get_object(Bucket=bucket, Key=algorithm)
        assert got["Body"].read() == body
        assert got[f"Checksum{algorithm}"] == value
    # botocore needs awscrt to compute CRC32C itself, so the value is supplied explicitly
    crc32c_value = base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
    s3.put_object(Bucket=bucket, Key="CRC32C", Body=body, ChecksumCRC32C=crc32c_value)
    head = s3.head_object(Bucket=bucket, Key="CRC32C", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == crc32c_value
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="CRC32C", Body=body, ChecksumCRC32C="AAAAAA==")
    assert error_code(err) == "BadDigest"
    assert "The CRC32C you specified did not match" in err.value.response["Error"]["Message"]


def test_empty_object_and_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_upload_file_multipart_has_composite_checksum_on_get_and_head(any_server, tmp_path):
    s3 = any_server.client("s3")
    bucket = new_bucket(any_server)
    data = random.Random(3).randbytes(20 * MiB)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    s3.upload_file(str(path), bucket, "big.bin")  # s3transfer: 8 MiB parts, CRC32 per part
    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == multipart_etag(data, 8 * MiB)
    assert got["ChecksumCRC32"] == composite_crc32(data, 8 * MiB)
    assert got["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == got["ChecksumCRC32"]  # same value, -N suffix included
    assert head["ChecksumType"] == "COMPOSITE"
    assert head["ContentLength"] == len(data)
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(out))  # ranged GETs in parallel
    assert out.read_bytes() == data


def test_get_part_number_of_multipart_object(s3, bucket, tmp_path):
    data = random.Random(4).randbytes(18 * MiB)
    (tmp_path / "f").write_bytes(data)
    s3.upload_file(str(tmp_path / "f"), bucket, "f")
    part = s3.get_object(Bucket=bucket, Key="f", PartNumber=2)
    assert part["PartsCount"] == 3
    assert part["ContentRange"] == f"bytes {8 * MiB}-{16 * MiB - 1}/{len(data)}"
    assert part["Body"].read() == data[8 * MiB:16 * MiB]


# ------------------------------------------------------------------ digests
def test_wrong_crc32_header_is_bad_digest(s3, bucket):
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert error_code(err) == "BadDigest"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == \
        "The CRC32 you specified did not match the calculated checksum."
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_code(err) == "404"


def test_wrong_crc32_trailer_over_https_is_bad_digest(tls_server):
    s3 = tls_server.client("s3")
    bucket = new_bucket(tls_server)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert error_code(err) == "BadDigest"


def test_invalid_checksum_value_is_invalid_request(s3, bucket):
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumCRC32="not-base64!")
    assert error_code(err) == "InvalidRequest"


def test_wrong_content_md5_is_bad_digest(server, bucket):
    s3 = server.client("s3", request_checksum_calculation="when_required")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=wrong)
    assert error_code(err) == "BadDigest"
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=right)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5="bm90IGFuIG1kNQ==")
    assert error_code(err) == "InvalidDigest"


def test_checksums_turned_off_still_work(server, bucket):
    s3 = server.client("s3", request_checksum_calculation="when_required",
                       response_checksum_validation="when_required")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"abc")
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"abc"


# ------------------------------------------------------------------ ranges and conditions
def test_ranges(s3, bucket):
    data = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert got["Body"].read() == data[10:20]
    assert "ChecksumCRC32" not in got  # no full-object checksum for a range
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == data[1000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1020-5000")["Body"].read() == data[1020:]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data)}-")
    assert error_code(err) == "InvalidRange"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-99")
    assert head["ContentLength"] == 100


def test_conditional_get_and_head(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    etag = put["ETag"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_code(err) == "PreconditionFailed"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    # S3: If-Match true wins over a failing If-Unmodified-Since
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)["ContentLength"] == 11
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"nope"')
    assert error_code(err) == "412"


def test_conditional_put_if_none_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert error_code(err) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


# ------------------------------------------------------------------ listing
def test_list_v2_delimiter_and_pagination(s3, bucket):
    keys = [f"logs/2024/{i:02d}.txt" for i in range(7)] + ["logs/readme", "data/a/1", "data/a/2", "data/b/1",
                                                            "top"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["data/", "logs/"]
    assert [o["Key"] for o in listed["Contents"]] == ["top"]
    assert listed["KeyCount"] == 3
    nested = s3.list_objects_v2(Bucket=bucket, Prefix="data/", Delimiter="/")
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["data/a/", "data/b/"]
    assert "Contents" not in nested
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 4
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys)
    assert pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"]
    # common prefixes count towards MaxKeys and are never repeated across pages
    mixed = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/",
                                                              PaginationConfig={"PageSize": 1}))
    flat = [p["Prefix"] for page in mixed for p in page.get("CommonPrefixes", [])] + \
        [o["Key"] for page in mixed for o in page.get("Contents", [])]
    assert sorted(flat) == ["data/", "logs/", "top"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="logs/2024/05.txt")
    assert [o["Key"] for o in after["Contents"]] == ["logs/2024/06.txt", "logs/readme", "top"]
    first = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", MaxKeys=2)
    assert first["Contents"][0]["Size"] == len("logs/2024/00.txt")
    assert first["Contents"][0]["ETag"].startswith('"')
    assert first["Contents"][0]["StorageClass"] == "STANDARD"


def test_list_v1_markers(s3, bucket):
    for key in ["a/1", "a/2", "b", "c/1", "d"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    page = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["a/1", "a/2"]
    assert page["IsTruncated"] and "NextMarker" not in page
    page = s3.list_objects(Bucket=bucket, Marker="a/2", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["b", "c/1"]
    page = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/"]
    assert page["NextMarker"] == "b"
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=page["NextMarker"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["c/"]
    assert [o["Key"] for o in rest["Contents"]] == ["d"]
    all_keys = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket,
                                                                            PaginationConfig={"PageSize": 1})
                for o in p.get("Contents", [])]
    assert all_keys == ["a/1", "a/2", "b", "c/1", "d"]


def test_awkward_keys_roundtrip_and_list_with_url_encoding(s3, bucket):
    keys = ["sp ace+plus", "per%cent", "q?a&b=c#d", "ünï/çødé", "a//b", "/leading", "tab\tkey", "x" * 1024]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]  # encoding-type=url by botocore
    assert listed == sorted(keys, key=lambda k: k.encode())
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="y" * 1025, Body=b"")
    assert error_code(err) == "KeyTooLongError"


# ------------------------------------------------------------------ copy / delete
def test_copy_object_metadata_directives(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/csv", Metadata={"a": "1"})
    other = new_bucket_from_client(s3)
    copied = s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    got = s3.get_object(Bucket=other, Key="dst")
    assert got["Body"].read() == b"payload"
    assert got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/csv"
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/plain")
    got = s3.head_object(Bucket=bucket, Key="src")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/plain"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert error_code(err) == "InvalidRequest"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")
    assert error_code(err) == "NoSuchKey"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/src", CopySourceIfMatch='"nope"')
    assert error_code(err) == "PreconditionFailed"
    # the copy is independent of its source
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=other, Key="dst")["Body"].read() == b"payload"


def new_bucket_from_client(s3) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def test_copy_of_multipart_object_is_a_single_part_object(s3, bucket, tmp_path):
    data = random.Random(5).randbytes(9 * MiB)
    (tmp_path / "f").write_bytes(data)
    s3.upload_file(str(tmp_path / "f"), bucket, "mp")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/mp")
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert got["ChecksumCRC32"] == crc32_b64(data)  # full-object, validated by botocore
    assert got["Body"].read() == data


def test_delete_object_and_delete_objects(s3, bucket):
    for key in ["a", "b", "c"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="a")
    s3.delete_object(Bucket=bucket, Key="never-existed")  # 204 either way, as S3
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "zzz"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["b", "zzz"]
    assert "Errors" not in result
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ------------------------------------------------------------------ multipart API
def test_multipart_api_errors_and_listing(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/x",
                                        Metadata={"m": "v"}, ChecksumAlgorithm="CRC32")
    uid = upload["UploadId"]
    assert upload["ChecksumAlgorithm"] == "CRC32"
    part1 = os.urandom(5 * MiB)
    small = b"tiny"
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1)
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=small)
    e3 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=3, Body=small)
    assert e1["ChecksumCRC32"] == crc32_b64(part1)
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [p["PartNumber"] for p in parts["Parts"]] == [1, 2, 3]
    assert parts["Parts"][0]["Size"] == 5 * MiB
    assert parts["Parts"][0]["ChecksumCRC32"] == crc32_b64(part1)
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [uid]

    def complete(*parts):
        return s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                            MultipartUpload={"Parts": list(parts)})

    p1 = {"PartNumber": 1, "ETag": e1["ETag"]}
    p2 = {"PartNumber": 2, "ETag": e2["ETag"]}
    p3 = {"PartNumber": 3, "ETag": e3["ETag"]}
    for parts_, code in [((p2, p1), "InvalidPartOrder"), ((p1, {"PartNumber": 2, "ETag": '"bad"'}), "InvalidPart"),
                         ((p1, {"PartNumber": 9, "ETag": e2["ETag"]}), "InvalidPart"),
                         ((p1, {**p2, "ChecksumCRC32": "AAAAAA=="}), "InvalidPart"),
                         ((p1, p2, p3), "EntityTooSmall")]:
        with pytest.raises(ClientError) as err:
            complete(*parts_)
        assert error_code(err) == code
    done = complete({**p1, "ChecksumCRC32": e1["ChecksumCRC32"]}, p2)  # parts not listed are dropped
    assert done["ETag"] == multipart_etag(part1 + small, 5 * MiB)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == part1 + small
    assert got["ContentType"] == "text/x" and got["Metadata"] == {"m": "v"}
    raw = zlib.crc32(part1).to_bytes(4, "big") + zlib.crc32(small).to_bytes(4, "big")
    assert got["ChecksumCRC32"] == f"{crc32_b64(raw)}-2"
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert error_code(err) == "NoSuchUpload"


def test_full_object_multipart_checksum_is_verified_on_complete(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32",
                                        ChecksumType="FULL_OBJECT")
    assert upload["ChecksumType"] == "FULL_OBJECT"
    a, b = os.urandom(5 * MiB), os.urandom(100)
    parts = {"Parts": [
        {"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="full", UploadId=upload["UploadId"],
                                                 PartNumber=n, Body=body)["ETag"]}
        for n, body in ((1, a), (2, b))]}
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload["UploadId"], MultipartUpload=parts,
                                     ChecksumCRC32="AAAAAA==", ChecksumType="FULL_OBJECT")
    assert error_code(err) == "BadDigest"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload["UploadId"],
                                        MultipartUpload=parts, ChecksumCRC32=crc32_b64(a + b),
                                        ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC32"] == crc32_b64(a + b)
    got = s3.get_object(Bucket=bucket, Key="full")
    assert got["ChecksumType"] == "FULL_OBJECT" and got["ChecksumCRC32"] == crc32_b64(a + b)
    assert got["Body"].read() == a + b


def test_abort_multipart_upload(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid)
    with pytest.raises(ClientError) as err:
        s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid)
    assert error_code(err) == "NoSuchUpload"
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid, PartNumber=2, Body=b"x")
    assert error_code(err) == "NoSuchUpload"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_upload_part_copy(s3, bucket):
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    c1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource=f"{bucket}/source", CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    c2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "source"})
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": c1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": c2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[:5 * MiB] + source


# ------------------------------------------------------------------ buckets and errors
def test_bucket_lifecycle_and_errors(server):
    s3 = server.client("s3")
    name = f"t-{uuid.uuid4().hex[:16]}"
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name)
    assert error_code(err) == "404"
    s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)  # us-east-1: re-creating your own bucket is a 200
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket=name)["BucketRegion"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=name)
    assert error_code(err) == "BucketNotEmpty"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=name)
    assert error_code(err) == "NoSuchBucket"

    eu = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=eu, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=eu)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=eu, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_code(err) == "BucketAlreadyOwnedByYou"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    for bad in ["UPPER", "ab", "a..b", "192.168.1.1", "-dash"]:
        with pytest.raises(ClientError) as err:
            s3.create_bucket(Bucket=bad)
        assert error_code(err) == "InvalidBucketName"


def test_error_documents_follow_s3(server, bucket):
    endpoint = server.endpoint
    resp = signed("GET", f"{endpoint}/{bucket}/missing/key.txt")
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/xml"
    assert "<Code>NoSuchKey</Code>" in resp.text
    assert "<Message>The specified key does not exist.</Message>" in resp.text
    assert "<Key>missing/key.txt</Key>" in resp.text
    assert "<RequestId>" in resp.text and resp.headers["x-amz-request-id"]
    resp = signed("GET", f"{endpoint}/no-such-bucket-{uuid.uuid4().hex[:8]}/k")
    assert resp.status_code == 404 and "<Code>NoSuchBucket</Code>" in resp.text
    head = signed("HEAD", f"{endpoint}/{bucket}/missing")
    assert head.status_code == 404 and head.content == b""
    resp = signed("PATCH", f"{endpoint}/{bucket}/k")
    assert resp.status_code == 405 and "<Code>MethodNotAllowed</Code>" in resp.text
    resp = signed("POST", f"{endpoint}/{bucket}?delete", b"<not-xml")
    assert resp.status_code == 400 and "<Code>MalformedXML</Code>" in resp.text
    resp = signed("GET", f"{endpoint}/{bucket}?analytics")
    assert resp.status_code == 501 and "<Code>NotImplemented</Code>" in resp.text


def test_acl_and_stored_bucket_configs(s3, bucket):
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object_acl(Bucket=bucket, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    with pytest.raises(ClientError) as err:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_code(err) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "ml"}]
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_code(err) == "NoSuchBucketPolicy"
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_expected_bucket_owner(server, s3, bucket):
    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner="000000000000")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner="000000000000")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="111111111111")
    assert error_code(err) == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_virtual_host_addressing(server, bucket):
    port = urlparse(server.endpoint).port
    host = {"Host": f"{bucket}.localhost:{port}"}
    assert signed("PUT", f"{server.endpoint}/v/key.txt", b"vhost", host).status_code == 200
    assert signed("GET", f"{server.endpoint}/v/key.txt", headers=host).content == b"vhost"
    listing = signed("GET", f"{server.endpoint}/?list-type=2", headers=host)
    assert "<Key>v/key.txt</Key>" in listing.text
    assert server.client("s3").get_object(Bucket=bucket, Key="v/key.txt")["Body"].read() == b"vhost"


# ------------------------------------------------------------------ presigned URLs
def test_presigned_get_and_put_sigv2_default(server, s3, bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre.txt"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in put_url and "Signature=" in put_url  # botocore's default for this endpoint
    assert requests.put(put_url, data=b"presigned body").status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre.txt"}, ExpiresIn=300)
    resp = requests.get(get_url)
    assert resp.status_code == 200 and resp.content == b"presigned body"


def test_presigned_sigv4_and_response_overrides(server, bucket):
    s3 = server.client("s3", signature_version="s3v4")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v4.bin"}, ExpiresIn=300)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in put_url
    assert requests.put(put_url, data=b"v4 body").status_code == 200
    get_url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "v4.bin", "ResponseContentType": "text/plain",
        "ResponseContentDisposition": "attachment; filename=x.txt"})
    resp = requests.get(get_url)
    assert resp.content == b"v4 body"
    assert resp.headers["Content-Type"] == "text/plain"
    assert resp.headers["Content-Disposition"] == "attachment; filename=x.txt"


def _with_query(url: str, **changes: str) -> str:
    parts = urlparse(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunparse(parts._replace(query=urlencode(query)))


def test_expired_presigned_urls_are_access_denied(server, bucket):
    server.client("s3").put_object(Bucket=bucket, Key="old", Body=b"x")
    v2 = server.client("s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "old"})
    resp = requests.get(_with_query(v2, Expires=str(int(time.time()) - 10)))
    assert resp.status_code == 403
    assert "<Code>AccessDenied</Code>" in resp.text and "<Message>Request has expired</Message>" in resp.text
    v4 = server.client("s3", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "old"}, ExpiresIn=60)
    resp = requests.get(_with_query(v4, **{"X-Amz-Date": "20200101T000000Z"}))
    assert resp.status_code == 403 and "Request has expired" in resp.text
    assert requests.get(v4).status_code == 200


# ------------------------------------------------------------------ storage
def test_dot_dot_keys_are_opaque_and_stay_inside_the_data_dir(server, s3, bucket):
    data_dir = Path(server.data_dir)
    keys = ["../x", "../../escaped", f"../../../{bucket}-outside", "./.", "..", "a/../../b"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == sorted(keys)
    for outside in (data_dir.parent / "x", data_dir.parent / "escaped", data_dir.parent.parent / "escaped",
                    data_dir / "x", data_dir / "s3" / "x", data_dir / "s3" / "b"):
        assert not outside.exists()
    blobs = [p for p in (data_dir / "s3").rglob("*") if p.is_file()]
    assert blobs and all(p.name.isalnum() and len(p.name) == 32 for p in blobs if "blobs" in p.parts)


def test_streamed_upload_keeps_server_memory_low(server, bucket):
    """A 512 MiB body streamed with Transfer-Encoding: chunked never sits in server memory."""
    pid = server.proc.pid
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    samples.append(int(line.split()[1]) * 1024)
            time.sleep(0.05)

    block = os.urandom(MiB)
    total = 512

    def body():
        for _ in range(total):
            yield block

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        url = f"{server.endpoint}/{bucket}/huge"
        auth = sign_headers("PUT", url, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
        resp = requests.put(url, data=body(), timeout=600, headers={
            k: v for k, v in auth.items() if k.lower() != "content-length"})
    finally:
        stop.set()
        watcher.join()
    assert resp.status_code == 200
    expected = hashlib.md5()
    for _ in range(total):
        expected.update(block)
    assert resp.headers["ETag"] == f'"{expected.hexdigest()}"'
    assert max(samples) < 300 * MiB
    head = server.client("s3").head_object(Bucket=bucket, Key="huge")
    assert head["ContentLength"] == total * MiB
    got = signed("GET", f"{server.endpoint}/{bucket}/huge", headers={"Range": f"bytes={300 * MiB}-{300 * MiB + 9}"})
    assert got.content == block[:10]


@pytest.fixture(scope="module")
def private_server(sagemaker_emulator_factory):
    """Its own server: restart and reset must not disturb the session server other tests share."""
    emulator = sagemaker_emulator_factory(name="s3-restart", env={"SAGEMAKER_EMULATOR_RUN_JOBS": "0"})
    yield emulator
    emulator.stop()


def test_objects_survive_a_restart_byte_identical(private_server, tmp_path):
    s3 = private_server.client("s3")
    bucket = new_bucket(private_server)
    small = os.urandom(1000)
    big = random.Random(9).randbytes(17 * MiB)
    (tmp_path / "big").write_bytes(big)
    s3.put_object(Bucket=bucket, Key="small", Body=small, Metadata={"k": "v"}, ContentType="a/b")
    s3.upload_file(str(tmp_path / "big"), bucket, "big")
    before = {k: s3.head_object(Bucket=bucket, Key=k, ChecksumMode="ENABLED") for k in ("small", "big")}
    private_server.restart()
    s3 = private_server.client("s3")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    for key, head in before.items():
        after = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        for field in ("ETag", "ContentLength", "ContentType", "Metadata", "ChecksumCRC32", "LastModified"):
            assert after.get(field) == head.get(field), (key, field)


def test_reset_empties_the_store_and_it_keeps_working(private_server):
    s3 = private_server.client("s3")
    bucket = new_bucket(private_server)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    private_server.reset()
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    bucket = new_bucket(private_server)
    s3.put_object(Bucket=bucket, Key="k", Body=b"after reset")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"after reset"


def test_aws_cli_sync_up_and_down_is_byte_identical(server, bucket, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    rng = random.Random(11)
    files = {"top.txt": b"top\n", "empty": b"", "a/b/c/deep.bin": rng.randbytes(300_000),
             "a/large.bin": rng.randbytes(10 * MiB), "with space/+plus&amp.txt": b"odd names",
             "ünïcode/ƒile.txt": "ünï".encode()}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    aws = str(Path(sys.executable).parent / "aws")
    env = server.client_env()

    def run(*args: str) -> str:
        done = subprocess.run([aws, *args], check=False, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("s3", "sync", str(src), f"s3://{bucket}/tree", "--only-show-errors")
    keys = sorted(o["Key"] for o in server.client("s3").list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(f"tree/{rel}" for rel in files)
    run("s3", "sync", f"s3://{bucket}/tree", str(dst), "--only-show-errors")
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data, rel
    listing = run("s3", "ls", "--recursive", f"s3://{bucket}/")
    assert "tree/a/large.bin" in listing


# ------------------------------------------------------------------ atomicity and the core API
def test_interrupted_upload_leaves_the_previous_version_and_no_temp_file(server, s3, bucket):
    import socket

    s3.put_object(Bucket=bucket, Key="atomic", Body=b"version one")
    url = urlparse(server.endpoint)
    tmp_dir = Path(server.data_dir) / "s3" / "tmp"
    with socket.create_connection((url.hostname, url.port)) as sock:
        auth = sign_headers("PUT", f"{server.endpoint}/{bucket}/atomic")
        lines = "".join(f"{k}: {v}\r\n" for k, v in auth.items() if k.lower() != "content-length")
        sock.sendall(f"PUT /{bucket}/atomic HTTP/1.1\r\nHost: {url.netloc}\r\n{lines}"
                     f"Content-Length: {4 * MiB}\r\n\r\n".encode() + b"x" * MiB)
        wait_until(lambda: any(tmp_dir.iterdir()), timeout=30, what="the upload's temp file")  # it has begun
    wait_until(lambda: not any(tmp_dir.iterdir()), timeout=30, what="the temp file removed")
    got = s3.get_object(Bucket=bucket, Key="atomic")
    assert got["Body"].read() == b"version one"


def test_crash_leftovers_are_collected_at_start_up(private_server):
    s3 = private_server.client("s3")
    bucket = new_bucket(private_server)
    s3.put_object(Bucket=bucket, Key="kept", Body=b"kept")
    root = Path(private_server.data_dir) / "s3"
    half_upload = root / "tmp" / "crashed-upload"
    half_upload.write_bytes(b"partial")
    orphan = root / "blobs" / "ff" / ("f" * 32)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"renamed but never committed")
    private_server.restart()
    assert not half_upload.exists() and not orphan.exists()
    assert private_server.client("s3").get_object(Bucket=bucket, Key="kept")["Body"].read() == b"kept"


def test_core_object_store_api(tmp_path):
    """The Python API that job staging and pipelines use (no HTTP)."""
    from emulator.core.objectstore import ObjectStore, S3Error
    from emulator.store.db import Database

    db = Database(tmp_path / "state.sqlite3")
    store = ObjectStore(db, tmp_path / "s3")
    assert store.create_bucket("core-bucket") is True
    assert store.create_bucket("core-bucket") is False
    assert store.bucket_exists("core-bucket") and not store.bucket_exists("other-bucket")
    info = store.put_object_bytes("core-bucket", "a/b.txt", b"bytes", content_type="text/plain",
                                  metadata={"k": "v"})
    assert info.etag == hashlib.md5(b"bytes").hexdigest() and info.size == 5
    assert info.checksums == {"CRC32": crc32_b64(b"bytes")}
    src = tmp_path / "model.tar.gz"
    src.write_bytes(b"model" * 1000)
    copied = store.put_object_from_path("core-bucket", "model.tar.gz", src, move=False)
    assert src.exists() and copied.path.read_bytes() == src.read_bytes()
    moved = store.put_object_from_path("core-bucket", "moved", src)  # adopted: renamed, not copied
    assert not src.exists() and moved.path.read_bytes() == b"model" * 1000
    assert moved.etag == hashlib.md5(b"model" * 1000).hexdigest()
    assert store.object_path("core-bucket", "moved") == moved.path
    assert moved.path.is_relative_to(tmp_path / "s3" / "blobs")
    assert moved.path.stat().st_mode & 0o777 == 0o444  # shared by every hard link into a container
    with store.open_object("core-bucket", "a/b.txt") as f:
        assert f.read() == b"bytes"
    head = store.head_object("core-bucket", "a/b.txt")
    assert head.metadata == {"k": "v"} and head.content_type == "text/plain" and head.last_modified > 0
    assert store.head_object("core-bucket", "missing") is None
    assert [o.key for o in store.list_objects("core-bucket")] == ["a/b.txt", "model.tar.gz", "moved"]
    assert [o.key for o in store.list_objects("core-bucket", prefix="a/")] == ["a/b.txt"]
    # a blob is immutable: replacing the object writes a new file and leaves a reader's link intact
    link = tmp_path / "linked-into-container"
    os.link(head.path, link)
    store.put_object_bytes("core-bucket", "a/b.txt", b"new bytes")
    assert link.read_bytes() == b"bytes" and not head.path.exists()
    with pytest.raises(S3Error) as err:
        store.object_path("core-bucket", "missing")
    assert err.value.code == "NoSuchKey" and err.value.status == 404
    with pytest.raises(S3Error) as err:
        store.put_object_bytes("nope-bucket", "k", b"")
    assert err.value.code == "NoSuchBucket"
    with pytest.raises(S3Error) as err:
        store.delete_bucket("core-bucket")
    assert err.value.code == "BucketNotEmpty"
    for obj in list(store.list_objects("core-bucket")):
        store.delete_object("core-bucket", obj.key)
    store.delete_bucket("core-bucket")
    assert store.list_buckets() == []
    assert not [p for p in (tmp_path / "s3" / "blobs").rglob("*") if p.is_file()]
    db.close()
