"""The S3 REST-XML API over the object store (emulator.core.objectstore)."""

from emulator.api.s3.router import handle_s3

__all__ = ["handle_s3"]
