"""Operator authentication: first-run setup, login with throttling, token verification."""

import secrets
from dataclasses import dataclass, field
from uuid import UUID

from application.errors import ConflictError, LoginRateLimitedError, UnauthorizedError
from application.ports.admin import NewAuditEntry
from application.ports.security import LoginThrottle, PasswordHasher, TokenCodec
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.admins import AdminPrincipal, AdminRole, AdminUser, ensure_owner, visible_scope
from domain.errors import InvalidValueError
from domain.ids import AdminUserId, OrganizationId

MIN_PASSWORD_LENGTH = 12
SESSION_MAX_S = 12 * 3600  # a browser session is renewed while in use, for at most this long after sign-in


class IssuedToken:
    __slots__ = ("access_token", "expires_in")

    def __init__(self, access_token: str, expires_in: int) -> None:
        self.access_token = access_token
        self.expires_in = expires_in


@dataclass(kw_only=True)
class AdminAuthService:
    """Rules: setup works only while no admin exists (also when raced); passwords have at
    least 12 characters; a failed login never says whether the email exists; every login
    attempt is counted by the throttle *before* its password is checked, and one the
    throttle refuses answers 429 without reaching the check; tokens of deleted users stop
    working."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    tokens: TokenCodec
    token_ttl_s: int
    clock: Clock
    ids: IdGenerator
    throttle: LoginThrottle
    # Verifying an unknown email against a real hash keeps "no such user" as slow as
    # "wrong password", so response times do not reveal which emails exist.
    _dummy_hash: str | None = field(default=None, init=False, repr=False)

    async def needs_setup(self) -> bool:
        async with self.uow() as uow:
            return await uow.admin_users.count() == 0

    async def setup(self, *, email: str, password: str) -> AdminUser:
        """Create the first owner; refused (409) once any admin user exists."""
        return await self.create_user(email=email, password=password, role=AdminRole.OWNER, first_only=True)

    async def create_user(
        self,
        *,
        email: str,
        password: str,
        role: AdminRole,
        organization_id: OrganizationId | None = None,
        first_only: bool = False,
        actor: AdminPrincipal | None = None,
    ) -> AdminUser:
        """A new admin user; ``actor`` (None: the system, e.g. ``create-owner``) must be an
        owner, and an organization-scoped owner creates users of its organization only."""
        if actor is not None:
            ensure_owner(actor)
            organization_id = visible_scope(actor, organization_id)
        email = normalize_email(email)
        check_password(password)
        hashed = await self.hasher.hash(password)
        user = AdminUser(
            id=AdminUserId(self.ids.new_id()),
            email=email,
            password_hash=hashed,
            role=role,
            organization_id=organization_id,
            created_at=self.clock.now(),
        )
        async with self.uow() as uow:
            if first_only:
                if not await uow.admin_users.add_first(user):
                    raise ConflictError("setup is already done")
            else:
                await uow.admin_users.add(user)
            await uow.audit.add(
                NewAuditEntry(
                    at=user.created_at,
                    actor_id=actor.user_id if actor else None,
                    actor_email=actor.email if actor else "system",
                    action="user.create",
                    target_type="admin_user",
                    target_id=str(user.id),
                    organization_id=organization_id,
                    before=None,
                    after={"email": email, "role": role.value, "organization_id": str(organization_id or "")},
                )
            )
            await uow.commit()
        return user

    async def login(self, *, email: str, password: str, address: str) -> IssuedToken:
        account = email.strip().lower()
        retry_after_s = await self.throttle.attempt(account, address)
        if retry_after_s is not None:
            raise LoginRateLimitedError("too many login attempts; try again later", retry_after_s=retry_after_s)
        async with self.uow() as uow:
            user = await uow.admin_users.find_by_email(account)
        if self._dummy_hash is None:
            self._dummy_hash = await self.hasher.hash(secrets.token_hex(16))
        valid = await self.hasher.verify(user.password_hash if user else self._dummy_hash, password)
        if user is None or not valid:
            raise UnauthorizedError("email or password is wrong")
        await self.throttle.succeeded(account, address)
        claims = token_claims(user.id, user.email, user.role, user.organization_id)
        signed_in = int(self.clock.now().timestamp())
        return IssuedToken(self.tokens.issue({**claims, "auth_time": signed_in}), self.token_ttl_s)

    async def renew(self, token: str | None) -> tuple[AdminPrincipal, IssuedToken | None]:
        """The operator of a browser session, and a fresh token once half of this one's life has passed.

        Sliding expiry for the panel: a session in use stays signed in, an idle one ends
        ``token_ttl_s`` after its last renewal, and none is renewed more than
        ``SESSION_MAX_S`` after its sign-in (``auth_time``, carried over by every renewal).
        Raises ``UnauthorizedError`` like ``authenticate``.
        """
        principal = await self.authenticate(token)
        claims = self.tokens.decode(token or "")
        now = int(self.clock.now().timestamp())
        signed_in = int(claims.get("auth_time") or claims["iat"])
        if int(claims["exp"]) - now > self.token_ttl_s // 2 or now - signed_in >= SESSION_MAX_S:
            return principal, None
        fresh = token_claims(principal.user_id, principal.email, principal.role, principal.organization_id)
        return principal, IssuedToken(self.tokens.issue({**fresh, "auth_time": signed_in}), self.token_ttl_s)

    async def authenticate(self, token: str | None) -> AdminPrincipal:
        if not token:
            raise UnauthorizedError("an admin access token is required")
        claims = self.tokens.decode(token)
        try:
            user_id = AdminUserId(UUID(str(claims["sub"])))
        except (KeyError, ValueError):
            raise UnauthorizedError("the access token is not valid") from None
        async with self.uow() as uow:
            user = await uow.admin_users.get(user_id)
        if user is None:
            raise UnauthorizedError("the access token is not valid")
        # Role and scope come from the stored user, so a demotion takes effect at once.
        return AdminPrincipal(user_id=user.id, email=user.email, role=user.role, organization_id=user.organization_id)


def token_claims(
    user_id: AdminUserId, email: str, role: AdminRole, organization_id: OrganizationId | None
) -> dict[str, str | None]:
    # Informational: authenticate() reads role and scope from the stored user, never from here.
    return {
        "sub": str(user_id),
        "email": email,
        "role": role.value,
        "org": str(organization_id) if organization_id else None,
    }


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise InvalidValueError("email is not valid")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise InvalidValueError("password is too long")
