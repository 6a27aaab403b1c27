"""A checkpoint written into a directory others may write to (mode 0777, not sticky, as shared
and group-writable filesystems often are): whatever another user puts beside ``out_dir``
(links, files, directories, FIFOs, hard links, a forged marker), or swaps in between any two
steps of the write, nothing outside the checkpoint is written, deleted or followed, ``out_dir``
never becomes a link, and the writer says so in one line (CLI exit 2).

Each case runs with the writer as root and the other user as ``nobody``, with the writer as
``nobody`` and the other user as root (both need root: to own files as another user and to drop
privileges), and with one user for both ("self", which runs anywhere).
"""

import contextlib
import io
import json
import os
import shutil
import signal
import tempfile
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402
from fastinit.checkpoint import _staged_dir as staged  # noqa: E402
from fastinit.checkpoint._leftovers import Record  # noqa: E402
from fastinit.cli import main  # noqa: E402

from fs_layouts import NOBODY, as_user, can_drop_privileges, tree  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}
STAGING, REPLACED, LOCK = (".ckpt.fastinit-staging", ".ckpt.fastinit-replaced",
                           ".ckpt.fastinit-lock")
WHO = ["root-writes", "nobody-writes", "self"]


def identity(who):
    """(the writer's uid, None: this process's; the other user's uid)."""
    if who == "self":
        return None, os.geteuid()
    reason = can_drop_privileges()
    if reason:
        pytest.skip(reason)
    return (None, NOBODY) if who == "root-writes" else (NOBODY, 0)


@pytest.fixture
def site():
    """base (0755) / shared (0777: out_dir's parent, writable by all), victim (another
    checkpoint of the writer's), cfg.json. Outside pytest's 0700 tmp so ``nobody`` can reach."""
    base = tempfile.mkdtemp(prefix="fastinit-shared-")
    os.chmod(base, 0o755)
    shared = os.path.join(base, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    cfg = os.path.join(base, "cfg.json")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f)
    os.chmod(cfg, 0o644)
    yield SimpleNamespace(base=base, shared=shared, out=os.path.join(shared, "ckpt"),
                          victim=os.path.join(base, "victim"), cfg=cfg)
    shutil.rmtree(base)


def own(path, uid):
    """chown -R (links themselves) to ``uid`` when this process can."""
    if uid is None or os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, uid)
    os.lchown(path, uid, uid)


def cli(uid, *args):
    """``fastinit ARGS`` in a child running as ``uid``: (exit code, stderr)."""
    def run():
        signal.alarm(120)  # a writer blocked on a FIFO fails the test instead of hanging it
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, err.getvalue()

    status, value = as_user(uid, run)
    assert status == "ok", value
    return value


def write(site, uid, seed, *extra):
    return cli(uid, "checkpoint", site.cfg, "--out", site.out, "--quiet", "--seed", str(seed),
               *extra)


def make_victim(site, writer):
    fastinit.checkpoint(CONFIG, site.victim, seed=9, progress=False)
    with open(os.path.join(site.victim, "notes.txt"), "w") as f:
        f.write("the victim's own file")
    own(site.victim, NOBODY if writer == NOBODY else None)


def planted(site, attacker, name, kind, target=None):
    """Put ``kind`` at ``name`` in the shared directory, owned by ``attacker``."""
    path = os.path.join(site.shared, name)
    if kind == "link":
        os.symlink(target, path)
    elif kind == "file":
        open(path, "w").close()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.mkdir(path)
        with open(os.path.join(path, "config.json"), "w") as f:
            f.write("{}")
        with open(os.path.join(path, "model-00001-of-00001.safetensors"), "wb") as f:
            f.write(b"someone's data")
    elif kind == "hardlink":
        os.link(target, path)
        return path  # the target's owner stays
    if kind == "forged-marker":
        os.mkdir(path)
        with open(os.path.join(path, "config.json"), "w") as f:
            f.write("{}")
        rec = Record("ckpt", "0" * 32, ("config.json", ".fastinit-staging"))
        with open(os.path.join(path, ".fastinit-staging"), "wb") as f:
            f.write(rec.dumps())
    own(path, attacker)
    return path


# name, (entry, kind, target: "victim" / "nowhere" / "victim-file"), old out_dir exists,
# needs another user, words of the refusal
LAYOUTS = [
    ("staging-link-to-another-checkpoint", (STAGING, "link", "victim"), False, False,
     "is a symbolic link"),
    ("staging-link-over-an-old-checkpoint", (STAGING, "link", "victim"), True, False,
     "is a symbolic link"),
    ("replaced-link-beside-out_dir", (REPLACED, "link", "victim"), True, False,
     "is a symbolic link"),
    ("replaced-link-without-out_dir", (REPLACED, "link", "victim"), False, False,
     "is a symbolic link"),
    ("lock-dangling-link", (LOCK, "link", "nowhere"), False, False, "is a symbolic link"),
    ("lock-hard-link-to-a-file", (LOCK, "hardlink", "victim-file"), False, False,
     "with 2 hard links"),
    ("lock-fifo", (LOCK, "fifo", None), False, False, "is a FIFO"),
    ("lock-directory", (LOCK, "dir", None), False, False, "is a directory"),
    ("lock-of-another-user", (LOCK, "file", None), True, True, "belongs to uid"),
    ("staging-file", (STAGING, "file", None), False, False, "is a file"),
    ("staging-fifo", (STAGING, "fifo", None), True, False, "is a FIFO"),
    ("staging-directory-without-marker", (STAGING, "dir", None), True, False,
     "without fastinit's marker"),
    ("staging-directory-forged-marker", (STAGING, "forged-marker", None), True, True,
     "without fastinit's marker"),
    ("replaced-directory-without-journal", (REPLACED, "dir", None), False, False,
     "journal does not name"),
    ("out_dir-is-a-link", ("ckpt", "link", "victim"), False, False,
     "is a symbolic link (to"),
]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name, entry, old, other_user, words", LAYOUTS,
                         ids=[c[0] for c in LAYOUTS])
