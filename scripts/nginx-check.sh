#!/usr/bin/env bash
# End-to-end check of deploy/nginx.conf with Debian's nginx, on loopback only:
# two Waybill instances on one database, this repo's nginx config in front of them, a client user
# signing in through it, a few hundred authenticated requests, the client's address reaching the
# apps (TRUST_PROXY), then one instance stopped under load and finally both.
#
#   bash scripts/nginx-check.sh
#
# Needs nginx (apt-get install nginx), node and curl; builds dist/ if it is missing. Uses
# $DATABASE_URL if set (with the same $TRACKING_KEY and $SECRET_KEY that database was started
# with; a user nginx-check-<random> is left in it), else a new SQLite file with new keys. Every
# process it starts is stopped on exit; NGINX_CHECK_KEEP=1 keeps the temporary directory with all
# logs. Exits non-zero on any failed check.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REQUESTS="${NGINX_CHECK_REQUESTS:-300}"
FAILOVER_REQUESTS="${NGINX_CHECK_FAILOVER_REQUESTS:-200}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

PASSED=0
FAILED=0
APP1_PID=""
APP2_PID=""
NGINX_PID=""
TMP=""
REPORTED="" # set once a PASS or FAIL line is printed

say() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); say "  ok    $*"; }
fail() { FAILED=$((FAILED + 1)); say "  FAIL  $*"; }
check() { # check DESCRIPTION COMMAND...: one assertion, counted, never aborting the run
  local what="$1"
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
die() {
  show_logs
  say "FAIL: nginx check: $*"
  REPORTED=1
  exit 1
}
show_logs() {
  [[ -n "$TMP" && -d "$TMP" ]] || return 0
  local log
  for log in "$TMP"/app1.log "$TMP"/app2.log "$TMP"/nginx/error.log "$TMP"/nginx/stderr.log; do
    [[ -s "$log" ]] || continue
    say "--- last lines of ${log#"$TMP"/}"
    tail -n 15 "$log"
  done
}

stop_pid() { # stop_pid PID SIGNAL: signal, then wait up to 10s, then KILL; only our own children
  local pid="$1" signal="$2"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT
  if [[ -z "$REPORTED" ]]; then # a command failed under set -e, or we were interrupted
    show_logs
    say "FAIL: nginx check stopped early (exit $status)"
    ((status != 0)) || status=1
  fi
  stop_pid "$NGINX_PID" QUIT
  stop_pid "$APP1_PID" TERM
  stop_pid "$APP2_PID" TERM
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    if [[ "${NGINX_CHECK_KEEP:-}" == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x "$NGINX" ]] || die "nginx not found (Debian: apt-get install nginx)"
command -v node >/dev/null || die "node not found"
command -v curl >/dev/null || die "curl not found"

if [[ ! -f "$ROOT/dist/src/server.js" ]]; then
  say "== build (dist/ is missing)"
  (cd "$ROOT" && npm run build)
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/waybill-nginx-check.XXXXXX")"
DATABASE="${DATABASE_URL:-sqlite:$TMP/waybill.db}"
random_hex() { node -e 'process.stdout.write(require("node:crypto").randomBytes(+process.argv[1]).toString("hex"))' "$1"; }
KEY="${TRACKING_KEY:-$(random_hex 32)}"
# Both instances sign and verify access tokens with the key derived from this one secret.
SECRET="${SECRET_KEY:-$(random_hex 32)}"
USERNAME="nginx-check-$(random_hex 4)"
PASSWORD="$(random_hex 16)"
# Low, so that the address check below needs only a few failed logins.
LOGIN_LIMIT=3

# The load generator and log reader, in plain Node with no dependencies.
cat >"$TMP/client.mjs" <<'EOF'
import { readFileSync, writeFileSync } from 'node:fs'

const [command, ...args] = process.argv.slice(2)
const QUERY =
  'origin_country_id=MY&destination_country_id=ID&weight=1.234' +
  '&created_at=2018-11-20T19:29:32%2B08:00&customer_id=de619854-b59b-425e-9db4-943979e1bd49' +
  '&customer_name=RedBox%20Logistics&customer_slug=redbox-logistics'

// load BASE COUNT CONCURRENCY PREFIX OUT [KILL_PID KILL_AFTER]: GET /next-tracking-number COUNT
// times, each with its own x-request-id and the bearer token in $WAYBILL_TOKEN; optionally
// SIGTERMs KILL_PID after KILL_AFTER answers.
async function load([base, count, concurrency, prefix, out, killPid, killAfter]) {
  const total = Number(count)
  const results = []
  let next = 0
  let killed = false
  const deadline = AbortSignal.timeout(90_000)
  async function one(i) {
    const id = `${prefix}-${i}`
    try {
      const response = await fetch(`${base}/next-tracking-number?${QUERY}`, {
        headers: { 'x-request-id': id, authorization: `Bearer ${process.env.WAYBILL_TOKEN}` },
        signal: AbortSignal.any([deadline, AbortSignal.timeout(15_000)]),
      })
      const body = await response.json().catch(() => ({}))
      results.push({
        id,
        status: response.status,
        echoed: response.headers.get('x-request-id'),
        correlation: body.correlation_id,
        number: body.tracking_number,
      })
    } catch (error) {
      results.push({ id, status: 0, error: String(error?.cause ?? error) })
    }
    if (killPid && !killed && results.length >= Number(killAfter)) {
      killed = true
      process.kill(Number(killPid), 'SIGTERM')
    }
  }
  async function worker() {
    while (next < total) await one(next++)
  }
  await Promise.all(Array.from({ length: Number(concurrency) }, worker))
  writeFileSync(out, JSON.stringify(results))
}

// summary FILE...: what the checks need, over all the given result files.
function summary(files) {
  const results = files.flatMap((f) => JSON.parse(readFileSync(f, 'utf8')))
  const statuses = {}
  for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1
  const numbers = results.filter((r) => r.number).map((r) => r.number)
  const bad = results.filter((r) => r.status !== 200).slice(0, 3)
  console.log(
    JSON.stringify({
      total: results.length,
      ok: statuses[200] ?? 0,
      statuses,
      numbers: numbers.length,
      distinct: new Set(numbers).size,
      echoed: results.filter((r) => r.echoed === r.id && r.correlation === r.id).length,
      bad,
    }),
  )
}

// served RESULTS ACCESS_LOG: upstream address of each request of RESULTS, from nginx's log.
function served([resultsFile, logFile]) {
  const wanted = new Map(JSON.parse(readFileSync(resultsFile, 'utf8')).map((r) => [r.id, r.number]))
  const byUpstream = {}
  let logged = 0
  let unparsable = 0
  const sample = {}
  let retried = 0
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.trim()) continue
    let entry
    try {
      entry = JSON.parse(line)
    } catch {
      unparsable++
      continue
    }
    if (!wanted.has(entry.request_id)) continue
    logged++
    if (entry.upstream_addr.includes(',')) retried++ // "first, second": nginx failed over
    byUpstream[entry.upstream_addr] = (byUpstream[entry.upstream_addr] ?? 0) + 1
    sample[entry.upstream_addr] ??= wanted.get(entry.request_id)
  }
  console.log(JSON.stringify({ logged, unparsable, retried, byUpstream, sample }))
}

