"""The sandbox's /etc is a copy of what every account may read there (coursekit/sandbox_privacy.py).

Made here from a small tree standing in for /etc, in a copies folder of the test's own.
"""

import os
import time

import pytest

from coursekit import sandbox_privacy
from coursekit.sandbox_privacy import public_etc


@pytest.fixture
def etc(tmp_path, monkeypatch):
    """A stand-in for /etc: public and private files and folders, and a link."""
    monkeypatch.setattr(sandbox_privacy, "etc_copies_folder", lambda: tmp_path / "copies")
    top = tmp_path / "etc"
    (top / "ssl" / "private").mkdir(parents=True)
    (top / "ssl" / "private" / "host.key").write_text("key")
    (top / "ssl" / "private").chmod(0o700)
    (top / "ssl" / "openssl.cnf").write_text("public")
    (top / "passwd").write_text("root:x:0:0\n")
    (top / "shadow").write_text("root:secret\n")
    (top / "shadow").chmod(0o640)
    (top / "localtime").symlink_to("/usr/share/zoneinfo/UTC")
    (top / "alias-of-shadow").symlink_to("shadow")
    return top


def test_the_copy_holds_what_every_account_may_read_and_nothing_else(etc):
    copy = public_etc(str(etc))
    assert (copy / "passwd").read_text() == "root:x:0:0\n"
    assert (copy / "ssl" / "openssl.cnf").read_text() == "public"
    assert not (copy / "shadow").exists() and not (copy / "alias-of-shadow").exists()
    assert (copy / "ssl" / "private").is_dir() and list((copy / "ssl" / "private").iterdir()) == []
    assert os.readlink(copy / "localtime") == "/usr/share/zoneinfo/UTC"
    assert copy.stat().st_mode & 0o777 == 0o755


def test_the_same_etc_gives_the_same_copy_and_a_changed_one_a_new_copy(etc):
    first = public_etc(str(etc))
    assert public_etc(str(etc)) == first
    (etc / "passwd").write_text("root:x:0:0\nalice:x:1000:1000\n")
    second = public_etc(str(etc))
    assert second != first and (second / "passwd").read_text().endswith("alice:x:1000:1000\n")
    assert (first / "passwd").read_text() == "root:x:0:0\n"  # a sandbox started on it keeps its view


def test_a_file_made_private_after_the_listing_is_not_copied(etc, monkeypatch):
    """The mode is checked again on the opened file: one that turned private on the way is left out."""
    real_open = os.open

    def open_after_chmod(path, *args, **kwargs):
        if str(path).endswith("passwd"):
            os.chmod(path, 0o600)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(sandbox_privacy.os, "open", open_after_chmod)
    assert not (public_etc(str(etc)) / "passwd").exists()


def test_copies_unused_for_an_hour_are_removed_when_a_new_one_is_made(etc):
    old = public_etc(str(etc))
    an_hour_ago = time.time() - sandbox_privacy.UNUSED_COPY_SECONDS - 1
    os.utime(old, (an_hour_ago, an_hour_ago))
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    new = public_etc(str(etc))
    assert new.is_dir() and not old.exists()


def test_a_copies_folder_others_may_write_to_is_refused_by_name(etc):
    copies = sandbox_privacy.etc_copies_folder()
    copies.mkdir(mode=0o700)
    copies.chmod(0o777)
    with pytest.raises(PermissionError, match=f"{copies}: the sandbox's copies of /etc .* mode 0o40777"):
        public_etc(str(etc))
