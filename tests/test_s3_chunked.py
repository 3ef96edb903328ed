"""The aws-chunked decoder on its own, and raw aws-chunked requests to a live server over http (the
framing botocore uses over https, and the signed-chunk framing of other SDKs)."""

from __future__ import annotations

import base64
import http.client
import random
import uuid
import zlib
from urllib.parse import urlparse

import pytest

from emulator.api.s3.chunked import AwsChunkedDecoder
from emulator.core.objectstore import S3Error
from tests.signing import sign_headers


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def encode(chunks: list[bytes], trailers: dict[str, str] | None = None, *, signed: bool = False) -> bytes:
    sig = ";chunk-signature=" + "a" * 64 if signed else ""
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(c), sig.encode(), c) for c in chunks)
    out += b"0" + sig.encode() + b"\r\n"
    for name, value in (trailers or {}).items():
        out += f"{name}:{value}\r\n".encode()
    if signed and trailers:
        out += b"x-amz-trailer-signature:" + b"b" * 64 + b"\r\n"
    return out + b"\r\n"


def decode_all(body: bytes, splits: list[int]) -> tuple[bytes, dict[str, str]]:
    decoder = AwsChunkedDecoder()
    out = bytearray()
    start = 0
    for end in [*splits, len(body)]:
        for piece in decoder.feed(body[start:end]):
            out += piece
        start = end
    decoder.finish()
    return bytes(out), decoder.trailers


# ------------------------------------------------------------------ decoder unit tests
def test_decodes_unsigned_chunks_with_a_checksum_trailer():
    body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"  # botocore's bytes (§4.2)
    data, trailers = decode_all(body, [])
    assert data == b"hello world"
    assert trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}


def test_decodes_signed_chunks_and_ignores_signatures():
    chunks = [b"x" * 8192, b"y" * 100]
    data, trailers = decode_all(encode(chunks, signed=True), [])
    assert data == b"".join(chunks)
    assert trailers == {}


def test_decodes_signed_chunks_with_signed_trailers():
    chunks = [b"abc" * 1000, b"tail"]
    body = encode(chunks, {"x-amz-checksum-crc32": crc32_b64(b"".join(chunks))}, signed=True)
    data, trailers = decode_all(body, [])
    assert data == b"".join(chunks)
    assert trailers["x-amz-checksum-crc32"] == crc32_b64(data)
    assert "x-amz-trailer-signature" in trailers


def test_every_single_byte_split_decodes_identically():
    chunks = [bytes(range(256)) * 3, b"\r\n\r\n0\r\n", b"z"]
    body = encode(chunks, {"x-amz-checksum-sha256": "abc="})
    data, trailers = decode_all(body, list(range(1, len(body))))
    assert data == b"".join(chunks)
    assert trailers == {"x-amz-checksum-sha256": "abc="}


def test_random_read_boundaries_decode_identically():
    rng = random.Random(7)
    chunks = [rng.randbytes(rng.randint(1, 5000)) for _ in range(20)]
    body = encode(chunks, {"x-amz-checksum-crc32": crc32_b64(b"".join(chunks))}, signed=rng.random() < 0.5)
    for _ in range(50):
        splits = sorted(rng.sample(range(1, len(body)), rng.randint(1, 40)))
        data, trailers = decode_all(body, splits)
        assert data == b"".join(chunks)
        assert trailers["x-amz-checksum-crc32"] == crc32_b64(data)


def test_decoded_pieces_are_slices_not_whole_body_copies():
    decoder = AwsChunkedDecoder()
    pieces = decoder.feed(b"4\r\nabcd\r\n")
    assert all(isinstance(p, memoryview) for p in pieces)
    assert b"".join(pieces) == b"abcd"


def test_missing_final_blank_line_after_trailers_is_tolerated():
    data, trailers = decode_all(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==", [])
    assert data == b"abc" and trailers == {"x-amz-checksum-crc32": "NSRBwg=="}


@pytest.mark.parametrize("body", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n",
                                  b"0\r\n\r\nextra-bytes"])
def test_malformed_framing_is_an_invalid_request(body):
    with pytest.raises(S3Error) as err:
        decode_all(body, [])
    assert err.value.code == "InvalidRequest" and err.value.status == 400


@pytest.mark.parametrize("body", [b"", b"5\r\nab", b"3\r\nabc\r\n"])
def test_truncated_body_is_an_incomplete_body(body):
    with pytest.raises(S3Error) as err:
        decode_all(body, [])
    assert err.value.code == "IncompleteBody"


# ------------------------------------------------------------------ raw requests to a live server
@pytest.fixture
def bucket(server):
    name = f"chunked-{uuid.uuid4().hex[:12]}"
    server.client("s3").create_bucket(Bucket=name)
    return name