const commands = { load, summary: () => summary(args), served }
await commands[command](args)
EOF

json() { # json 'EXPRESSION of j' JSON: evaluates a JS expression over parsed JSON
  node -e 'const j = JSON.parse(process.argv[2]); const v = eval(process.argv[1]); process.stdout.write(typeof v === "string" ? v : JSON.stringify(v))' "$1" "$2"
}
client() { WAYBILL_TOKEN="${TOKEN:-}" timeout 120 node "$TMP/client.mjs" "$@"; }
free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close() })'
}
issued() { # issued PORT: tracking_numbers_issued_total of the instance on PORT
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk '$1 == "tracking_numbers_issued_total" { print $2 }'
}

# The environment of the instances and of the CLI. TRUST_PROXY: nginx is on loopback, so the apps
# take the client's address from the X-Forwarded-For that nginx sets (as compose.yaml does for
# its network).
WAYBILL_ENV=(NODE_ENV=production DATABASE_URL="$DATABASE" TRACKING_KEY="$KEY" SECRET_KEY="$SECRET"
  TRUST_PROXY=127.0.0.1 LOGIN_RATE_LIMIT_MAX="$LOGIN_LIMIT")

start_app() { # start_app NAME: starts an instance on a free port; sets APP_PID and APP_PORT
  local name="$1" log="$TMP/$1.log"
  # Its own working directory, so a developer's .env in the repo cannot change what is tested.
  (
    cd "$TMP"
    exec env "${WAYBILL_ENV[@]}" HOST=127.0.0.1 PORT=0 LOG_LEVEL=info WEB_CONCURRENCY=1 \
      node "$ROOT/dist/src/server.js"
  ) >"$log" 2>&1 &
  APP_PID=$!
  APP_PORT=""
  for _ in $(seq 1 300); do
    APP_PORT="$(grep -m1 '"msg":"waybill is ready"' "$log" | grep -o '"port":[0-9]*' | cut -d: -f2 || true)"
    [[ -n "$APP_PORT" ]] && break
    kill -0 "$APP_PID" 2>/dev/null || die "$name exited before it was ready"
    sleep 0.1
  done
  [[ -n "$APP_PORT" ]] || die "$name was not ready within 30s"
}

