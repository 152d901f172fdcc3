#!/usr/bin/env bash
# The team's MLflow tracking server: a PostgreSQL backend store and a served artifact store.
#
#   scripts/mlflow-server.sh start     start PostgreSQL (created on first start) and `mlflow server`
#   scripts/mlflow-server.sh stop      stop both
#   scripts/mlflow-server.sh status    say what runs, and the tracking URI
#   scripts/mlflow-server.sh uri       print the tracking URI only
#   scripts/mlflow-server.sh add-user NAME   create a teammate's account (server running);
#                                      prints the lines to hand over, password included
#
# `mlflow server` runs MLflow's basic-auth app: every request needs a user name and password
# (clients read MLflow's MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). The first start
# creates the admin account with a random password, kept in DIR/admin-credentials (mode 600,
# like the PostgreSQL password): `set -a; source DIR/admin-credentials; set +a` logs in as
# admin. Every account may read and log runs (default permission EDIT); only admin manages
# users.
#
# Everything lives in one directory (--dir): the database cluster (postgres/), the artifacts
# (artifacts/), the user database (basic_auth.db), the password files, logs and process ids.
# Both servers listen on 127.0.0.1 unless told otherwise. With --backend-store-uri (an
# existing PostgreSQL database), no local cluster is created and only `mlflow server` is started.
#
# Options (or the environment variable in brackets):
#   --dir DIR                     [MLFLOW_SERVER_DIR]  default: $XDG_DATA_HOME/alphabet-lstm/mlflow-server,
#                                 or /var/lib/alphabet-lstm/mlflow-server when run as root
#   --host HOST                   [MLFLOW_SERVER_HOST]    default: 127.0.0.1 (loopback only)
#   --port PORT                   [MLFLOW_SERVER_PORT]    default: 5000
#   --pg-port PORT                [MLFLOW_SERVER_PG_PORT] default: 5433
#   --workers N                   [MLFLOW_SERVER_WORKERS] default: 2
#   --backend-store-uri URI       [MLFLOW_BACKEND_STORE_URI] an existing database instead
#   --artifacts-destination URI   [MLFLOW_ARTIFACTS_DESTINATION] default: DIR/artifacts (or s3://...)
#   --pg-os-user USER             [MLFLOW_SERVER_PG_OS_USER] who runs PostgreSQL when we are
#                                 root (PostgreSQL refuses to run as root); default: postgres
#   -- ARGS...                    passed on to `mlflow server` (e.g. -- --allowed-hosts mlflow.example.org)
#
# `stop`, `status`, `uri` and `add-user` need only --dir: they read the settings of the last start.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# `mlflow` and psycopg2 come from the project's venv (`make setup`), when there is one.
if [[ -x "$REPO_ROOT/.venv/bin/mlflow" ]]; then
    PATH="$REPO_ROOT/.venv/bin:$PATH"
fi

if [[ "$(id -u)" == 0 ]]; then
    default_dir=/var/lib/alphabet-lstm/mlflow-server
else
    default_dir="${XDG_DATA_HOME:-$HOME/.local/share}/alphabet-lstm/mlflow-server"
fi
SERVER_DIR="${MLFLOW_SERVER_DIR:-$default_dir}"
HOST="${MLFLOW_SERVER_HOST:-127.0.0.1}"
PORT="${MLFLOW_SERVER_PORT:-5000}"
PG_PORT="${MLFLOW_SERVER_PG_PORT:-5433}"
WORKERS="${MLFLOW_SERVER_WORKERS:-2}"
BACKEND_STORE_URI="${MLFLOW_BACKEND_STORE_URI:-}"
ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-}"
PG_OS_USER="${MLFLOW_SERVER_PG_OS_USER:-postgres}"
START_TIMEOUT_SECONDS=180
DB_NAME=mlflow
DB_USER=mlflow
EXTRA_SERVER_ARGS=()
# MLflow 3 also starts background job workers (for its GenAI features, unused here) unless told not to.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

