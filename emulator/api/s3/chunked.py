"""A streaming decoder for S3's `aws-chunked` content encoding.

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer name>:<value>\\r\\n ...]\\r\\n

botocore sends it over https (STREAMING-UNSIGNED-PAYLOAD-TRAILER, checksum in a trailer); other SDKs sign
each chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]). Bytes are fed as they arrive, in pieces of any
size, and decoded data comes back as zero-copy slices of the input: memory stays bounded by one line.
Chunk signatures are not verified (emulator.aws.signing checks the request's own signature).
"""

from __future__ import annotations

from emulator.core.objectstore import S3Error

MAX_LINE = 16 * 1024
MAX_TRAILER_BYTES = 16 * 1024  # all trailer lines together (a checksum trailer is under 100 bytes)

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


def is_aws_chunked(headers) -> bool:
    """LocalStack's rule: a STREAMING-* payload hash or `aws-chunked` in Content-Encoding."""
    return headers.get("x-amz-content-sha256", "").startswith("STREAMING-") \
        or "aws-chunked" in headers.get("content-encoding", "")


class AwsChunkedDecoder:
    def __init__(self) -> None:
        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0
        self.trailers: dict[str, str] = {}
        self.decoded_size = 0
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview]:
        """Consume the next bytes of the body; return the decoded payload bytes they contained."""
        if isinstance(data, memoryview):
            data = data.tobytes()
        out: list[memoryview] = []
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            if self._state == _DATA:
                take = min(self._remaining, end - pos)
                out.append(view[pos:pos + take])
                pos += take
                self._remaining -= take
                self.decoded_size += take
                if self._remaining == 0:
                    self._state = _DATA_END
                continue
            if self._state == _DONE:
                if bytes(view[pos:]).strip(b"\r\n"):
                    raise S3Error("InvalidRequest", "Unexpected data after the final aws-chunked chunk.")
                break
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._line += view[pos:]
                if len(self._line) > MAX_LINE:
                    raise S3Error("InvalidRequest", "An aws-chunked chunk header is too long.")
                break
            self._line += view[pos:newline]
            pos = newline + 1
            line = bytes(self._line).rstrip(b"\r")
            self._line.clear()
            self._line_complete(line)
        return out

    def _line_complete(self, line: bytes) -> None:
        if self._state == _SIZE:
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise S3Error("InvalidRequest", f"Invalid aws-chunked chunk size {size_text[:32]!r}.") from None
            if size < 0:
                raise S3Error("InvalidRequest", "Invalid aws-chunked chunk size.")
            if size == 0:
                self._state = _TRAILER
            else:
                self._remaining, self._state = size, _DATA
        elif self._state == _DATA_END:
            if line:
                raise S3Error("InvalidRequest", "An aws-chunked chunk is longer than its declared size.")
            self._state = _SIZE
        elif self._state == _TRAILER:
            if not line:
                self._state = _DONE
                return
            self._trailer_bytes += len(line) + 2
            if self._trailer_bytes > MAX_TRAILER_BYTES:
                raise S3Error("InvalidRequest", "The aws-chunked trailers are too long.")
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise S3Error("InvalidRequest", "Malformed aws-chunked trailer.")
            self.trailers[name.strip().lower()] = value.strip()

    def finish(self) -> None:
        """The body ended: fail unless the final chunk arrived (a missing blank line after the trailers
        is tolerated, as some clients end the stream right after the last trailer)."""
        if self._state == _TRAILER and self._line:
            self._line_complete(bytes(self._line).rstrip(b"\r"))
            self._line.clear()
        if self._state not in (_TRAILER, _DONE):
            raise S3Error("IncompleteBody", "The aws-chunked body ended before its final chunk.")
        self._state = _DONE
