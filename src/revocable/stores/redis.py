"""Sessions in Redis (redis-py asyncio with hiredis).

Layout, with ``{route}`` the user's routing tag carried inside every token::

    {ns}:{route}:s:{digest}    the record (a JSON array), expiring at its deadline (PXAT)
    {ns}:{route}:u:{user_id}   hash: handle -> digest, expiring with the last session

Every key of one user shares the ``{route}`` hash tag, so on Redis Cluster
they live in one slot and the multi-key changes below are single Lua scripts:
atomic, one round trip each. ``validate`` is one GET.

Crash safety: a Redis without AOF (``appendonly no``) loses everything since
its last snapshot, and with ``appendfsync everysec`` up to a second of writes:
in both cases a session revoked just before a crash comes back when Redis
restarts. For revocations that survive a crash run Redis with
``appendonly yes`` and ``appendfsync always``; ``require_durable=True`` refuses
to start on a server that is not set up that way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from revocable.core.records import DecodedRecords, decode_record, encode_record
from revocable.core.refresh import RefreshFamily, family_route
from revocable.core.sessions import SessionRecord
from revocable.core.tokens import TokenRef, route_for
from revocable.core.users import UserRecord, username_key
from revocable.errors import (
    ConfigurationError,
    InvalidStoreURL,
    StoreCorrupted,
    StoreError,
    StoreUnavailable,
)
from revocable.stores.base import DEFAULT_TIMEOUT
from revocable.stores.bounds import Deadlines, Limiter

__all__ = ["RedisStore"]

log = logging.getLogger("revocable.stores.redis")

_T = TypeVar("_T")

# KEYS: session, user index. ARGV: record, handle, digest, deadline ms, absolute expiry ms.
_INSERT = """
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIREAT', KEYS[2], ARGV[5])
end
return 1
"""
# KEYS: old session, new session, user index. ARGV: record, handle, new digest, deadline ms.
_REPLACE = """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PXAT', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 1
"""
# KEYS: session. ARGV: user index prefix, digest. A record is [1, handle, user, …]
# (revocable.core.records), or an object {"h": handle, "u": user, …} written before that.
_DELETE = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('DEL', KEYS[1])
local record = cjson.decode(value)
local handle, user = record[2], record[3]
if record[1] == nil then handle, user = record['h'], record['u'] end
local index = ARGV[1] .. user
if redis.call('HGET', index, handle) == ARGV[2] then
  redis.call('HDEL', index, handle)
end
return 1
"""
# KEYS: user index. ARGV: handle, session key prefix. The session goes before its
# index entry: if the DEL fails (a slot moving mid-reshard), the entry stays for a retry.
_DELETE_HANDLE = """
local digest = redis.call('HGET', KEYS[1], ARGV[1])
if not digest then return 0 end
local deleted = redis.call('DEL', ARGV[2] .. digest)
redis.call('HDEL', KEYS[1], ARGV[1])
return deleted
"""
# KEYS: user index. ARGV: handle to keep ('' for none), session key prefix.
_DELETE_USER = """
local entries = redis.call('HGETALL', KEYS[1])
local revoked = 0
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] then
    revoked = revoked + redis.call('DEL', ARGV[2] .. entries[i + 1])
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
return revoked
"""
# KEYS: user index. ARGV: session key prefix. Drops index entries whose session expired.
_LIST_USER = """
local entries = redis.call('HGETALL', KEYS[1])
local records = {}
for i = 1, #entries, 2 do
  local value = redis.call('GET', ARGV[1] .. entries[i + 1])
  if value then
    records[#records + 1] = value
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
return records
"""

# Users live under one hash tag, {users}, so that claiming a name and writing the
# user is one atomic script on Redis Cluster too (a single slot: fine for accounts,
# which are read once per login, not per request).
# KEYS: name claim, user hash. ARGV: user id, username, hash, created, changed.
_INSERT_USER = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
redis.call('HSET', KEYS[2], 'username', ARGV[2], 'hash', ARGV[3], 'created', ARGV[4],
  'changed', ARGV[5])
return 1
"""
# KEYS: name claim. ARGV: user key prefix. Answers the user's fields with its id first.
_FIND_USER = """
local id = redis.call('GET', KEYS[1])
if not id then return false end
local fields = redis.call('HGETALL', ARGV[1] .. id)
table.insert(fields, 1, id)
return fields
"""
# KEYS: user hash. ARGV: hash, changed.
_SET_USER_HASH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'changed', ARGV[2])
return 1
"""

