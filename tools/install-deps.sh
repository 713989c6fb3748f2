#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages MoE Studio builds with, only those missing. Uses sudo when not root.
# The CUDA toolkit is not installed here: with nvcc at /usr/local/cuda/bin the CUDA backend is built too.
set -euo pipefail
packages=(cmake ninja-build ccache g++ pkg-config libopenblas-dev nlohmann-json3-dev libcli11-dev
  libpcre2-dev libutf8proc-dev qt6-base-dev libqt6sql6-sqlite libqcustomplot-dev python3 python3-jinja2 xvfb)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