die() { echo "mlflow-server: $*" >&2; exit 1; }
say() { echo "mlflow-server: $*" >&2; }

usage() { sed -n '2,37p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

command="${1:-}"
[[ -n "$command" ]] || { usage >&2; exit 2; }
shift
NEW_USER=""
if [[ "$command" == add-user ]]; then
    [[ $# -ge 1 && "$1" != -* ]] || die "add-user needs the teammate's user name: $0 add-user NAME"
    NEW_USER="$1"
    shift
fi
while [[ $# -gt 0 ]]; do
    if [[ "$1" == --?* && "$1" != --help && $# -lt 2 ]]; then
        die "$1 needs a value"
    fi
    case "$1" in
        --dir) SERVER_DIR="$2"; shift 2 ;;
        --host) HOST="$2"; shift 2 ;;
        --port) PORT="$2"; shift 2 ;;
        --pg-port) PG_PORT="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --backend-store-uri) BACKEND_STORE_URI="$2"; shift 2 ;;
        --artifacts-destination) ARTIFACTS_DESTINATION="$2"; shift 2 ;;
        --pg-os-user) PG_OS_USER="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA_SERVER_ARGS=("$@"); break ;;
        *) die "unknown option $1 (see $0 --help)" ;;
    esac
done

mkdir -p "$SERVER_DIR"
SERVER_DIR="$(cd "$SERVER_DIR" && pwd)"
PGDATA_DIR="$SERVER_DIR/postgres"
PGPASS_FILE="$SERVER_DIR/pgpass"
MLFLOW_PID_FILE="$SERVER_DIR/mlflow-server.pid"
MLFLOW_LOG="$SERVER_DIR/mlflow-server.log"
SETTINGS_FILE="$SERVER_DIR/server.env"
ADMIN_CREDENTIALS_FILE="$SERVER_DIR/admin-credentials"
AUTH_CONFIG_FILE="$SERVER_DIR/basic_auth.ini"
FLASK_SECRET_FILE="$SERVER_DIR/flask-secret"
ADMIN_USER=admin
ARTIFACTS_DESTINATION="${ARTIFACTS_DESTINATION:-$SERVER_DIR/artifacts}"

tracking_uri() {
    # A wildcard bind address is not something a client can connect to.
    local host="$HOST"
    [[ "$host" == "0.0.0.0" || "$host" == "::" ]] && host="$(hostname -f 2>/dev/null || hostname)"
    [[ "$host" == *:* ]] && host="[$host]"
    echo "http://$host:$PORT"
}

# The settings of the last start, so that `stop`, `status` and `uri` need no options.
load_settings() {
    if [[ -f "$SETTINGS_FILE" ]]; then
        # shellcheck disable=SC1090
        source "$SETTINGS_FILE"
    fi
}

save_settings() {
    {
        printf 'HOST=%q\nPORT=%q\nPG_PORT=%q\n' "$HOST" "$PORT" "$PG_PORT"
        printf 'LOCAL_POSTGRES=%q\n' "$LOCAL_POSTGRES"
    } >"$SETTINGS_FILE"
}

find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        echo "$PG_BIN"
    elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        # Resolve links: psql and createdb sit beside the real pg_ctl, not beside a link to it.
        dirname "$(readlink -f "$(command -v pg_ctl)")"
    else
        # Debian and Ubuntu keep the server binaries out of PATH, one directory per version.
        local candidate
        candidate="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
        [[ -n "$candidate" && -x "$candidate/initdb" ]] ||
            die "PostgreSQL server binaries not found (install Debian's 'postgresql' package, or set PG_BIN)"
        echo "$candidate"
    fi
}

