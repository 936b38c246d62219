"""``graphsbr download``: pinned files fetched from a local mirror on the loopback address, checked, renamed.

The mechanics (resume, mismatch, 404, unreachable, atomic rename) run on small files the tests write; the catalogue
is checked against the shared copies and downloaded from a mirror of them when ``../shared/data`` is present.
"""
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graphsbr import DataError
from graphsbr.cli import main
from graphsbr.data import DATASETS, DatasetInfo, RemoteFile, download_dataset, find_dataset, load_dataset
from graphsbr.data.download import fetch

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class MirrorHandler(BaseHTTPRequestHandler):
    """Serves ``server.folder``; honours ``Range: bytes=N-`` when ``server.ranges``; cuts the next response after
    ``server.cut`` bytes of its body when set."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        path = server.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(self.headers["Range"][len("bytes="):].rstrip("-")) if self.headers["Range"] else 0
        if start and server.ranges:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
            start = 0
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut is not None:
            body, server.cut = body[:server.cut], None
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    server.folder, server.requests, server.ranges, server.cut = tmp_path / "mirror", [], True, None
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def publish(server, name: str, data: bytes, repo: str = "owner/repo", target: str | None = None) -> RemoteFile:
    """Puts ``data`` on the mirror and returns its catalogue entry."""
    file = RemoteFile(repo, COMMIT, f"data/{name}", len(data), hashlib.sha256(data).hexdigest(), target or name)
    path = server.folder / file.repo / file.commit / file.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return file


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes


def test_fetch_verifies_renames_and_skips_when_present(mirror, tmp_path):
    file = publish(mirror, "a.bin", PAYLOAD)
    target = tmp_path / "data" / "sub" / "a.bin"
    assert fetch(file, target, mirror.url, progress=False) == target
    assert target.read_bytes() == PAYLOAD and not target.with_name("a.bin.part").exists()
    assert mirror.requests == [(f"/owner/repo/{COMMIT}/data/a.bin", None)]
    fetch(file, target, mirror.url, progress=False)
    assert len(mirror.requests) == 1  # verified: no second request


def test_resume_after_a_cut_connection(mirror, tmp_path):
    file = publish(mirror, "a.bin", PAYLOAD)
    target = tmp_path / "a.bin"
    mirror.cut = 3000
    with pytest.raises(DataError, match="cut after 3000 of 10240 bytes; rerun to resume"):
        fetch(file, target, mirror.url, progress=False)
    assert not target.exists() and (tmp_path / "a.bin.part").stat().st_size == 3000
    fetch(file, target, mirror.url, progress=False)
    assert mirror.requests[-1][1] == "bytes=3000-"
    assert target.read_bytes() == PAYLOAD and not (tmp_path / "a.bin.part").exists()


def test_a_server_that_ignores_ranges_starts_over(mirror, tmp_path):
    file = publish(mirror, "a.bin", PAYLOAD)
    mirror.ranges, mirror.cut = False, 5000
    with pytest.raises(DataError, match="cut after 5000"):
        fetch(file, tmp_path / "a.bin", mirror.url, progress=False)
    fetch(file, tmp_path / "a.bin", mirror.url, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_keeps_the_download_aside(mirror, tmp_path):
    published = publish(mirror, "a.bin", PAYLOAD)
    file = RemoteFile(published.repo, COMMIT, published.path, published.size, "0" * 64, "a.bin")
    with pytest.raises(DataError, match="SHA-256 mismatch.*kept aside as .*a.bin.bad"):
        fetch(file, tmp_path / "a.bin", mirror.url, progress=False)
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()
    assert (tmp_path / "a.bin.bad").read_bytes() == PAYLOAD


def test_http_404_names_the_url(mirror, tmp_path):
    file = RemoteFile("owner/repo", COMMIT, "data/missing.bin", 10, "0" * 64, "missing.bin")
    with pytest.raises(DataError, match=f"{mirror.url}/owner/repo/{COMMIT}/data/missing.bin: HTTP 404"):
        fetch(file, tmp_path / "missing.bin", mirror.url, progress=False)
    assert not (tmp_path / "missing.bin").exists() and not (tmp_path / "missing.bin.part").exists()


def test_unreachable_server(tmp_path):
    file = RemoteFile("owner/repo", COMMIT, "data/a.bin", 10, "0" * 64, "a.bin")
    with pytest.raises(DataError, match="cannot reach the server"):
        fetch(file, tmp_path / "a.bin", f"http://127.0.0.1:{closed_port()}", progress=False)


def test_a_different_file_in_place_is_never_overwritten(mirror, tmp_path):
    file = publish(mirror, "a.bin", PAYLOAD)
    (tmp_path / "a.bin").write_bytes(b"mine")
    with pytest.raises(DataError, match="not the catalogue's file"):
        fetch(file, tmp_path / "a.bin", mirror.url, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == b"mine" and not mirror.requests


@pytest.fixture
def tiny(mirror, monkeypatch):
    """A catalogue entry ``tiny``: an S3-Rec set of three users on the mirror."""
    files = (publish(mirror, "Tiny.txt", b"1 1 2 3 4\n2 2 3 1 4\n3 4 1 2 3\n", target="s3rec/Tiny.txt"),
             publish(mirror, "Tiny_item2attributes.json", b'{"1": [1], "2": [2], "3": [1, 2], "4": [3]}',
                     target="s3rec/Tiny_item2attributes.json"))
    monkeypatch.setitem(DATASETS, "tiny", DatasetInfo("tiny", "a test set", ("s3rec",), files=files))
    return files


def test_load_dataset_downloads_through_the_mirror_variable(tiny, mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHSBR_MIRROR", mirror.url)
    assert find_dataset("tiny", tmp_path / "root") is None
    dataset = load_dataset("tiny", tmp_path / "root", download=True)
    assert dataset.num_items == 4 and dataset.test.num_samples == 3
    assert find_dataset("tiny", tmp_path / "root")[0] == "s3rec"


def test_an_interrupted_download_is_never_taken_for_the_dataset(tiny, mirror, tmp_path):
    mirror.cut = 5
    with pytest.raises(DataError, match="cut after 5 of"):
        download_dataset("tiny", tmp_path, mirror=mirror.url, progress=False)
    assert (tmp_path / "tiny" / "s3rec" / "Tiny.txt.part").is_file() and find_dataset("tiny", tmp_path) is None


def test_cli_download_then_datasets(tiny, mirror, tmp_path, capsys):
    root = str(tmp_path / "root")
    assert main(["download", "tiny", "--root", root, "--mirror", mirror.url + "/", "--quiet"]) == 0
    assert "tiny: 2 files" in capsys.readouterr().out
    assert main(["download", "tiny", "--root", root, "--mirror", mirror.url]) == 0
    assert len(mirror.requests) == 2  # the rerun found both verified
    assert main(["datasets", "--root", root]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert rows["tiny"] == ["yes", "0.0"] and rows["beauty"] == ["no", "1.4"] and rows["yoochoose1_4"][1] == "manual"


def test_cli_offline_is_one_line_and_non_zero(tiny, tmp_path, capsys):
    assert main(["download", "tiny", "--root", str(tmp_path), "--mirror", f"http://127.0.0.1:{closed_port()}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the server" in err


def test_cli_unknown_key_downloads_nothing(tiny, mirror, tmp_path, capsys):
    assert main(["download", "tiny", "nosuchset", "--root", str(tmp_path), "--mirror", mirror.url]) == 2
    assert "unknown dataset(s) nosuchset" in capsys.readouterr().err and not mirror.requests


def test_originals_behind_a_login_say_where_to_get_them(tmp_path, capsys):
    assert main(["download", "yoochoose1_4", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kaggle.com" in err and str(tmp_path / "yoochoose1_4") in err
    (tmp_path / "yoochoose1_4").mkdir()
    (tmp_path / "yoochoose1_4" / "yoochoose-clicks.dat").write_text("1,2014-04-07T10:51:09.277Z,214536502,0\n")
    assert download_dataset("yoochoose1_4", tmp_path) == []
    assert main(["download", "synthetic", "--root", str(tmp_path)]) == 0


def test_catalogue_matches_the_shared_copies(shared_data):
    checked = 0
    for key, info in DATASETS.items():
        for file in info.files:
            copy = shared_data / key / file.target
            if copy.is_file():
                assert copy.stat().st_size == file.size, copy
                assert hashlib.sha256(copy.read_bytes()).hexdigest() == file.sha256, copy
                checked += 1
    assert checked == 18


@pytest.fixture
def shared_mirror(mirror, shared_data):
    """The mirror serves the shared copies at their upstream ``OWNER/REPO/COMMIT/PATH``."""
    for key, info in DATASETS.items():
        for file in info.files:
            if (shared_data / key / file.target).is_file():
                path = mirror.folder / file.repo / file.commit / file.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(shared_data / key / file.target)
    return mirror


@pytest.mark.parametrize("key, fmt", [("beauty", "s3rec"), ("scientific", "atomic"), ("diginetica", "srgnn"),
                                      ("tmall", "srgnn")])
def test_download_from_a_mirror_of_the_shared_copies(shared_mirror, tmp_path, key, fmt):
    paths = download_dataset(key, tmp_path, mirror=shared_mirror.url, progress=False)
    assert len(paths) == len(DATASETS[key].files) and all(p.is_file() for p in paths)
    found, files = find_dataset(key, tmp_path)
    assert found == fmt and all(f.is_relative_to(tmp_path / key) for f in files)
    if key == "beauty":
        assert load_dataset(key, tmp_path).num_items == 12101
