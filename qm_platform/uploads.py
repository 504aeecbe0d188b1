"""Uploads with a size limit that holds while the request is read, not after.

A view puts :class:`MaxSizeUploadHandler` first in ``request.upload_handlers`` before it touches
``request.data``: a body whose Content-Length is already too large is refused before a byte of it
is read, and a file that grows past the limit while it streams in is refused at that chunk. Either
way the answer is 413 ``FILE_TOO_LARGE`` in the error contract.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler

from qm_platform.errors import CodedError

MB = 1024 * 1024
# Room for the multipart boundaries and the form's other fields next to the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024


def file_too_large(max_bytes: int, size: int | None = None) -> CodedError:
    """FILE_TOO_LARGE naming the limit (and the size, when it is known)."""
    limit_mb = max_bytes / MB
    said = f"the file is {size / MB:.1f} MB" if size is not None else "the file is larger than the limit"
    return CodedError(
        "FILE_TOO_LARGE",
        f"{said}; the limit is {limit_mb:g} MB",
        details={"max_mb": round(limit_mb, 3), "max_bytes": max_bytes},
    )


class MaxSizeUploadHandler(FileUploadHandler):
    """Refuses a multipart body over ``max_bytes`` (plus the form's overhead) from its
    Content-Length, and any one file over ``max_bytes`` as soon as it has streamed past it."""

    def __init__(self, max_bytes: int, request=None):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.max_bytes + FORM_OVERHEAD_BYTES:
            raise file_too_large(self.max_bytes, content_length)
        return None  # the other handlers read the body

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            raise file_too_large(self.max_bytes)
        return raw_data  # passed on to the handler that stores the file

    def file_complete(self, file_size):
        return None  # the next handler makes the file
