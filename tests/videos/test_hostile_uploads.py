"""A corpus of hostile and broken uploads through the real API and pipeline.

Each one gets a clear 4xx with a message, or is accepted and ends `failed` (or
`completed`, where the content really is a video) with a readable reason:
never a 5xx, never a video left in a live state, never a file outside the media folder.
"""

import random
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from processing.models import ProcessingJob
from tests.processing.running import settle
from tests.videofiles import write_audio_only, write_test_video
from videos.models import LIVE_STATES, Video

pytestmark = [pytest.mark.django_db(transaction=True)]


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
    ]


def test_every_hostile_upload_gets_a_clear_answer(api_client, tmp_path, settings):
    media_root = Path(settings.MEDIA_ROOT).resolve()
    cases = corpus(tmp_path)
    assert len(cases) >= 30
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
