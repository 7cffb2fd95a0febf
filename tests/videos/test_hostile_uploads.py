"""A corpus of hostile and broken uploads through the real API and pipeline.

Each one gets a clear 4xx with a message, or is accepted and ends `failed` (or
`completed`, where the content really is a video) with a readable reason:
never a 5xx, never a video left in a live state, never a file outside the media folder. Resumable upload
sessions too: absurd sizes, requests racing on threads, per-user caps, and a finished upload refused for now.
"""

import fcntl
import io
import random
import struct
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from processing.models import ProcessingJob
from tests.factories import UserFactory, VideoFactory
from tests.processing.running import settle
from tests.videofiles import write_audio_only, write_test_video
from videos.models import LIVE_STATES, Video
from videos.services.chunked_upload import (
    UploadRefused,
    chunked_upload_append,
    chunked_upload_cancel,
    chunked_upload_start,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


def patch_boxes(data: bytes, box: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field at `offset` (from the box's start) in every MP4 box of that type."""
    patched = bytearray(data)
    start = data.find(box)
    while start >= 0:
        struct.pack_into(fmt, patched, start - 4 + offset, value)
        start = data.find(box, start + 4)
    return bytes(patched)


def write_mjpeg_claiming(path: Path, *, side: int) -> bytes:
    """A real 64x48 Motion-JPEG clip whose every JPEG header (SOF0) then claims side x side pixels:
    a decoder that believed it would allocate gigabytes for each frame."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for shade in range(0, 200, 40):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), shade, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    data = bytearray(path.read_bytes())
    start_of_frame = b"\xff\xc0\x00\x11\x08"  # SOF0, length 17, 8-bit samples; height and width follow
    position = data.find(start_of_frame)
    assert position >= 0
    while position >= 0:
        struct.pack_into(">HH", data, position + len(start_of_frame), side, side)
        position = data.find(start_of_frame, position + 1)
    return bytes(data)


def corpus(workdir: Path) -> list[tuple[str, str, bytes, str]]:
    """(case, uploaded name, content, expected outcome: 'refused', 'failed' or 'completed')."""
    good = write_test_video(workdir / "good.mp4", seconds=1, fps=10).read_bytes()
    noise = random.Random(7).randbytes(4096)
    corrupted = bytearray(good)
    corrupted[len(good) // 3 : len(good) // 3 + 400] = random.Random(8).randbytes(400)
    return [
        ("zero bytes", "empty.mp4", b"", "refused"),
        ("one byte", "one.mp4", b"\x00", "refused"),
        ("text named mp4", "notes.mp4", b"meeting notes\n" * 50, "refused"),
        ("png named mp4", "image.mp4", b"\x89PNG\r\n\x1a\n" + noise, "refused"),
        ("jpeg named mp4", "photo.mp4", b"\xff\xd8\xff\xe0" + noise, "refused"),
        ("gif named mp4", "anim.mp4", b"GIF89a" + noise, "refused"),
        ("pdf named mp4", "doc.mp4", b"%PDF-1.7\n" + noise, "refused"),
        ("zip named mp4", "archive.mp4", b"PK\x03\x04" + noise, "refused"),
        ("html named mp4", "page.mp4", b"<!doctype html><script>alert(1)</script>" * 20, "refused"),
        ("elf binary named mp4", "run.mp4", b"\x7fELF" + noise, "refused"),
        ("random bytes", "random.mp4", noise, "refused"),
        ("mp4 header only", "header.mp4", good[:12], "failed"),
        ("mp4 header and noise", "noisy.mp4", good[:12] + noise, "failed"),
        ("first 100 bytes of a video", "cut100.mp4", good[:100], "failed"),
        ("first half of a video", "half.mp4", good[: len(good) // 2], "failed"),
        ("matroska magic and noise", "fake.mkv", b"\x1a\x45\xdf\xa3" + noise, "failed"),
        ("avi magic and noise", "fake.avi", b"RIFF\x00\x10\x00\x00AVI LIST" + noise, "failed"),
        ("mpeg-ts sync bytes and noise", "fake.ts", b"".join(b"\x47" + noise[:187] for _ in range(4)), "failed"),
        ("flv magic and noise", "fake.flv", b"FLV\x01\x05" + noise, "failed"),
        ("ogg magic and noise", "fake.ogv", b"OggS" + noise, "failed"),
        ("audio only", "song.mp4", write_audio_only(workdir / "song.mp4").read_bytes(), "failed"),
        ("huge declared box size", "huge.mp4", b"\xff\xff\xff\xffftypisom" + b"\x00" * 64, "failed"),
        ("corrupted middle", "scratched.mp4", bytes(corrupted), "either"),
        (
            "one frame",
            "single.mp4",
            write_test_video(workdir / "one.mp4", seconds=0.1, fps=10).read_bytes(),
            "completed",
        ),
        ("matroska video", "clip.mkv", write_test_video(workdir / "clip.mkv", seconds=1).read_bytes(), "completed"),
        ("mpeg-ts video", "clip.ts", write_test_video(workdir / "clip.ts", seconds=1).read_bytes(), "completed"),
        ("unicode name", "видео 🎬 日本.mp4", good, "completed"),
        ("path traversal name", "../../../../etc/cron.d/evil.mp4", good, "completed"),
        ("windows path name", "C:\\Windows\\System32\\evil.mp4", good, "completed"),
        ("control characters in name", "bad\x00na\x1bme\r\n.mp4", good, "completed"),
        ("very long name", "a" * 1000 + ".mp4", good, "completed"),
        ("no extension", "clip", good, "completed"),
        ("executable extension", "clip.exe", good, "completed"),
        # Wrong extensions on real videos: the content decides, never the name.
        ("video named .txt", "readme.txt", good, "completed"),
        ("video named .jpg", "photo.jpg", good, "completed"),
        (
            "matroska named .mp4",
            "really-mkv.mp4",
            write_test_video(workdir / "m.mkv", seconds=1).read_bytes(),
            "completed",
        ),
        # Headers that lie about the size, the frame count or the frame rate.
        (
            "container header claims 65535x65535",
            "claims.mp4",
            # tkhd width/height (16.16 fixed point) and the avc1 sample entry's: the decoded size is what counts
            patch_boxes(patch_boxes(good, b"tkhd", 84, ">Q", 0xFFFF0000FFFF0000), b"avc1", 32, ">I", 0xFFFFFFFF),
            "completed",
        ),
        (
            "jpeg headers claim 16000x16000",
            "bomb.mkv",
            write_mjpeg_claiming(workdir / "bomb.mkv", side=16000),
            "failed",
        ),
        (
            "wider than the limit",
            "wide.mp4",
            write_test_video(workdir / "wide.mp4", seconds=0.2, width=7696, height=16).read_bytes(),
            "failed",
        ),
        ("absurd sample count", "count.mp4", patch_boxes(good, b"stsz", 16, ">I", 0x3FFFFFFF), "failed"),
        # A zero time scale (FFmpeg falls back to 1: the probe then sees about 0.001 frames/s) or zero frame
        # durations: odd rates, yet real frames, and the run goes through.
        ("zero time scale", "timescale.mp4", patch_boxes(good, b"mdhd", 20, ">I", 0), "completed"),
        ("zero frame durations", "durations.mp4", patch_boxes(good, b"stts", 20, ">I", 0), "completed"),
    ]


def test_every_hostile_upload_gets_a_clear_answer(api_client, tmp_path, settings):
    media_root = Path(settings.MEDIA_ROOT).resolve()
    cases = corpus(tmp_path)
    assert len(cases) >= 40
    outcomes = {}
    for case, name, content, expected in cases:
        response = api_client.post(
            "/api/v1/videos/",
            {"file": SimpleUploadedFile(name, content)},
            format="multipart",
            HTTP_AUTHORIZATION=api_client._credentials["HTTP_AUTHORIZATION"],
        )
        assert response.status_code < 500, (case, response.status_code, response.content[:300])
        if expected == "refused":
            assert response.status_code in (400, 413, 415), (case, response.status_code)
            assert response.json()["error"]["message"], case
            outcomes[case] = "refused"
            continue
        assert response.status_code == 201, (case, response.status_code, response.content[:300])
        video = Video.objects.get(pk=response.json()["id"])
        settle(ProcessingJob.objects.get(video=video).pk)
        video.refresh_from_db()
        assert video.workflow_state not in LIVE_STATES, case
        stored = Path(video.file.path).resolve()
        assert stored.is_relative_to(media_root), (case, stored)
        assert stored.name.startswith(str(video.pk)) and not stored.name.endswith(".exe"), case
        assert video.original_filename and "/" not in video.original_filename and "\\" not in video.original_filename
        if video.workflow_state == "failed":
            assert video.last_error_message and len(video.last_error_message) < 500, case
            print(f"{case}: {video.last_error_message}")
        if expected != "either":
            assert video.workflow_state == expected, (case, video.workflow_state, video.last_error_message)
        outcomes[case] = video.workflow_state

    escaped = [p for p in Path(settings.MEDIA_ROOT).parent.rglob("*evil*")]
    assert not escaped, escaped
    assert not any("cron.d" in str(p) for p in Path("/etc").glob("cron.d/evil*"))
    print("\n".join(f"{case}: {outcome}" for case, outcome in outcomes.items()))


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"filename": "huge.mp4", "size": 10**18}, {}, 413),  # past VIDEO_MAX_UPLOAD_BYTES
        ({"filename": "huge.mp4", "size": 2**63}, {}, 413),  # past a signed 64-bit number
        ({"filename": "huge.mp4", "size": 10**40}, {}, 413),
        ({"filename": "huge.mp4", "size": -1}, {}, 400),
        ({"filename": "huge.mp4", "size": 0}, {}, 400),
        ({"filename": "huge.mp4"}, {"Upload-Length": "9" * 19}, 413),
        ({"filename": "huge.mp4"}, {"Upload-Length": "9" * 40}, 400),
        ({"filename": "huge.mp4"}, {"Upload-Length": "-5"}, 400),
        ({"filename": "huge.mp4"}, {"Upload-Length": "1e9"}, 400),
    ],
)
def test_absurd_declared_sizes_are_refused_before_anything_is_stored(api_client, settings, body, headers, status):
    sessions = Path(settings.UPLOAD_STAGING_DIR)
    before = set(sessions.iterdir()) if sessions.exists() else set()
    response = api_client.post("/api/v1/uploads/", body, format="json", headers=headers)
    assert response.status_code == status, response.content[:300]
    assert response.json()["error"]["message"]
    assert (set(sessions.iterdir()) if sessions.exists() else set()) == before  # no session folder opened


def test_a_chunk_declaring_more_than_the_session_is_refused(api_client):
    session = api_client.post("/api/v1/uploads/", {"filename": "a.mp4", "size": 10}, format="json").json()
    response = api_client.patch(
        session["url"],
        b"\x00" * 64,
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0"},
    )
    assert 400 <= response.status_code < 500, response.content[:300]
    offset = api_client.head(session["url"])["Upload-Offset"]
    assert int(offset) <= 10
    far = api_client.patch(
        session["url"], b"\x00", content_type="application/offset+octet-stream", headers={"Upload-Offset": "9" * 19}
    )
    assert far.status_code == 409 and "offset" in far.json()["error"]["details"]


# Resumable uploads raced, capped and refused for now ------------------------------------------------------------


def start_session(client, size: int):
    response = client.post("/api/v1/uploads/", {"filename": "clip.mp4", "size": size}, format="json")
    assert response.status_code == 201, response.content[:300]
    return response.json()


def send_chunk(client, url: str, offset: int, chunk: bytes):
    return client.patch(
        url, chunk, content_type="application/offset+octet-stream", headers={"Upload-Offset": str(offset)}
    )


class HeldChunk:
    """A chunk whose bytes arrive only when the test says so: the append holding the session meanwhile."""

    def __init__(self, data: bytes):
        self.data = data
        self.reading = threading.Event()
        self.release = threading.Event()

    def read(self, size: int) -> bytes:
        self.reading.set()
        # Generous: only reached when the code under test blocks instead of refusing the other request.
        self.release.wait(timeout=20)
        data, self.data = self.data[:size], self.data[size:]
        return data


def in_thread(function, **kwargs) -> tuple[threading.Thread, dict]:
    """Run a service call on its own thread (and database connection); its result or exception lands in the dict."""
    outcome = {}

    def run():
        try:
            outcome["result"] = function(**kwargs)
        except Exception as exc:  # the test asserts on whatever happened
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_cancel_racing_an_append_is_refused_instead_of_removing_the_bytes_being_written():
    owner = UserFactory()
    session = chunked_upload_start(owner=owner, filename="clip.mp4", size=100)
    chunk = HeldChunk(b"x" * 40)
    writer, written = in_thread(
        chunked_upload_append, owner=owner, upload_id=session.id, offset=0, read=chunk.read, length=40
    )
    assert chunk.reading.wait(timeout=30)

    with pytest.raises(UploadRefused) as busy:
        chunked_upload_cancel(owner=owner, upload_id=session.id)
    chunk.release.set()
    writer.join()

    assert (busy.value.status_code, busy.value.code) == (409, "upload_busy")
    assert "error" not in written, written
    appended, video = written["result"]
    assert appended.offset == 40 and video is None
    chunked_upload_cancel(owner=owner, upload_id=session.id)  # its turn now
    with pytest.raises(UploadRefused) as gone:
        chunked_upload_append(owner=owner, upload_id=session.id, offset=40, read=io.BytesIO(b"y").read, length=1)
    assert gone.value.status_code == 404


def test_two_appends_racing_for_the_last_byte_make_one_video(video_path):
    owner = UserFactory()
    content = video_path.read_bytes()
    session = chunked_upload_start(owner=owner, filename="clip.mp4", size=len(content))
    chunked_upload_append(
        owner=owner, upload_id=session.id, offset=0, read=io.BytesIO(content[:-1]).read, length=len(content) - 1
    )
    last = HeldChunk(content[-1:])
    first, finished = in_thread(
        chunked_upload_append, owner=owner, upload_id=session.id, offset=len(content) - 1, read=last.read, length=1
    )
    assert last.reading.wait(timeout=30)

    refusals = []
    for offset, chunk in ((len(content) - 1, content[-1:]), (len(content), b"")):  # the same byte; a bare finish
        with pytest.raises(UploadRefused) as refused:
            chunked_upload_append(
                owner=owner, upload_id=session.id, offset=offset, read=io.BytesIO(chunk).read, length=len(chunk)
            )
        refusals.append((refused.value.status_code, refused.value.code))
    last.release.set()
    first.join()

    assert refusals == [(409, "upload_busy"), (409, "upload_busy")]
    assert "error" not in finished, finished
    _session, video = finished["result"]
    assert video is not None and video.file.read() == content
    with pytest.raises(UploadRefused) as gone:
        chunked_upload_append(owner=owner, upload_id=session.id, offset=len(content), read=io.BytesIO().read, length=0)
    assert gone.value.status_code == 404
    assert Video.objects.filter(owner=owner).count() == 1
    settle(video.jobs.get().pk)  # a live worker of the suite may have taken it: it ends before the test does


def test_requests_while_another_holds_the_session_get_409_and_change_nothing(api_client, settings):
    session = start_session(api_client, 10)
    assert send_chunk(api_client, session["url"], 0, b"abcd").status_code == 204
    lock_path = Path(settings.UPLOAD_STAGING_DIR) / session["id"] / "lock"
    with open(lock_path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as an append in another process holds it
        cancelled = api_client.delete(session["url"])
        appended = send_chunk(api_client, session["url"], 4, b"efgh")
        fcntl.flock(held, fcntl.LOCK_UN)

    for response in (cancelled, appended):
        assert response.status_code == 409, response.content[:300]
        assert response.json()["error"]["code"] == "upload_busy" and response["Retry-After"]
        assert response.json()["error"]["details"]["offset"] == 4
    assert api_client.head(session["url"])["Upload-Offset"] == "4"
    assert send_chunk(api_client, session["url"], 4, b"efgh").status_code == 204


def test_open_upload_sessions_are_capped_per_user(api_client, settings):
    settings.UPLOAD_MAX_OPEN_SESSIONS_PER_USER = 2
    settings.UPLOAD_MAX_OPEN_BYTES_PER_USER = 1000
    sessions = Path(settings.UPLOAD_STAGING_DIR)
    first = start_session(api_client, 100)
    start_session(api_client, 100)
    before = set(sessions.iterdir())

    third = api_client.post("/api/v1/uploads/", {"filename": "c.mp4", "size": 100}, format="json")

    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert third.json()["error"]["code"] == "too_many_uploads" and third.json()["error"]["message"]
    assert set(sessions.iterdir()) == before
    other = APIClient()
    other.force_authenticate(UserFactory())
    assert other.post("/api/v1/uploads/", {"filename": "c.mp4", "size": 100}, format="json").status_code == 201
    assert api_client.delete(first["url"]).status_code == 204
    start_session(api_client, 100)


def test_the_bytes_open_upload_sessions_declare_are_capped_per_user(api_client, settings):
    settings.UPLOAD_MAX_OPEN_BYTES_PER_USER = 1000
    start_session(api_client, 600)
    too_much = api_client.post("/api/v1/uploads/", {"filename": "c.mp4", "size": 401}, format="json")
    assert too_much.status_code == 429 and too_much["Retry-After"]
    assert "1,000" in too_much.json()["error"]["message"]
    start_session(api_client, 400)


def test_a_finished_upload_refused_for_now_is_kept_and_finished_after_retry_after(api_client, settings, video_path):
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 1
    waiting = VideoFactory(owner=api_client.user, workflow_state="processing")
    content = video_path.read_bytes()
    session = start_session(api_client, len(content))

    refused = send_chunk(api_client, session["url"], 0, content)

    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0, refused.content[:300]
    error = refused.json()["error"]
    assert error["code"] == "too_many_in_flight" and error["details"]["offset"] == len(content)
    assert f"Upload-Offset: {len(content)}" in error["message"]
    assert api_client.head(session["url"])["Upload-Offset"] == str(len(content))
    assert list(Video.objects.filter(owner=api_client.user)) == [waiting]
    assert send_chunk(api_client, session["url"], len(content), b"").status_code == 429  # still full

    Video.objects.filter(pk=waiting.pk).update(workflow_state="completed")
    finished = send_chunk(api_client, session["url"], len(content), b"")

    assert finished.status_code == 201, finished.content[:300]
    assert Video.objects.get(pk=finished.json()["id"]).file.read() == content
    assert api_client.head(session["url"]).status_code == 404
