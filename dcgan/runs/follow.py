"""An appended JSONL log read incrementally: each poll reads only the bytes added since the last one.

A live view of a run polls metrics.jsonl every few seconds. Read whole, that costs more every step (a
million steps are 230 MB); followed, a poll costs what was appended since the last, however long the
run. The log is only ever appended to, except by a resume, which replaces it with the records up to its
checkpoint (a new file, so a new inode), and by hand (truncated, shortened, copied over): a poll that
sees the file is no longer the one it was reading says so (`restarted`) and reads the new one from its
start, so what the reader built from the old one is thrown away rather than counted twice.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .files import Records, parse_jsonl
from .records import valid_records

CHUNK_BYTES = 8 << 20  # at most this much per poll (about 36,000 metrics lines): a first read in pieces
# the bytes before the offset a poll checks are still there: a file rewritten in place (or replaced by
# one that got the same inode back) past the offset has other bytes where the last record ended
TAIL_CHECK_BYTES = 256


@dataclass
class Update:
    """What one poll found. records: the complete records appended since the last poll (damaged ones
    left out, counted in records.skipped); restarted: the file was replaced, shortened or removed, and
    records are from the new file's start (drop everything built from the old one); more: the poll
    stopped after chunk_bytes and there is more to read now."""

    records: Records
    restarted: bool = False
    more: bool = False


class JsonlFollower:
    """Follows one appended .jsonl file: poll() returns what was appended since the last poll.

    It remembers the byte offset after the last complete line, the file's identity (device, inode) and
    the bytes just before the offset. A torn last line (a writer mid-append) is not consumed: the next
    poll reads it again, whole by then, so nothing is lost or counted twice. `valid` (a record -> bool,
    e.g. runs.records.valid_metrics_record) leaves out records with the wrong types, counted as damaged;
    `skipped` counts the damaged lines of the current file.
    """

    def __init__(self, path: str | Path, valid: Callable[[dict], bool] | None = None,
                 chunk_bytes: int = CHUNK_BYTES):
        self.path = Path(path)
        self.valid = valid
        self.chunk_bytes = max(1, int(chunk_bytes))
        self._reset(None)

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self.offset = 0  # bytes consumed: every line before it has been returned
        self.skipped = 0
        self._identity = identity
        self._tail = b""  # the last TAIL_CHECK_BYTES bytes before offset

    def poll(self) -> Update:
        """The records appended since the last poll (the first poll: from the start, chunk_bytes at most)."""
        try:
            f = open(self.path, "rb")
        except (FileNotFoundError, NotADirectoryError):  # not written yet, or the run was deleted
            gone = self._identity is not None
            self._reset(None)
            return Update(Records(), restarted=gone)
        with f:
            info = os.fstat(f.fileno())
            identity = (info.st_dev, info.st_ino)
            restarted = self._identity is not None and (
                identity != self._identity or info.st_size < self.offset or not self._tail_intact(f.fileno()))
            if restarted or self._identity is None:
                self._reset(identity)
            f.seek(self.offset)
            data = f.read(min(self.chunk_bytes, max(0, info.st_size - self.offset)))
            if len(data) == self.chunk_bytes and not data.endswith(b"\n"):
                data += f.readline()  # the line the chunk cut: finish it (or reach the torn end)
            whole = data[:data.rfind(b"\n") + 1]
        more = self.offset + len(data) < info.st_size
        records = parse_jsonl(whole)
        if self.valid is not None:
            records = valid_records(records, self.valid)
        self.offset += len(whole)
        self._tail = (self._tail + whole)[-TAIL_CHECK_BYTES:]
        self.skipped += records.skipped
        return Update(records, restarted=restarted, more=more)

    def unread_bytes(self) -> int:
        """About how much the next polls will read: the file's size past the offset (all of a new file)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return 0
        return size - self.offset if size >= self.offset else size

    def _tail_intact(self, fd: int) -> bool:
        if not self._tail:
            return True
        return os.pread(fd, len(self._tail), self.offset - len(self._tail)) == self._tail
