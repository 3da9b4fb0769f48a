#!/usr/bin/env bash
# Builds Caddy with the publink module through xcaddy, as a platform team
# would, using the versions pinned in xcaddy.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
val() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" xcaddy.toml | head -1; }
xv=$(val xcaddy_version); cv=$(val caddy_version); out=$(val output)
# A local replacement is pinned to the zero pseudo-version: the module is
# not on the Go module proxy, and a versionless `go get` would ask it.
withs=()
mod=""
while IFS= read -r line; do
  case "$line" in
    module*) mod=$(echo "$line" | sed 's/.*= *"\(.*\)"/\1/') ;;
    replace*) rep=$(echo "$line" | sed 's/.*= *"\(.*\)"/\1/'); [ "$rep" = "." ] && rep="$PWD"; withs+=(--with "$mod@v0.0.0-00010101000000-000000000000=$rep"); mod="" ;;
  esac
done < xcaddy.toml
[ -n "$mod" ] && withs+=(--with "$mod")
mkdir -p "$(dirname "$out")"
echo "xcaddy $xv: caddy $cv ${withs[*]} -> $out"
go run "github.com/caddyserver/xcaddy/cmd/xcaddy@$xv" build "$cv" "${withs[@]}" --output "$out"
"./$out" list-modules | grep -E '^(publink|http.handlers.publink)'
