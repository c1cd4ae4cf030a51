"""My account (any signed-in person): password, second factor, signed-in sessions, API tokens.

Only a signed-in browser changes an account: an API token (a script, a door phone) may not
change the password, the second factor or make more tokens.
"""

from __future__ import annotations

import base64

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.my_account import (
    add_token,
    change_password,
    conferences_requiring_second_factor,
    end_one_session,
    end_other_sessions,
    is_totp_secret,
    new_totp_secret,
    remove_second_factor,
    revoke_token,
    sessions_of,
    set_up_second_factor,
    tokens_of,
    totp_uri,
)
from confapp.accounts.service import AccountError, Principal
from confapp.admin.auth import Forbidden, require_user
from confapp.admin.routes import admin_page
from confapp.models import User
from confapp.request_body import CSRF_FIELD, read_form_fields, row_id
from confapp.request_context import database, now
from confapp.tickets.qr import qr_svg
from confapp.translation import N_, _

ACCOUNT_PATH = "/admin/account"
SECOND_FACTOR_PATH = "/admin/account/second-factor"
# The checkbox "also revoke my API tokens" on changing the password and signing out elsewhere.
REVOKE_TOKENS = "revoke_tokens"

# What the page says after a change: ?done=KEY (a fixed list, so a link cannot put words there).
# Translated where shown.
DONE = {
    "password": N_(
        "Your password is changed. Every other browser signed in to this account is signed out."
    ),
    "second-factor": N_("Your second factor is set up: from now on, signing in asks for a code."),
    "second-factor-removed": N_("Your second factor is removed."),
    "password-tokens": N_(
        "Your password is changed. Every other browser signed in to this account is signed "
        "out, and every API token is revoked."
    ),
    "sessions": N_("Every other browser is signed out."),
    "sessions-tokens": N_("Every other browser is signed out, and every API token is revoked."),
    "session": N_("That browser is signed out."),
    "token-revoked": N_("The token is revoked: it no longer works."),
}


def _browser_user(request: Request) -> Principal:
    principal = require_user(request)
    if principal.session_id_hash is None:
        raise Forbidden(_("Change your account from a signed-in browser, not with an API token."))
    return principal


async def _form(request: Request, *names: str) -> tuple[Principal, dict[str, str]]:
    form = await read_form_fields(request, (*names, CSRF_FIELD))
    return _browser_user(request), form


def _done_message(key: str) -> str:
    message = DONE.get(key)
    return _(message) if message is not None else ""


def _done(key: str) -> RedirectResponse:
    return RedirectResponse(f"{ACCOUNT_PATH}?done={key}", status_code=303)


def _account_page(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    new_token: str = "",
    status_code: int = 200,
) -> Response:
    with database(request).read() as session:
        user = session.get(User, principal.user_id)
        sessions = sessions_of(session, principal.user_id)
        tokens = tokens_of(session, principal.user_id)
        required_by = conferences_requiring_second_factor(session, principal.user_id)
    return admin_page(
        request,
        "admin/account.html",
        {
            "has_second_factor": bool(user and user.totp_secret),
            "required_by": required_by,
            "asked_for_second_factor": request.query_params.get("second_factor") == "required",
            "sessions": sessions,
            "tokens": tokens,
            "new_token": new_token,
            "done": _done_message(request.query_params.get("done", "")),
            "errors": errors or {},
        },
        status_code=status_code,
    )


def account(request: Request) -> Response:
    return _account_page(request, _browser_user(request))


def _ticked(form: dict[str, str], name: str) -> bool:
    return bool(form.get(name))


async def password(request: Request) -> Response:
    principal, form = await _form(
        request, "current_password", "new_password", "new_password_again", REVOKE_TOKENS
    )
    revoke_tokens = _ticked(form, REVOKE_TOKENS)
    try:
        await run_in_threadpool(
            change_password,
            database(request),
            principal,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("new_password_again", ""),
            revoke_tokens,
        )
    except AccountError as exc:
        return _account_page(request, principal, errors={"password": str(exc)}, status_code=422)
    return _done("password-tokens" if revoke_tokens else "password")