say "== nginx check ($("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), node $(node --version))"
say "   database: $(sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#' <<<"$DATABASE"), work dir: $TMP"

# Started one after the other: the first creates the schema and pins the key.
start_app app1
APP1_PID=$APP_PID APP1_PORT=$APP_PORT
start_app app2
APP2_PID=$APP_PID APP2_PORT=$APP_PORT
say "   app1: pid $APP1_PID on 127.0.0.1:$APP1_PORT; app2: pid $APP2_PID on 127.0.0.1:$APP2_PORT"

# A client user, created as an operator would (`npm run cli -- users create`, the password on
# standard input), in the database both instances share.
(
  cd "$TMP"
  printf '%s\n' "$PASSWORD" | timeout 60 env "${WAYBILL_ENV[@]}" \
    node "$ROOT/dist/src/cli.js" users create "$USERNAME" --role client
) >"$TMP/cli.log" 2>&1 || die "the CLI could not create user $USERNAME: $(cat "$TMP/cli.log")"
say "   user: $USERNAME (client), created with the CLI"

# Render deploy/nginx.conf for loopback: only the lines its header lists are changed.
NGINX_DIR="$TMP/nginx"
NGINX_PORT="$(free_port)"
mkdir -p "$NGINX_DIR/temp"
if [[ $EUID -eq 0 ]]; then
  # As root, the master would switch workers to the config's "nginx" user, which Debian does not
  # have: use nobody, and let it reach the temp directories (and nothing else) in $TMP.
  USER_LINE="user nobody $(id -gn nobody);"
  chmod 0711 "$TMP" "$NGINX_DIR"
else
  USER_LINE="" # workers run as whoever runs this script
fi
sed -E \
  -e "s|^user nginx;$|$USER_LINE|" \
  -e "s|^pid /var/run/nginx\\.pid;$|pid $NGINX_DIR/nginx.pid;|" \
  -e "s|^http \\{$|http {\\n    client_body_temp_path $NGINX_DIR/temp/body;\\n    proxy_temp_path $NGINX_DIR/temp/proxy;\\n    fastcgi_temp_path $NGINX_DIR/temp/fastcgi;\\n    uwsgi_temp_path $NGINX_DIR/temp/uwsgi;\\n    scgi_temp_path $NGINX_DIR/temp/scgi;|" \
  -e "s|^(\\s*)listen 80;$|\\1listen 127.0.0.1:$NGINX_PORT;|" \
  -e "s|^(\\s*)server app1:3000 |\\1server 127.0.0.1:$APP1_PORT |" \
  -e "s|^(\\s*)server app2:3000 |\\1server 127.0.0.1:$APP2_PORT |" \
  -e "s|/dev/stdout|$NGINX_DIR/access.log|; s|/dev/stderr|$NGINX_DIR/error.log|" \
  "$ROOT/deploy/nginx.conf" >"$NGINX_DIR/nginx.conf"
