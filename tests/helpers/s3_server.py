"""A real S3-protocol server on 127.0.0.1 for the tests (moto's HTTP server in a thread), reached through s3fs the
way a user reaches AWS S3 or MinIO: endpoint and credentials from the standard environment variables."""
from __future__ import annotations

import socket
import urllib.request
from contextlib import contextmanager
from typing import Iterator


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def s3_server(monkeypatch) -> Iterator[str]:
    """Start the server, point AWS_ENDPOINT_URL and test credentials at it, yield the endpoint; stop it after.
    fsspec's cached filesystems are dropped on both sides, so no client outlives its server."""
    import fsspec
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    reset(endpoint)  # moto keeps its buckets in the process: each server starts empty
    for key, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    fsspec.get_filesystem_class("s3").clear_instance_cache()
    try:
        yield endpoint
    finally:
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        reset(endpoint)
        server.stop()


def reset(endpoint: str) -> None:
    """Empty the server (every bucket and object) through moto's own API."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