# PostgreSQL refuses to run as root; as root, its commands run as an ordinary user.
as_pg_user() {
    if [[ "$(id -u)" == 0 ]]; then
        # A root shell's PATH may leave out /usr/sbin, where Debian keeps runuser.
        "$(command -v runuser || echo /usr/sbin/runuser)" -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

pg_ctl_status() {
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] && as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

mlflow_pid() {
    [[ -f "$MLFLOW_PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$MLFLOW_PID_FILE")"
    # A process id from before a reboot may name another program by now.
    local args
    if [[ -r "/proc/$pid/cmdline" ]]; then
        args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    else
        args="$(ps -o args= -p "$pid" 2>/dev/null || true)"
    fi
    [[ "$args" == *"mlflow server"* ]] || return 1
    echo "$pid"
}

init_cluster() {
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] && return 0
    say "creating a PostgreSQL cluster in $PGDATA_DIR"
    mkdir -p "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    if [[ "$(id -u)" == 0 ]]; then
        id -u "$PG_OS_USER" >/dev/null 2>&1 ||
            die "PostgreSQL does not run as root and user '$PG_OS_USER' does not exist: create it (useradd --system $PG_OS_USER) or pass --pg-os-user"
        chown "$PG_OS_USER": "$PGDATA_DIR"
        as_pg_user test -w "$PGDATA_DIR" ||
            die "user '$PG_OS_USER' cannot reach $PGDATA_DIR (a parent directory is private): choose another --dir"
    fi
    local password pwfile
    password="$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)"
    # libpq reads the password from here (mode 600), so it never appears on a command line.
    (umask 077 && printf '*:*:*:%s:%s\n' "$DB_USER" "$password" >"$PGPASS_FILE")
    pwfile="$(mktemp)"
    printf '%s\n' "$password" >"$pwfile"
    [[ "$(id -u)" == 0 ]] && chown "$PG_OS_USER": "$pwfile"
    # Password authentication over TCP; no Unix socket, so the cluster needs no system directory.
    as_pg_user "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$DB_USER" --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --no-locale \
        >"$SERVER_DIR/initdb.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed, see $SERVER_DIR/initdb.log"; }
    rm -f "$pwfile"
    cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# Written by scripts/mlflow-server.sh: only the MLflow server on this machine connects.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
EOF
}

start_postgres() {
    export PGPASSFILE="$PGPASS_FILE"
    if pg_ctl_status; then
        # It keeps the port it was started on.
        PG_PORT="$(sed -n 4p "$PGDATA_DIR/postmaster.pid")"
        say "PostgreSQL already running on 127.0.0.1:$PG_PORT ($PGDATA_DIR)"
    else
        init_cluster
        say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -o "-p $PG_PORT" \
            -w -t 120 start >/dev/null || die "PostgreSQL did not start, see $PGDATA_DIR/server.log"
    fi
    local exists
    exists="$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
    if [[ "$exists" != 1 ]]; then
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" "$DB_NAME"
    fi
    BACKEND_STORE_URI="postgresql+psycopg2://$DB_USER@127.0.0.1:$PG_PORT/$DB_NAME"
}

# Another server on the port would answer our health check in place of ours.
check_port_free() {
    python - "$HOST" "$PORT" <<'EOF'
import socket, sys

host, port = sys.argv[1], int(sys.argv[2])
host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
try:
    socket.create_connection((host, port), timeout=2).close()
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

wait_for_health() {
    local url
    url="$(tracking_uri)/health"
    python - "$url" "$START_TIMEOUT_SECONDS" "$1" <<'EOF'
import os, sys, time, urllib.request

url, timeout, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(2)
    time.sleep(0.5)
sys.exit(1)
EOF
}

random_secret() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true; }