for expected in "pid $NGINX_DIR/nginx.pid;" "listen 127.0.0.1:$NGINX_PORT;" "proxy_temp_path $NGINX_DIR" \
  "server 127.0.0.1:$APP1_PORT " "server 127.0.0.1:$APP2_PORT " "access_log $NGINX_DIR/access.log"; do
  grep -qF "$expected" "$NGINX_DIR/nginx.conf" ||
    die "deploy/nginx.conf no longer has the line that renders as \"$expected\" (see its header)"
done
if grep -vE '^\s*#' "$NGINX_DIR/nginx.conf" | grep -E '^user nginx;|app[12]:3000|/var/run/nginx\.pid|listen 80;|/dev/std'; then
  die "the rendered config still has a container-only line"
fi

NGINX_ARGS=(-p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log")
"$NGINX" -t -q "${NGINX_ARGS[@]}" 2>"$NGINX_DIR/stderr.log" || die "nginx -t rejected the config: $(cat "$NGINX_DIR/stderr.log")"
# In the foreground as in the container (daemon off), so its pid is ours to stop.
"$NGINX" "${NGINX_ARGS[@]}" -g 'daemon off;' 2>>"$NGINX_DIR/stderr.log" &
NGINX_PID=$!
BASE="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 1 100); do
  curl -fsS --max-time 2 -o /dev/null "$BASE/nginx-health" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited at start"
  sleep 0.1
done
curl -fsS --max-time 2 -o /dev/null "$BASE/nginx-health" || die "nginx did not answer within 10s"
say "   nginx: pid $NGINX_PID on 127.0.0.1:$NGINX_PORT"

say "== through nginx, both instances up"
check "/health passes through to an instance" \
  test "$(curl -sS --max-time 5 "$BASE/health")" = '{"status":"ok"}'
check "/metrics is not exposed through the balancer" \
  test "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$BASE/metrics")" = 404
QUERY='origin_country_id=MY&destination_country_id=ID&weight=1&created_at=2018-11-20T19:29:32%2B08:00&customer_id=de619854-b59b-425e-9db4-943979e1bd49&customer_name=R&customer_slug=r'
check "without a token, issuing a number is refused (401)" \
  test "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$BASE/next-tracking-number?$QUERY")" = 401

# Sign in through nginx, as a client would; every request below sends the access token.
LOGIN_STATUS="$(curl -sS --max-time 10 -o "$TMP/login.json" -w '%{http_code}' \
  -H 'content-type: application/json' --data "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" \
  "$BASE/api/token/")"
TOKEN="$(json 'j.access || ""' "$(cat "$TMP/login.json")" 2>/dev/null || true)"
[[ "$LOGIN_STATUS" == 200 && -n "$TOKEN" ]] ||
  die "signing in through nginx (POST /api/token/) failed: $LOGIN_STATUS $(cat "$TMP/login.json")"
pass "$USERNAME signs in through nginx (POST /api/token/): 200 with an access token"
AUTH=(-H "authorization: Bearer $TOKEN")
ME="$(curl -sS --max-time 5 "${AUTH[@]}" "$BASE/api/me/")"
check "the bearer token reaches the app through nginx (/api/me/)" \
  test "$(json 'j.name + " " + j.role' "$ME" 2>/dev/null)" = "$USERNAME client"