# KEYS: user hash. ARGV: not-before time.
_SET_NOT_BEFORE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'nbf', ARGV[1])
return 1
"""

# Refresh families: {ns}:{route}:f:{family_id} is a hash, {ns}:{route}:uf:{user_id} the set
# of a user's family ids; the route comes from the family id, so both share a slot.
# KEYS: family, user set. ARGV: the 8 fields, expiry ms, family id.
_INSERT_FAMILY = """
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'c', ARGV[2], 'e', ARGV[3], 'cur', ARGV[4],
  'prev', ARGV[5], 'rot', ARGV[6], 'n', ARGV[7], 'g', ARGV[8])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('SADD', KEYS[2], ARGV[10])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[9]) then
  redis.call('PEXPIREAT', KEYS[2], ARGV[9])
end
return 1
"""
# Compare-and-swap on the current digest, refusing an expired family, in one round trip.
# Answers {1 if rotated, the family's fields after}: a refused rotation reads the family
# in the same trip, so the caller can decide between replay, reuse and expiry.
# KEYS: family. ARGV: expected current digest, new digest, nonce, now.
_ROTATE_FAMILY = """
local family = redis.call('HMGET', KEYS[1], 'cur', 'e')
if family[1] == ARGV[1] and tonumber(family[2]) > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'prev', family[1], 'cur', ARGV[2], 'n', ARGV[3], 'rot', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'g', 1)
  return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}
