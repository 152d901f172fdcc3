#!/usr/bin/env bash
# The team's MLflow tracking server: PostgreSQL as the backend store and `mlflow server` with
# MLflow's basic-auth app, serving the artifact store too. The guide is docs/team.md.
#
#   start | stop | status | uri        the server; PostgreSQL is created on the first start
#   add-user NAME | set-password NAME  a new random password, printed once as export lines
#   remove-user NAME | list-users      the server running; a revoked login is refused within 5 s
#   backup DIR | restore DIR           PostgreSQL dump, artifacts, user database, credentials;
#                                      restore fills a new --dir, which its first `start` loads
# Options [or environment variable], default:
#   --dir DIR [MLFLOW_SERVER_DIR]  ~/.local/share/alphabet-lstm/mlflow-server (root: /var/lib/...)
#   --host HOST [MLFLOW_SERVER_HOST] 127.0.0.1, --port PORT [MLFLOW_SERVER_PORT] 5000,
#   --pg-port PORT [MLFLOW_SERVER_PG_PORT] 5433, --workers N [MLFLOW_SERVER_WORKERS] 2,
#   --artifacts-destination URI [MLFLOW_ARTIFACTS_DESTINATION] DIR/artifacts (or s3://...),
#   --backend-store-uri URI [MLFLOW_BACKEND_STORE_URI] an existing database, no local cluster,
#   --pg-os-user USER [MLFLOW_SERVER_PG_OS_USER] postgres: runs PostgreSQL for root,
#   -- ARGS... passed on to `mlflow server`. All commands but start and restore need only --dir.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# mlflow, its auth client and psycopg2 come from the project's venv (`make setup`).
[[ -x "$REPO_ROOT/.venv/bin/mlflow" ]] && PATH="$REPO_ROOT/.venv/bin:$PATH"
default_dir="${XDG_DATA_HOME:-$HOME/.local/share}/alphabet-lstm/mlflow-server"
[[ "$(id -u)" == 0 ]] && default_dir=/var/lib/alphabet-lstm/mlflow-server
SERVER_DIR="${MLFLOW_SERVER_DIR:-$default_dir}" HOST="${MLFLOW_SERVER_HOST:-127.0.0.1}"
PORT="${MLFLOW_SERVER_PORT:-5000}" PG_PORT="${MLFLOW_SERVER_PG_PORT:-5433}" WORKERS="${MLFLOW_SERVER_WORKERS:-2}"
BACKEND_STORE_URI="${MLFLOW_BACKEND_STORE_URI:-}" ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-}"
PG_OS_USER="${MLFLOW_SERVER_PG_OS_USER:-postgres}" EXTRA_SERVER_ARGS=()
# MLflow 3 also starts background job workers (for its GenAI features, unused here) unless told not to.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

die() { echo "mlflow-server: $*" >&2; exit 1; }
say() { echo "mlflow-server: $*" >&2; }
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

