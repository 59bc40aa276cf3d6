"""Reading request bodies for the auth routes: JSON or HTML forms, bounded, strict."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from fastapi import Request

from revocable.config import WebPolicy
from revocable.core.csrf import check_origin
from revocable.fastapi import AuthHTTPError
from revocable.starlette import own_origin

__all__ = ["MAX_BODY", "read_fields", "refuse_cross_site"]

MAX_BODY = 16 * 1024
_FORM = "application/x-www-form-urlencoded"


async def read_fields(request: Request) -> tuple[dict[str, str], bool]:
    """The body's string fields, from JSON or an HTML form; and whether it was a form.

    Bounded to ``MAX_BODY`` bytes (413), JSON must be an object of strings (422),
    other content types are refused (415).
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ("application/json", _FORM):
        raise AuthHTTPError(415, "unsupported_media_type", "send JSON or an HTML form")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise AuthHTTPError(413, "body_too_large", f"bodies are limited to {MAX_BODY} bytes")
    if content_type == _FORM:
        try:
            form = parse_qs(body.decode("utf-8"), max_num_fields=50, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise AuthHTTPError(400, "malformed_body", "the form is not valid UTF-8") from None
        return {k: v[0] for k, v in form.items()}, True
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AuthHTTPError(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(doc, dict) or not all(_text(v) for v in doc.values()):
        raise AuthHTTPError(422, "invalid_input", "send a JSON object of Unicode string fields")
    return doc, False


def _text(value: object) -> bool:
    """A string every store can keep (JSON's \\ud800 escapes make lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def refuse_cross_site(policy: WebPolicy, request: Request) -> None:
    """403 for a cross-site state-changing request that no session guards: the header half of
    the CSRF checks (Fetch Metadata, then Origin/Referer), for login forms (login CSRF) and
    for the refresh cookie."""
    rejection = check_origin(
        method=request.method,
        origin=request.headers.get("origin"),
        referer=request.headers.get("referer"),
        sec_fetch_site=request.headers.get("sec-fetch-site"),
        own_origin=policy.public_origin or own_origin(request.scope),
        trusted_origins=policy.trusted_origins,
    )
    if rejection is not None:
        raise AuthHTTPError(403, rejection.value, "cross-site request refused")
