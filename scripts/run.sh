#!/usr/bin/env bash
# make run: mediastore on the demo data, publink with the root Caddyfile on
# the embedded store, demo links created and printed. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { echo "make run needs curl (apt-get install curl)" >&2; exit 1; }

work=$(mktemp -d -t publink-demo.XXXXXX)
export PUBLINK_HTTP_PORT=${PUBLINK_HTTP_PORT:-8080}
export PUBLINK_ADMIN_PORT=${PUBLINK_ADMIN_PORT:-8081}
export PUBLINK_ORIGIN=${PUBLINK_ORIGIN:-http://127.0.0.1:9000}
export PUBLINK_PUBLIC_URL=${PUBLINK_PUBLIC_URL:-http://localhost:$PUBLINK_HTTP_PORT}
export PUBLINK_DATA_DIR=${PUBLINK_DATA_DIR:-$work/data}
export PUBLINK_ORIGIN_SECRET=${PUBLINK_ORIGIN_SECRET:-dev-origin-secret-change-me}
export PUBLINK_ADMIN_KEY=${PUBLINK_ADMIN_KEY:-dev-admin-key-change-me}
export PUBLINK_WEBHOOK_SECRET=${PUBLINK_WEBHOOK_SECRET:-whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWNoYW5nZS1tZQ==}
export XDG_DATA_HOME=$work/xdg XDG_CONFIG_HOME=$work/xdg

cp -r examples/demo "$work/media"
origin_addr=${PUBLINK_ORIGIN#http://}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

./bin/mediastore -listen "$origin_addr" -data "$work/media" -secret "$PUBLINK_ORIGIN_SECRET" \
  -webhook "http://127.0.0.1:$PUBLINK_ADMIN_PORT/v1/events" -webhook-secret "$PUBLINK_WEBHOOK_SECRET" \
  2> "$work/mediastore.log" &
pids+=($!)
./bin/publink run --config Caddyfile --adapter caddyfile 2> "$work/publink.log" &
pids+=($!)

admin="http://127.0.0.1:$PUBLINK_ADMIN_PORT/v1"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $PUBLINK_ADMIN_KEY" -H "X-Publink-Actor: alice" "$admin/links" 2>/dev/null && break
  sleep 0.1
done
create() {
  curl -fsS -X POST "$admin/links" -H "Authorization: Bearer $PUBLINK_ADMIN_KEY" -H "X-Publink-Actor: alice" \
    -H 'Content-Type: application/json' -d "$1" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p'
}
echo
echo "publink is running (logs in $work). Share URLs:"
echo "  file:       $(create '{"target":{"type":"file","id":"file_sunset"}}')"
echo "  folder:     $(create '{"target":{"type":"folder","id":"fld_photos"}}')"
echo "  collection: $(create '{"target":{"type":"collection","id":"col_summer"}}')"
echo "  password:   $(create '{"target":{"type":"file","id":"file_beach"},"password":"open sesame"}') (password: open sesame)"
echo
echo "Admin API: $admin (Authorization: Bearer $PUBLINK_ADMIN_KEY, X-Publink-Actor: alice). Ctrl-C stops."
wait -n "${pids[@]}"
