"""fastapi-users with its cookie transport, as its docs' full SQLAlchemy example sets it up.

From the docs ("Configuration": SQLAlchemy database, user manager, schemas,
"Authentication": ``CookieTransport``, ``JWTStrategy``, ``DatabaseStrategy``,
"Full example"): a ``User`` table, ``UserManager(UUIDIDMixin, BaseUserManager)``,
one ``AuthenticationBackend`` with ``CookieTransport(cookie_max_age=3600)``
(defaults: cookie ``fastapiusersauth``, Secure, HttpOnly, SameSite=Lax) and
either strategy:

* ``"jwt"``: ``JWTStrategy(secret, lifetime_seconds=3600)``. The cookie is the
  JWT (``sub``, ``aud``, ``exp``; no ``jti``); nothing is stored, and logout
  cannot end it: the strategy's ``destroy_token`` raises "A JWT can't be
  invalidated: it's valid until it expires", which the backend swallows
  before clearing the cookie.
* ``"database"``: ``DatabaseStrategy(access_token_db, lifetime_seconds=3600)``
  with the ``AccessToken`` table: the cookie is ``secrets.token_urlsafe()``
  (32 bytes), looked up on every request, deleted on logout.

Routers as in the full example: auth (``POST …/login`` with the OAuth2 form,
answering 204 and the cookie; ``POST …/logout``, 204), register, reset
password, verify, users (``GET /users/me``), and ``GET /authenticated-route``.
The library has no CSRF protection of its own (the docs list "Needs a CSRF
protection for maximum security" under the cookie transport's cons) and no
"log out all devices".

One change from the docs, for test speed only: the password helper uses a
cheap argon2id (``PasswordHelper(PasswordHash((Argon2Hasher(...),)))``, as the
docs' "Password hash" page shows how to configure), so that sampling 200
logins for C9 takes seconds, not minutes, on a busy two-core machine.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import (
    AuthenticationBackend,
    CookieTransport,
    JWTStrategy,
    Strategy,
)
from fastapi_users.authentication.strategy.db import DatabaseStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users.password import PasswordHelper
from fastapi_users_db_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

__all__ = ["TARGET_TOML", "StrategyName", "users_app"]

StrategyName = Literal["jwt", "database"]

TARGET_TOML = """
# fastapi-users, cookie transport (no CSRF token: the library has none).
session_cookie = "fastapiusersauth"
logout = "/auth/cookie/logout"
logout_all = false                   # the library has none: C4 fails for want of one
protected = "/authenticated-route"   # 200 signed in, 401 otherwise

[login]
path = "/auth/cookie/login"
body = "form"                        # the OAuth2 password form: username (the email), password
"""
"""The target description of the app, whichever strategy it uses."""


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


@asynccontextmanager
async def users_app(
    database_url: str, *, strategy: StrategyName = "jwt", lifetime_seconds: int = 3600
) -> AsyncIterator[FastAPI]:
    """The docs' app on ``database_url`` (tables created); the engine is closed on exit."""
    secret = secrets.token_urlsafe(32)
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    session_maker = async_sessionmaker(engine, expire_on_commit=False)
    password_helper = PasswordHelper(
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    )

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with session_maker() as session:
            yield session

    async def get_user_db(
        session: AsyncSession = Depends(get_async_session),
    ) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
        yield SQLAlchemyUserDatabase(session, User)

    async def get_access_token_db(
        session: AsyncSession = Depends(get_async_session),
    ) -> AsyncIterator[SQLAlchemyAccessTokenDatabase[AccessToken]]:
        yield SQLAlchemyAccessTokenDatabase(session, AccessToken)

    class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
        reset_password_token_secret = secret
        verification_token_secret = secret

    async def get_user_manager(
        user_db: SQLAlchemyUserDatabase[User, uuid.UUID] = Depends(get_user_db),
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db, password_helper)

    def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=secret, lifetime_seconds=lifetime_seconds)

    def get_database_strategy(
        access_token_db: SQLAlchemyAccessTokenDatabase[AccessToken] = Depends(get_access_token_db),
    ) -> DatabaseStrategy[User, uuid.UUID, AccessToken]:
        return DatabaseStrategy(access_token_db, lifetime_seconds=lifetime_seconds)

    get_strategy: Callable[..., Strategy[User, uuid.UUID]] = (
        get_jwt_strategy if strategy == "jwt" else get_database_strategy
    )
    auth_backend = AuthenticationBackend[User, uuid.UUID](
        name="cookie",
        transport=CookieTransport(cookie_max_age=3600),
        get_strategy=get_strategy,
    )
    fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
    current_active_user = fastapi_users.current_user(active=True)

    app = FastAPI()
    app.include_router(
        fastapi_users.get_auth_router(auth_backend), prefix="/auth/cookie", tags=["auth"]
    )
    app.include_router(
        fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"]
    )
    app.include_router(fastapi_users.get_reset_password_router(), prefix="/auth", tags=["auth"])
    app.include_router(fastapi_users.get_verify_router(UserRead), prefix="/auth", tags=["auth"])
    app.include_router(
        fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users", tags=["users"]
    )

    @app.get("/authenticated-route")
    async def authenticated_route(user: User = Depends(current_active_user)) -> dict[str, Any]:
        return {"message": f"Hello {user.email}!"}

    try:
        yield app
    finally:
        # A request's session is closed after its answer is sent, so the last answer can reach
        # the auditor before its connection is back in the pool: wait for it, or dispose()
        # leaves that connection open (and its finaliser warns in some later test).
        for _ in range(400):
            if engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.025)
        await engine.dispose()
