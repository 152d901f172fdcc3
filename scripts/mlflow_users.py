"""The team server's accounts through MLflow's own auth client, for scripts/mlflow-server.sh.

    python mlflow_users.py URI ADMIN_FILE add-user|set-password|remove-user|list-users [NAME]

Logs in with MLFLOW_TRACKING_USERNAME/PASSWORD (admin's, from ADMIN_FILE). add-user and
set-password print a new random password once, as the export lines a teammate pastes; admin's
new password also replaces ADMIN_FILE's. A failure is one line with the HTTP status and MLflow's
error code only: the server's message can quote its SQL with a password hash.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
import warnings
from pathlib import Path

from mlflow.exceptions import MlflowException

PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 32


def new_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def write_admin_file(admin_file: Path, password: str) -> None:
    """Replace admin's credentials file at once, mode 600 from its creation."""
    staged = admin_file.with_name(admin_file.name + ".new")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"MLFLOW_TRACKING_USERNAME=admin\nMLFLOW_TRACKING_PASSWORD={password}\n")
    staged.replace(admin_file)


def auth_client(uri: str):
    """MLflow's basic-auth client for the server at ``uri``."""
    with warnings.catch_warnings():
        # mlflow.server loads its FastAPI app, whose Starlette import warns on stderr, where the
        # script prints only its own message.
        warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
        import mlflow.server.auth.routes  # noqa: F401 (loaded here, under the filter)
        from mlflow.server import get_app_client
    return get_app_client("basic-auth", tracking_uri=uri)


def manage(uri: str, admin_file: Path, command: str, user: str) -> str | None:
    """Carry out ``command``; return the new password of add-user and set-password."""
    admin = os.environ["MLFLOW_TRACKING_USERNAME"]
    if command == "remove-user" and user == admin:
        sys.exit(f"mlflow-server: {admin} cannot be removed (set-password {admin} changes its password)")
    client = auth_client(uri)
    if command == "list-users":
        from mlflow.server.auth.routes import LIST_USERS

        # The client has no list_users: its own request helper, on the auth app's own route.
        for listed in client._request(LIST_USERS, "GET")["users"]:
            print(listed["username"] + ("  (admin)" if listed["is_admin"] else ""))
        return None
    if command == "remove-user":
        client.delete_user(user)
        return None
    password = new_password()
    if command == "add-user":
        client.create_user(user, password)
    else:
        # MLflow asks a user changing their own password (admin here) for the current one.
        current = os.environ["MLFLOW_TRACKING_PASSWORD"] if user == admin else None
        client.update_user_password(user, password, current_password=current)
        if user == admin:
            write_admin_file(admin_file, password)
    return password


def main(uri: str, admin_file: str, command: str, user: str = "") -> None:
    try:
        password = manage(uri, Path(admin_file), command, user)
    except MlflowException as error:
        code, status = error.error_code, error.get_http_status_code()
        if code == "RESOURCE_ALREADY_EXISTS":
            sys.exit(f"mlflow-server: user {user!r} already exists; nothing changed (pick another name)")
        if code == "RESOURCE_DOES_NOT_EXIST":
            sys.exit(f"mlflow-server: there is no user {user!r} (list-users names them); nothing changed")
        reason = {401: "the admin login was refused", 403: "admin may not manage users"}.get(status, code)
        sys.exit(f"mlflow-server: {command} {user} failed: HTTP {status} {reason}".replace("  ", " "))
    if command == "remove-user":
        print(f"mlflow-server: removed user {user}; their login is refused within 5 s", file=sys.stderr)
    if password is None:
        return
    done = "created user" if command == "add-user" else "changed the password of"
    later = "" if command == "add-user" else "; the old one is refused within 5 s"
    print(f"mlflow-server: {done} {user}{later}; hand these lines over (shown only now):", file=sys.stderr)
    print(f"export MLFLOW_TRACKING_URI={uri}")
    print(f"export MLFLOW_TRACKING_USERNAME={user}")
    print(f"export MLFLOW_TRACKING_PASSWORD={password}")


if __name__ == "__main__":
    main(*sys.argv[1:])