[[ $# -gt 0 ]] || { usage >&2; exit 2; }
command="$1" && shift
what="" && [[ "$command" =~ ^(backup|restore)$ ]] && what="the backup directory"
[[ "$command" =~ ^(add-user|set-password|remove-user)$ ]] && what="the teammate's user name"
if [[ -n "$what" ]]; then
    [[ $# -ge 1 && "$1" != -* ]] || die "$command needs $what: $0 $command ${what##* } [--dir DIR]"
    ARGUMENT="$1" && shift
fi
# Each option sets the variable its environment variable sets.
declare -A OPTIONS=([--dir]=SERVER_DIR [--host]=HOST [--port]=PORT [--pg-port]=PG_PORT [--workers]=WORKERS
    [--backend-store-uri]=BACKEND_STORE_URI [--artifacts-destination]=ARTIFACTS_DESTINATION [--pg-os-user]=PG_OS_USER)
while [[ $# -gt 0 ]]; do
    [[ "$1" != -h && "$1" != --help ]] || { usage; exit 0; }
    [[ "$1" != -- ]] || { shift; EXTRA_SERVER_ARGS=("$@"); break; }
    [[ -n "${OPTIONS[$1]:-}" ]] || die "unknown option $1 (see $0 --help)"
    [[ $# -ge 2 ]] || die "$1 needs a value"
    printf -v "${OPTIONS[$1]}" %s "$2" && shift 2
done

SERVER_DIR="$(mkdir -p "$SERVER_DIR" && cd "$SERVER_DIR" && pwd)"
# Every secret in one private directory: the server directory stays reachable, because as root
# PostgreSQL runs as another user, who must reach postgres/.
SECRETS="$SERVER_DIR/secrets" PGDATA_DIR="$SERVER_DIR/postgres" PID_FILE="$SERVER_DIR/mlflow-server.pid"
SETTINGS_FILE="$SERVER_DIR/server.env" LOG="$SERVER_DIR/mlflow-server.log"
ADMIN_FILE="$SECRETS/admin-credentials" RESTORED_DUMP="$SERVER_DIR/restored.pgdump"
ARTIFACTS_DESTINATION="${ARTIFACTS_DESTINATION:-$SERVER_DIR/artifacts}"
export PGPASSFILE="$SECRETS/pgpass"  # libpq reads PostgreSQL's password there, never from a command line

# A wildcard bind address is not one a client can connect to: the machine's name is.
tracking_uri() { echo "http://${HOST/#0.0.0.0/$(hostname -f 2>/dev/null || hostname)}:$PORT"; }
# shellcheck disable=SC1090
load_settings() { [[ ! -f "$SETTINGS_FILE" ]] || source "$SETTINGS_FILE"; }
save_settings() { printf '%s=%q\n' HOST "$HOST" PORT "$PORT" PG_PORT "$PG_PORT" ARTIFACTS_DESTINATION "$ARTIFACTS_DESTINATION" >"$SETTINGS_FILE"; }
random_secret() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true; }
admin_password() { sed -n 's/^MLFLOW_TRACKING_PASSWORD=//p' "$ADMIN_FILE"; }
write_admin_file() { (umask 077 && printf 'MLFLOW_TRACKING_USERNAME=admin\nMLFLOW_TRACKING_PASSWORD=%s\n' "$1" >"$ADMIN_FILE"); }
# A process id from before a reboot may name another program by now.
server_pid() { [[ -f "$PID_FILE" ]] && grep -qs mlflow "/proc/$(cat "$PID_FILE")/cmdline" && cat "$PID_FILE"; }
port_answers() { (exec 3<>"/dev/tcp/${1/0.0.0.0/127.0.0.1}/$2") 2>/dev/null; }

# Mode 600 in a 700 directory from the first start; a server made before this layout has its
# secrets moved in (and tightened) at its next start.
secure_secrets() {
    local name && mkdir -p "$SECRETS"
    for name in admin-credentials pgpass flask-secret basic_auth.ini basic_auth.db; do
        [[ ! -f "$SERVER_DIR/$name" || -e "$SECRETS/$name" ]] || mv "$SERVER_DIR/$name" "$SECRETS/"
    done
    chmod 700 "$SECRETS" && find "$SECRETS" -type f -exec chmod 600 {} +
}

find_pg_bin() {
    local found="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"  # Debian's
    [[ -n "$found" ]] || found="$(dirname "$(readlink -f "$(command -v pg_ctl || echo .)")")"
    [[ -x "$found/initdb" ]] || die "PostgreSQL server binaries not found (install Debian's 'postgresql' package, or set PG_BIN)"
    echo "$found"
}
# PostgreSQL refuses to run as root; as root, its server commands run as an ordinary user.
as_pg_user() {
    if [[ "$(id -u)" != 0 ]]; then "$@"; return; fi
    "$(command -v runuser || echo /usr/sbin/runuser)" -u "$PG_OS_USER" -- "$@"  # a root PATH may lack /usr/sbin
}
pg_running() { [[ -f "$PGDATA_DIR/PG_VERSION" ]] && as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; }
psql_db() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U mlflow -d postgres -tAq -c "$1"; }

# Password authentication over TCP on 127.0.0.1 only, and no Unix socket (no system directory).
init_cluster() {
    say "creating a PostgreSQL cluster in $PGDATA_DIR"
    mkdir -p -m 700 "$PGDATA_DIR"
    [[ "$(id -u)" != 0 ]] || chown "$PG_OS_USER": "$PGDATA_DIR"
    as_pg_user test -w "$PGDATA_DIR" || die "user '$PG_OS_USER' cannot reach $PGDATA_DIR: choose another --dir"
    [[ -f "$PGPASSFILE" ]] || (umask 077 && printf '*:*:*:mlflow:%s\n' "$(random_secret)" >"$PGPASSFILE")
    local pwfile && pwfile="$(mktemp)" && sed 's/^.*://' "$PGPASSFILE" >"$pwfile"
    [[ "$(id -u)" != 0 ]] || chown "$PG_OS_USER": "$pwfile"
    as_pg_user "$PG_BIN/initdb" -D "$PGDATA_DIR" -U mlflow --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 \
        --no-locale >"$SERVER_DIR/initdb.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed, see $SERVER_DIR/initdb.log"; }
    rm -f "$pwfile"
    printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n" >>"$PGDATA_DIR/postgresql.conf"
}

start_postgres() {
    PG_BIN="$(find_pg_bin)"
    if pg_running; then
        PG_PORT="$(sed -n 4p "$PGDATA_DIR/postmaster.pid")"  # it keeps the port it was started on
    else
        [[ -f "$PGDATA_DIR/PG_VERSION" ]] || init_cluster
        say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -o "-p $PG_PORT" -w -t 120 start \
            >/dev/null || die "PostgreSQL did not start, see $PGDATA_DIR/server.log"
    fi
    [[ "$(psql_db "SELECT 1 FROM pg_database WHERE datname = 'mlflow'")" == 1 ]] || psql_db "CREATE DATABASE mlflow"
    if [[ -f "$RESTORED_DUMP" ]]; then  # a restored server's first start
        "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U mlflow -d mlflow --exit-on-error "$RESTORED_DUMP" &&
            rm "$RESTORED_DUMP" || die "pg_restore failed: remove $PGDATA_DIR and start again"
    fi
    BACKEND_STORE_URI="postgresql+psycopg2://mlflow@127.0.0.1:$PG_PORT/mlflow"
}

# The auth app's settings and session secret; admin's password is read by MLflow on the very
# first start only (set-password changes it, and admin-credentials with it).
init_auth() {
    [[ -f "$ADMIN_FILE" ]] || write_admin_file "$(random_secret)"
    [[ -f "$SECRETS/flask-secret" ]] || (umask 077 && random_secret >"$SECRETS/flask-secret")
    (umask 077 && cat >"$SECRETS/basic_auth.ini") <<EOF
[mlflow]
# Every account may read and log runs and register models; only admin manages users.
default_permission = EDIT
database_uri = sqlite:///$SECRETS/basic_auth.db
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# A password check costs about 0.2 s of CPU (scrypt) and logging a pipeline makes hundreds of
# requests, so each worker remembers a successful login, for 4 s: a removed user or a changed
# password is then refused by every worker within 5 s (the one that made the change at once).
auth_cache_ttl_seconds = 4
EOF
}

start() {
    if pid="$(server_pid)"; then
        load_settings && say "MLflow server already running (pid $pid)" && echo "export MLFLOW_TRACKING_URI=$(tracking_uri)"
        return
    fi
    command -v mlflow >/dev/null || die "mlflow not found: run 'make setup' first"
    port_answers "$HOST" "$PORT" && die "port $PORT on $HOST is already in use (another MLflow server, or 'make mlflow-ui'?): pass --port"
    secure_secrets
    [[ -n "$BACKEND_STORE_URI" ]] || start_postgres
    save_settings && init_auth
    [[ "$ARTIFACTS_DESTINATION" == *://* ]] || mkdir -p "$ARTIFACTS_DESTINATION"
    say "starting mlflow server on $HOST:$PORT (log: $LOG)"
    # Its own session, so that `stop` ends it and its workers together; umask 077, so that the
    # user database it creates is private from the first start.
    (umask 077 && MLFLOW_AUTH_CONFIG_PATH="$SECRETS/basic_auth.ini" \
        MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$SECRETS/flask-secret")" MLFLOW_AUTH_ADMIN_PASSWORD="$(admin_password)" \
        exec setsid mlflow server --app-name basic-auth --backend-store-uri "$BACKEND_STORE_URI" --serve-artifacts \
        --artifacts-destination "$ARTIFACTS_DESTINATION" --host "$HOST" --port "$PORT" --workers "$WORKERS" \
        ${EXTRA_SERVER_ARGS[@]+"${EXTRA_SERVER_ARGS[@]}"} >"$LOG" 2>&1 </dev/null) &
    echo $! >"$PID_FILE"
    local deadline=$((SECONDS + 180))
    until python -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=5)' "$(tracking_uri)/health" 2>/dev/null; do
        server_pid >/dev/null && ((SECONDS < deadline)) ||
            { tail -n 30 "$LOG" >&2; stop_mlflow; die "mlflow server did not become healthy, see $LOG"; }
        sleep 0.5
    done
    say "ready (login required); admin's login: $ADMIN_FILE; add a teammate with: $0 add-user NAME --dir $SERVER_DIR"
    echo "export MLFLOW_TRACKING_URI=$(tracking_uri)"
}

stop_mlflow() {
    local pid
    if pid="$(server_pid)"; then
        say "stopping mlflow server (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        timeout 20 tail --pid="$pid" -f /dev/null || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

stop() {
    load_settings && stop_mlflow
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] && PG_BIN="$(find_pg_bin)" || return 0
    if pg_running; then say "stopping PostgreSQL" && as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null; fi
}

status() {
    load_settings
    local code=0
    if pid="$(server_pid)"; then echo "mlflow server: running (pid $pid) at $(tracking_uri)"; else echo "mlflow server: stopped" && code=3; fi
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] && PG_BIN="$(find_pg_bin)" || return "$code"
    if pg_running; then echo "PostgreSQL: running on 127.0.0.1:$PG_PORT ($PGDATA_DIR)"; else echo "PostgreSQL: stopped ($PGDATA_DIR)" && code=3; fi
    return "$code"
}

# Accounts through MLflow's own auth client (scripts/mlflow_users.py), logged in as admin.
users() {
    load_settings
    server_pid >/dev/null || die "the server is not running (start it first)"
    MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD="$(admin_password)" MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 \
        python "$REPO_ROOT/scripts/mlflow_users.py" "$(tracking_uri)" "$ADMIN_FILE" "$command" ${ARGUMENT:+"$ARGUMENT"} || exit 1
}

# A consistent copy of a running server: pg_dump's snapshot and SQLite's online backup.
backup() {
    load_settings
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] || die "backup covers a local PostgreSQL cluster only: back up --backend-store-uri's database with its own tools"
    PG_BIN="$(find_pg_bin)" && pg_running || die "PostgreSQL is not running (start the server first)"
    [[ ! -e "$ARGUMENT" || -z "$(ls -A "$ARGUMENT")" ]] || die "$ARGUMENT is not empty: back up into a new directory"
    mkdir -p -m 700 "$ARGUMENT"
    (umask 077
        "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U mlflow -Fc -f "$ARGUMENT/mlflow.pgdump" mlflow
        python -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
            "$SECRETS/basic_auth.db" "$ARGUMENT/basic_auth.db"
        cp "$ADMIN_FILE" "$PGPASSFILE" "$SECRETS/flask-secret" "$ARGUMENT/"
        [[ "$ARTIFACTS_DESTINATION" == *://* ]] || tar -C "$ARTIFACTS_DESTINATION" -cf "$ARGUMENT/artifacts.tar" .
    ) || die "backup failed; $ARGUMENT is incomplete"
    [[ "$ARTIFACTS_DESTINATION" != *://* ]] || say "artifacts in $ARTIFACTS_DESTINATION not copied: back up the bucket itself"
    say "backed up to $ARGUMENT (mode 700: it holds every secret of the server)"
}

# The files into a new directory; its first `start` creates the cluster and loads the dump.
restore() {
    [[ -f "$ARGUMENT/mlflow.pgdump" && -f "$ARGUMENT/admin-credentials" ]] || die "$ARGUMENT holds no backup made by backup"
    [[ ! -e "$PGDATA_DIR" && ! -e "$SECRETS" ]] || die "$SERVER_DIR already holds a server: restore into a new --dir"
    secure_secrets
    cp "$ARGUMENT"/{admin-credentials,pgpass,flask-secret,basic_auth.db} "$SECRETS/" && secure_secrets
    [[ ! -f "$ARGUMENT/artifacts.tar" ]] || { mkdir -p "$ARTIFACTS_DESTINATION" && tar -C "$ARTIFACTS_DESTINATION" -xf "$ARGUMENT/artifacts.tar"; }
    cp "$ARGUMENT/mlflow.pgdump" "$RESTORED_DUMP"
    say "restored into $SERVER_DIR; start it with: $0 start --dir $SERVER_DIR"
}

case "$command" in
    start | stop | status | backup | restore) "$command" ;;
    uri) load_settings && tracking_uri ;;
    add-user | set-password | remove-user | list-users) users ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
