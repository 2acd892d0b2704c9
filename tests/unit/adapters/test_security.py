"""Password hashes and access tokens: tampering, expiry and algorithm confusion are refused."""

import base64
import json
import time

import jwt
import pytest

from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from application.errors import UnauthorizedError

SECRET = "s" * 48


async def test_argon2id_hash_verifies_and_rejects_wrong_passwords() -> None:
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1)
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert await hasher.verify(hashed, "correct horse")
    assert not await hasher.verify(hashed, "wrong")
    assert not await hasher.verify("not-a-hash", "correct horse")


def test_token_round_trip_carries_claims_and_standard_fields() -> None:
    codec = JwtTokenCodec(SECRET)
    claims = codec.decode(codec.issue({"sub": "u1", "role": "admin"}))
    assert claims["sub"] == "u1" and claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 900 and len(claims["jti"]) == 32


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_alg_none_is_refused() -> None:
    codec = JwtTokenCodec(SECRET)
    now = int(time.time())
    claims = {"sub": "u1", "role": "owner", "iat": now, "exp": now + 60, "jti": "x", "iss": "saasllm"}
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    with pytest.raises(UnauthorizedError):
        codec.decode(unsigned)


def test_wrong_key_and_modified_claims_are_refused() -> None:
    codec = JwtTokenCodec(SECRET)
    forged = JwtTokenCodec("k" * 48).issue({"sub": "u1", "role": "owner"})
    with pytest.raises(UnauthorizedError):
        codec.decode(forged)
    header, payload, signature = codec.issue({"sub": "u1", "role": "viewer"}).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "owner"
    with pytest.raises(UnauthorizedError):
        codec.decode(f"{header}.{b64(claims)}.{signature}")


def test_expired_and_claimless_tokens_are_refused() -> None:
    codec = JwtTokenCodec(SECRET)
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "u1", "iat": now - 100, "exp": now - 10, "jti": "a", "iss": "saasllm"}, SECRET, "HS256"
    )
    with pytest.raises(UnauthorizedError, match="expired"):
        codec.decode(expired)
    no_jti = jwt.encode({"sub": "u1", "iat": now, "exp": now + 60, "iss": "saasllm"}, SECRET, "HS256")
    with pytest.raises(UnauthorizedError):
        codec.decode(no_jti)


def test_short_secrets_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError) as info:
        JwtTokenCodec("short-secret")
    assert "short-secret" not in str(info.value)
