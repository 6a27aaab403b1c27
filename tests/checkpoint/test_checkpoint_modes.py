"""A rewritten out_dir keeps its mode, owner and group; the staging directory is private while
it fills; every file of a checkpoint has one mode (what open() gives under the umask); a writer
that could not keep out_dir's owner or group refuses before writing; a mount point or a file
where out_dir belongs is refused up front, in one line."""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402

from fs_layouts import NOBODY, as_user, can_drop_privileges  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}


@pytest.fixture
def shared():
    """A directory every user can write to, outside pytest's 0700 tmp (``nobody`` reaches it)."""
    base = tempfile.mkdtemp(prefix="fastinit-modes-")
    os.chmod(base, 0o777)
    yield base
    shutil.rmtree(base)


def mode_owner(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def file_modes(path):
    return {n: stat.S_IMODE(os.stat(os.path.join(path, n)).st_mode) for n in os.listdir(path)}


def write(out, uid=None, umask=None, **kw):
    def run():
        if umask is not None:
            os.umask(umask)
        fastinit.checkpoint(CONFIG, out, progress=False, **kw)

    status, value = as_user(uid, run)
    assert status == "ok", value


@pytest.mark.parametrize("mode, owner, group", [(0o700, NOBODY, NOBODY), (0o2770, 0, NOBODY),
                                                (0o750, 0, 0), (0o1777, NOBODY, 0)])
def test_root_rewriting_keeps_mode_owner_and_group(shared, mode, owner, group):
    reason = can_drop_privileges()
    if reason:
        pytest.skip(reason)
    out = os.path.join(shared, "ckpt")
    write(out, seed=1)
    os.chown(out, owner, group)
    os.chmod(out, mode)
    write(out, seed=2, max_shard_size="40KB")
    assert mode_owner(out) == (mode, owner, group)
    assert fastinit.verify(out, seed=2) == []
    assert sorted(os.listdir(shared)) == ["ckpt"]


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_a_new_out_dir_gets_what_mkdir_gives_and_every_file_one_mode(shared, umask):
    out = os.path.join(shared, "ckpt")
    write(out, umask=umask, seed=1, max_shard_size="40KB")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o777 & ~umask
    assert set(file_modes(out).values()) == {0o666 & ~umask}, file_modes(out)


def test_the_staging_directory_is_private_while_it_fills(shared, monkeypatch):
    out = os.path.join(shared, "ckpt")
    write(out, seed=1)
    os.chmod(out, 0o755)
    seen = []
    real = writer_mod._pwrite

    def look(fd, data, off):
        seen.append(stat.S_IMODE(os.stat(os.path.join(shared, ".ckpt.fastinit-staging"))
                                 .st_mode))
        return real(fd, data, off)

    monkeypatch.setattr(writer_mod, "_pwrite", look)
    fastinit.checkpoint(CONFIG, out, seed=2, progress=False)
    assert seen and set(seen) == {0o700}
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755


def test_a_writer_that_cannot_keep_the_owner_or_group_refuses_first(shared):
    reason = can_drop_privileges()
    if reason:
        pytest.skip(reason)
    out = os.path.join(shared, "ckpt")
    write(out, seed=1)
    os.chmod(out, 0o777)  # nobody could write into it, but not give it back to root
    status, value = as_user(NOBODY, lambda: fastinit.checkpoint(CONFIG, out, seed=2,
                                                                progress=False))
    assert status == "error" and "belongs to uid 0" in value, value
    os.chown(out, NOBODY, 0)  # nobody's, group root: nobody is not a member of group 0
    status, value = as_user(NOBODY, lambda: fastinit.checkpoint(CONFIG, out, seed=2,
                                                                progress=False))
    assert status == "error" and "has group 0" in value, value
    assert sorted(os.listdir(shared)) == ["ckpt"] and fastinit.verify(out, seed=1) == []


def test_a_mount_point_is_refused_before_anything_is_written(shared):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    out = os.path.join(shared, "ckpt")
    os.mkdir(out)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "none", out],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        with pytest.raises(ValueError, match="is a mount point"):
            fastinit.checkpoint(CONFIG, out, progress=False)
        assert os.listdir(out) == [] and sorted(os.listdir(shared)) == ["ckpt"]
    finally:
        subprocess.run(["umount", out], check=True)
