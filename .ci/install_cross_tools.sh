#!/usr/bin/env bash
# Best effort: installs what tests/engine/test_cross_aarch64.py needs (aarch64-linux-gnu-g++ and
# qemu-aarch64, from Debian/Ubuntu's g++-aarch64-linux-gnu and qemu-user). Never fails CI: where
# they cannot be installed it says why, and that test skips with its own reason.
set -uo pipefail

have_tools() { command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; }

install() {
  have_tools && return 0
  if ! command -v apt-get >/dev/null; then
    echo "no apt-get on this machine"
    return 1
  fi
  local as_root=()
  if [ "$(id -u)" != 0 ]; then
    if ! sudo -n true 2>/dev/null; then
      echo "not root, and no password-less sudo"
      return 1
    fi
    as_root=(sudo -n)
  fi
  "${as_root[@]}" apt-get update -q &&
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      g++-aarch64-linux-gnu qemu-user && have_tools
}

log="$(mktemp)"
start=$(date +%s)
if install >"$log" 2>&1; then
  echo "CI: aarch64 cross tools ready ($(( $(date +%s) - start )) s): the aarch64 cross check runs"
else
  tail -n 5 "$log"
  echo "CI: could not install the aarch64 cross tools (above); tests/engine/test_cross_aarch64.py will skip"
fi
exit 0
