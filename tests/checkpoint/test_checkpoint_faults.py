"""Fault injection: a writer killed (SIGKILL, SIGINT) or failing (ENOSPC) at any step of the
data phase (pwrite) or the commit phase (fsync, link, rename, exchange) leaves ``out_dir``
exactly the old checkpoint or exactly the new one, and the next writer recovers.

Each kill runs in a forked child (fastinit and torch are already imported, so a run takes
milliseconds); the step counter wraps the module attributes the writer calls the system
through, and at step k the child signals itself.
"""

import errno
import os
import signal

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402
from fastinit.checkpoint import _staged_dir as staged  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120,
          "initializer_range": 0.02}
OLD = dict(seed=1, max_shard_size="40KB")
NEW = dict(seed=2, max_shard_size="25KB")  # other seed, more shards: other file names
STEPS = [(writer_mod, "_pwrite"), (writer_mod, "_fsync"), (staged, "_fsync"),
         (staged, "_link"), (staged, "_rename"), (staged, "_exchange")]


def write(out, which, **kw):
    return fastinit.checkpoint(CONFIG, out, chunk_bytes=4000, workers=1, progress=False,
                               **which, **kw)


def snapshot(out):
    if not os.path.isdir(out):
        return None
    files = {}
    for n in sorted(os.listdir(out)):
        with open(os.path.join(out, n), "rb") as f:
            files[n] = f.read()
    return files


def counting(monkeypatch, at, action, log=None):
    """Wrap every system step; call ``action(kind)`` when step number ``at`` comes."""
    count = [0]
    for mod, attr in STEPS:
        real = getattr(mod, attr)

        def step(*a, _real=real, _kind=f"{mod.__name__.split('.')[-1]}.{attr}", **k):
            count[0] += 1
            if log is not None:
                log.append(_kind)
            if count[0] == at:
                action(_kind)
            return _real(*a, **k)

        monkeypatch.setattr(mod, attr, step)


def run_killed(out, at, sig, no_exchange):
    """Fork a writer of NEW that signals itself at step ``at``; its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            mp = pytest.MonkeyPatch()
            if no_exchange:
                mp.setattr(staged, "_exchange", lambda *a: False)
            counting(mp, at, lambda kind: os.kill(os.getpid(), sig))
            write(out, NEW)
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            code = 3
        os._exit(code)
    return os.waitpid(pid, 0)[1]


def leftovers(tmp_path, out):
    return sorted(n for n in os.listdir(tmp_path) if n != os.path.basename(out))


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """The new checkpoint's files, and the steps a writer takes over an old checkpoint (with
    and without the exchange)."""
    d = tmp_path_factory.mktemp("refs")
    write(d / "new", NEW)
    logs = {}
    for no_exchange in (False, True):
        write(d / "over", OLD)
        with pytest.MonkeyPatch.context() as mp:
            if no_exchange:
                mp.setattr(staged, "_exchange", lambda *a: False)
            logs[no_exchange] = []
            counting(mp, -1, None, logs[no_exchange])
            write(d / "over", NEW)
        assert snapshot(d / "over") == snapshot(d / "new")
    return snapshot(d / "new"), logs


def pick(log):
    """Every commit-phase step, and data-phase steps spread over the writes."""
    data = [i + 1 for i, k in enumerate(log) if k.endswith("_pwrite")]
    commit = [i + 1 for i, k in enumerate(log) if not k.endswith("_pwrite")]
    return sorted(set(data[:: max(1, len(data) // 8)] + [data[-1]] + commit))


@pytest.mark.parametrize("no_exchange", [False, True], ids=["exchange", "rename-fallback"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("existing", [True, False], ids=["over-old", "fresh"])
def test_killed_writer_leaves_old_or_new(tmp_path, references, sig, existing, no_exchange):
    new, logs = references
    log = logs[no_exchange]
    out = tmp_path / "out"
    if existing:
        write(out, OLD)
    old = snapshot(out)
    seen = {}
    for at in pick(log):
        status = run_killed(out, at, sig, no_exchange)
        assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) in (0, 130), (at, status)
        now = snapshot(out)
        if no_exchange and existing and now is None:  # killed between the fallback's renames
            assert snapshot(tmp_path / ".out.fastinit-replaced") == old
            write(out, OLD)  # the next writer renames it back first
            now = old
        assert now in (old, new), f"step {at} ({log[at - 1]}): neither old nor new"
        if now is not None:
            assert fastinit.verify(out) == [], at
        left = leftovers(tmp_path, out)
        if sig == signal.SIGINT:
            assert left == [], (at, log[at - 1], left)  # Ctrl-C cleans up before exiting
        else:
            assert set(left) <= {".out.fastinit-staging", ".out.fastinit-lock",
                                 ".out.fastinit-replaced"}, left
        seen[(log[at - 1], now == new)] = left
        if now == new:  # the next writer cleans up; put the old checkpoint back
            if existing:
                write(out, OLD)
            else:
                for n in os.listdir(out):
                    os.unlink(out / n)
                os.rmdir(out)
        assert snapshot(out) == old
    assert any(is_new for _, is_new in seen) and any(not is_new for _, is_new in seen)
    write(out, NEW)  # and a run after the last kill completes normally
    assert snapshot(out) == new and leftovers(tmp_path, out) == []


@pytest.mark.parametrize("no_exchange", [False, True], ids=["exchange", "rename-fallback"])
def test_enospc_at_every_system_step(tmp_path, references, monkeypatch, no_exchange):
    """An OSError at each fsync / link / rename / exchange (and some pwrites): the old
    checkpoint stays or the new one is complete, and nothing else is left."""
    new, logs = references
    log = logs[no_exchange]
    out = tmp_path / "out"
    write(out, OLD)
    old = snapshot(out)

    def fail(kind):
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    for at in pick(log):
        with pytest.MonkeyPatch.context() as mp:
            if no_exchange:
                mp.setattr(staged, "_exchange", lambda *a: False)
            counting(mp, at, fail)
            try:
                write(out, NEW)
                failed = False
            except OSError as e:
                assert "injected" in str(e)
                failed = True
        now = snapshot(out)
        assert now in (old, new) and (failed or now == new), (at, log[at - 1])
        assert leftovers(tmp_path, out) == [], (at, log[at - 1])
        if not failed:
            write(out, OLD)
