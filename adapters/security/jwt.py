"""HS256 access tokens: the algorithm is pinned, ``exp``/``iat``/``jti`` are required."""

import secrets
import time
from typing import Any

import jwt

from application.errors import UnauthorizedError

ALGORITHM = "HS256"


class JwtTokenCodec:
    def __init__(self, secret: str, *, ttl_s: int = 900, issuer: str = "saasllm") -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret
        self._ttl_s = ttl_s
        self._issuer = issuer

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

    def issue(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        payload = {**claims, "iat": now, "exp": now + self._ttl_s, "jti": secrets.token_hex(16), "iss": self._issuer}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: "none" and every other algorithm are refused
                issuer=self._issuer,
                options={"require": ["exp", "iat", "jti", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the access token has expired") from None
        except jwt.PyJWTError:
            raise UnauthorizedError("the access token is not valid") from None
        return claims
