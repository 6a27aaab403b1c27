"""The bits of a whole-model path do not depend on what was imported first.

Each case runs in a fresh process, twice: once with the model class imported lazily inside
``build()`` (its modules then first execute during the meta build), once with it imported
before. materialize and checkpoint_module must give the same bytes both ways (they used to
raise for Mixtral and Mamba2, and give other bits for RWKV, when the import came first inside
the build).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

SCRIPT = textwrap.dedent('''
    import hashlib, json, pathlib, sys, tempfile
    sys.path.insert(0, {tests!r})
    import conftest  # lets torchvision (imported by transformers) load without its C++ ops
    import fastinit, torch

    CONFIGS = {{
        "Mixtral": ("MixtralConfig", dict(hidden_size=64, intermediate_size=128,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    vocab_size=128, num_local_experts=4)),
        "Mamba2": ("Mamba2Config", dict(hidden_size=64, num_hidden_layers=2, vocab_size=128,
                   num_heads=8, head_dim=16, state_size=16, n_groups=1, expand=2)),
        "Rwkv": ("RwkvConfig", dict(hidden_size=64, num_hidden_layers=2, vocab_size=128,
                 attention_hidden_size=64, intermediate_size=128, context_length=32)),
    }}

    def builder(name):
        def build():
            import transformers  # lazily: the model's modules are first imported here
            config_cls, kwargs = CONFIGS[name]
            cls = getattr(transformers, name + "ForCausalLM")
            return cls(getattr(transformers, config_cls)(**kwargs))
        return build

    def digest(tensors):
        h = hashlib.sha256()
        for k in sorted(tensors):
            h.update(k.encode())
            h.update(tensors[k].detach().float().contiguous().numpy().tobytes())
        return h.hexdigest()

    out = {{}}
    for name in {names!r}:
        build = builder(name)
        if {eager!r}:
            build()  # the modules are imported before fastinit sees the build
        torch.manual_seed(11)
        out[name + " materialize"] = digest(fastinit.materialize(build, seed=3).state_dict())
        d = pathlib.Path(tempfile.mkdtemp())
        fastinit.checkpoint_module(build, d, seed=3, progress=False)
        from safetensors.torch import load_file
        files = {{}}
        for f in sorted(d.glob("*.safetensors")):
            files.update(load_file(str(f)))
        out[name + " checkpoint"] = digest(files)
    print("RESULT " + json.dumps(out))
''')


def _run(eager: bool, names):
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = SCRIPT.format(tests=tests, names=list(names), eager=eager)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_lazy_and_eager_imports_give_the_same_bits():
    names = ["Mixtral", "Mamba2", "Rwkv"]
    lazy, eager = _run(False, names), _run(True, names)
    assert lazy.keys() == eager.keys()
    assert [k for k in lazy if lazy[k] != eager[k]] == []
