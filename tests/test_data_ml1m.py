"""MovieLens-1M from its zip archive (padirec.data.sources.ZipSource), without the network.

A small archive in MovieLens-1M's exact format (folder ml-1m/, "::"-separated, Latin-1) is written
from a slice of the real MovieLens-100K and served from a local HTTP server; the tests point the
source's address and MD5 at it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile

import numpy as np
import pytest

from padirec.data import dataset as data, sources
from padirec.pipeline import config

USERS = 60  # the slice: every rating of MovieLens-100K's users 1..60
ML1M = config.DataConfig(name="ml-1m")
PREPARE = config.PrepareConfig(eval_negatives=20)  # a 60-user slice keeps a few hundred items


def atomic_rows(path):
    """An atomic file's header and rows, as text fields."""
    lines = path.read_text(encoding="utf-8").removesuffix("\n").split("\n")  # as pandas: only at newlines
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


@pytest.fixture(scope="module")
def ml100k_slice(raw_files):
    """The slice as MovieLens-100K's atomic rows: (inter rows, item rows, user rows, headers)."""
    inter_header, inter = atomic_rows(raw_files.inter)
    item_header, items = atomic_rows(raw_files.item)
    user_header, users = atomic_rows(raw_files.user)
    inter = [row for row in inter if int(row[0]) <= USERS]
    return {"inter": (inter_header, inter), "item": (item_header, items), "user": (user_header, users)}


