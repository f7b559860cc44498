"""Which store a checkout uses: `<folder>/store.json` names it (relative, absolute or a URL)."""
from __future__ import annotations

import json
import os

import fsspec

from pipeline.store.embeddings import EmbeddingStore
from pipeline.store.layout import StoreError, remote_errors

POINTER = "store.json"
BUCKETED = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"}  # object stores whose URLs start with a bucket
LEGACY_FOLDER = "stores"  # stores written by earlier versions sit one level deeper: <teacher dir>/stores/<fingerprint>


def teacher_dir(root: str, teacher: str) -> str:
    """The folder (or URL) of `teacher`'s stores under a store root: `<root>/<teacher>`."""
    return f"{root.rstrip('/')}/{teacher}"


def store_url(folder: str, fingerprint: str) -> str:
    """Where the store `fingerprint` lives in a teacher's folder: `<folder>/<fingerprint>`, or the earlier layout's
    `<folder>/stores/<fingerprint>` when a store (finished or not) is there and none at the new place, so a store
    written before the rename is reused or resumed where it is, never embedded again."""
    new, old = f"{folder.rstrip('/')}/{fingerprint}", f"{folder.rstrip('/')}/{LEGACY_FOLDER}/{fingerprint}"
    fs, root = fsspec.core.url_to_fs(new)
    if not fs.exists(f"{root}/zarr.json"):
        fs_old, root_old = fsspec.core.url_to_fs(old)
        if fs_old.exists(f"{root_old}/zarr.json"):
            return old
    return new


def require_reachable(url: str) -> None:
    """Raise StoreError naming `url` unless its bucket (object stores: the URL's first path part) can be listed with
    the credentials and endpoint at hand (s3fs reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... like every AWS client);
    folders (local, mounted, in memory) are created on demand and always pass."""
    fs, root = fsspec.core.url_to_fs(url)
    if not BUCKETED & set((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol):
        return
    bucket = root.strip("/").split("/")[0]
    try:
        found = fs.exists(bucket)
    except (OSError, ValueError, *remote_errors()) as exc:  # refused credentials, unreachable endpoint
        raise StoreError(f"store root {url}: cannot reach bucket {bucket!r} ({type(exc).__name__}: {exc}); check the "
                         f"endpoint and credentials") from exc
    if not found:
        raise StoreError(f"store root {url}: bucket {bucket!r} does not exist (or these credentials cannot see it); "
                         f"create it, or point paths.stores at one that does")


def write_pointer(out_dir: str, store: EmbeddingStore) -> None:
    """Record in `<out_dir>/store.json` which store (relative to out_dir) is the current one."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    if store.url.startswith(out_dir.rstrip("/") + "/"):
        rel = store.url[len(out_dir.rstrip("/")) + 1:]
    else:  # a store elsewhere (a shared root): a URL, or an absolute path that does not depend on the cwd
        rel = store.url if "://" in store.url else os.path.abspath(store.url)
    body = {"store": rel, "store_fingerprint": store.fingerprint, "teacher": store.attrs.get("teacher"),
            "corpus_fingerprint": store.attrs.get("corpus_fingerprint"), "dim": store.dim}
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/{POINTER}.tmp", "w") as f:  # then moved over the pointer: a failed write leaves the old one
        json.dump(body, f, indent=2)
    fs.mv(f"{root}/{POINTER}.tmp", f"{root}/{POINTER}")


def current_url(out_dir: str) -> str:
    """The store that `<out_dir>/store.json` points to (a URL; relative entries resolve against out_dir)."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    path = f"{root}/{POINTER}"
    if not fs.exists(path):
        raise StoreError(f"{out_dir} has no {POINTER}: no finished embedding store there; run `ssondo embed`")
    with fs.open(path, "r") as f:
        rel = json.load(f)["store"]
    return rel if "://" in rel or rel.startswith("/") else f"{out_dir.rstrip('/')}/{rel}"


def open_current(out_dir: str, corpus_fingerprint: str | None = None) -> EmbeddingStore:
    """Open the complete store that `<out_dir>/store.json` points to (checked against the corpus)."""
    return EmbeddingStore.open(current_url(out_dir)).require_complete(corpus_fingerprint)
