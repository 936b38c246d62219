"""``download_dataset``: fetch a dataset's public files, pinned to a commit and checked by size and SHA-256.

Each file is written to ``<name>.part``, checked, then renamed into place, so an interrupted or corrupt download is
never taken for the dataset. A rerun resumes a ``.part`` with an HTTP range request (or starts over when the server
ignores the range); a download whose checksum differs is kept aside as ``<name>.bad``; verified files are skipped.
A mirror (``mirror=`` or ``$GRAPHSBR_MIRROR``) serves the same ``OWNER/REPO/COMMIT/PATH`` below its URL.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import DataError
from .catalog import DATASETS, GITHUB_RAW, RemoteFile

log = logging.getLogger(__name__)

MIRROR_VARIABLE = "GRAPHSBR_MIRROR"
CHUNK = 1 << 16
TIMEOUT = 30  # seconds without data before a request counts as failed


def download_dataset(key: str, root=None, *, mirror: str | None = None, progress: bool = True) -> list[Path]:
    """Downloads the public files of dataset ``key`` into ``<root>/<key>/`` and returns their paths.

    Args:
        key: a key of :data:`~graphsbr.data.catalog.DATASETS`.
        root: the data root (default ``datasets/``).
        mirror: a URL serving ``OWNER/REPO/COMMIT/PATH`` in place of ``https://raw.githubusercontent.com``
            (default: ``$GRAPHSBR_MIRROR`` when set).
        progress: show a progress bar per file.

    Raises:
        DataError: an unknown key; a key without public files whose originals are not in place (the message says
            where to get them); a server that cannot be reached, an HTTP error, a cut connection or a checksum
            mismatch (naming the URL or the file).
    """
    from .load import DEFAULT_ROOT, find_dataset

    if key not in DATASETS:
        raise DataError(f"unknown dataset {key!r}: known datasets are {', '.join(DATASETS)}")
    info, root = DATASETS[key], Path(root if root is not None else DEFAULT_ROOT)
    folder = root / key
    if not info.files:
        if info.originals is None or find_dataset(key, root) is not None:
            return []
        raise DataError(f"no public copy to download; {info.originals.instructions(folder)}", key)
    base = mirror or os.environ.get(MIRROR_VARIABLE) or GITHUB_RAW
    return [fetch(file, folder / file.target, base, progress) for file in info.files]


def fetch(file: RemoteFile, target: Path, base: str = GITHUB_RAW, progress: bool = True) -> Path:
    """Downloads ``file`` from ``base`` to ``target`` unless a verified copy is there; returns ``target``."""
    target = Path(target)
    if target.exists():
        _check_present(file, target)
        log.info("%s: present and verified", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    url = file.url(base)
    _receive(url, part, file.size, progress)
    digest = sha256(part)
    if digest != file.sha256:
        bad = target.with_name(target.name + ".bad")
        os.replace(part, bad)
        raise DataError(f"SHA-256 mismatch: got {digest}, expected {file.sha256}; the download is kept aside "
                        f"as {bad}", url)
    os.replace(part, target)
    log.info("%s: downloaded and verified", target)
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_present(file: RemoteFile, target: Path) -> None:
    """A file already at ``target`` must be the catalogue's: it is never overwritten."""
    if target.stat().st_size == file.size and sha256(target) == file.sha256:
        return
    raise DataError(f"present but not the catalogue's file ({file.size} bytes, SHA-256 {file.sha256}); "
                    "move it away to download the catalogue's copy", target)


def _receive(url: str, part: Path, size: int, progress: bool) -> None:
    """Writes ``url`` to ``part``, resuming from the bytes already there when the server honours a range."""
    start = part.stat().st_size if part.exists() else 0
    if start == size:
        return  # complete but not yet checked: the caller checks it
    start = start if start < size else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 416:
            part.unlink(missing_ok=True)  # the partial file does not fit the server's: start over next time
        raise DataError(f"HTTP {error.code} {error.reason}", url) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(f"cannot reach the server ({reason}); offline? Behind a mirror, set --mirror or "
                        f"${MIRROR_VARIABLE}", url) from None
    if start and response.status != 206:
        log.info("%s: the server ignored the range request; starting over", url)
        start = 0
    with response, open(part, "ab" if start else "wb") as out, \
            tqdm(total=size, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                 desc=part.name.removesuffix(".part"), disable=not progress) as bar:
        try:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            log.info("%s: %s", url, error)
        received = out.tell()
    if received < size:
        raise DataError(f"the connection was cut after {received} of {size} bytes; rerun to resume", url)