def _second_factor_page(
    request: Request, principal: Principal, secret: str, error: str = "", status_code: int = 200
) -> Response:
    uri = totp_uri(secret, principal.email)
    return admin_page(
        request,
        "admin/account_second_factor.html",
        {
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr_data_uri": "data:image/svg+xml;base64," + base64.b64encode(qr_svg(uri)).decode(),
            "error": error,
        },
        status_code=status_code,
    )


def second_factor_form(request: Request) -> Response:
    # A new secret each time the page is opened; it is saved only once a code proves it.
    return _second_factor_page(request, _browser_user(request), new_totp_secret())


async def second_factor_submit(request: Request) -> Response:
    principal, form = await _form(request, "secret", "code", "current_password")
    secret = form.get("secret", "")
    try:
        await run_in_threadpool(
            set_up_second_factor,
            database(request),
            principal,
            secret,
            form.get("code", ""),
            form.get("current_password", ""),
            now(request),
        )
    except AccountError as exc:
        if not is_totp_secret(secret):
            secret = new_totp_secret()
        return _second_factor_page(request, principal, secret, str(exc), status_code=422)
    return _done("second-factor")


async def second_factor_remove(request: Request) -> Response:
    principal, form = await _form(request, "current_password")
    try:
        await run_in_threadpool(
            remove_second_factor, database(request), principal, form.get("current_password", "")
        )
    except AccountError as exc:
        return _account_page(
            request, principal, errors={"second_factor": str(exc)}, status_code=422
        )
    return _done("second-factor-removed")


async def sign_out_others(request: Request) -> Response:
    principal, form = await _form(request, REVOKE_TOKENS)
    revoke_tokens = _ticked(form, REVOKE_TOKENS)
    await run_in_threadpool(end_other_sessions, database(request), principal, revoke_tokens)
    return _done("sessions-tokens" if revoke_tokens else "sessions")


async def sign_out_one(request: Request) -> Response:
    principal, form = await _form(request, "session")
    id_hash = form.get("session", "")
    if id_hash == principal.session_id_hash:
        return RedirectResponse(ACCOUNT_PATH, status_code=303)  # "Sign out" at the top does that
    await run_in_threadpool(end_one_session, database(request), principal, id_hash)
    return _done("session")


async def token_add(request: Request) -> Response:
    principal, form = await _form(request, "name", "current_password", "code")
    try:
        secret = await run_in_threadpool(
            add_token,
            database(request),
            principal,
            form.get("name", ""),
            form.get("current_password", ""),
            form.get("code", ""),
            now(request),
        )
    except AccountError as exc:
        return _account_page(request, principal, errors={"token": str(exc)}, status_code=422)
    # Shown on this answer only (never in a URL, never again): the page is not stored anywhere.
    return _account_page(request, principal, new_token=secret)


async def token_revoke(request: Request) -> Response:
    principal, _fields = await _form(request)
    token_id = row_id(request.path_params["token_id"])
    if token_id is not None:  # no such token can exist otherwise: nothing to revoke
        await run_in_threadpool(revoke_token, database(request), principal, token_id)
    return _done("token-revoked")


routes = [
    Route(ACCOUNT_PATH, account, methods=["GET"]),
    Route(ACCOUNT_PATH + "/password", password, methods=["POST"]),
    Route(SECOND_FACTOR_PATH, second_factor_form, methods=["GET"]),
    Route(SECOND_FACTOR_PATH, second_factor_submit, methods=["POST"]),
    Route(SECOND_FACTOR_PATH + "/remove", second_factor_remove, methods=["POST"]),
    Route(ACCOUNT_PATH + "/sessions/sign-out-others", sign_out_others, methods=["POST"]),
    Route(ACCOUNT_PATH + "/sessions/sign-out", sign_out_one, methods=["POST"]),
    Route(ACCOUNT_PATH + "/tokens", token_add, methods=["POST"]),
    Route(ACCOUNT_PATH + "/tokens/{token_id}/revoke", token_revoke, methods=["POST"]),
]