# The basic-auth app's settings, the admin password and the session secret, made once (mode 600).
init_auth() {
    if [[ ! -f "$ADMIN_CREDENTIALS_FILE" ]]; then
        say "creating the admin account's password in $ADMIN_CREDENTIALS_FILE"
        (umask 077 && printf 'MLFLOW_TRACKING_USERNAME=%s\nMLFLOW_TRACKING_PASSWORD=%s\n' \
            "$ADMIN_USER" "$(random_secret)" >"$ADMIN_CREDENTIALS_FILE")
    fi
    [[ -f "$FLASK_SECRET_FILE" ]] || (umask 077 && random_secret >"$FLASK_SECRET_FILE")
    (umask 077 && cat >"$AUTH_CONFIG_FILE" <<EOF
# Written by scripts/mlflow-server.sh on every start. The admin password is not here: it
# comes from admin-credentials on the first start only (MLflow ignores it afterwards).
[mlflow]
# Every account may read and log runs and register models; only admin manages users.
default_permission = EDIT
database_uri = sqlite:///$SERVER_DIR/basic_auth.db
admin_username = $ADMIN_USER
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# Each request's password check costs about 0.2 s of CPU by design (scrypt), and logging one
# pipeline makes hundreds of requests: a successful check is remembered for a minute, per
# server worker (MLflow's own cache; a changed password reaches every worker within it).
auth_cache_ttl_seconds = 60
EOF
)
}

# A value of the admin credentials file, read without executing it.
admin_credential() { sed -n "s/^$1=//p" "$ADMIN_CREDENTIALS_FILE"; }

