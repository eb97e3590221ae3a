"""A real ``rtag serve`` process on a free loopback port, for the tests of serve/: started
with the test encoders' cache (inherited environment), stopped when the test ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(*args, env: dict | None = None):
    """``rtag serve ARGS`` on 127.0.0.1; yields an httpx.Client with the server's base URL."""
    port = free_port()
    command = [sys.executable, "-m", "retrieval_tagger.cli.main", "serve", "--port", str(port), *map(str, args)]
    log = open(os.devnull, "w")
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.PIPE, text=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"rtag serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                if client.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"rtag serve not ready after {START_TIMEOUT_S} s")
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
