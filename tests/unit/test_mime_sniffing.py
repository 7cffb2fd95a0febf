"""MIME sniffing, as a table: the container a file's first bytes name, whatever the file is called."""

import io

import pytest

from videos.sniffing import SNIFF_BYTES, sniff_file, sniff_video_mime_type


def box(kind: bytes, body: bytes = b"") -> bytes:
    """An ISO base media (MP4/QuickTime) box: 32-bit size, four-letter type, body."""
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def transport_stream(packets: int) -> bytes:
    """MPEG-TS: 188-byte packets, each starting with the sync byte 0x47."""
    return (b"\x47" + bytes(187)) * packets


EBML = b"\x1a\x45\xdf\xa3"
PADDING = bytes(64)

SNIFFED = [
    # (first bytes, MIME type or None)
    (box(b"ftyp", b"isom\x00\x00\x02\x00") + PADDING, "video/mp4"),
    (box(b"ftyp", b"mp42\x00\x00\x00\x00") + PADDING, "video/mp4"),
    (box(b"ftyp", b"avc1"), "video/mp4"),
    (box(b"ftyp", b"qt  \x20\x05\x03\x00") + PADDING, "video/quicktime"),
    (box(b"ftyp", b"3gp4"), "video/3gpp"),
    (box(b"ftyp", b"3g2a"), "video/3gpp"),
    # Old QuickTime files start with another box than ftyp.
    (box(b"moov") + PADDING, "video/quicktime"),
    (box(b"mdat") + PADDING, "video/quicktime"),
    (box(b"wide"), "video/quicktime"),
    (box(b"free"), "video/quicktime"),
    (box(b"skip"), "video/quicktime"),
    (EBML + b"\x01\x00\x00\x00\x00\x00\x00\x1f\x42\x82\x84webm" + PADDING, "video/webm"),
    (EBML + b"\x01\x00\x00\x00\x00\x00\x00\x23\x42\x82\x88matroska" + PADDING, "video/x-matroska"),
    (b"RIFF\x00\x10\x00\x00AVI LIST" + PADDING, "video/x-msvideo"),
    (b"\x00\x00\x01\xba\x44\x00\x04\x00" + PADDING, "video/mpeg"),  # program stream pack header
    (b"\x00\x00\x01\xb3\x14\x00\xf0\x13" + PADDING, "video/mpeg"),  # elementary stream sequence header
    (transport_stream(3), "video/mp2t"),
    (transport_stream(2) + b"\x47", "video/mp2t"),  # three sync bytes 188 apart: the third packet's first is enough
    (b"FLV\x01\x05\x00\x00\x00\x09" + PADDING, "video/x-flv"),
    (b"OggS\x00\x02" + PADDING, "video/ogg"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c" + PADDING, "video/x-ms-asf"),
    # Not a video container we read.
    (b"", None),
    (b"ftyp", None),
    (box(b"ftyp")[:11], None),  # too short to hold a brand
    (b"ftypisom" + PADDING, None),  # ftyp where a box's size belongs
    (b"RIFF\x24\x08\x00\x00WAVEfmt " + PADDING, None),  # RIFF, but audio
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + PADDING, None),  # MP3
    (b"\x89PNG\r\n\x1a\n" + PADDING, None),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF" + PADDING, None),
    (b"%PDF-1.7\n" + PADDING, None),
    (b"<html><body>not a video</body></html>", None),
    (transport_stream(2), None),  # two sync bytes could be chance
    (b"\x47" + bytes(187) + b"\x47" + bytes(187) + b"\x00" + bytes(187), None),  # the third sync byte is missing
]


@pytest.mark.parametrize(("head", "mime_type"), SNIFFED, ids=[f"{i}-{m}" for i, (_, m) in enumerate(SNIFFED)])
def test_sniff_video_mime_type(head, mime_type):
    assert sniff_video_mime_type(head) == mime_type


def test_sniffing_a_file_reads_its_start_and_leaves_its_position_alone():
    content = box(b"ftyp", b"isom") + bytes(SNIFF_BYTES * 2)
    file = io.BytesIO(content)
    file.seek(700)
    assert sniff_file(file) == "video/mp4"
    assert file.tell() == 700


def test_a_signature_past_the_sniffed_bytes_is_not_seen():
    file = io.BytesIO(bytes(SNIFF_BYTES) + box(b"ftyp", b"isom"))
    assert sniff_file(file) is None
