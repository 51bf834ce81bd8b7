#!/usr/bin/env bash
# Fetches the Debian 12 source packages that tests/programs builds, unpacked with Debian's
# patches, into DEST (default: build/sources at the top of the tree, shared by every preset):
#
#   libevent   2.1.12-stable (+ Debian's patches): the library, its regress suite and tests
#
# Uses apt-get source with a private list of deb-src lines and private state directories, so
# the system's apt configuration is left as it is and root is not needed. Needs apt and
# dpkg-dev (dpkg-source). Does nothing for a package already unpacked in DEST.
set -euo pipefail

dest=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/sources"}
packages=(libevent)

mkdir -p "$dest"
cd "$dest"
missing=()
for pkg in "${packages[@]}"; do
  if ! compgen -G "$pkg-*/debian/changelog" > /dev/null; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

apt_dir=$dest/.apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$apt_dir/sources.list" << EOF
deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/none"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "Debug::NoLocking=true" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" -qq update
apt-get "${apt_opts[@]}" -qq source "${missing[@]}"