def raw_request(server, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                transfer_chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    url = urlparse(server.endpoint)
    # A well-formed signature (the emulator refuses unsigned calls; it checks signatures only when
    # configured with credentials) next to the test's own payload hash header.
    auth = sign_headers(method, server.endpoint + path)
    headers = {**(headers or {}), "Authorization": auth["Authorization"], "X-Amz-Date": auth["X-Amz-Date"]}
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        if transfer_chunked:
            conn.putrequest(method, path)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for start in range(0, len(body), 7000):  # HTTP chunks unrelated to the aws-chunked ones
                piece = body[start:start + 7000]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def trailer_headers(decoded_length: int, *, signed: bool = False, encoding: str = "aws-chunked") -> dict:
    return {
        "Content-Encoding": encoding,
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if signed
        else "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(decoded_length),
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }


@pytest.mark.parametrize("transfer_chunked", [True, False], ids=["transfer-encoding", "content-length"])
def test_put_with_unsigned_trailer_checksum_stores_the_decoded_bytes(server, bucket, transfer_chunked):
    data = random.Random(1).randbytes(100_000)
    body = encode([data[:65536], data[65536:]], {"x-amz-checksum-crc32": crc32_b64(data)})
    status, headers, _ = raw_request(server, "PUT", f"/{bucket}/obj", body, trailer_headers(len(data)),
                                     transfer_chunked=transfer_chunked)
    assert status == 200
    assert headers["x-amz-checksum-crc32"] == crc32_b64(data)
    got = server.client("s3").get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert "ContentEncoding" not in got  # aws-chunked is framing, never stored
    assert got["ChecksumCRC32"] == crc32_b64(data)


def test_put_with_signed_chunks_and_no_trailer(server, bucket):
    data = b"signed chunk payload " * 1000
    body = encode([data[:8192], data[8192:]], signed=True)
    headers = {"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "X-Amz-Decoded-Content-Length": str(len(data)), "Content-Encoding": "aws-chunked"}
    status, _, _ = raw_request(server, "PUT", f"/{bucket}/signed", body, headers)
    assert status == 200
    assert server.client("s3").get_object(Bucket=bucket, Key="signed")["Body"].read() == data


def test_streaming_sha256_header_alone_triggers_decoding(server, bucket):
    data = b"no content-encoding header"
    body = encode([data], {"x-amz-checksum-crc32": crc32_b64(data)})
    headers = trailer_headers(len(data))
    del headers["Content-Encoding"]
    status, _, _ = raw_request(server, "PUT", f"/{bucket}/implicit", body, headers)
    assert status == 200
    assert server.client("s3").get_object(Bucket=bucket, Key="implicit")["Body"].read() == data


def test_wrong_trailer_checksum_is_bad_digest_and_nothing_is_stored(server, bucket):
    data = b"payload whose trailer lies"
    body = encode([data], {"x-amz-checksum-crc32": crc32_b64(b"something else")})
    status, _, payload = raw_request(server, "PUT", f"/{bucket}/bad", body, trailer_headers(len(data)),
                                     transfer_chunked=True)
    assert status == 400
    assert b"<Code>BadDigest</Code>" in payload
    assert b"The CRC32 you specified did not match the calculated checksum." in payload
    s3 = server.client("s3")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_decoded_length_mismatch_is_incomplete_body(server, bucket):
    data = b"twelve bytes"
    body = encode([data], {"x-amz-checksum-crc32": crc32_b64(data)})
    status, _, payload = raw_request(server, "PUT", f"/{bucket}/short", body, trailer_headers(len(data) + 5))
    assert status == 400
    assert b"<Code>IncompleteBody</Code>" in payload


def test_malformed_chunk_size_is_a_400_not_a_500(server, bucket):
    status, _, payload = raw_request(server, "PUT", f"/{bucket}/junk", b"nothex\r\nabc\r\n0\r\n\r\n",
                                     trailer_headers(3))
    assert status == 400
    assert b"<Code>InvalidRequest</Code>" in payload


def test_other_content_encodings_are_kept_without_aws_chunked(server, bucket):
    data = b"\x1f\x8b pretend gzip"
    body = encode([data], {"x-amz-checksum-crc32": crc32_b64(data)})
    status, _, _ = raw_request(server, "PUT", f"/{bucket}/gz", body,
                               {**trailer_headers(len(data), encoding="gzip,aws-chunked")})
    assert status == 200
    got = server.client("s3").head_object(Bucket=bucket, Key="gz")
    assert got["ContentEncoding"] == "gzip"


def test_upload_part_accepts_aws_chunked_parts(server, bucket):
    s3 = server.client("s3")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")
    data = b"part-bytes" * 1000
    body = encode([data], {"x-amz-checksum-crc32": crc32_b64(data)})
    status, headers, _ = raw_request(server, "PUT", f"/{bucket}/mp?partNumber=1&uploadId={upload['UploadId']}",
                                     body, trailer_headers(len(data)), transfer_chunked=True)
    assert status == 200
    assert headers["x-amz-checksum-crc32"] == crc32_b64(data)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": headers["etag"],
                                    "ChecksumCRC32": crc32_b64(data)}]})
    assert done["ChecksumCRC32"].endswith("-1")
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == data
