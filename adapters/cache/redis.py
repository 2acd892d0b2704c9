"""The response cache in Redis (``REDIS_URL``): shared by every instance, expired by Redis."""

import logging

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from application.ports.response_cache import CachedAnswer

KEY_PREFIX = "saasllm:response:"
log = logging.getLogger(__name__)


class RedisResponseCache:
    def __init__(self, client: "Redis") -> None:
        self._redis = client
        self._decoder = msgspec.msgpack.Decoder(CachedAnswer)
        self._encoder = msgspec.msgpack.Encoder()

    @classmethod
    def from_url(cls, url: str) -> "RedisResponseCache":
        return cls(Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0))

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self._redis.get(KEY_PREFIX + key)
        except (RedisError, OSError) as exc:
            log.warning("response_cache_unavailable", extra={"error": type(exc).__name__})
            return None
        if not isinstance(raw, bytes):
            return None
        try:
            return self._decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):  # written by another version: a miss
            return None

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None:
        try:
            await self._redis.set(KEY_PREFIX + key, self._encoder.encode(answer), ex=ttl_s)
        except (RedisError, OSError) as exc:
            log.warning("response_cache_unavailable", extra={"error": type(exc).__name__})

    async def aclose(self) -> None:
        await self._redis.aclose()