def test_a_planted_sibling_is_refused_and_nothing_is_touched(site, who, name, entry, old,
                                                             other_user, words):
    writer, attacker = identity(who)
    if other_user and who == "self":
        pytest.skip("the case needs an entry of another user")
    make_victim(site, writer)
    if old:
        assert write(site, writer, 1)[0] == 0
    target = {"victim": site.victim, "nowhere": os.path.join(site.base, "nologin"),
              "victim-file": os.path.join(site.victim, "config.json"), None: None}[entry[2]]
    planted(site, attacker, entry[0], entry[1], target)
    victim, shared = tree(site.victim), tree(site.shared)

    code, err = write(site, writer, 2)

    assert code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "[Errno" not in err
    assert tree(site.victim) == victim  # nothing deleted, written or created through a link
    assert tree(site.shared) == shared  # the planted entry, out_dir: as they were
    assert not os.path.lexists(os.path.join(site.base, "nologin"))


def _stealing_hook(monkeypatch, at, steal, log):
    """Wrap the writer's system steps; before step ``at``, call ``steal()``."""
    count = [0]
    for mod, attr in [(writer_mod, "_pwrite"), (writer_mod, "_fsync"), (staged, "_fsync"),
                      (staged, "_link"), (staged, "_rename"), (staged, "_exchange")]:
        real = getattr(mod, attr)

        def step(*a, _real=real, _kind=attr, **k):
            count[0] += 1
            log.append(_kind)
            if count[0] == at:
                steal()
            return _real(*a, **k)

        monkeypatch.setattr(mod, attr, step)


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "rename-fallback"])
@pytest.mark.parametrize("who", WHO)
def test_staging_swapped_for_a_link_between_any_two_steps(site, who, exchange):
    """The other user renames the staging directory away and puts a link to another
    checkpoint in its place, before each system step of the write in turn: the write goes on
    into fastinit's own directory or stops, the victim is untouched, and out_dir is the old or
    the new checkpoint, never a link."""
    writer, attacker = identity(who)
    make_victim(site, writer)
    assert write(site, writer, 1)[0] == 0
    old = tree(site.out)
    victim = tree(site.victim)
    stage = os.path.join(site.shared, STAGING)

    def run(at, log):
        signal.alarm(120)
        mp = pytest.MonkeyPatch()
        if not exchange:
            mp.setattr(staged, "_exchange", lambda *a: False)

        def steal():
            if os.path.lexists(stage):
                os.rename(stage, os.path.join(site.shared, f"stolen-{at}"))
            os.symlink(site.victim, stage)
            if os.geteuid() == 0 and attacker:
                os.lchown(stage, attacker, attacker)

        _stealing_hook(mp, at, steal, log)
        try:
            fastinit.checkpoint(CONFIG, site.out, seed=2, max_shard_size="60KB",
                                chunk_bytes=20000, workers=1, progress=False)
            return "written", log
        except (ValueError, OSError) as e:
            return f"refused: {e}", log

    status, (_, steps) = as_user(writer, lambda: run(0, []))
    assert status == "ok"
    new = tree(site.out)
    assert write(site, writer, 1)[0] == 0
    picked = sorted(set(range(1, len(steps) + 1, 5)) | {
        i + 1 for i, k in enumerate(steps) if k != "_pwrite"})
    outcomes = set()
    for at in picked:
        status, value = as_user(writer, lambda: run(at, [])[0])
        assert status == "ok", value  # no other exception escaped
        assert tree(site.victim) == victim, (at, steps[at - 1])
        assert not os.path.islink(site.out)
        now = tree(site.out)
        assert now in (old, new), (at, steps[at - 1], value)
        if value != "written":  # stopped: before the swap, or while finishing after it
            assert "\n" not in value and (now == old or "holds the new checkpoint" in value), \
                (at, value)
        outcomes.add(value.split(":")[0])
        os.unlink(stage)  # the other user's link, left alone by the writer
        for n in os.listdir(site.shared):
            if n.startswith("stolen-"):
                shutil.rmtree(os.path.join(site.shared, n))
        assert set(os.listdir(site.shared)) <= {"ckpt", LOCK}, os.listdir(site.shared)
        if os.path.lexists(os.path.join(site.shared, LOCK)):
            os.unlink(os.path.join(site.shared, LOCK))  # a journal naming what was stolen
        if now == new:
            assert write(site, writer, 1)[0] == 0
    assert outcomes == {"written", "refused"}


@pytest.mark.parametrize("who", WHO)
def test_the_users_dot_files_are_never_taken_for_temporaries(site, who):
    writer, _ = identity(who)
    assert write(site, writer, 1)[0] == 0
    mine = {".config.json": b"{}", ".model-00001-of-00001.safetensors": b"mine",
            ".model.safetensors.index.json.partial": b"mine too"}
    for n, data in mine.items():
        with open(os.path.join(site.out, n), "wb") as f:
            f.write(data)
    own(site.out, NOBODY if writer == NOBODY else None)
    code, err = write(site, writer, 2, "--max-shard-size", "40KB")  # no --overwrite needed
    assert code == 0, err
    for n, data in mine.items():
        with open(os.path.join(site.out, n), "rb") as f:
            assert f.read() == data, n
    assert fastinit.verify(site.out, seed=2) == []
    assert sorted(os.listdir(site.shared)) == ["ckpt"]
