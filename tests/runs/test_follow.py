"""metrics.jsonl followed incrementally (dcgan.runs.follow): only appended bytes are read; a torn last line
waits for its end; a file replaced by a resume, truncated or shortened is read again from its start; damaged
lines are counted as the whole-file reader counts them. And parse_jsonl's fast path gives what the careful
line-by-line reader gives, on every kind of damaged line."""
from __future__ import annotations

import random

import pytest

from dcgan.runs.files import Records, _add_line, atomic_write_bytes, jsonl_line, parse_jsonl, read_jsonl
from dcgan.runs.follow import JsonlFollower
from dcgan.runs.records import valid_metrics_record
from dcgan.runs.rundir import RunDir


def line(step: int, **extra) -> bytes:
    return jsonl_line({"step": step, "loss_d": 0.5 + step / 1000, "loss_g": 1.0, **extra}).encode()


def append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def steps(update) -> list[int]:
    return [r["step"] for r in update.records]


def test_each_poll_returns_only_what_was_appended(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = JsonlFollower(path)
    assert steps(follower.poll()) == [] and follower.offset == 0  # not written yet
    path.write_bytes(line(1) + line(2) + line(3))
    first = follower.poll()
    assert steps(first) == [1, 2, 3] and not first.restarted and not first.more
    append(path, line(4) + line(5))
    second = follower.poll()
    assert steps(second) == [4, 5] and not second.restarted
    assert steps(follower.poll()) == [] and follower.offset == path.stat().st_size


def test_a_torn_last_line_is_read_once_it_is_whole(tmp_path):
    path = tmp_path / "metrics.jsonl"
    whole = line(3)
    path.write_bytes(line(1) + line(2) + whole[:17])  # the writer is mid-append
    follower = JsonlFollower(path)
    assert steps(follower.poll()) == [1, 2]
    assert steps(follower.poll()) == [] and follower.skipped == 0  # still torn: not damaged, not lost
    append(path, whole[17:-1])
    assert steps(follower.poll()) == []  # all but its newline: still not a line
    append(path, b"\n" + line(4)[:5])
    update = follower.poll()
    assert steps(update) == [3] and not update.restarted and follower.skipped == 0
    append(path, line(4)[5:])
    assert steps(follower.poll()) == [4]


def test_a_file_replaced_by_a_resume_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"".join(line(s) for s in range(1, 11)))
    follower = JsonlFollower(path)
    assert steps(follower.poll()) == list(range(1, 11))
    # a resume from the checkpoint at step 6 keeps steps 1..6 (a new file, atomically), then trains on:
    # by the next poll the new file is longer than the old one and starts with the same bytes
    atomic_write_bytes(path, b"".join(line(s) for s in range(1, 7)))
    append(path, b"".join(line(s, time=2.0) for s in range(7, 13)))
    update = follower.poll()
    assert update.restarted and steps(update) == list(range(1, 13))
    assert [r.get("time") for r in update.records][6:] == [2.0] * 6  # the redone steps, not the old ones
    assert steps(follower.poll()) == [] and not follower.poll().restarted
    # a resume with nothing to drop still writes a new file: same bytes, another inode, read again whole
    atomic_write_bytes(path, path.read_bytes() + line(13))
    update = follower.poll()
    assert update.restarted and steps(update) == list(range(1, 14))


@pytest.mark.parametrize("how", ["truncated", "shrunk"])
def test_a_file_truncated_or_shortened_in_place_is_read_again(tmp_path, how):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"".join(line(s) for s in range(1, 21)))
    follower = JsonlFollower(path)
    assert len(follower.poll().records) == 20
    inode = path.stat().st_ino
    with open(path, "r+b") as f:  # the same file (same inode), cut
        f.truncate(0 if how == "truncated" else len(line(1)) * 5)
    if how == "truncated":
        append(path, line(100) + line(101))
    update = follower.poll()
    assert path.stat().st_ino == inode and update.restarted
    assert steps(update) == ([100, 101] if how == "truncated" else [1, 2, 3, 4, 5])


def test_a_file_rewritten_in_place_past_the_offset_is_read_again(tmp_path):
    """Same inode and longer than before (a copy over it, or a new file that got the old inode back):
    the bytes just before the offset are no longer the ones read there."""
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"".join(line(s) for s in range(1, 6)))
    follower = JsonlFollower(path)
    follower.poll()
    with open(path, "r+b") as f:
        f.write(b"".join(line(s, time=9.0) for s in range(1, 9)))
    update = follower.poll()
    assert update.restarted and steps(update) == list(range(1, 9))


def test_a_removed_file_restarts_and_a_new_one_is_read_from_its_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(line(1) + line(2))
    follower = JsonlFollower(path)
    follower.poll()
    path.unlink()
    gone = follower.poll()
    assert gone.restarted and steps(gone) == []
    assert not follower.poll().restarted  # nothing to restart from any more
    path.write_bytes(line(7))
    assert steps(follower.poll()) == [7]


