"""A still image becomes a one-frame video the pipeline reads; what is not an image, or too big, is refused."""

import io

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from videos.services.creation import VideoRejected
from videos.services.image_video import image_to_one_frame_video, sniff_image_mime_type


def image_file(width: int, height: int, image_format: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[: height // 2, : width // 2] = (30, 160, 220)
    Image.fromarray(pixels).save(buffer, format=image_format)
    return SimpleUploadedFile(f"still.{image_format.lower()}", buffer.getvalue())


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_an_image_becomes_one_frame_of_h264_with_even_sides(image_format):
    video = image_to_one_frame_video(image_file(321, 241, image_format))
    try:
        with av.open(video.file) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 240)
        assert len(frames) == 1 and frames[0].time == 0
        assert video.name == "still.mp4" and video.size > 0
    finally:
        video.close()


def test_what_is_not_an_image_is_refused_as_unsupported():
    with pytest.raises(VideoRejected) as refused:
        image_to_one_frame_video(SimpleUploadedFile("a.png", b"%PDF-1.7 not a picture" * 10))
    assert (refused.value.code, refused.value.status_code) == ("unsupported_media_type", 415)


def test_a_canvas_too_large_is_refused_before_it_is_decoded():
    with pytest.raises(VideoRejected) as refused:
        image_to_one_frame_video(image_file(17_000, 2, "PNG"))
    assert refused.value.code == "image_too_large" and "17000x2" in refused.value.message


def test_a_truncated_image_is_refused_as_unreadable():
    whole = image_file(64, 64, "PNG").read()
    with pytest.raises(VideoRejected) as refused:
        image_to_one_frame_video(SimpleUploadedFile("cut.png", whole[:40]))
    assert refused.value.code == "unreadable_image"


def test_image_signatures():
    assert sniff_image_mime_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_image_mime_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image_mime_type(b"\x00\x00\x00\x18ftypmp42") is None
