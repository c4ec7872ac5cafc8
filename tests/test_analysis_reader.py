"""The streaming reader: which files it finds, which lines it uses, which it skips and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_token_usage.analysis import AnalysisError, BadLines, find_logs, read_calls
from otel_token_usage.analysis._line import check_line, decode_block
from otel_token_usage.analysis._reader import iter_blocks

from .helpers import log_line


def rec(
    ts: str,
    *,
    session: str = "s1",
    fresh: int = 1,
    read: int = 0,
    write: int = 0,
    write_1h: int | None = None,
    out: int = 1,
) -> str:
    return log_line(ts, session, fresh=fresh, read=read, write=write, write_1h=write_1h, out=out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_find_logs_takes_a_file_a_session_directory_or_a_tree(tmp_path: Path) -> None:
    """A file is itself; a session directory is its log; a tree is every log below it,
    sorted, with the session id decoded from the directory name."""
    one = write(tmp_path / "root" / "b" / "token-usage.jsonl", rec("2026-06-15T00:00:00.000Z"))
    two = write(tmp_path / "root" / "a%2Fx" / "token-usage.jsonl", rec("2026-06-15T00:00:00.000Z"))
    write(tmp_path / "root" / "b" / "notes.txt", "not a log")
    found = find_logs(tmp_path / "root")
    assert [log.path for log in found] == [str(two), str(one)]
    assert [log.session_hint for log in found] == ["a/x", "b"]
    assert [log.path for log in find_logs(one.parent)] == [str(one)]
    assert [log.path for log in find_logs(one)] == [str(one)]
    assert find_logs(one)[0].size == one.stat().st_size
    assert find_logs("-")[0].path == "-"


def test_find_logs_says_in_one_line_when_there_is_nothing_to_read(tmp_path: Path) -> None:
    """A missing path and a directory without logs are `AnalysisError`s naming the path."""
    with pytest.raises(AnalysisError, match="no such file or directory"):
        find_logs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisError, match=r"no token-usage\.jsonl"):
        find_logs(tmp_path / "empty")


def test_unusable_lines_are_skipped_and_counted_with_file_and_line(tmp_path: Path) -> None:
    """Garbage, non-objects, missing or mistyped fields and a torn last line are counted at
    their line numbers; blank lines are ignored; every other line is read."""
    good = rec("2026-06-15T00:00:00.000Z", fresh=7)
    torn = rec("2026-06-15T00:00:09.000Z")[:40]
    text = (
        good  # 1
        + "hello world\n"  # 2 garbage
        + rec("2026-06-15T00:00:03.000Z", fresh=8)  # 3
        + "\n"  # 4 blank: ignored
        + "[1, 2]\n"  # 5 not an object
        + '{"ts": "2026-06-15T00:00:00.000Z"}\n'  # 6 missing fields
        + good.replace('"input_tokens":7', '"input_tokens":"7"')  # 7 wrong type
        + good.replace('"output_tokens":1', '"output_tokens":-1')  # 8 negative
        + rec("2026-06-15T00:00:08.000Z", fresh=9)  # 9
        + torn  # 10 torn, no newline
    )
    log = write(tmp_path / "s1" / "token-usage.jsonl", text)
    bad = BadLines()
    calls = list(read_calls(find_logs(log), bad))
    assert [(call.line, call.tokens.input_tokens) for call in calls] == [(1, 7), (3, 8), (9, 9)]
    assert [item.line for item in bad.samples] == [2, 5, 6, 7, 8, 10]
    assert bad.count == 6
    assert all(item.path == str(log) for item in bad.samples)
    reasons = {item.line: item.reason for item in bad.samples}
    assert reasons[2].startswith("not JSON")
    assert "torn" in reasons[10]
    assert "ts" not in reasons[6] and "session_id" in reasons[6]
    assert "input_tokens" in reasons[7]
    assert "output_tokens" in reasons[8]
    assert str(bad.samples[0]) == f"{log}:2: {reasons[2]}"


def test_blocks_keep_whole_lines_and_line_numbers_at_any_block_size(tmp_path: Path) -> None:
    """However the file is cut into blocks, blocks hold whole lines, their line counts add
    up, and the lines come back in order with their numbers."""
    lines = [rec(f"2026-06-15T00:00:{i:02d}.000Z", fresh=i) for i in range(30)]
    log = find_logs(write(tmp_path / "s" / "token-usage.jsonl", "".join(lines) + "{torn"))[0]
    for size in (50, 333, 1 << 20):
        blocks = list(iter_blocks(log, block_size=size))
        assert b"".join(block for _, _, block in blocks).decode() == "".join(lines) + "{torn"
        expected_first = 1
        for first, count, block in blocks:
            assert first == expected_first
            assert block.endswith(b"\n") or block == b"{torn"
            expected_first += count
        assert expected_first == 32


def test_block_decoding_and_line_by_line_parsing_agree(tmp_path: Path) -> None:
    """The fast whole-block decoder and the per-line check read the same values; the
    block decoder declines a block with any line that is not valid."""
    text = "".join(
        rec(
            f"2026-06-15T00:00:{i:02d}.000Z",
            fresh=i,
            read=2 * i,
            write=3 * i,
            write_1h=i if i % 2 else None,
            out=4 * i,
        )
        for i in range(10)
    ).encode()
    records = decode_block(text, 10)
    assert records is not None
    checked = [check_line(line) for line in text.splitlines()]
    for record, line in zip(records, checked, strict=True):
        assert not isinstance(line, str)
        assert record.__struct_fields__ == line.__struct_fields__
        assert [getattr(record, f) for f in record.__struct_fields__] == [
            getattr(line, f) for f in line.__struct_fields__
        ]
    assert [record.cache_creation_1h_input_tokens for record in records[:3]] == [None, 1, None]
    assert decode_block(text + b"garbage\n", 11) is None
    assert decode_block(text + b"\n", 11) is None
    both = rec("2026-06-15T00:00:00.000Z").strip() + " " + rec("2026-06-15T00:00:00.000Z")
    assert decode_block(both.encode(), 1) is None
    assert isinstance(check_line(both.encode()), str)


def test_a_line_longer_than_the_limit_is_one_bad_line(tmp_path: Path) -> None:
    """A line over 16 MiB is counted as one bad line without being held whole; the next
    line is read with the right number."""
    log = tmp_path / "s" / "token-usage.jsonl"
    log.parent.mkdir()
    with log.open("w") as stream:
        stream.write("x" * (17 << 20) + "\n")
        stream.write(rec("2026-06-15T00:00:00.000Z", fresh=5))
    bad = BadLines()
    calls = list(read_calls(find_logs(log), bad))
    assert [(call.line, call.tokens.input_tokens) for call in calls] == [(2, 5)]
    assert [item.line for item in bad.samples] == [1]


def test_an_unreadable_file_is_named_and_the_rest_is_read(tmp_path: Path) -> None:
    """A log that cannot be read is skipped whole and named with the reason in
    `BadLines.unreadable`; the other logs are read (issue 12, item 2)."""
    blocked = write(tmp_path / "d" / "token-usage.jsonl", rec("2026-06-15T00:00:00.000Z"))
    fine = write(tmp_path / "e" / "token-usage.jsonl", rec("2026-06-15T00:00:00.000Z", fresh=3))
    logs = find_logs(tmp_path)
    blocked.unlink()
    blocked.mkdir()  # a directory where the log was: opening works, reading fails
    bad = BadLines()
    calls = list(read_calls(logs, bad))
    assert [(call.path, call.tokens.input_tokens) for call in calls] == [(str(fine), 3)]
    assert len(bad.unreadable) == 1
    assert bad.unreadable[0].startswith(f"{blocked}: ") and "directory" in bad.unreadable[0]