BEFORE1="$(issued "$APP1_PORT")"
BEFORE2="$(issued "$APP2_PORT")"
client load "$BASE" "$REQUESTS" 8 "balance" "$TMP/balance.json"
AFTER1="$(issued "$APP1_PORT")"
AFTER2="$(issued "$APP2_PORT")"
S="$(client summary "$TMP/balance.json")"
say "   $REQUESTS requests: statuses $(json j.statuses "$S"); app1 issued $((AFTER1 - BEFORE1)), app2 issued $((AFTER2 - BEFORE2))"
check "all $REQUESTS requests answered 200" test "$(json j.ok "$S")" = "$REQUESTS"
check "$REQUESTS distinct tracking numbers" test "$(json j.distinct "$S")" = "$REQUESTS"
check "each client x-request-id came back unchanged (header and correlation_id)" \
  test "$(json j.echoed "$S")" = "$REQUESTS"
check "both instances issued numbers, $REQUESTS in all" \
  test "$((AFTER1 - BEFORE1 > 0 && AFTER2 - BEFORE2 > 0 && AFTER1 - BEFORE1 + AFTER2 - BEFORE2 == REQUESTS))" = 1
L="$(client served "$TMP/balance.json" "$NGINX_DIR/access.log")"
say "   access log: $(json j.byUpstream "$L")"
check "every request is in nginx's JSON access log with its request id" \
  test "$(json 'j.logged + "/" + j.unparsable' "$L")" = "$REQUESTS/0"
check "the access log names both upstreams" \
  test "$(json '[...Object.keys(j.byUpstream)].sort().join(" ")' "$L")" = \
  "$(printf '%s\n' "127.0.0.1:$APP1_PORT" "127.0.0.1:$APP2_PORT" | sort | tr '\n' ' ' | sed 's/ $//')"

header_id() { tr -d '\r' <"$1" | awk 'tolower($1) == "x-request-id:" { print $2 }'; }
curl -sS --max-time 5 -D "$TMP/generated.headers" -o "$TMP/generated.json" "${AUTH[@]}" \
  "$BASE/next-tracking-number?$QUERY"
GENERATED="$(header_id "$TMP/generated.headers")"
check "without a client id, nginx's own 32-hex id is sent back" grep -qxE '[0-9a-f]{32}' <<<"$GENERATED"
check "nginx's id reached the app (its correlation_id) and nginx's access log" \
  test "$(json j.correlation_id "$(cat "$TMP/generated.json")")" = "$GENERATED" -a \
  -n "$(grep -F "\"request_id\":\"$GENERATED\"" "$NGINX_DIR/access.log")"
curl -sS --max-time 5 -D "$TMP/unsafe.headers" -o /dev/null -H 'x-request-id: not a safe id' "$BASE/health"
UNSAFE="$(header_id "$TMP/unsafe.headers")"
check "an unsafe client id is replaced by nginx's own" grep -qxE '[0-9a-f]{32}' <<<"$UNSAFE"

say "== client addresses (TRUST_PROXY=127.0.0.1: the apps take X-Forwarded-For from nginx)"
# Per-address limits (here the login limit, $LOGIN_LIMIT per instance) must count the client that
# nginx saw, not nginx itself, and a client must not choose its address with its own
# X-Forwarded-For. Failed logins from 127.0.0.2, each with a different forged header: two
# instances allow at most 2 x $LOGIN_LIMIT, so one more must be refused. Then 127.0.0.3, another
# client, must still be let through to a plain 401.
failed_login() { # failed_login SOURCE_ADDRESS FORGED_XFF: prints the status
  curl -sS --max-time 10 --interface "$1" -o /dev/null -w '%{http_code}\n' -H "x-forwarded-for: $2" \
    -H 'content-type: application/json' --data '{"username":"nobody-here","password":"wrong"}' \
    "$BASE/api/token/"
}
FROM2="$(for i in $(seq 1 $((2 * LOGIN_LIMIT + 1))); do failed_login 127.0.0.2 "198.51.100.$i"; done |
  sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
