#!/usr/bin/env bash
# Installs everything faultbox needs on a fresh Debian machine with Docker running:
# Debian packages (debootstrap for the offline node image, chromium for the report
# browser tests), a virtualenv in .venv with faultbox and its pinned dependencies,
# and the node image (built offline; reused while its inputs are unchanged).
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

need_apt=()
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v nsenter >/dev/null || need_apt+=(util-linux)
command -v tc >/dev/null || need_apt+=(iproute2)  # netem probe for packet faults
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "install.sh: please install with apt: ${need_apt[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[dev]'

if docker info >/dev/null 2>&1; then
  .venv/bin/faultbox image build
else
  echo "install.sh: no Docker engine reachable; faultbox will use the local backend"
fi
echo "install.sh: done"
