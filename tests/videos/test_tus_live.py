"""tus uploads by a real tus client (tuspy) through the real web front (nginx, gunicorn), with the connection cut."""

import hashlib

import pytest
import requests
from tusclient import client as tus_client
from tusclient.uploader import Uploader

from tests.cutting_proxy import cutting_proxy
from tests.factories import TokenFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


class Sha256Uploader(Uploader):
    """tuspy's uploader with sha256 checksums (its default is sha1), remembering where it resumed."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)

    def __init__(self, *args, **kwargs):
        self.resumed_at: list[int] = []
        super().__init__(*args, **kwargs)

    def get_offset(self):
        offset = super().get_offset()
        self.resumed_at.append(offset)
        return offset


@pytest.fixture
def big_clip(tmp_path):
    # Uncompressed frames: 1.1 MB, so a cut lands well inside the file.
    return write_test_video(tmp_path / "uncut.mkv", seconds=1, fps=10, codec="rawvideo")


def upload(address: str, token, path, **options) -> Sha256Uploader:
    client = tus_client.TusClient(f"http://{address}/api/v1/tus/", headers={"Authorization": f"Token {token.key}"})
    uploader = Sha256Uploader(
        file_path=str(path),
        client=client,
        metadata={"filename": path.name, "title": "Through the front", "frame_step": "3"},
        retries=5,
        retry_delay=1,
        **options,
    )
    uploader.upload()
    return uploader


def assert_became_the_video(uploader: Sha256Uploader, path, token) -> Video:
    headers = uploader.request.response_headers
    video = Video.objects.get(pk=headers["video-id"])
    content = path.read_bytes()
    assert video.owner_id == token.user_id and video.title == "Through the front"
    assert video.size_bytes == len(content) and video.file_hash == hashlib.sha256(content).hexdigest()
    assert video.file.read() == content
    assert video.jobs.get().frame_step == 3
    return video


def test_options_through_the_front(live_server_process):
    token = TokenFactory()
    response = requests.options(
        f"http://{live_server_process}/api/v1/tus/", headers={"Authorization": f"Token {token.key}"}, timeout=30
    )
    assert response.status_code == 204, response.text
    assert response.headers["Tus-Version"] == "1.0.0" and "checksum" in response.headers["Tus-Extension"]


def test_a_whole_file_in_one_patch_resumes_from_where_the_cut_left_it(live_server_process, big_clip):
    """One PATCH carries the file; the link drops after ~400 KB: nginx streamed what came, so that part counts."""
    token = TokenFactory()
    port = int(live_server_process.rsplit(":", 1)[1])
    with cutting_proxy(port, cut_after=400_000) as proxy:
        uploader = upload(proxy.address, token, big_clip)
    assert proxy.cuts == 1
    size = big_clip.stat().st_size
    assert uploader.resumed_at and 0 < uploader.resumed_at[-1] < size, uploader.resumed_at
    assert_became_the_video(uploader, big_clip, token)


def test_chunks_with_checksums_resume_after_the_cut_at_the_last_whole_chunk(live_server_process, big_clip):
    """With sha256 checksums a chunk cut in half does not count: the upload goes on from the last whole one."""
    token = TokenFactory()
    port = int(live_server_process.rsplit(":", 1)[1])
    chunk = 256 * 1024
    with cutting_proxy(port, cut_after=chunk * 5 // 2) as proxy:
        # Requests' headers are a few hundred bytes: the cut falls half-way into the third chunk's body.
        uploader = upload(proxy.address, token, big_clip, chunk_size=chunk, upload_checksum=True)
    assert proxy.cuts == 1
    # It may first have asked while the server was still taking the cut chunk back off: the last answer counts.
    assert uploader.resumed_at and uploader.resumed_at[-1] == 2 * chunk, uploader.resumed_at
    assert_became_the_video(uploader, big_clip, token)