start() {
    command -v mlflow >/dev/null || die "mlflow not found: run 'make setup' first"
    if pid="$(mlflow_pid)"; then
        load_settings
        say "MLflow server already running (pid $pid)"
        echo "export MLFLOW_TRACKING_URI=$(tracking_uri)"
        return 0
    fi
    check_port_free || die "port $PORT on $HOST is already in use (another MLflow server, or 'make mlflow-ui'?): pass --port"
    if [[ -z "$BACKEND_STORE_URI" || "$BACKEND_STORE_URI" == postgresql* ]]; then
        python -c "import psycopg2" 2>/dev/null ||
            die "psycopg2 is missing from the venv: run 'make setup' (or pip install psycopg2-binary)"
    fi
    LOCAL_POSTGRES=0
    if [[ -z "$BACKEND_STORE_URI" ]]; then
        PG_BIN="$(find_pg_bin)"
        start_postgres
        LOCAL_POSTGRES=1
    fi
    save_settings
    mkdir -p "$SERVER_DIR"
    [[ "$ARTIFACTS_DESTINATION" == *://* ]] || mkdir -p "$ARTIFACTS_DESTINATION"
    say "starting mlflow server on $HOST:$PORT (log: $MLFLOW_LOG)"
    # The local cluster's password file; an existing database's password comes from ~/.pgpass.
    if [[ "$LOCAL_POSTGRES" == 1 ]]; then
        export PGPASSFILE="$PGPASS_FILE"
    fi
    init_auth
    export MLFLOW_AUTH_CONFIG_PATH="$AUTH_CONFIG_FILE"
    MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$FLASK_SECRET_FILE")"
    MLFLOW_AUTH_ADMIN_PASSWORD="$(admin_credential MLFLOW_TRACKING_PASSWORD)"
    export MLFLOW_FLASK_SERVER_SECRET_KEY MLFLOW_AUTH_ADMIN_PASSWORD
    # Its own session, so that `stop` ends the server and all of its workers together.
    setsid mlflow server --app-name basic-auth \
        --backend-store-uri "$BACKEND_STORE_URI" \
        --serve-artifacts --artifacts-destination "$ARTIFACTS_DESTINATION" \
        --host "$HOST" --port "$PORT" --workers "$WORKERS" ${EXTRA_SERVER_ARGS[@]+"${EXTRA_SERVER_ARGS[@]}"} \
        >"$MLFLOW_LOG" 2>&1 </dev/null &
    echo $! >"$MLFLOW_PID_FILE"
    if ! wait_for_health "$!"; then
        tail -n 30 "$MLFLOW_LOG" >&2 || true
        stop_mlflow
        die "mlflow server did not become healthy, see $MLFLOW_LOG"
    fi
    say "ready (login required); admin credentials: $ADMIN_CREDENTIALS_FILE"
    say "add a teammate with: $0 add-user NAME --dir $SERVER_DIR"
    say "point the pipeline at it with tracking.uri in params.yaml (docs/team.md); MLflow clients with:"
    echo "export MLFLOW_TRACKING_URI=$(tracking_uri)"
}

# A teammate's account, created by admin through MLflow's user API; prints what to hand over.
add_user() {
    load_settings
    mlflow_pid >/dev/null || die "the server is not running (start it first)"
    [[ -f "$ADMIN_CREDENTIALS_FILE" ]] || die "no admin credentials in $ADMIN_CREDENTIALS_FILE"
    local password
    password="$(random_secret)"
    ADMIN_PASSWORD="$(admin_credential MLFLOW_TRACKING_PASSWORD)" NEW_PASSWORD="$password" \
        python - "$(tracking_uri)" "$ADMIN_USER" "$NEW_USER" <<'PY' || exit 1
import base64, json, os, sys, urllib.error, urllib.request

uri, admin, user = sys.argv[1:4]
token = base64.b64encode(f"{admin}:{os.environ['ADMIN_PASSWORD']}".encode()).decode()
request = urllib.request.Request(
    uri + "/api/2.0/mlflow/users/create",
    data=json.dumps({"username": user, "password": os.environ["NEW_PASSWORD"]}).encode(),
    headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    method="POST",
)
try:
    urllib.request.urlopen(request, timeout=30).close()
except urllib.error.HTTPError as error:
    # The server's message can quote its SQL with the new password's hash: only its error
    # code is printed, never the message.
    try:
        code = json.loads(error.read()).get("error_code", "")
    except ValueError:
        code = ""
    if code == "RESOURCE_ALREADY_EXISTS":
        sys.exit(f"mlflow-server: user {user!r} already exists; nothing changed (pick another name)")
    reason = {401: "the admin login was refused", 403: "admin may not create users"}.get(error.code, code)
    sys.exit(f"mlflow-server: could not create user {user!r}: HTTP {error.code} {reason}".rstrip())
except urllib.error.URLError as error:
    sys.exit(f"mlflow-server: could not create user {user!r}: the server did not answer ({error.reason})")
PY
    say "created user $NEW_USER; hand these lines over (the password is shown only now):"
    echo "export MLFLOW_TRACKING_URI=$(tracking_uri)"
    echo "export MLFLOW_TRACKING_USERNAME=$NEW_USER"
    echo "export MLFLOW_TRACKING_PASSWORD=$password"
}

stop_mlflow() {
    local pid
    if pid="$(mlflow_pid)"; then
        say "stopping mlflow server (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$MLFLOW_PID_FILE"
}

stop() {
    load_settings
    stop_mlflow
    if [[ "${LOCAL_POSTGRES:-0}" == 1 || -f "$PGDATA_DIR/PG_VERSION" ]]; then
        PG_BIN="$(find_pg_bin)"
        if pg_ctl_status; then
            say "stopping PostgreSQL"
            as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
        fi
    fi
}

status() {
    load_settings
    local code=0
    if pid="$(mlflow_pid)"; then
        echo "mlflow server: running (pid $pid) at $(tracking_uri)"
    else
        echo "mlflow server: stopped"
        code=3
    fi
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        PG_BIN="$(find_pg_bin)"
        if pg_ctl_status; then
            echo "PostgreSQL: running on 127.0.0.1:$PG_PORT ($PGDATA_DIR)"
        else
            echo "PostgreSQL: stopped ($PGDATA_DIR)"
            code=3
        fi
    fi
    return "$code"
}

case "$command" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    uri) load_settings; tracking_uri ;;
    add-user) add_user ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
