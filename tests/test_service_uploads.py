"""Receiving uploads: a multipart body streamed into job folders that exist only complete."""
import asyncio
import os

import pytest

from dfdc.service.uploads import UploadError, display_name, receive_files, upload_file_name

BOUNDARY = 'XyZ0123'


def multipart(*parts: tuple[bytes, bytes]) -> bytes:
    body = b''
    for disposition, data in parts:
        body += (f'--{BOUNDARY}\r\n'.encode() + b'Content-Disposition: ' + disposition + b'\r\n'
                 b'Content-Type: application/octet-stream\r\n\r\n' + data + b'\r\n')
    return body + f'--{BOUNDARY}--\r\n'.encode()


def receive(body: bytes, jobs_dir, max_bytes=10_000, chunk=7, declared=True, content_type=None):
    async def stream():
        for start in range(0, len(body), chunk):
            yield body[start:start + chunk]
    return asyncio.run(receive_files(content_type or f'multipart/form-data; boundary={BOUNDARY}',
                                     str(len(body)) if declared else None, stream(), jobs_dir, max_bytes))


def test_files_land_in_new_job_folders_under_names_of_the_service(tmp_path):
    body = multipart((b'form-data; name="note"', b'a plain field'),
                     (b'form-data; name="file"; filename="../../x.MP4"', b'first video'),
                     ('form-data; name="file"; filename="видео «1».mov"'.encode(), b'second'),
                     (b"form-data; name=\"file\"; filename*=UTF-8''%F0%9F%8E%AD%20clip.webm", b'third'),
                     (b'form-data; name="file"; filename="notes.txt"', b''))
    files = receive(body, tmp_path)
    assert [f.name for f in files] == ['../../x.MP4', 'видео «1».mov', '🎭 clip.webm', 'notes.txt']
    assert [f.upload for f in files] == ['upload.mp4', 'upload.mov', 'upload.webm', 'upload.video']
    assert [f.size for f in files] == [11, 6, 5, 0]
    assert sorted(os.listdir(tmp_path)) == sorted(f.job_id for f in files)
    assert (tmp_path / files[0].job_id / 'upload.mp4').read_bytes() == b'first video'
    assert not (tmp_path.parent / 'x.MP4').exists()


def test_display_names_lose_control_characters_only():
    assert display_name('a\x00b\nc\u202e.mp4') == 'abc.mp4'
    assert display_name('<b>x</b>.mp4') == '<b>x</b>.mp4'
    assert display_name('\x01') == 'upload' and len(display_name('x' * 1000)) == 255
    assert upload_file_name('../x/.mp4/evil') == 'upload.video'


@pytest.mark.parametrize('declared', [True, False])
def test_over_the_limit_is_413_and_leaves_nothing(tmp_path, declared):
    body = multipart((b'form-data; name="file"; filename="a.mp4"', b'x' * 500),
                     (b'form-data; name="file"; filename="b.mp4"', b'y' * 600))
    with pytest.raises(UploadError) as error:
        receive(body, tmp_path, max_bytes=1000, declared=declared)
    assert error.value.status == 413 and os.listdir(tmp_path) == []


@pytest.mark.parametrize('body, content_type, message', [
    (multipart((b'form-data; name="note"', b'only a field')), None, 'no file'),
    (multipart((b'form-data; name="file"; filename="a.mp4"', b'data'))[:-30], None,
     'ended before its closing boundary'),
    (multipart((b'form-data; name="file"; filename="a.mp4"', b'data'))[:60], None, 'ended before its closing'),
    (b'just bytes', 'video/mp4', 'multipart/form-data'),
    (b'--other\r\n\r\n', None, 'malformed'),
])
def test_malformed_requests_are_400_and_leave_nothing(tmp_path, body, content_type, message):
    with pytest.raises(UploadError, match=message) as error:
        receive(body, tmp_path, content_type=content_type)
    assert error.value.status == 400 and os.listdir(tmp_path) == []


def test_a_client_that_goes_away_leaves_nothing(tmp_path):
    body = multipart((b'form-data; name="file"; filename="a.mp4"', b'x' * 100))

    async def stream():
        yield body[:60]
        raise ConnectionResetError('client went away')

    with pytest.raises(ConnectionResetError):
        asyncio.run(receive_files(f'multipart/form-data; boundary={BOUNDARY}', None, stream(), tmp_path, 10_000))
    assert os.listdir(tmp_path) == []
