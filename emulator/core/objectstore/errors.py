"""S3's typed errors, with AWS's codes, statuses and messages.

They live in core because the object store raises them (a missing bucket is a domain fact); the S3 API
layer serialises them as `<Error>` XML, and other callers (job staging) can catch them by code.
"""

from __future__ import annotations

from emulator.aws.errors import AwsError

# code -> (HTTP status, AWS's message)
CATALOGUE: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyOwnedByYou": (409, ("Your previous request to create the named bucket succeeded and you "
                                      "already own it.")),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size"),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed size"),
    "IncompleteBody": (400, ("You did not provide the number of bytes specified by the Content-Length "
                             "HTTP header")),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified was invalid."),
    "InvalidPart": (400, ("One or more of the specified parts could not be found.  The part may not have "
                          "been uploaded, or the specified entity tag may not have matched the part's "
                          "entity tag.")),
    "InvalidPartOrder": (400, ("The list of parts was not in ascending order. Parts must be ordered by "
                               "part number.")),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedXML": (400, ("The XML you provided was not well-formed or did not validate against our "
                           "published schema")),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, ("The specified upload does not exist. The upload ID may be invalid, or the "
                           "upload may have been aborted or completed.")),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented"),
    "NotModified": (304, "Not Modified"),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
}


class S3Error(AwsError):
    """`S3Error("NoSuchKey", Key=key)`; message and status default to AWS's for the code.

    Keyword fields become extra elements of the `<Error>` document (Key, BucketName, UploadId, ...).
    """

    def __init__(self, code: str, message: str | None = None, status: int | None = None,
                 **fields: object) -> None:
        default_status, default_message = CATALOGUE.get(code, (400, code))
        super().__init__(message or default_message, code=code, status=status or default_status,
                         extra={k: v for k, v in fields.items() if v is not None})
        # AwsError ignores a falsy status; 304 etc. are always truthy, but keep it explicit.
        self.status = status or default_status

    @property
    def fields(self) -> dict[str, object]:
        return self.extra
