"""Secrets generated on first run: private from the first byte, one value when processes race."""

import multiprocessing
import os
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from entrypoints.settings import SettingsError, _secret_file, load_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_generated_secret_is_private_before_its_value_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a umask of 0 a file created without an explicit mode would be world-readable.
    seen: list[int] = []
    real_fsync = os.fsync

    def spying_fsync(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            seen.append(stat.S_IMODE(info.st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spying_fsync)
    old_umask = os.umask(0)
    try:
        settings = load_settings({"DATA_DIR": str(tmp_path / "data")})
    finally:
        os.umask(old_umask)
    assert seen == [0o600, 0o600]  # both secrets were fsynced while already 0600
    for name in ("jwt_secret", "fernet_key"):
        assert _mode(tmp_path / "data" / name) == 0o600
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["fernet_key", "jwt_secret"]
    assert (tmp_path / "data" / "jwt_secret").read_text() == settings.jwt_secret


def _race(directory: str, value: str, barrier: Barrier, results: Any) -> None:
    barrier.wait()
    results.put((value, _secret_file(Path(directory), "jwt_secret", value)))


def test_racing_processes_all_end_up_with_the_winners_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    racers = 8
    barrier = context.Barrier(racers)
    results = context.Queue()
    processes = [
        context.Process(target=_race, args=(str(tmp_path), f"secret-{n}", barrier, results)) for n in range(racers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    stored = (tmp_path / "jwt_secret").read_text()
    assert {returned for _, returned in outcomes} == {stored}
    assert stored in {made for made, _ in outcomes}
    assert _mode(tmp_path / "jwt_secret") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["jwt_secret"]  # no scratch file left behind


def test_an_existing_secret_is_read_back_and_an_empty_one_refused(tmp_path: Path) -> None:
    assert _secret_file(tmp_path, "jwt_secret", "first") == "first"
    assert _secret_file(tmp_path, "jwt_secret", "second") == "first"
    (tmp_path / "fernet_key").write_text("")
    with pytest.raises(SettingsError, match="empty") as info:
        _secret_file(tmp_path, "fernet_key", "never-shown")
    assert "never-shown" not in str(info.value)