def test_damaged_lines_are_counted_as_the_whole_file_reader_counts_them(tmp_path):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    damaged = [b"junk\n", b"\0\0\0" + line(3), b'{"step": 4, "loss_d": "high"}\n', b"[1, 2]\n",
               b'{"step":5,"loss_d":NaN}\n', b"\xff\xfe\n"]
    run.metrics_path.write_bytes(line(1) + line(2) + b"".join(damaged[:3]))
    follower = run.metrics_follower()
    first = follower.poll()
    assert steps(first) == [1, 2, 3] and first.records.skipped == 3  # junk, the NUL bytes, a string for a loss
    append(run.metrics_path, b"".join(damaged[3:]) + line(6) + b"\n")
    second = follower.poll()
    assert steps(second) == [6] and second.records.skipped == 3 and follower.skipped == 6
    whole = run.metrics()
    assert [r["step"] for r in whole] == [1, 2, 3, 6] and whole.skipped == follower.skipped


def test_a_first_read_in_pieces_gives_every_record_once(tmp_path):
    path = tmp_path / "metrics.jsonl"
    data = b"".join(line(s, note="x" * (s % 7) * 40) for s in range(500))  # lines longer than a piece
    path.write_bytes(data + line(500)[:9])
    follower = JsonlFollower(path, valid_metrics_record, chunk_bytes=100)
    got, polls = [], 0
    while True:
        update = follower.poll()
        got += steps(update)
        polls += 1
        if not update.more:
            break
    assert got == list(range(500)) and polls > 100
    assert follower.offset == len(data)  # up to the torn line, which waits


def test_appends_torn_anywhere_read_as_the_whole_file(tmp_path):
    """Random writes cut at random bytes, polled between them: the records polled are read_jsonl's."""
    rnd = random.Random(7)
    path = tmp_path / "metrics.jsonl"
    stream = b"".join(line(s) if s % 37 else b"broken line\n" for s in range(1, 400))
    follower = JsonlFollower(path, valid_metrics_record)
    got, at = [], 0
    while at < len(stream):
        cut = min(len(stream), at + rnd.randint(1, 900))
        append(path, stream[at:cut])
        at = cut
        got += follower.poll().records
    whole = read_jsonl(path)
    assert got == list(whole) and follower.skipped == whole.skipped == 10


HOSTILE_LINES = [
    b'{"step":1}\n', b'  {"step":2}\n', b'{"step":3}   \n', b"\n", b"   \n", b"[1]\n", b"7\n", b'"text"\n',
    b'{"step":4,"x":NaN}\n', b'{"step":5,"x":-Infinity}\n', b'{"step":6,"x":1e999}\n', b"\0\0\0\n",
    b'\0\0{"step":7}\n', b'{"step":8}\0\n', b'{"step":9}{"step":10}\n', b'{"step":11,\n', b'"a":1}\n',
    b'\xef\xbb\xbf{"step":12}\n', b'{"s":"\xe2\x80\xa8"}\n', b'{"s":"\\u0000"}\n', b'{"s":"\t"}\n',
    b"[" * 100_000 + b"\n", b'{"step":13}\r\n', b'{"step":14}\r{"step":15}\n', b"\xff" + b'{"step":16}\n',
    b'{"a":{"b":[{"c":1}]}}\n',
]


def careful(data: bytes) -> Records:
    records = Records()
    for piece in data.split(b"\n")[:-1]:
        _add_line(records, piece + b"\n")
    return records


@pytest.mark.parametrize("hostile", HOSTILE_LINES, ids=range(len(HOSTILE_LINES)))
def test_the_fast_parser_reads_each_damaged_line_as_the_careful_one(hostile):
    data = b'{"step":0}\n' + hostile + b'{"step":99}\n'
    fast, slow = parse_jsonl(data), careful(data)
    assert list(fast) == list(slow) and fast.skipped == slow.skipped
    assert fast[0] == {"step": 0} and fast[-1] == {"step": 99}


def test_the_fast_parser_reads_a_whole_hostile_file_as_the_careful_one(tmp_path):
    rnd = random.Random(3)
    utf8 = [h for h in HOSTILE_LINES if not h.startswith(b"\xff")]  # all text: the fast path's case
    lines = utf8 * 3 + [line(s) for s in range(200)]
    rnd.shuffle(lines)
    data = b"".join(lines)
    fast, slow = parse_jsonl(data), careful(data)
    assert list(fast) == list(slow) and fast.skipped == slow.skipped > 20
    path = tmp_path / "m.jsonl"
    path.write_bytes(data + b'{"step":1')
    assert list(read_jsonl(path)) == list(slow) and read_jsonl(path, tail_bytes=len(data) * 2) == list(slow)


def test_unread_bytes_say_how_much_the_next_polls_read(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = JsonlFollower(path)
    assert follower.unread_bytes() == 0
    path.write_bytes(line(1) + line(2))
    assert follower.unread_bytes() == path.stat().st_size
    follower.poll()
    append(path, line(3))
    assert follower.unread_bytes() == len(line(3))
    atomic_write_bytes(path, line(1))  # shorter than what was read: all of it will be read again
    assert follower.unread_bytes() == len(line(1))
