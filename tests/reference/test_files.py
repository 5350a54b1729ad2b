"""Target-to-file mapping: what is served, and above all what never is."""

from __future__ import annotations

import os

import pytest

from reference import files


@pytest.fixture
def root(tmp_path):
    served = tmp_path / "root"
    (served / "dir").mkdir(parents=True)
    (served / "index.html").write_text("home")
    (served / "dir" / "index.html").write_text("dir home")
    (served / "space dir").mkdir()
    (served / "café").mkdir()
    (served / "what?").mkdir()
    (served / "café.txt").write_text("coffee")
    (served / "with space.txt").write_text("space")
    (served / "%2e%2e").write_text("literal name")
    (tmp_path / "canary.txt").write_text("SECRET")
    (served / "escape").symlink_to(tmp_path / "canary.txt")
    (served / "escape-dir").symlink_to(tmp_path)
    (served / "inside").symlink_to(served / "café.txt")
    return os.path.realpath(served)


def name_of(found: files.Resolution) -> str:
    assert isinstance(found, files.StaticFile), found
    return os.path.basename(found.path)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/", "index.html"),
        (b"/dir/", "index.html"),
        (b"/caf%C3%A9.txt", "café.txt"),
        (b"/with%20space.txt?x=1#frag", "with space.txt"),
        (b"/dir/../with%20space.txt", "with space.txt"),
        (b"/./dir/./index.html", "index.html"),
        (b"http://example.org/caf%C3%A9.txt", "café.txt"),
        (b"/%252e%252e", "%2e%2e"),
        (b"/inside", "café.txt"),
    ],
)
def test_serves_files_under_the_root(root, target, expected):
    assert name_of(files.resolve(root, target)) == expected


@pytest.mark.parametrize(
    "target",
    [
        b"/../canary.txt",
        b"/%2e%2e/canary.txt",
        b"/..%2fcanary.txt",
        b"/dir/../../canary.txt",
        b"/%2E%2E%2Fcanary.txt",
        b"/x%00.html",
        b"/%ff",
        b"http://example.org/../canary.txt",
        b"*",
        b"canary.txt",
        b"/..\\canary.txt",
    ],
)
def test_refuses_targets_that_climb_out_or_cannot_be_read(root, target):
    assert isinstance(files.resolve(root, target), files.BadTarget)


@pytest.mark.parametrize("target", [b"/escape", b"/escape-dir/canary.txt", b"/missing"])
def test_symlinks_out_of_the_root_are_not_found(root, target):
    assert isinstance(files.resolve(root, target), files.NotFound)


def test_a_directory_without_its_slash_redirects_keeping_the_query(root):
    assert files.resolve(root, b"/dir?a=b") == files.Redirect("/dir/?a=b")


@pytest.mark.parametrize(
    ("target", "location"),
    [
        (b"/dir", "/dir/"),
        (b"//dir", "/dir/"),
        (b"///dir", "/dir/"),
        (b"//dir?x=1", "/dir/?x=1"),
        (b"//dir?//evil.example/", "/dir/?//evil.example/"),
        (b"/%2fdir", "/dir/"),
        (b"/%2F%2Fdir", "/dir/"),
        (b"/./dir", "/dir/"),
        (b"/dir/.", "/dir/"),
        (b"/dir/..", "/"),
        (b"/.", "/"),
        (b"http://example.org//dir?x=1", "/dir/?x=1"),
        (b"/space%20dir", "/space%20dir/"),
        (b"/caf%c3%a9", "/caf%C3%A9/"),
        (b"/what%3F", "/what%3F/"),
    ],
)
def test_a_redirect_names_the_normalised_path_on_this_host(root, target, location):
    """Location is rebuilt from the normalised path: ``//dir/`` would be another host."""
    found = files.resolve(root, target)
    assert found == files.Redirect(location)
    assert found.location.startswith("/") and not found.location.startswith("//")


def test_content_types_are_fixed_and_text_is_utf8():
    assert files.content_type_for("a.HTML") == "text/html; charset=utf-8"
    assert files.content_type_for("a.txt") == "text/plain; charset=utf-8"
    assert files.content_type_for("a.png") == "image/png"
    assert files.content_type_for("a.unknown") == "application/octet-stream"
