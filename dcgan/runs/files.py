"""Crash-safe run files: atomic replacement of whole files, and readers that tolerate what a killed
writer or a power cut leaves (a torn last JSONL line, NUL bytes, junk).

Every file a reader can see is replaced atomically (temp file + os.replace); .jsonl logs are only
appended, one flushed line per record, and readers skip a torn last line.
"""
from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path

from .. import faults

TEMP_SUFFIX = ".tmp"  # atomic_write_bytes' temporary files; a killed writer can leave one behind


class WriteError(OSError):
    """A run file that could not be written (disk full, read-only folder, no permission); the
    file as it was is untouched."""

    HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
             errno.EROFS: "the file system is read-only", errno.EACCES: "no permission to write there",
             errno.EPERM: "no permission to write there"}

    def __init__(self, path: Path, error: OSError):
        why = self.HINTS.get(error.errno, error.strerror or str(error))
        super().__init__(error.errno, f"cannot write {path}: {why}")

    def __str__(self) -> str:
        return self.strerror


def atomic_write_bytes(path: Path, data: bytes, make_parents: bool = True) -> None:
    """Replace path with data in one step (temp file + os.replace), its folders made first unless
    make_parents is False. A run's trainer and status writes pass False: a run folder deleted while
    they write is then not made again (a half run where the old one was), the write fails instead."""
    path = Path(path)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise WriteError(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if faults.armed:  # tests only: stop, die or fail half-way through the write
                data = faults.half_write(f, data, f"write:{path.name}")
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run files are meant to be shared and committed
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(path, e) from None
        raise
    if faults.armed:
        faults.hit(f"replaced:{path.name}")


def append_line(f, path: Path, line: str) -> None:
    """Append one line to the open log f (path's, opened line-buffered), as a WriteError naming path when
    the disk is full or the folder read-only; at worst a torn last line stays, which readers skip."""
    try:
        if faults.armed:  # tests only: a line torn by a kill, or a full disk half-way through it
            line = faults.half_write(f, line, f"append:{Path(path).name}")
        f.write(line)
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(path, e) from None


def close_quietly(f) -> None:
    """Close an appended log. Every line was flushed as written, so only a write that already failed
    (and raised) leaves anything to flush: close() would raise that error again, over the first."""
    try:
        f.close()
    except OSError:
        pass


# the note a writer adds to a record where it stored a NaN or infinite number as null: where each was
NON_FINITE_KEY = "non_finite"


class NonFiniteJSON(ValueError):
    """NaN, Infinity or -Infinity in a JSON text: Python's json reads and writes them, JSON has no such numbers."""


def _refuse_constant(name: str):
    raise NonFiniteJSON(name)


def strict_loads(data: bytes | str):
    """json.loads, refusing NaN and Infinity (NonFiniteJSON) as every other JSON reader does."""
    return json.loads(data, parse_constant=_refuse_constant)


def finite_json(obj, where: str = "") -> tuple[object, list[str]]:
    """obj with every NaN or infinite float replaced by None, and where each was ('generated.fid',
    'class_share[3]'): what a writer stores in their place, so every file it writes is JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None, [where or "the value"]
    if isinstance(obj, dict):
        pairs = [(k, finite_json(v, f"{where}.{k}" if where else str(k))) for k, v in obj.items()]
        return {k: v for k, (v, _) in pairs}, [w for _, (_, found) in pairs for w in found]
    if isinstance(obj, (list, tuple)):
        items = [finite_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return [v for v, _ in items], [w for _, found in items for w in found]
    return obj, []


def json_text(obj, **dumps) -> str:
    """obj as JSON that any reader accepts: a NaN or infinite number becomes null, and an object gets
    a NON_FINITE_KEY note listing where, so the null is explained rather than a figure silently gone."""
    obj, replaced = finite_json(obj)
    if replaced and isinstance(obj, dict):
        obj[NON_FINITE_KEY] = sorted(set(obj.get(NON_FINITE_KEY) or []) | set(replaced))
    return json.dumps(obj, allow_nan=False, **dumps)


def atomic_write_json(path: Path, obj, make_parents: bool = True) -> None:
    atomic_write_bytes(path, (json_text(obj, indent=2) + "\n").encode(), make_parents)


def read_json(path: Path) -> dict | None:
    """A JSON object file, or None when it is missing, unreadable or not an object."""
    return read_json_object(path)[0]


def read_json_object(path: Path) -> tuple[dict | None, str | None]:
    """A JSON object file and None, or None and why it cannot be used ('config.json is missing',
    '... is not valid JSON', '... is not a JSON object'), one line for the user."""
    name = Path(path).name
    try:
        data = strict_loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None, f"{name} is missing"
    except IsADirectoryError:
        return None, f"{name} is a folder, not a file"
    except OSError as e:
        return None, f"{name} cannot be read ({e.strerror or e})"
    except NonFiniteJSON as e:
        return None, f"{name} is not valid JSON: it holds {e}, which is no JSON number (a figure that was not finite)"
    # binary junk (UnicodeDecodeError is a ValueError) and absurd nesting (RecursionError) alike
    except (ValueError, RecursionError):
        return None, f"{name} is not valid JSON"
    if not isinstance(data, dict):
        return None, f"{name} is not a JSON object"
    return data, None


def jsonl_line(record: dict) -> str:
    """One compact JSON object and its newline: the unit metrics.jsonl is appended in."""
    return json_text(record, separators=(",", ":")) + "\n"


def npy_bytes(array) -> bytes:
    """A float32 array as .npy bytes (no pickle), for fixed_z.npy and z downloads alike."""
    import io

    import numpy as np
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


class Records(list):
    """Records read from a .jsonl file; `skipped` counts the damaged lines left out (a torn last
    line, which a writer may still be appending, is not counted)."""

    skipped: int = 0

    def __init__(self, records=(), skipped: int = 0):
        super().__init__(records)
        self.skipped = skipped


def read_jsonl(path: Path, tail_bytes: int | None = None) -> Records:
    """All complete records (or those in the last tail_bytes). A torn last line (a writer
    mid-append) is left out; so is, and counted in .skipped, any line that is not a JSON object:
    junk, invalid UTF-8, a JSON list or number, NaN or Infinity (not JSON, though Python writes
    them), the NUL bytes a power cut leaves."""
    try:
        with open(path, "rb") as f:
            if tail_bytes is not None and f.seek(0, os.SEEK_END) > tail_bytes:
                f.seek(-tail_bytes, os.SEEK_END)
                f.readline()  # most likely the end of a record cut in two: not a record
            elif tail_bytes is not None:
                f.seek(0)  # a file shorter than the tail: all of it (the size check went to its end)
            data = f.read()
    except FileNotFoundError:
        return Records()
    return parse_jsonl(data[:data.rfind(b"\n") + 1])  # up to the last newline: a torn line is no record


# the C scanner json.loads runs, refusing NaN and Infinity as strict_loads does
_scan_once = json.JSONDecoder(parse_constant=_refuse_constant).scan_once


def parse_jsonl(data: bytes) -> Records:
    """The records in whole JSONL lines (data ends with a newline), damaged lines left out and counted
    in .skipped exactly as read_jsonl says. A compact object and its newline, what jsonl_line writes,
    is read in place by json's scanner over the whole text; any other line goes the careful way
    (_jsonl_record, line by line). Same records, about half the cost of json.loads per line: a
    million-step metrics.jsonl is read in a few seconds rather than many."""
    records = Records()
    try:
        text = data.decode()
    except UnicodeDecodeError:  # somewhere a line is not UTF-8: every line the careful way
        for line in data.split(b"\n")[:-1]:  # only a newline ends a line, as for the writer
            _add_line(records, line + b"\n")
        return records
    i, end = 0, len(text)
    while i < end:
        try:
            record, j = _scan_once(text, i)
        except (StopIteration, ValueError, RecursionError):  # no JSON value right here, or not valid JSON
            j = -1
        if j >= 0 and text.startswith("\n", j) and type(record) is dict:
            records.append(record)
            i = j + 1
            continue
        line_end = text.find("\n", i) + 1 or end
        _add_line(records, text[i:line_end].encode())  # UTF-8 both ways: the line's own bytes
        i = line_end
    return records


def _add_line(records: Records, line: bytes) -> None:
    record = _jsonl_record(line)
    if record is not None:
        records.append(record)
    if record is None or b"\0" in line:
        records.skipped += bool(line.strip())


def _jsonl_record(line: bytes) -> dict | None:
    # a power cut can leave NUL bytes where lines were; what follows the last of them is a line
    # appended after it, so it is read rather than lost with them
    line = line.rpartition(b"\0")[2]
    try:
        record = strict_loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, NonFiniteJSON are ValueErrors
        return None
    return record if isinstance(record, dict) else None
