#!/usr/bin/env bash
# Installs what the tests need when it is missing: redis-server, chromium
# and unzip through apt-get when running as root; otherwise says what to
# install and fails.
set -euo pipefail
missing=()
for pair in "redis-server:redis-server" "chromium:chromium" "unzip:unzip" "$@"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "publink: please install ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