def dat_files(ml100k_slice) -> dict[str, bytes]:
    """ratings.dat, movies.dat and users.dat of the slice, written as in the MovieLens-1M release."""
    _, inter = ml100k_slice["inter"]
    _, items = ml100k_slice["item"]
    _, users = ml100k_slice["user"]
    ratings = [f"{user}::{item}::{rating}::{time}" for user, item, rating, time in inter]
    movies = [f"{item}::{title} ({year})::{'|'.join(genres.split())}" if year.isdigit() else
              f"{item}::{title}::{'|'.join(genres.split())}" for item, title, year, genres in items]
    people = [f"{user}::{gender}::{age}::{occupation}::{zip_code}" for user, age, gender, occupation, zip_code in users]
    return {name: ("\n".join(lines) + "\n").encode("latin-1")
            for name, lines in (("ratings.dat", ratings), ("movies.dat", movies), ("users.dat", people))}


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ml-1m/", b"")
        archive.writestr("ml-1m/README", b"SUMMARY\n=======\nA slice in the MovieLens-1M format.\n")
        for name, content in files.items():
            archive.writestr(f"ml-1m/{name}", content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(ml100k_slice) -> bytes:
    return zipped(dat_files(ml100k_slice))


@pytest.fixture
def server():
    """A local HTTP server of `server.files` (path -> bytes), counting the requests it answered."""
    files: dict[str, bytes] = {}
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.files, httpd.requests = files, requests
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url():
    """An address where nothing listens (a port bound and released again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ml-1m.zip"


def serve(monkeypatch, server, body: bytes, md5: str | None = None) -> str:
    """Serve `body` as the archive and make the source expect it (or `md5`)."""
    server.files["/datasets/ml-1m.zip"] = body
    point_at(monkeypatch, f"{server.url}/datasets/ml-1m.zip", md5 or hashlib.md5(body).hexdigest())
    return f"{server.url}/datasets/ml-1m.zip"


def point_at(monkeypatch, url: str, md5: str | None = None) -> None:
    source = sources.BUILTIN_SOURCES["ml-1m"]
    monkeypatch.setitem(sources.BUILTIN_SOURCES, "ml-1m", dataclasses.replace(source, url=url, md5=md5 or source.md5))


def cache_contents(raw_dir) -> list[str]:
    return sorted(str(path.relative_to(raw_dir)) for path in raw_dir.rglob("*"))


# ---------------------------------------------------------------------------------------------


def test_the_source_is_the_grouplens_release():
    source = sources.BUILTIN_SOURCES["ml-1m"]
    assert isinstance(source, sources.ZipSource)
    assert source.url == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert source.md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert source.sha256 == "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
    assert isinstance(sources.BUILTIN_SOURCES["ml-100k"], sources.WheelSource)


def test_download_converts_to_the_atomic_files_of_the_reader(monkeypatch, server, archive, ml100k_slice, tmp_path):
    serve(monkeypatch, server, archive)
    raw = sources.fetch_raw(ML1M, tmp_path)
    assert len(server.requests) == 1
    assert "downloaded" in raw.how and "only the md5 is checked" in raw.how  # the slice is not the real release
    assert (tmp_path / "ml-1m.zip").read_bytes() == archive
    assert cache_contents(tmp_path) == ["ml-1m", "ml-1m.zip", "ml-1m/converted.json", "ml-1m/ml-1m.inter",
                                        "ml-1m/ml-1m.item", "ml-1m/ml-1m.user"]  # no temporary left
    assert (raw.inter, raw.item, raw.user) == tuple(tmp_path / "ml-1m" / f"ml-1m.{kind}" for kind in ("inter", "item", "user"))

    # The same headers, columns and rows as MovieLens-100K's atomic files of the recbole wheel.
    for kind, path in (("inter", raw.inter), ("item", raw.item), ("user", raw.user)):
        header, rows = atomic_rows(path)
        expected_header, expected = ml100k_slice[kind]
        assert header == expected_header
        if kind == "item":  # one MovieLens-100K title keeps its year in the title ("(1995)", year "V")
            expected = [row for row in expected if row[2].isdigit()]
            rows = [row for row in rows if row[0] in {item for item, *_ in expected}]
        assert rows == expected
    # The Latin-1 title round-trips; genres are space-separated, one token each.
    item_header, items = atomic_rows(raw.item)
    by_item = {row[0]: dict(zip((name.split(":")[0] for name in item_header), row)) for row in items}
    assert by_item["543"]["movie_title"] == "Misérables, Les" and by_item["543"]["release_year"] == "1995"
    assert by_item["1322"]["movie_title"] == "Metisse (Café au Lait)"
    assert by_item["1"]["class"].split() == ["Animation", "Children's", "Comedy"]
    assert {"Film-Noir", "Sci-Fi", "Children's"} <= {genre for row in by_item.values() for genre in row["class"].split()}
    user_header, users = atomic_rows(raw.user)
    first = dict(zip((name.split(":")[0] for name in user_header), users[0]))
    assert (first["user_id"], first["gender"], first["age"]) == ("1", "M", "24")
    recorded = json.loads((tmp_path / "ml-1m" / "converted.json").read_text())
    assert recorded["archive_md5"] == hashlib.md5(archive).hexdigest()


def test_the_converted_files_prepare_as_the_same_slice_read_as_atomic_files(monkeypatch, server, archive,
                                                                          ml100k_slice, tmp_path):
    serve(monkeypatch, server, archive)
    converted = data.prepare_dataset(sources.fetch_raw(ML1M, tmp_path / "zip"), ML1M, PREPARE)
    # The slice written directly as atomic files (your-own-data-set path), for comparison.
    own = tmp_path / "atomic" / "slice"
    own.mkdir(parents=True)
    for kind, (header, rows) in ml100k_slice.items():
        (own / f"slice.{kind}").write_text("".join("\t".join(row) + "\n" for row in [header, *rows]), encoding="utf-8")
    direct = data.prepare_dataset(sources.fetch_raw(config.DataConfig(name="slice"), tmp_path / "atomic"),
                                  config.DataConfig(name="slice"), PREPARE)
    assert converted.n_users == direct.n_users and 50 <= converted.n_users <= USERS
    assert converted.n_items == direct.n_items > 100
    for name in ("user_ids", "item_ids", "item_categories", "category_names", "sequence_start", "sequence_items",
                 "sequence_times", "seen_items"):
        assert np.array_equal(getattr(converted, name), getattr(direct, name)), name
    assert np.array_equal(converted.test.negatives, direct.test.negatives)
    for attribute in ("gender", "age"):
        assert np.array_equal(converted.user_attributes[attribute], direct.user_attributes[attribute])
    assert set(converted.user_attributes["gender"][1:]) == {"F", "M"}
    kept = converted.item_titles[1:]
    assert np.array_equal(kept, direct.item_titles[1:]) or "1412" in converted.item_ids
    assert "Children's" in converted.category_names and "Sci-Fi" in converted.category_names


def test_a_rerun_uses_the_cache_without_the_network(monkeypatch, server, archive, closed_port_url, tmp_path):
    serve(monkeypatch, server, archive)
    first = sources.fetch_raw(ML1M, tmp_path)
    contents = {path: path.read_bytes() for path in (first.inter, first.item, first.user)}
    point_at(monkeypatch, closed_port_url, hashlib.md5(archive).hexdigest())
    again = sources.fetch_raw(ML1M, tmp_path)
    assert "already converted" in again.how
    assert {path: path.read_bytes() for path in (again.inter, again.item, again.user)} == contents
    # Without the converted files, the cached archive is converted again, still without a download.
    for path in (tmp_path / "ml-1m").iterdir():
        path.unlink()
    from_zip = sources.fetch_raw(ML1M, tmp_path)
    assert "used the archive found at" in from_zip.how
    assert {path: path.read_bytes() for path in (from_zip.inter, from_zip.item, from_zip.user)} == contents
    assert len(server.requests) == 1


def test_a_damaged_converted_file_is_named(monkeypatch, server, archive, tmp_path):
    serve(monkeypatch, server, archive)
    raw = sources.fetch_raw(ML1M, tmp_path)
    with open(raw.item, "a", encoding="utf-8") as handle:
        handle.write("9999\tExtra\t2000\tDrama\n")
    with pytest.raises(sources.DataError, match=r"checksum mismatch for .*ml-1m\.item: .*delete .*ml-1m to convert"):
        sources.fetch_raw(ML1M, tmp_path)


def test_a_wrong_checksum_is_refused_and_nothing_is_cached(monkeypatch, server, archive, tmp_path):
    url = serve(monkeypatch, server, archive, md5="0" * 32)
    with pytest.raises(sources.DataError) as error:
        sources.fetch_raw(ML1M, tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"checksum mismatch for the download of {url}: md5 {hashlib.md5(archive).hexdigest()}, "
                              f"expected {'0' * 32}.")
    assert len(server.requests) == 1
    assert cache_contents(tmp_path) == []  # no archive, no temporary, no converted folder


def test_offline_is_one_line_naming_where_the_archive_goes(monkeypatch, closed_port_url, tmp_path):
    point_at(monkeypatch, closed_port_url)
    with pytest.raises(sources.DataError) as error:
        sources.fetch_raw(ML1M, tmp_path / "raw")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"could not download {closed_port_url} (")
    assert f"put it at {tmp_path / 'raw' / 'ml-1m.zip'};" in message and "picks it up" in message
    assert cache_contents(tmp_path / "raw") == []


def test_an_archive_put_by_hand_is_used_and_checked(monkeypatch, archive, closed_port_url, tmp_path):
    point_at(monkeypatch, closed_port_url, hashlib.md5(archive).hexdigest())
    (tmp_path / "ml-1m.zip").write_bytes(archive)
    raw = sources.fetch_raw(ML1M, tmp_path)
    assert "used the archive found at" in raw.how and raw.item.exists()
    other = tmp_path / "other"
    other.mkdir()
    damaged = bytearray(archive)
    damaged[len(damaged) // 2] ^= 0xFF
    (other / "ml-1m.zip").write_bytes(bytes(damaged))
    with pytest.raises(sources.DataError, match=r"checksum mismatch for .*other/ml-1m\.zip: md5 .*delete .*and re-run"):
        sources.fetch_raw(ML1M, other)
    assert cache_contents(other) == ["ml-1m.zip"]  # the hand-placed file stays; nothing converted


def assert_refused_in_one_line(monkeypatch, server, served: bytes, tmp_path, match: str) -> None:
    """Serving `served` makes the fetch fail with one DataError line matching `match`, and nothing is cached."""
    serve(monkeypatch, server, served)
    with pytest.raises(sources.DataError, match=match) as error:
        sources.fetch_raw(ML1M, tmp_path)
    assert "\n" not in str(error.value)
    assert cache_contents(tmp_path) == []


def test_an_archive_without_users_dat(monkeypatch, server, ml100k_slice, tmp_path):
    files = dat_files(ml100k_slice)
    del files["users.dat"]
    assert_refused_in_one_line(monkeypatch, server, zipped(files), tmp_path,
                               r"has no ml-1m/users\.dat: it is not the MovieLens-1M release; nothing was kept")


def test_a_truncated_archive_that_passes_the_checksum(monkeypatch, server, archive, tmp_path):
    assert_refused_in_one_line(monkeypatch, server, archive[: len(archive) // 2], tmp_path,
                               r"is not a readable zip archive \(.*\); nothing was kept")


def test_a_dat_line_with_the_wrong_field_count_is_named(monkeypatch, server, ml100k_slice, tmp_path):
    files = dat_files(ml100k_slice)
    lines = files["ratings.dat"].split(b"\n")
    lines[6] += b"::5"  # line 7 gets a fifth field
    files["ratings.dat"] = b"\n".join(lines)
    assert_refused_in_one_line(monkeypatch, server, zipped(files), tmp_path,
                               r"ml-1m/ratings\.dat line 7 in the download of .* has 5 '::'-separated "
                               r"fields, expected 4 \(UserID::MovieID::Rating::Timestamp\)")


def test_a_failed_conversion_leaves_the_earlier_cache_as_it_was(monkeypatch, server, ml100k_slice, archive, tmp_path):
    serve(monkeypatch, server, archive)
    raw = sources.fetch_raw(ML1M, tmp_path)
    raw.user.unlink()  # an incomplete cache: converted again from the archive, which is now a bad one
    before = {path: path.read_bytes() for path in (tmp_path / "ml-1m").iterdir()}
    files = dat_files(ml100k_slice)
    files["movies.dat"] = files["movies.dat"].replace(b"1::Toy Story (1995)::", b"x::Toy Story (1995)::", 1)
    bad = zipped(files)
    (tmp_path / "ml-1m.zip").write_bytes(bad)
    point_at(monkeypatch, f"{server.url}/unused", hashlib.md5(bad).hexdigest())
    with pytest.raises(sources.DataError, match=r"ml-1m/movies\.dat line 1 in .*ml-1m\.zip has MovieID 'x', not a whole "
                                                r"number.*delete .*ml-1m\.zip and re-run"):
        sources.fetch_raw(ML1M, tmp_path)
    assert {path: path.read_bytes() for path in (tmp_path / "ml-1m").iterdir()} == before
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temporary folder left


def test_latin1_text_is_split_only_at_newlines(monkeypatch, server, ml100k_slice, tmp_path):
    """Byte 0x85 is a Latin-1 character (U+0085), not a line break."""
    files = dat_files(ml100k_slice)
    files["movies.dat"] = files["movies.dat"].replace(b"2::GoldenEye (1995)::", b"2::Golden\x85Eye (1995)::", 1)
    serve(monkeypatch, server, zipped(files))
    raw = sources.fetch_raw(ML1M, tmp_path)
    _, items = atomic_rows(raw.item)
    assert [row for row in items if row[0] == "2"][0][1] == "Golden\x85Eye"
    items = sources.read_atomic(raw.item)  # the package's reader agrees
    assert len(items) == 1682 and items.set_index("item_id").loc["2", "movie_title"] == "Golden\x85Eye"


def test_unknown_names_list_both_built_in_data_sets(tmp_path):
    with pytest.raises(sources.DataError, match=r"unknown data set data.name = 'ml-10m': the built-in ones are "
                                                r"ml-100k, ml-1m;"):
        sources.fetch_raw(config.DataConfig(name="ml-10m"), tmp_path)
