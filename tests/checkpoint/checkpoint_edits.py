"""Editing a written checkpoint the way a damaged or hand-edited one looks: a safetensors
header changed in place (the data bytes kept), config.json or the index changed."""

import json


def rewrite_header(path, change):
    """Apply ``change`` to the header dict of the safetensors file ``path``; the data section
    is kept byte for byte (its offsets are relative to it), the header padded with spaces to a
    multiple of 8 as the writer pads it, so it may grow."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    change(head)
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])


def edit_json(path, change):
    """Apply ``change`` to the JSON object in ``path`` (config.json, the index)."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
