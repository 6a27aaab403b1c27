"""``python slow_writer.py FIRST EACH fastinit-cli-args...``: the fastinit CLI whose writes
are slowed (FIRST seconds before the first, EACH before every one; FIRST may instead be a path:
the first write waits until that file exists), printing "writing" at the first, so a test can
act while a real writer is mid-checkpoint (holding its lock)."""

import os
import sys
import time

import fastinit.cli
from fastinit.checkpoint import _safetensors_out as writer

first, each = sys.argv[1], float(sys.argv[2])
real = writer._pwrite


def slow(fd, data, off):
    if not getattr(slow, "said", False):
        slow.said = True
        print("writing", flush=True)
        try:
            time.sleep(float(first))
        except ValueError:
            while not os.path.exists(first):
                time.sleep(0.05)
    time.sleep(each)
    return real(fd, data, off)


writer._pwrite = slow
sys.exit(fastinit.cli.main(sys.argv[3:]))
