#!/bin/sh
# Install the Debian packages eptvisor needs, only those missing. Used by `make run` and
# `make test`, so a fresh Debian 12 machine needs nothing but these two commands.
set -e
PKGS="gcc binutils make grub-pc-bin grub-common xorriso mtools bochs bochsbios vgabios bochs-sdl
qemu-system-x86 python3 python3-pytest python3-matplotlib libcmocka-dev clang cppcheck
clang-format"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: not root and no sudo: install these packages as root, then rerun:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
${SUDO:-} apt-get update -qq
${SUDO:-} apt-get install -y -qq --no-install-recommends $missing
