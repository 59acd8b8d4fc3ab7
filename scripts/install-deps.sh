#!/bin/sh
# Install the Debian packages libnn needs to build, test and run.
#   scripts/install-deps.sh         what make check needs
#   scripts/install-deps.sh docs    doxygen, for make docs (the API reference)
# Idempotent: prints nothing and exits 0 when everything is already present.
set -e

PKGS="build-essential pkg-config zlib1g-dev libcmocka-dev libopenblas-dev \
libdnnl-dev libcjson-dev libcsv-dev libstb-dev libinih-dev libcairo2-dev libgraphviz-dev \
python3-numpy python3-torch dataset-fashion-mnist clang libclang-rt-14-dev \
libopenmpi-dev openmpi-bin"
case "$1" in
    "") ;;
    docs) PKGS="doxygen" ;;
    *) echo "install-deps: unknown set '$1' (none, or docs)" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing" >&2
    echo "install-deps: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
