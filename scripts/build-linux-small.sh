#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build kiln's small test kernel from Debian's linux-source-6.1 package with
# the fragment in kernel/linux-small.config, into build/linux-small/
# (vmlinux with its PVH entry, and bzImage). Cached: rebuilt only when the
# fragment, this script or the package version changes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/linux-small"
fragment="$root/kernel/linux-small.config"
pkg=linux-source-6.1

if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" flex bison bc libelf-dev \
		libssl-dev >/dev/null
fi
version="$(dpkg-query -W -f='${Version}' "$pkg")"
stamp="$(printf '%s\n' "$version" | cat - "$fragment" "$0" | sha256sum | cut -c1-16)"
if [ -s "$out/vmlinux" ] && [ -s "$out/bzImage" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

src="$out/src"
rm -rf "$src"
mkdir -p "$src"
tar -xaf /usr/src/linux-source-6.1.tar.xz -C "$src" --strip-components=1
cd "$src"
make -s ARCH=x86_64 tinyconfig
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s ARCH=x86_64 olddefconfig
# Every line of the fragment must have survived the dependency resolution.
missing=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=y) grep -qx "$line" .config || { echo "linux-small: $line did not stick"; missing=1; } ;; esac
done < "$fragment"
[ "$missing" = 0 ] || exit 1
make -s ARCH=x86_64 -j"$(nproc)" bzImage vmlinux
cp vmlinux "$out/vmlinux"
cp arch/x86/boot/bzImage "$out/bzImage"
cp .config "$out/config"
echo "$stamp" > "$out/stamp"
cd "$root"
rm -rf "$src"
ls -l "$out"
