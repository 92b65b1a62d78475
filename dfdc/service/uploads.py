"""Receiving uploads: a multipart body streamed straight into the job folders, never whole in memory.

Each file goes into a temporary folder beside its job folder while it arrives; only when the whole request has
arrived within the size limit are the files flushed to disk and the folders renamed into place, so a job folder
either holds a complete upload or does not exist. The uploaded file name is kept for display only.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import unicodedata
import urllib.parse
from pathlib import Path
from typing import AsyncIterator, BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..fileio import temporary_directory_beside
from ..video import VIDEO_EXTENSIONS
from .jobs import new_job_id

MAX_NAME_LENGTH = 255
DRAIN_BYTES = 256 * 2 ** 20   # an upload over the limit by at most this is read to its end before the 413
_EXTENDED_FILENAME = re.compile(r"filename\*\s*=\s*([\w!#$%&+^`{}~.-]*)'[^']*'([^;\s]+)", re.IGNORECASE)


class UploadError(Exception):
    """A request that cannot be taken; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class ReceivedFile:
    job_id: str
    name: str          # for display only
    upload: str        # the file's name inside the job folder
    size: int = 0
    folder: Path | None = None
    handle: BinaryIO | None = None


def display_name(raw: str) -> str:
    """The uploaded name as given (it is never a path here), without control characters, at most 255 characters."""
    name = ''.join(c for c in raw if unicodedata.category(c)[0] != 'C').strip()
    return name[:MAX_NAME_LENGTH] or 'upload'


def upload_file_name(name: str) -> str:
    """The stored file's name: `upload` with the uploaded name's extension when it is a video extension."""
    suffix = Path(name).suffix.lower()
    return 'upload' + (suffix if suffix in VIDEO_EXTENSIONS else '.video')


def _file_name(disposition: bytes) -> str | None:
    """The file name of a multipart part (RFC 7578; filename* of RFC 5987 first), None for a plain field."""
    text = disposition.decode('utf-8', errors='replace')
    extended = _EXTENDED_FILENAME.search(text)
    if extended:
        charset = extended.group(1) or 'utf-8'
        try:
            return urllib.parse.unquote(extended.group(2), encoding=charset, errors='replace')
        except LookupError:
            return urllib.parse.unquote(extended.group(2), errors='replace')
    _, options = parse_options_header(disposition)
    name = options.get(b'filename')
    return None if name is None else name.decode('utf-8', errors='replace')


class _Receiver:
    """python-multipart callbacks that write each file part into its own temporary folder under `jobs_dir`."""

    def __init__(self, jobs_dir: Path):
        self.jobs_dir = jobs_dir
        self.files: list[ReceivedFile] = []
        self.current: ReceivedFile | None = None
        self.header_field, self.header_value, self.headers = b'', b'', {}
        self.ended = False

    def callbacks(self) -> dict:
        return {'on_part_begin': self.part_begin, 'on_header_field': self.header_field_data,
                'on_header_value': self.header_value_data, 'on_header_end': self.header_end,
                'on_headers_finished': self.headers_finished, 'on_part_data': self.part_data,
                'on_part_end': self.part_end, 'on_end': self.end}

    def part_begin(self) -> None:
        self.headers, self.current = {}, None

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b'', b''

    def headers_finished(self) -> None:
        raw = _file_name(self.headers.get(b'content-disposition', b''))
        if raw is None:
            return  # a plain form field: ignored
        job_id = new_job_id()
        name = display_name(raw)
        received = ReceivedFile(job_id, name, upload_file_name(name))
        self.files.append(received)
        received.folder = temporary_directory_beside(self.jobs_dir / job_id)
        received.handle = open(received.folder / received.upload, 'wb')
        self.current = received

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is not None:
            self.current.handle.write(data[start:end])
            self.current.size += end - start

    def part_end(self) -> None:
        if self.current is not None:
            self.close(self.current, sync=True)
        self.current = None

    def end(self) -> None:
        self.ended = True

    @staticmethod
    def close(received: ReceivedFile, sync: bool = False) -> None:
        if received.handle is not None and not received.handle.closed:
            if sync:
                received.handle.flush()
                os.fsync(received.handle.fileno())
            received.handle.close()

    def discard(self) -> None:
        for received in self.files:
            self.close(received)
            if received.folder is not None:
                shutil.rmtree(received.folder, ignore_errors=True)


async def receive_files(content_type: str, content_length: str | None, body: AsyncIterator[bytes], jobs_dir: Path,
                        max_bytes: int) -> list[ReceivedFile]:
    """Stream a multipart/form-data body into new job folders (renamed into place only once it all arrived).

    Raises UploadError: 413 when the body is over `max_bytes` (nothing is written once that is known: from the
    Content-Length, or as the body passes the limit), 400 for anything but multipart with at least one file.
    Nothing is left on disk after an error or a client that goes away.
    """
    kind, options = parse_options_header(content_type)
    if kind != b'multipart/form-data' or not options.get(b'boundary'):
        raise UploadError(400, 'send the videos as multipart/form-data, e.g. curl -F file=@video.mp4 ...')
    too_large = UploadError(413, f'the upload is over the limit of {max_bytes / 2 ** 20:g} MB (--max-upload-mb)')
    declared = int(content_length) if content_length is not None and content_length.isdigit() else None
    if declared is not None and declared > max_bytes + DRAIN_BYTES:
        raise too_large   # not worth reading: the connection is closed under the client
    if declared is not None and declared > max_bytes:
        await drain(body)   # so that the client gets to read the 413
        raise too_large
    receiver = _Receiver(jobs_dir)
    parser = MultipartParser(options[b'boundary'], receiver.callbacks())
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_bytes:
                receiver.discard()
                await drain(body)
                raise too_large
            parser.write(chunk)
        parser.finalize()
        if not receiver.ended:
            raise UploadError(400, 'the multipart body ended before its closing boundary (cut short?)')
        if not receiver.files:
            raise UploadError(400, 'no file in the upload: send each video as a file field, e.g. -F file=@video.mp4')
        for item in receiver.files:
            os.rename(item.folder, jobs_dir / item.job_id)
            item.folder = jobs_dir / item.job_id
        _sync_directory(jobs_dir)
        return receiver.files
    except MultipartParseError as error:
        receiver.discard()
        raise UploadError(400, f'malformed multipart body: {error}') from None
    except BaseException:
        receiver.discard()
        raise


async def drain(body: AsyncIterator[bytes], limit: int = DRAIN_BYTES) -> None:
    """Read and drop a request body (up to `limit`) that will not be taken, so the client reads the answer."""
    received = 0
    async for chunk in body:
        received += len(chunk)
        if received > limit:
            return


def _sync_directory(path: Path) -> None:
    """Make the renames into `path` durable before the client is told its upload is safe."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
