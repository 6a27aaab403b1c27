"""Checkpoints record which stream contract (fastinit.STREAM_VERSION) and which fastinit wrote
them; verify names a changed contract instead of reporting mismatches, and reads checkpoints
written before the field existed."""

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint._safetensors_read import read_header  # noqa: E402
from fastinit.cli import main  # noqa: E402

from checkpoint_edits import rewrite_header  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}


def shards(d):
    return sorted(p for p in d.iterdir() if p.name.endswith(".safetensors"))


def set_metadata(d, **values):
    """Set (a value) or drop (None) metadata keys in every shard."""
    def change(head):
        for k, v in values.items():
            if v is None:
                head["__metadata__"].pop(k, None)
            else:
                head["__metadata__"][k] = v

    for p in shards(d):
        rewrite_header(p, change)


@pytest.fixture
def ck(tmp_path):
    fastinit.checkpoint(CONFIG, tmp_path / "ck", seed=2, max_shard_size="60KB", progress=False)
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    fastinit.checkpoint_module(model, tmp_path / "module", seed=2, progress=False)
    return tmp_path


def test_the_version_is_exported_and_written():
    assert isinstance(fastinit.STREAM_VERSION, int) and fastinit.STREAM_VERSION >= 1
    assert "STREAM_VERSION" in fastinit.__all__


@pytest.mark.parametrize("which", ["ck", "module"])
def test_every_shard_records_contract_and_fastinit_version(ck, which):
    for p in shards(ck / which):
        meta = read_header(str(p))[0]["__metadata__"]
        assert meta["fastinit_stream_version"] == str(fastinit.STREAM_VERSION)
        assert meta["fastinit_version"] == fastinit.__version__


def test_verify_names_another_contract(ck, capsys):
    future = str(fastinit.STREAM_VERSION + 1)
    set_metadata(ck / "ck", fastinit_stream_version=future, fastinit_version="9.0.0")
    assert main(["verify", str(ck / "ck"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"written with stream contract v{future} (fastinit 9.0.0), this is "
                        f"v{fastinit.STREAM_VERSION} (fastinit {fastinit.__version__}); its "
                        f"values can only be recomputed by a fastinit of contract v{future}")
    assert len(err.splitlines()) == 1
    set_metadata(ck / "module", fastinit_stream_version=future)
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    with pytest.raises(ValueError, match=f"written with stream contract v{future} \\(fastinit "):
        fastinit.verify_module(model, ck / "module")


def test_a_checkpoint_from_before_the_field(ck):
    d = ck / "ck"
    set_metadata(d, fastinit_stream_version=None, fastinit_version=None)
    assert fastinit.verify(d) == []  # taken as v1, and it is
    last = shards(d)[-1]
    raw = bytearray(last.read_bytes())
    raw[-1] ^= 0x01
    last.write_bytes(bytes(raw))
    bad = fastinit.verify(d)
    assert len(bad) == 2 and bad[0].startswith("lm_head.weight rows")
    assert bad[1].startswith("(the files record no stream contract version")


def test_files_that_disagree_on_the_contract_are_named(ck):
    d = ck / "ck"
    first = shards(d)[0]
    rewrite_header(first, lambda h: h["__metadata__"].pop("fastinit_stream_version"))
    bad = fastinit.verify(d)
    assert any("fastinit_stream_version" in b and first.name in b for b in bad), bad