"""
# KEYS: family. ARGV: user set prefix, family id.
_DELETE_FAMILY = """
local user = redis.call('HGET', KEYS[1], 'u')
if not user then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. user, ARGV[2])
return 1
"""
# KEYS: user set. ARGV: family key prefix.
_DELETE_USER_FAMILIES = """
local deleted = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  deleted = deleted + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return deleted
"""
# KEYS: user set. ARGV: family key prefix. Answers id, fields, id, fields…
_LIST_FAMILIES = """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then
    out[#out + 1] = id
    out[#out + 1] = fields
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
"""

_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class RedisStore:
    """Sessions in Redis. Build it with ``await RedisStore.open(url)``.

    Pass an existing client (``redis.asyncio.Redis`` or ``RedisCluster``) to the
    constructor instead when the application manages its own. At most
    ``max_in_flight`` calls run at once (more wait, within ``timeout``): the
    cluster client fails outright, rather than waits, when its per-node pool
    (default 100 connections) is exhausted.
    """

    name = "redis"

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        namespace: str = "rv",
        timeout: float = DEFAULT_TIMEOUT,
        max_in_flight: int = 50,
    ) -> None:
        if not namespace or any(c in namespace for c in "{}"):
            raise ConfigurationError("namespace must be non-empty and free of '{' and '}'")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError("timeout must be a positive number of seconds")
        if max_in_flight < 1:
            raise ConfigurationError("max_in_flight must be at least 1")
        self.client = client
        self.namespace = namespace
        self.timeout = timeout
        self._deadlines = Deadlines(timeout)
        self._in_flight = Limiter(max_in_flight)
        self._decoded = DecodedRecords()
        self._insert = client.register_script(_INSERT)
        self._replace = client.register_script(_REPLACE)
        self._delete = client.register_script(_DELETE)
        self._delete_handle = client.register_script(_DELETE_HANDLE)
        self._delete_user = client.register_script(_DELETE_USER)
        self._list_user = client.register_script(_LIST_USER)
        self._insert_user = client.register_script(_INSERT_USER)
        self._find_user = client.register_script(_FIND_USER)
        self._set_password = client.register_script(_SET_USER_HASH)
        self._set_not_before = client.register_script(_SET_NOT_BEFORE)
        self._insert_family = client.register_script(_INSERT_FAMILY)
        self._rotate_family = client.register_script(_ROTATE_FAMILY)
        self._delete_family = client.register_script(_DELETE_FAMILY)
        self._delete_user_families = client.register_script(_DELETE_USER_FAMILIES)
        self._list_families = client.register_script(_LIST_FAMILIES)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        namespace: str = "rv",
        timeout: float = DEFAULT_TIMEOUT,
        require_durable: bool = False,
        allow_eviction: bool = False,
        pool_size: int = 50,
    ) -> RedisStore:
        """Connect to ``url`` and check the server answers.

        ``redis://`` and ``rediss://`` name one server; ``redis+cluster://`` and
        ``rediss+cluster://`` any node of a Redis Cluster. At most ``pool_size``
        connections per server are open; more concurrent calls wait for one
        (within ``timeout``) rather than fail.

        A server whose ``maxmemory-policy`` may evict keys is refused unless
        ``allow_eviction``: an evicted user index would make "log out all
        devices" miss sessions that still work, and an evicted refresh family
        would turn a stolen token's reuse into "unknown family" instead of an
        alarm that kills the thief's copy (fail open).
        """
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError("timeout must be a positive number of seconds")
        scheme, _, rest = url.partition("://")
        try:
            client = _client(url, scheme, rest, timeout, pool_size)
        except ValueError as exc:
            raise InvalidStoreURL(
                url, f"a Redis URL option is malformed ({type(exc).__name__})"
            ) from None
        store = cls(client, namespace=namespace, timeout=timeout, max_in_flight=pool_size)
        try:
            await store._guard(client.ping)
            if not allow_eviction:
                await store._check_no_eviction()
            if require_durable:
                await store._check_durable()
        except BaseException:
            await client.aclose()
            raise
        return store

    async def _check_no_eviction(self) -> None:
        try:
            config: dict[Any, Any] = await self._guard(
                lambda: self.client.config_get("maxmemory-policy")
            )
        except StoreError:
            log.warning(
                "cannot read Redis maxmemory-policy (CONFIG is disabled?): make sure it is "
                "'noeviction', or revoked sessions can survive 'log out all devices' and "
                "evicted refresh families defeat reuse detection"
            )
            return
        policy = {_text(k): _text(v) for k, v in config.items()}.get("maxmemory-policy")
        if policy not in (None, "noeviction"):
            raise ConfigurationError(
                f"this Redis evicts keys (maxmemory-policy {policy}): an evicted session "
                "index would let sessions survive 'log out all devices', and an evicted "
                "refresh family would defeat reuse detection. Set maxmemory-policy "
                "noeviction, or open with allow_eviction=True"
            )

    async def _check_durable(self) -> None:
        try:
            config: dict[Any, Any] = await self._guard(lambda: self.client.config_get("append*"))
        except StoreError as exc:
            raise ConfigurationError(
                "require_durable: cannot read the server's CONFIG to check appendonly"
            ) from exc
        settings = {_text(k): _text(v) for k, v in config.items()}
        if settings.get("appendonly") != "yes" or settings.get("appendfsync") != "always":
            raise ConfigurationError(
                "require_durable: this Redis can lose revocations on a crash; "
                "set 'appendonly yes' and 'appendfsync always', or open with "
                "require_durable=False"
            )

    async def _guard(self, op: Callable[[], Awaitable[_T]]) -> _T:
        try:
            with self._deadlines.call():
                if not self._in_flight.try_acquire():
                    await self._in_flight.acquire()
                try:
                    return await op()
                finally:
                    self._in_flight.release()
        except TimeoutError as exc:
            raise StoreUnavailable(
                f"Redis did not answer within {self.timeout}s", store=self.name
            ) from exc
        except _UNREACHABLE as exc:
            raise StoreUnavailable(
                f"Redis unreachable: {type(exc).__name__}: {exc}", store=self.name
            ) from exc
        except redis_errors.RedisError as exc:
            raise StoreError(f"Redis refused: {exc}", store=self.name) from exc

    def _prefix(self, route: str) -> str:
        return f"{self.namespace}:{{{route}}}:"

    def _session_key(self, ref: TokenRef) -> str:
        return f"{self.namespace}:{{{ref.route}}}:s:{ref.key}"  # _prefix, inlined: every read

    def _index_key(self, user_id: str) -> str:
        return f"{self._prefix(route_for(user_id))}u:{user_id}"

    def _record(self, raw: bytes) -> SessionRecord:
        try:
            return self._decoded.decode(raw, decode_record)
        except ValueError as exc:
            raise StoreCorrupted(str(exc), store=self.name) from None

    async def insert(self, ref: TokenRef, record: SessionRecord) -> None:
        keys = [self._session_key(ref), self._index_key(record.user_id)]
        args = [encode_record(record), record.handle, ref.key]
        args += [str(_ms(record.deadline)), str(_ms(record.expires_at))]
        await self._guard(lambda: self._insert(keys, args))

    async def get(self, ref: TokenRef) -> SessionRecord | None:
        raw: Any = await self._guard(lambda: self.client.get(self._session_key(ref)))
        return None if raw is None else self._record(raw)

    async def touch(self, ref: TokenRef, record: SessionRecord) -> bool:
        key, value = self._session_key(ref), encode_record(record)
        # XX: only an existing key is written, so a revoked session is never recreated.
        done = await self._guard(
            lambda: self.client.set(key, value, xx=True, pxat=_ms(record.deadline))
        )
        return bool(done)

    async def replace(self, old: TokenRef, new: TokenRef, record: SessionRecord) -> bool:
        keys = [self._session_key(old), self._session_key(new), self._index_key(record.user_id)]
        args = [encode_record(record), record.handle, new.key, str(_ms(record.deadline))]
        return bool(await self._guard(lambda: self._replace(keys, args)))

    async def delete(self, ref: TokenRef) -> bool:
        args = [f"{self._prefix(ref.route)}u:", ref.key]
        return bool(await self._guard(lambda: self._delete([self._session_key(ref)], args)))

    async def delete_handle(self, user_id: str, handle: str) -> bool:
        keys, args = [self._index_key(user_id)], [handle, f"{self._prefix(route_for(user_id))}s:"]
        return bool(await self._guard(lambda: self._delete_handle(keys, args)))

    async def delete_user(self, user_id: str, *, keep_handle: str | None = None) -> int:
        keys = [self._index_key(user_id)]
        args = [keep_handle or "", f"{self._prefix(route_for(user_id))}s:"]
        return int(await self._guard(lambda: self._delete_user(keys, args)))

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        keys, args = [self._index_key(user_id)], [f"{self._prefix(route_for(user_id))}s:"]
        values: list[bytes] = await self._guard(lambda: self._list_user(keys, args))
        return [self._record(raw) for raw in values]

    def _user_key(self, user_id: str) -> str:
        return f"{self.namespace}:{{users}}:user:{user_id}"

    def _name_key(self, username: str) -> str:
        return f"{self.namespace}:{{users}}:name:{username_key(username)}"

    async def insert_user(self, user: UserRecord) -> bool:
        keys = [self._name_key(user.username), self._user_key(user.id)]
        args = [user.id, user.username, user.password_hash]
        args += [repr(user.created_at), repr(user.password_changed_at)]
        return bool(await self._guard(lambda: self._insert_user(keys, args)))

    async def get_user(self, user_id: str) -> UserRecord | None:
        fields: Any = await self._guard(lambda: self.client.hgetall(self._user_key(user_id)))
        return _user(user_id, fields) if fields else None

    async def find_user(self, username: str) -> UserRecord | None:
        keys, args = [self._name_key(username)], [f"{self.namespace}:{{users}}:user:"]
        found: Any = await self._guard(lambda: self._find_user(keys, args))
        if not found or len(found) < 2:
            return None
        user_id, flat = _text(found[0]), found[1:]
        return _user(user_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def set_password_hash(self, user_id: str, password_hash: str, changed_at: float) -> bool:
        keys, args = [self._user_key(user_id)], [password_hash, repr(changed_at)]
        return bool(await self._guard(lambda: self._set_password(keys, args)))

    async def hit(self, key: str, window: float, now: float) -> int:
        start = now - now % window
        name = f"{self.namespace}:rl:{key}:{start:.0f}"
        expire_at = _ms(start + window) + 1000  # a second of slack for clock skew

        async def count() -> int:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.pexpireat(name, expire_at)
                hits, _ = await pipe.execute()
            return int(hits)

        return await self._guard(count)

    def _family_key(self, family_id: str) -> str:
        return f"{self._prefix(family_route(family_id))}f:{family_id}"

    def _families_key(self, user_id: str) -> str:
        return f"{self._prefix(route_for(user_id))}uf:{user_id}"

    async def set_not_before(self, user_id: str, when: float) -> bool:
        keys, args = [self._user_key(user_id)], [repr(when)]
        return bool(await self._guard(lambda: self._set_not_before(keys, args)))

    async def insert_family(self, family: RefreshFamily) -> None:
        keys = [self._family_key(family.family_id), self._families_key(family.user_id)]
        args = [*_family_fields(family), str(_ms(family.expires_at)), family.family_id]
        await self._guard(lambda: self._insert_family(keys, args))

    async def rotate_family(
        self, family_id: str, expected: bytes, current: bytes, nonce: bytes, now: float
    ) -> tuple[bool, RefreshFamily | None]:
        keys = [self._family_key(family_id)]
        args: list[bytes | str] = [expected, current, nonce, repr(now)]
        done, flat = await self._guard(lambda: self._rotate_family(keys, args))
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        return bool(done), _family(family_id, fields) if fields else None

    async def delete_family(self, family_id: str) -> bool:
        keys = [self._family_key(family_id)]
        args = [f"{self._prefix(family_route(family_id))}uf:", family_id]
        return bool(await self._guard(lambda: self._delete_family(keys, args)))

    async def delete_user_families(self, user_id: str) -> int:
        keys, args = [self._families_key(user_id)], [f"{self._prefix(route_for(user_id))}f:"]
        return int(await self._guard(lambda: self._delete_user_families(keys, args)))

    async def list_families(self, user_id: str) -> list[RefreshFamily]:
        keys, args = [self._families_key(user_id)], [f"{self._prefix(route_for(user_id))}f:"]
        flat: Any = await self._guard(lambda: self._list_families(keys, args))
        families = []
        for family_id, fields in zip(flat[::2], flat[1::2], strict=True):
            pairs = dict(zip(fields[::2], fields[1::2], strict=True))
            families.append(_family(_text(family_id), pairs))
        return families

    async def sweep(self, now: float) -> int:
        return 0  # keys expire by their own TTLs; stale index entries go on listing

    async def close(self) -> None:
        await self.client.aclose()


def _client(
    url: str, scheme: str, rest: str, timeout: float, pool_size: int
) -> Redis | RedisCluster:
    """A client for ``url`` with every wait bounded; ValueError for malformed options."""
    if scheme.endswith("+cluster"):
        return RedisCluster.from_url(
            f"{scheme.removesuffix('+cluster')}://{rest}",
            max_connections=pool_size,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout,
        socket_timeout=timeout,  # redis-py waits forever by default
        socket_connect_timeout=timeout,
        # One immediate retry replaces a pooled connection that died with a
        # restarted server; the whole call stays bounded by ``timeout``.
        retry=Retry(NoBackoff(), 1),
    )
    return Redis.from_pool(pool)


def _ms(when: float) -> int:
    return math.ceil(when * 1000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _user(user_id: str, fields: dict[Any, Any]) -> UserRecord:
    values = {_text(k): _text(v) for k, v in fields.items()}
    try:
        return UserRecord(
            id=user_id,
            username=values["username"],
            password_hash=values["hash"],
            created_at=float(values["created"]),
            password_changed_at=float(values["changed"]),
            not_before=float(values.get("nbf", 0.0)),
        )
    except (KeyError, ValueError) as exc:
        raise StoreCorrupted(f"undecodable user record: {exc!r}", store="redis") from None


def _family_fields(family: RefreshFamily) -> list[bytes | str]:
    """The family's hash fields in ``_INSERT_FAMILY``'s order (None as an empty value)."""
    return [
        family.user_id,
        repr(family.created_at),
        repr(family.expires_at),
        family.current,
        family.previous or b"",
        "" if family.rotated_at is None else repr(family.rotated_at),
        family.nonce,
        str(family.generation),
    ]


def _family(family_id: str, fields: dict[Any, Any]) -> RefreshFamily:
    raw = {_text(k): v for k, v in fields.items()}
    try:
        return RefreshFamily(
            family_id=family_id,
            user_id=_text(raw["u"]),
            created_at=float(raw["c"]),
            expires_at=float(raw["e"]),
            current=bytes(raw["cur"]),
            previous=bytes(raw["prev"]) or None,
            rotated_at=float(raw["rot"]) if raw["rot"] else None,
            nonce=bytes(raw["n"]),
            generation=int(raw["g"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise StoreCorrupted(f"undecodable refresh family: {exc!r}", store="redis") from None
