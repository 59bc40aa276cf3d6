"""The auditor's client: one origin, no redirects followed, a budget, a rate, redacted evidence."""

from __future__ import annotations

import time

import httpx
import pytest

from revocable.audit.client import AuditClient, BudgetExhausted, OffOrigin, TargetUnreachable


def client_for(handler: httpx.MockTransport, **options: float) -> AuditClient:
    return AuditClient(
        "http://app.test:8080/base",
        transport=handler,
        max_requests=int(options.pop("max_requests", 100)),
        rate=options.pop("rate", 10_000.0),
    )


def echo(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            headers=[("set-cookie", "sid=secretsecret; Path=/; HttpOnly")],
            json={"ok": True},
        )

    return httpx.MockTransport(handle)


async def test_only_the_targets_origin_is_reachable() -> None:
    """Paths join the base URL; other hosts, scheme-relative and bare paths are refused."""
    seen: list[httpx.Request] = []
    client = client_for(echo(seen))
    assert client.url("/auth/login") == "http://app.test:8080/base/auth/login"
    assert client.url("http://APP.test:8080/x") == "http://APP.test:8080/x"
    for bad in ("http://evil.test/x", "https://app.test:8080/x", "//evil.test/x", "x", "/\\x"):
        with pytest.raises(OffOrigin):
            await client.request("GET", bad, step="s")
    assert seen == []
    assert client.used == 0
    await client.aclose()


async def test_redirects_are_never_followed() -> None:
    """A 3xx to another origin is recorded as evidence, and nothing more is sent."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "http://evil.test/steal"})

    client = client_for(httpx.MockTransport(handle))
    answer = await client.request("POST", "/login", step="log in")
    assert answer.status == 302
    assert len(seen) == 1
    assert client.exchanges[0].received == ("Location: (another origin)",)
    await client.aclose()


async def test_the_budget_is_a_hard_limit() -> None:
    """After max_requests requests the next raises BudgetExhausted without sending."""
    seen: list[httpx.Request] = []
    client = client_for(echo(seen), max_requests=3)
    for _ in range(3):
        await client.request("GET", "/x", step="s")
    with pytest.raises(BudgetExhausted):
        await client.request("GET", "/x", step="s")
    assert (len(seen), client.used, client.remaining) == (3, 3, 0)
    await client.aclose()


async def test_the_rate_is_a_limit() -> None:
    """At 20 requests a second, six requests take at least a quarter second."""
    seen: list[httpx.Request] = []
    client = client_for(echo(seen), rate=20.0)
    started = time.monotonic()
    for _ in range(6):
        await client.request("GET", "/x", step="s")
    assert time.monotonic() - started >= 0.24
    await client.aclose()


async def test_httpx_keeps_no_cookies() -> None:
    """A Set-Cookie is not replayed by httpx: the caller's Cookie header is all that is sent."""
    seen: list[httpx.Request] = []
    client = client_for(echo(seen))
    await client.request("GET", "/a", step="s")
    await client.request("GET", "/b", step="s")
    assert "cookie" not in seen[1].headers
    await client.request("GET", "/c", step="s", cookie="sid=mine")
    assert seen[2].headers["cookie"] == "sid=mine"
    await client.aclose()


async def test_evidence_is_redacted() -> None:
    """Cookie values, tokens, secret-looking query values and body values never reach evidence."""
    seen: list[httpx.Request] = []
    client = client_for(echo(seen))
    await client.request(
        "POST",
        "/login",
        step="log in",
        cookie="sid=secretsecret; other=alsosecret",
        headers={"X-CSRF-Token": "tokentoken", "Origin": "http://app.test:8080"},
        json={"username": "alice", "password": "hunter2hunter2"},
        params={"user": "alice", "password": "hunter2hunter2"},
    )
    exchange = client.exchanges[0]
    text = repr(exchange) + exchange.line()
    for secret in ("secretsecret", "alsosecret", "tokentoken", "hunter2hunter2"):
        assert secret not in text
    assert "Cookie: sid=<12 chars>; other=<10 chars>" in exchange.sent
    assert "X-CSRF-Token: <10 chars>" in exchange.sent
    assert "Origin: http://app.test:8080" in exchange.sent
    assert "JSON fields: username, password" in exchange.sent
    assert exchange.path == "/login?user=alice&password=<14 chars>"
    assert exchange.received == ("Set-Cookie: sid=<12 chars>; Path=/; HttpOnly",)
    await client.aclose()


async def test_error_codes_and_bounded_bodies() -> None:
    """A JSON error body's code becomes evidence; bodies are read up to 1 MiB."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/big"):
            return httpx.Response(200, content=b"x" * (3 << 20))
        return httpx.Response(403, json={"error": "csrf_token_missing", "detail": "…"})

    client = client_for(httpx.MockTransport(handle))
    answer = await client.request("POST", "/logout", step="s")
    assert client.exchanges[-1].error == "csrf_token_missing"
    assert answer.json() == {"error": "csrf_token_missing", "detail": "…"}
    big = await client.request("GET", "/big", step="s")
    assert len(big.body) == 1 << 20
    assert big.json() is None
    await client.aclose()


async def test_no_answer_is_target_unreachable() -> None:
    """A connection error raises TargetUnreachable and is still recorded."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = client_for(httpx.MockTransport(handle))
    with pytest.raises(TargetUnreachable, match="no answer"):
        await client.request("GET", "/x", step="s")
    assert client.exchanges[0].status is None
    assert client.exchanges[0].error == "ConnectError"
    await client.aclose()


def test_bad_settings_are_refused() -> None:
    """A non-http base URL, a zero budget or rate is a ValueError."""
    with pytest.raises(ValueError, match="http"):
        AuditClient("ftp://x")
    with pytest.raises(ValueError, match="max_requests"):
        AuditClient("http://x", max_requests=0)
    with pytest.raises(ValueError, match="rate"):
        AuditClient("http://x", rate=0)
