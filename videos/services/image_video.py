"""A still image as a one-frame video, so an image is analysed by the very pipeline a video goes through.

The decode, sampling, detection and result steps read video containers; rather than teach each of them about
images, the image is decoded once here (PyAV: PNG, JPEG, WebP, BMP, GIF's first frame) and written as a
one-frame H.264 MP4 at 1 frame/s, so its single frame is frame 0 at 0.0 s. Its dimensions are read from the
header and bounded before any pixel is decoded: a small file may declare a huge canvas.
"""

import os

import av
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile

from videos.services.creation import VideoRejected

IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
MAX_IMAGE_PIXELS = 40_000_000  # 8K is 33 megapixels
MAX_IMAGE_SIDE = 16_384


def sniff_image_mime_type(head: bytes) -> str | None:
    """The image's MIME type from its first bytes, or None when it is not an image format analysed here."""
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime_type in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return mime_type
    return None


def _unreadable(detail: str) -> VideoRejected:
    return VideoRejected(code="unreadable_image", message=f"The image could not be read: {detail}.", status_code=422)


def image_to_one_frame_video(image: UploadedFile) -> UploadedFile:
    """The image as a one-frame MP4 in a temporary file (closed by the caller). Raises VideoRejected."""
    image.seek(0)
    if sniff_image_mime_type(image.read(16)) is None:
        raise VideoRejected(
            code="unsupported_media_type",
            message="The URL does not serve an image this platform reads (PNG, JPEG, WebP, GIF or BMP).",
            status_code=415,
        )
    image.seek(0)
    try:
        with av.open(image, mode="r") as source:
            if not source.streams.video:
                raise _unreadable("no picture in the file")
            stream = source.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height:
                raise _unreadable("no dimensions in its header")
            if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
                raise VideoRejected(
                    code="image_too_large",
                    message=f"The image is {width}x{height}; at most {MAX_IMAGE_PIXELS} pixels "
                    f"and {MAX_IMAGE_SIDE} on a side are analysed.",
                    status_code=422,
                )
            picture = next(source.decode(stream), None)
    except av.FFmpegError as exc:
        raise _unreadable(type(exc).__name__) from None
    if picture is None:
        raise _unreadable("no picture in the file")
    # H.264 in 4:2:0 needs even dimensions: drop the odd last column or row rather than scale the picture.
    even_width, even_height = max(2, picture.width - picture.width % 2), max(2, picture.height - picture.height % 2)
    rgb = picture.to_ndarray(format="rgb24")[:even_height, :even_width]
    # A temporary upload file, which storing moves into the media store rather than copies.
    output = TemporaryUploadedFile(name="image.mp4", content_type="video/mp4", size=0, charset=None)
    try:
        with av.open(output.file, mode="w", format="mp4") as container:
            video_stream = container.add_stream("libx264", rate=1)
            video_stream.width, video_stream.height, video_stream.pix_fmt = even_width, even_height, "yuv420p"
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in video_stream.encode(frame):
                container.mux(packet)
            for packet in video_stream.encode():
                container.mux(packet)
        output.flush()
        size = os.fstat(output.fileno()).st_size
        output.seek(0)
    except BaseException:
        output.close()
        raise
    stem = (image.name or "image").rsplit(".", 1)[0]
    output.name = f"{stem}.mp4"
    output.size = size
    return output
