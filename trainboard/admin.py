"""`trainboard users add` and `trainboard tokens add`: accounts and tokens made next to the database.

They read TRAINBOARD_DATABASE_URL (or the data folder's SQLite file) and need no running server, so an
administrator can make the first accounts while auth is still off (the server refuses to over HTTP, see
README "Accounts") and mint a worker token on the database host. A token is printed once, alone on the
last line, so a script can take it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, TextIO

from pydantic import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

DEFAULT_TOKEN_NAME = "trainboard tokens add"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `users` and `tokens` commands of the CLI."""
    users = commands.add_parser("users", help="accounts (run next to the database)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    add_user = user_commands.add_parser("add", help="create an account")
    add_user.add_argument("name", help="the username")
    add_user.add_argument("--admin", action="store_true", help="an administrator (manages accounts)")
    add_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    tokens = commands.add_parser("tokens", help="API tokens (run next to the database)")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    add_token = token_commands.add_parser("add", help="create an API token and print it once")
    who = add_token.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="NAME", help="a personal token of this user (scripts, the client)")
    who.add_argument("--worker", action="store_true", help="a worker token (training workers only)")
    add_token.add_argument("--name", default=DEFAULT_TOKEN_NAME, help="a label shown in token lists")


def read_password(from_stdin: bool, stdin: TextIO | None = None) -> str:
    """The new password: the first line of stdin, or typed twice at a prompt that does not echo it."""
    if from_stdin:
        return (stdin or sys.stdin).readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        sys.exit("The two passwords differ: nothing was created.")
    return password


def users_add(name: str, *, admin: bool, password: str) -> None:
    """Create an account, with the same rules as the Users page (username pattern, password strength)."""
    from server.errors import Conflict, InvalidInput
    from server.schemas import UserCreate
    from server.services import accounts

    try:
        data = UserCreate(username=name, password=password, is_admin=admin)
    except ValidationError as exc:
        error = exc.errors()[0]
        sys.exit(f"{error['loc'][0]}: {error['msg']}: nothing was created.")
    with _session() as session:
        try:
            accounts.create_user(
                session=session, username=data.username, password=data.password, is_admin=data.is_admin
            )
        except (InvalidInput, Conflict) as exc:
            sys.exit(f"{exc.message}: nothing was created.")
    print(f"Created the {'administrator' if admin else 'user'} {name!r}.")


def tokens_add(*, user: str | None, worker: bool, name: str) -> None:
    """Create a user's token or a worker token; print it once, alone on the last line."""
    from server.services import accounts

    with _session() as session:
        if worker:
            new = accounts.create_token(session=session, name=name, kind="worker", user_id=None)
            what = "A worker token (it trains runs and does nothing else)"
        else:
            account = accounts.find_user(session=session, username=user or "")
            if account is None or account.disabled:
                sys.exit(f"No enabled user is called {user!r}: nothing was created.")
            new = accounts.create_token(session=session, name=name, kind="user", user_id=account.id)
            what = f"A token of {account.username!r}"
    print(f"{what}; it is shown only now, the server keeps only its hash:")
    print(new.token)


def run(args: argparse.Namespace) -> None:
    """Dispatch `users add` / `tokens add` (the database is migrated first, as `serve` does)."""
    from server.db import get_engine
    from server.migrate import upgrade

    upgrade(get_engine())
    if args.command == "users":
        users_add(args.name, admin=args.admin, password=read_password(args.password_stdin))
    else:
        tokens_add(user=args.user, worker=args.worker, name=args.name)


def _session() -> Session:
    from server.db import get_sessionmaker

    return get_sessionmaker()()
