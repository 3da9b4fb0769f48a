#!/usr/bin/env bash
# Builds Caddy with the publink module through xcaddy, as a platform team
# would, using the versions pinned in xcaddy.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
val() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" xcaddy.toml | head -1; }
xv=$(val xcaddy_version); cv=$(val caddy_version); out=$(val output)
withs=()
mod=""
while IFS= read -r line; do
  case "$line" in
    module*) mod=$(echo "$line" | sed 's/.*= *"\(.*\)"/\1/') ;;
    replace*) rep=$(echo "$line" | sed 's/.*= *"\(.*\)"/\1/'); [ "$rep" = "." ] && rep="$PWD"; withs+=(--with "$mod=$rep"); mod="" ;;
  esac
done < xcaddy.toml
[ -n "$mod" ] && withs+=(--with "$mod")
mkdir -p "$(dirname "$out")"
echo "xcaddy $xv: caddy $cv ${withs[*]} -> $out"
go run "github.com/caddyserver/xcaddy/cmd/xcaddy@$xv" build "$cv" "${withs[@]}" --output "$out"
"./$out" list-modules | grep -E '^(publink|http.handlers.publink)'
