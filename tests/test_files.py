"""tapegrad.files.write_all directly, where save and explain do not already show it: several
targets, all or none, and streams written as they are."""

import errno
import os
import stat
import threading

import pytest

from tapegrad.files import WriteError, is_stream, write_all


def test_when_the_second_target_cannot_be_written_neither_is(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("old first")
    with pytest.raises(WriteError) as raised:
        write_all([(first, "new first"), (tmp_path / "no" / "second.txt", "new second")])
    assert raised.value.index == 1 and raised.value.errno == errno.ENOENT
    assert isinstance(raised.value.error, FileNotFoundError)
    assert first.read_text() == "old first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.txt"]  # no temporary left


def test_an_interrupt_while_staging_the_second_removes_the_firsts_temporary(tmp_path,
                                                                            monkeypatch):
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C, not an OSError: raised as it is
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt):
        write_all([(tmp_path / "a.txt", "a"), (tmp_path / "b.txt", "b")])
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_all_targets_are_written_when_nothing_fails(tmp_path):
    write_all([(tmp_path / "a.txt", "é a"), (str(tmp_path / "b.txt"), "b")])
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_written_directly_not_replaced(tmp_path):
    pipe, regular = tmp_path / "pipe", tmp_path / "f.txt"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text()), daemon=True)
    reader.start()
    write_all([(pipe, "through the pipe"), (regular, "a file")])
    reader.join(10)
    assert got == ["through the pipe"] and regular.read_text() == "a file"
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)  # still the pipe
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", "pipe"]


def test_a_device_is_written_directly(tmp_path):
    write_all([(os.devnull, "nothing"), (tmp_path / "f.txt", "kept")])
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert (tmp_path / "f.txt").read_text() == "kept"


def test_is_stream():
    assert is_stream(os.stat(os.devnull)) and not is_stream(None)
    assert not is_stream(os.stat(__file__)) and not is_stream(os.stat(os.path.dirname(__file__)))
