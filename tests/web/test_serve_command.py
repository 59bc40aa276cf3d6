"""`revocable serve` as a user runs it: a real process, its key file, a graceful stop."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from revocable import ConfigurationError
from revocable.keys import KeyRing, SigningKey
from revocable.server.run import load_signing_ring
from tests.servers import free_port


def test_serve_runs_on_sqlite_and_stops_gracefully(tmp_path: Path) -> None:
    """serve starts on an SQLite file, answers the page and the API, and drains on SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "revocable.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(base + "/")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        assert page.status_code == 200
        assert "Sign in" in page.text
        body = {"username": "alice", "password": "correct horse"}
        assert httpx.post(base + "/auth/register", json=body).status_code == 201
        login = httpx.post(base + "/auth/login", json=body)
        assert login.status_code == 200
        assert "__Host-session=" in login.headers["set-cookie"]
        jwks = httpx.get(base + "/.well-known/jwks.json").json()
        assert [key["alg"] for key in jwks["keys"]] == ["EdDSA"]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    # uvicorn finishes its requests, then re-raises the signal it caught (exit status -15).
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Finished server process" in output
    assert login.headers["set-cookie"].split(";")[0].split("=", 1)[1] not in output
    assert '"path": "/auth/login", "status": 200' in output  # revocable's access log
    assert "correct horse" not in output
    # uvloop and httptools (the web extra) are used when installed.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    assert f"event loop {loop}, HTTP parser {parser}" in output
    assert (tmp_path / "revocable.db").exists()
    for key_file in ("revocable-secrets.key", "revocable-signing.pem"):
        assert stat.S_IMODE(os.stat(tmp_path / key_file).st_mode) == 0o600


def test_serve_with_a_bad_store_url_is_one_line_exit_2(tmp_path: Path) -> None:
    """A bad --store URL is refused with one line and exit code 2."""
    result = subprocess.run(
        [sys.executable, "-m", "revocable.cli", "serve", "--store", "nope://x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("revocable: error: invalid store URL")
    assert "Traceback" not in result.stderr


def test_signing_keys_rotate_from_files_or_the_environment(tmp_path: Path) -> None:
    """Several key files (oldest first) make a ring that signs with the last and still
    verifies the others; $REVOCABLE_SIGNING_KEYS, PEM keys one after another, overrides them;
    a key file readable by others is used but warned about."""
    old, new = SigningKey.generate(), SigningKey.generate("ES256")
    paths = [tmp_path / "old.pem", tmp_path / "new.pem"]
    for path, key in zip(paths, (old, new), strict=True):
        path.write_bytes(key.to_pem())
        path.chmod(0o600)
    ring = load_signing_ring(paths)
    assert [k.kid for k in ring.keys] == [old.kid, new.kid]
    assert ring.signing_key.kid == new.kid
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old.kid, new.kid}

    bundle = (old.to_pem() + b"\n" + new.to_pem()).decode()
    from_env = load_signing_ring([tmp_path / "absent.pem"], bundle)
    assert [k.kid for k in from_env.keys] == [old.kid, new.kid]
    assert not (tmp_path / "absent.pem").exists()
    with pytest.raises(ConfigurationError):
        KeyRing.from_pem_bundle("no key here")

    created = load_signing_ring([tmp_path / "fresh.pem"])
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.pem").st_mode) == 0o600
    assert load_signing_ring([tmp_path / "fresh.pem"]).signing_key.kid == created.signing_key.kid


def test_a_key_file_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "open.pem"
    path.write_bytes(SigningKey.generate().to_pem())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="revocable.server"):
        load_signing_ring([path])
    assert "readable by other users" in caplog.text
