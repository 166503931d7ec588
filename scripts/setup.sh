#!/usr/bin/env bash
# Prepares a Debian machine, as root, to run ami-factory and its tests: the system tools a
# chroot host uses, the project's npm packages (which bring their own Node.js 24), and the
# Python tools of the local AWS (moto, cfn-lint) in a virtualenv under .cache/.
set -euo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."

section() {
  printf '\n==== %s ====\n' "$*"
}

export DEBIAN_FRONTEND=noninteractive
# Block-device tools live in sbin, which not every login puts on root's PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/setup.sh: run as root (a chroot host mounts, attaches loop devices and chroots)" >&2
  exit 1
fi

section "system packages"
# Images: busybox-static, fdisk (sfdisk), e2fsprogs, util-linux (losetup, partx), mount.
# A Debian root for tests: debootstrap with the archive keyring and wget. Processes: procps,
# psmisc. The local AWS: python3-venv. kmod can load the loop module.
# The sandbox every template command runs in: bubblewrap, libseccomp's Python bindings (to
# compile its seccomp filter), iproute2 and nftables (each build's network namespace, NAT and
# filter). The hostile-template tests compile a small static program: gcc, libc6-dev.
packages=(
  busybox-static fdisk util-linux mount e2fsprogs
  debootstrap debian-archive-keyring ca-certificates wget
  procps psmisc python3 python3-venv git xz-utils kmod
  bubblewrap python3-seccomp iproute2 nftables
  gcc libc6-dev
)
# npm ci fetches the pinned Node.js (the "node" dev dependency); any npm can start it.
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "all present"
fi
[[ -e /dev/loop-control ]] || modprobe loop || echo "warning: no loop device support" >&2

section "npm ci"
npm ci --no-audit --no-fund
echo "node for the project: $(node_modules/.bin/node --version)"

section "python tools (moto, cfn-lint)"
if [[ ! -x .cache/venv/bin/python ]]; then
  python3 -m venv .cache/venv
fi
.cache/venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
.cache/venv/bin/pip list --disable-pip-version-check 2>/dev/null | grep -Ei '^(moto|cfn-lint) '

section "API fuzzer (schemathesis)"
# A virtualenv of its own: its dependencies (jsonschema, werkzeug...) move at another pace
# than moto's.
if [[ ! -x .cache/schemathesis-venv/bin/python ]]; then
  python3 -m venv .cache/schemathesis-venv
fi
.cache/schemathesis-venv/bin/pip install -q --disable-pip-version-check -r requirements-fuzz.txt
.cache/schemathesis-venv/bin/schemathesis --version
