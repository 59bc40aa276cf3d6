"""Other libraries' Redis-backed session auth, set up as their docs show, for ``bench_peers.py``.

Each app answers ``GET /api/me`` with ``{"id": …}`` for a signed-in client and
401 otherwise, like ``web_apps.py``'s, and has a way in that sets its cookie:

- ``starsessions_app``: starsessions' ``SessionMiddleware`` with its
  ``RedisStore`` (on the Redis client given) and ``SessionAutoloadMiddleware``;
  ``POST /bench/login`` puts the user id in the session. starsessions saves the
  session back to Redis on every request that loaded it (a GET and a SET).
- ``fastapi_users_app``: fastapi-users with ``CookieTransport`` and
  ``RedisStrategy`` (the token maps to the user id in Redis), users in a
  SQLAlchemy table on PostgreSQL (asyncpg), ``current_user(active=True)`` on
  the route: a Redis GET and a user SELECT per request. Sign in with the
  OAuth2 form at ``POST /auth/login``; the user is registered by the
  ``UserManager`` first.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, CookieTransport, RedisStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users.password import PasswordHelper
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from redis.asyncio import Redis
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from starsessions import SessionAutoloadMiddleware, SessionMiddleware
from starsessions.stores.redis import RedisStore

__all__ = ["FASTAPI_USERS_PASSWORD", "fastapi_users_app", "starsessions_app"]

FASTAPI_USERS_PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway bench user)


def starsessions_app(client: Redis, prefix: str) -> ASGIApp:
    """starsessions on Redis (keys under ``prefix``), one-hour sessions over plain HTTP."""

    async def me(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if user_id is None:
            return JSONResponse({"error": "not_authenticated"}, status_code=401)
        return JSONResponse({"id": user_id})

    async def login(request: Request) -> Response:
        request.session["user_id"] = request.query_params["user"]
        return JSONResponse({"ok": True})

    middleware = [
        Middleware(
            SessionMiddleware,
            store=RedisStore(connection=client, prefix=prefix),
            lifetime=3600,
            cookie_https_only=False,  # the bench talks plain HTTP
        ),
        Middleware(SessionAutoloadMiddleware),
    ]
    routes = [Route("/api/me", me), Route("/bench/login", login, methods=["POST"])]
    return Starlette(routes=routes, middleware=middleware)


class _Base(DeclarativeBase):
    metadata = MetaData()


class User(SQLAlchemyBaseUserTableUUID, _Base):
    pass


class _UserRead(schemas.BaseUser[uuid.UUID]):
    pass


@asynccontextmanager
async def fastapi_users_app(
    client: Redis, key_prefix: str, database_url: str, schema: str, email: str
) -> AsyncIterator[FastAPI]:
    """The app, with ``email`` registered. Its user table goes in ``schema`` (which must
    exist; the caller drops it) of the ``postgresql+asyncpg://`` database. ``client``
    must decode responses (``decode_responses=True``), as fastapi-users' docs set it up."""
    engine = create_async_engine(
        database_url, connect_args={"server_settings": {"search_path": schema}}
    )
    async with engine.begin() as connection:
        await connection.run_sync(_Base.metadata.create_all)
    session_maker = async_sessionmaker(engine, expire_on_commit=False)
    # A cheap argon2id: the login happens once, outside the timed loops.
    password_helper = PasswordHelper(
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    )
    secret = secrets.token_urlsafe(32)

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with session_maker() as session:
            yield session

    async def get_user_db(
        session: AsyncSession = Depends(get_async_session),
    ) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
        yield SQLAlchemyUserDatabase(session, User)

    class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
        reset_password_token_secret = secret
        verification_token_secret = secret

    async def get_user_manager(
        user_db: SQLAlchemyUserDatabase[User, uuid.UUID] = Depends(get_user_db),
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db, password_helper)

    def get_redis_strategy() -> RedisStrategy[User, uuid.UUID]:
        return RedisStrategy(client, lifetime_seconds=3600, key_prefix=key_prefix)

    backend = AuthenticationBackend[User, uuid.UUID](
        name="cookie",
        transport=CookieTransport(cookie_max_age=3600, cookie_secure=False),
        get_strategy=get_redis_strategy,
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
    current_active_user = users.current_user(active=True)

    app = FastAPI()
    app.include_router(users.get_auth_router(backend), prefix="/auth")

    @app.get("/api/me")
    async def me(user: User = Depends(current_active_user)) -> dict[str, Any]:
        return {"id": user.email}

    async with session_maker() as session:
        manager = UserManager(SQLAlchemyUserDatabase(session, User), password_helper)
        await manager.create(schemas.BaseUserCreate(email=email, password=FASTAPI_USERS_PASSWORD))
    try:
        yield app
    finally:
        await engine.dispose()
