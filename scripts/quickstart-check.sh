#!/usr/bin/env bash
# The README's quick start, run as written on a fresh clone of HEAD, as a newcomer would:
#   1. the install-and-start block  (between <!-- quickstart:start --> markers), in the background;
#   2. the first-number block       (<!-- quickstart:first-number -->), once the service is ready;
#   3. the test block               (<!-- quickstart:test -->), given the suite's first file only.
# Fails if any step does. The one change made to what the README says: the service listens on a
# free port, so `127.0.0.1:3000` in the first-number block is read as that port.
# Slow (npm ci, a build): run by .ci/run, not part of `npm test`. Stops what it started by its id.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
README="$ROOT/README.md"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/waybill-quickstart.XXXXXX")
SERVER=""

stop_server() {
  [ -n "$SERVER" ] || return 0
  # The start runs in a session of its own (setsid): its id is the group of npm, sh and node.
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM -- "-$SERVER" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$SERVER" 2>/dev/null || true
  fi
  SERVER=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

# The lines of README.md's fenced block between <!-- quickstart:NAME --> and <!-- /quickstart:NAME -->.
block() {
  local text
  text=$(awk -v opener="<!-- quickstart:$1 -->" -v closer="<!-- /quickstart:$1 -->" '
    $0 == opener { inside = 1; next }
    $0 == closer { inside = 0 }
    inside && /^```/ { fence = !fence; next }
    inside && fence { print }
  ' "$README")
  if [ -z "$text" ]; then
    echo "quickstart: README.md has no block quickstart:$1" >&2
    exit 1
  fi
  printf '%s\n' "$text"
}

START=$(block start)
FIRST_NUMBER=$(block first-number)
TESTS=$(block test)
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

echo "== clone of $(git -C "$ROOT" rev-parse --short HEAD) into $WORK"
git clone --quiet --no-hardlinks "$ROOT" "$WORK/waybill"
cd "$WORK/waybill"
# A newcomer's shell: no CI flag, no test database, no settings from this one. npm may use its
# cache (prefer-offline), as a second install on a machine would; CC and CXX, which .ci/run sets
# to compile through ccache, are kept: the same compiler, its cache shared.
unset CI TEST_DATABASE_URL TEST_MYSQL_URL DATABASE_URL SECRET_KEY TRACKING_KEY NODE_ENV
export PORT npm_config_prefer_offline=true npm_config_audit=false npm_config_fund=false

echo "== start (README): $START"
setsid bash -c "$START" >"$WORK/start.log" 2>&1 &
SERVER=$!
# Ready once it says so: the first-run message comes after the port opens, before that line.
# npm ci compiles better-sqlite3 where its prebuilt binary cannot be fetched: minutes.
WAIT_SECONDS=${QUICKSTART_WAIT_SECONDS:-900}
for _ in $(seq 1 "$WAIT_SECONDS"); do
  if grep -q '"msg":"waybill is ready"' "$WORK/start.log"; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "quickstart: the start stopped before the service answered:" >&2
    tail -40 "$WORK/start.log" >&2
    exit 1
  fi
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null || {
  echo "quickstart: not ready on port $PORT after $WAIT_SECONDS s" >&2
  tail -40 "$WORK/start.log" >&2
  exit 1
}
# The first start says where the admin page and the password are.
for said in "Admin page: http://127.0.0.1:$PORT/admin/" "its password is in data/initial-admin-password"; do
  grep -qF "$said" "$WORK/start.log" || {
    echo "quickstart: the first start did not say \"$said\":" >&2
    tail -40 "$WORK/start.log" >&2
    exit 1
  }
done
[ "$(stat -c %a data/initial-admin-password)" = 600 ] || { echo "quickstart: the password file is not 0600" >&2; exit 1; }

echo "== first number (README)"
REPLY=$(bash -euo pipefail -c "${FIRST_NUMBER//127.0.0.1:3000/127.0.0.1:$PORT}")
echo "$REPLY"
if ! grep -Eq '"tracking_number":"[A-Z0-9]{16}"' <<<"$REPLY"; then
  echo "quickstart: the first-number commands did not issue a number" >&2
  exit 1
fi
stop_server

FIRST_FILE=$(find test -name '*.test.ts' -not -path 'test/helpers/*' | LC_ALL=C sort | head -1)
echo "== tests (README): $TESTS -- $FIRST_FILE"
bash -euo pipefail -c "$TESTS -- $FIRST_FILE"
echo "== quickstart: every step of the README's quick start worked"
