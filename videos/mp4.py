"""Is this a whole MP4 file? A walk over its top-level boxes, not a decoder.

An ISO base media file is a sequence of boxes, each starting with a 32-bit
size (or 1 and a 64-bit size after the type) and a four-character type. A
whole file starts with `ftyp`, holds a `moov` (the index) and an `mdat` (the
media), and its box sizes add up to exactly the bytes we have: a file cut
short ends inside a box, and an HTML page or an error body that happens to
carry `ftyp` at byte 4 fails the size arithmetic. Small test files may carry
no tracks, so nothing inside the boxes is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

MAX_FTYP_BYTES = 4096  # a real ftyp is a brand list: tens of bytes
MAX_TOP_LEVEL_BOXES = 100_000  # fragmented files have two per fragment; this bounds the walk


class NotWholeMp4(Exception):
    """The bytes are not a whole MP4 file. `truncated` says whether they look
    like one cut short (worth fetching again) rather than something else."""

    def __init__(self, message: str, *, truncated: bool):
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True)
class Box:
    kind: str
    offset: int
    size: int


def check_whole_mp4(f: BinaryIO, size: int, *, length_declared: bool = True) -> list[Box]:
    """Walk the top-level boxes of the first `size` bytes of `f` (seekable)
    and return them; raise NotWholeMp4 unless they make a whole file.

    `length_declared`: whether the sender told us the length. Without it, a
    cut that falls exactly between two boxes leaves a file with a box
    missing, which is then reported as truncated rather than as not a video.
    """
    boxes: list[Box] = []
    offset = 0
    while offset < size:
        if len(boxes) >= MAX_TOP_LEVEL_BOXES:
            raise NotWholeMp4("The file has too many boxes to be a video.", truncated=False)
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8 or offset + 8 > size:
            raise NotWholeMp4("The file ends inside a box header: it was cut short.", truncated=True)
        box_size = int.from_bytes(header[0:4], "big")
        kind = header[4:8]
        if not all(0x20 <= b <= 0x7E for b in kind):
            raise NotWholeMp4("The file is not an MP4 video (bad box type).", truncated=False)
        header_size = 8
        if box_size == 1:  # a 64-bit size follows the type
            if len(header) < 16 or offset + 16 > size:
                raise NotWholeMp4("The file ends inside a box header: it was cut short.", truncated=True)
            box_size = int.from_bytes(header[8:16], "big")
            header_size = 16
        elif box_size == 0:
            # "Extends to the end of the file": its length cannot be checked,
            # so a truncated file would pass. Provider files never use it.
            raise NotWholeMp4("The file has an open-ended box; its length cannot be checked.", truncated=False)
        if box_size < header_size:
            raise NotWholeMp4("The file is not an MP4 video (box smaller than its header).", truncated=False)
        if not boxes and (kind != b"ftyp" or not 16 <= box_size <= MAX_FTYP_BYTES):
            raise NotWholeMp4("The file is not an MP4 video (it does not start with ftyp).", truncated=False)
        if offset + box_size > size:
            raise NotWholeMp4(
                f"The file's {kind.decode('ascii')} box runs past its end: it was cut short.", truncated=True
            )
        boxes.append(Box(kind=kind.decode("ascii"), offset=offset, size=box_size))
        offset += box_size
    if not boxes:
        raise NotWholeMp4("The file is empty.", truncated=True)
    kinds = {box.kind for box in boxes}
    for needed in ("moov", "mdat"):
        if needed not in kinds:
            raise NotWholeMp4(f"The file has no {needed} box: not a whole video.", truncated=not length_declared)
    return boxes