FROM3="$(failed_login 127.0.0.3 198.51.100.99)"
say "   $((2 * LOGIN_LIMIT + 1)) failed logins from 127.0.0.2: $FROM2; then one from 127.0.0.3: $FROM3"
check "one client's forged X-Forwarded-For does not escape its login limit (429 reached)" \
  grep -q '429' <<<"$FROM2"
check "another client's address is counted apart (401, not 429)" test "$FROM3" = 401

say "== app2 stopped (SIGTERM) while requests are in flight"
STOPPING_AT=$SECONDS
client load "$BASE" "$FAILOVER_REQUESTS" 8 "failover" "$TMP/failover.json" "$APP2_PID" 50
# A stopping instance waits for nginx to drop its idle kept-alive connections (upstream
# keepalive_timeout 4s) and must be gone well within its own 10s shutdown timeout.
for _ in $(seq 1 150); do
  kill -0 "$APP2_PID" 2>/dev/null || break
  sleep 0.1
done
APP2_STATUS=0
if kill -0 "$APP2_PID" 2>/dev/null; then APP2_STATUS=timeout; else wait "$APP2_PID" || APP2_STATUS=$?; fi
APP2_PID=""
STOPPED_IN=$((SECONDS - STOPPING_AT))
S="$(client summary "$TMP/failover.json")"
L2="$(client served "$TMP/failover.json" "$NGINX_DIR/access.log")"
say "   $FAILOVER_REQUESTS requests: statuses $(json j.statuses "$S"); failed over to app1 by nginx: $(json j.retried "$L2"); app2 exited with $APP2_STATUS after ~${STOPPED_IN}s"
check "app2 shut down gracefully (exit 0)" test "$APP2_STATUS" = 0
check "all $FAILOVER_REQUESTS requests answered 200 while app2 went away" test "$(json j.ok "$S")" = "$FAILOVER_REQUESTS"
[[ "$(json j.ok "$S")" == "$FAILOVER_REQUESTS" ]] || say "   first failures: $(json j.bad "$S")"

BEFORE1="$(issued "$APP1_PORT")"
client load "$BASE" 50 4 "after" "$TMP/after.json"
AFTER1="$(issued "$APP1_PORT")"
S="$(client summary "$TMP/after.json")"
check "with app2 gone, 50 more requests answered 200, all by app1" \
  test "$(json j.ok "$S")/$((AFTER1 - BEFORE1))" = "50/50"
S="$(client summary "$TMP/balance.json" "$TMP/failover.json" "$TMP/after.json")"
TOTAL=$((REQUESTS + FAILOVER_REQUESTS + 50))
check "all $TOTAL tracking numbers of the run are distinct" test "$(json j.distinct "$S")" = "$TOTAL"
FROM_APP2="$(json "j.sample['127.0.0.1:$APP2_PORT']" "$L")"
check "a number app2 issued is found through app1 (one shared database)" \
  test "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$BASE/tracking-numbers/$FROM_APP2")" = 200

say "== app1 stopped too: nginx answers for itself"
stop_pid "$APP1_PID" TERM
APP1_PID=""
DOWN_STATUS="$(curl -sS --max-time 10 -D "$TMP/down.headers" -o "$TMP/down.json" -w '%{http_code}' \
  -H 'x-request-id: all-down-1' "${AUTH[@]}" "$BASE/next-tracking-number?$QUERY")"
DOWN_ID="$(header_id "$TMP/down.headers")"
DOWN_BODY="$(json 'j.code + " " + j.correlation_id' "$(cat "$TMP/down.json")" 2>/dev/null || true)"
check "502 with the JSON error envelope and the client's request id" \
  test "$DOWN_STATUS $DOWN_ID $DOWN_BODY" = "502 all-down-1 unavailable all-down-1"
check "nginx is still healthy itself" \
  test "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$BASE/nginx-health")" = 200

say
REPORTED=1
if ((FAILED == 0)); then
  say "PASS: nginx check, all $PASSED checks passed"
else
  show_logs
  say "FAIL: nginx check, $FAILED of $((PASSED + FAILED)) checks failed"
  exit 1
fi
