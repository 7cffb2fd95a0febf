"""Recognising video containers by their first bytes, whatever the file is called."""

from typing import BinaryIO

SNIFF_BYTES = 512


def _is_mpeg_ts(head: bytes) -> bool:
    return len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47


def sniff_video_mime_type(head: bytes) -> str | None:
    """The container's MIME type, or None when the bytes are not a video container we read."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        return "video/mp4"
    if len(head) >= 8 and head[4:8] in {b"moov", b"mdat", b"wide", b"free", b"skip"}:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if _is_mpeg_ts(head):
        return "video/mp2t"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    if head.startswith(b"OggS"):
        return "video/ogg"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-asf"
    return None


def sniff_file(file: BinaryIO) -> str | None:
    position = file.tell()
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(position)
    return sniff_video_mime_type(head)
