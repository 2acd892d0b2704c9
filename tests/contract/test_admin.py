"""Admin users, the audit log and the webhook outbox."""

from datetime import timedelta
from uuid import uuid4

import msgspec
import pytest

from application.errors import ConflictError
from application.ports.admin import Webhook
from domain.admins import AdminRole, AdminUser
from domain.ids import AdminUserId
from tests.contract.conftest import UowFactory, at, make_org


def user(email: str, minute: float = 0, role: AdminRole = AdminRole.ADMIN) -> AdminUser:
    return AdminUser(
        id=AdminUserId(uuid4()), email=email, password_hash="$argon2id$v=19$fake", role=role, created_at=at(minute)
    )


async def test_admin_users_are_unique_by_email_whatever_the_case(uow: UowFactory) -> None:
    org = await make_org(uow)
    owner, scoped = user("owner@example.com", 0, AdminRole.OWNER), user("viewer@example.com", 1)
    scoped = msgspec.structs.replace(scoped, organization_id=org.id)
    async with uow() as u:
        assert await u.admin_users.count() == 0
        await u.admin_users.add(owner)
        await u.admin_users.add(scoped)
        await u.commit()
    async with uow() as u:
        with pytest.raises(ConflictError):
            await u.admin_users.add(user("Owner@Example.com"))
    async with uow() as u:
        assert await u.admin_users.find_by_email("OWNER@example.com") == owner
        assert await u.admin_users.get(scoped.id) == scoped
        assert await u.admin_users.list() == [owner, scoped]
        demoted = msgspec.structs.replace(scoped, role=AdminRole.VIEWER)
        await u.admin_users.update(demoted)
        assert await u.admin_users.get(scoped.id) == demoted
        assert await u.admin_users.delete(owner.id) is True
        assert await u.admin_users.delete(owner.id) is False
        assert await u.admin_users.count() == 1


async def test_the_first_user_is_added_only_while_there_is_none(uow: UowFactory) -> None:
    first, second = user("first@example.com", 0, AdminRole.OWNER), user("second@example.com", 1, AdminRole.OWNER)
    async with uow() as u:
        await u.admin_users.lock_owners()
        assert await u.admin_users.add_first(first) is True
        assert await u.admin_users.add_first(second) is False
        await u.commit()
    async with uow() as u:
        assert await u.admin_users.list() == [first]


async def test_audit_log_is_newest_first_per_organization(uow: UowFactory) -> None:
    org, other = await make_org(uow), await make_org(uow)
    async with uow() as u:
        for i, organization in enumerate((org, other, org)):
            await u.audit.add(
                at=at(i),
                actor_id=None,
                actor_email="system",
                action=f"team.update.{i}",
                target_type="team",
                target_id=str(i),
                organization_id=organization.id,
                before={"name": "old"},
                after={"name": "new", "api_key": "[redacted]"},
            )
        await u.commit()
    async with uow() as u:
        everything = await u.audit.list(organization_id=None, before_id=None, limit=10)
        mine = await u.audit.list(organization_id=org.id, before_id=None, limit=10)
        older = await u.audit.list(organization_id=None, before_id=everything[0].id, limit=1)
    assert [e.action for e in everything] == ["team.update.2", "team.update.1", "team.update.0"]
    assert [e.action for e in mine] == ["team.update.2", "team.update.0"]
    assert [e.action for e in older] == ["team.update.1"]
    assert everything[0].after == {"name": "new", "api_key": "[redacted]"}


async def test_webhook_outbox_is_claimed_once_and_retried(uow: UowFactory) -> None:
    org = await make_org(uow)
    hook = Webhook(
        id=uuid4(),
        organization_id=org.id,
        url="https://example.com/hook",
        events=("job.completed",),
        secret="whsec_x",
        created_at=at(0),
    )
    async with uow() as u:
        await u.webhooks.add(hook)
        assert await u.webhooks.enqueue(org.id, "job.completed", {"job_id": "j1"}, at(1)) == 1
        assert await u.webhooks.enqueue(org.id, "team.credits_low", {}, at(1)) == 0
        await u.commit()
    async with uow() as u:
        assert await u.webhooks.list_for_organization(org.id) == [hook]
        assert await u.webhooks.list_for_organization(None) == [hook]
        assert await u.webhooks.claim_due(at(0), 10, lease_until=at(3)) == []  # not due yet
        claimed = await u.webhooks.claim_due(at(2), 10, lease_until=at(3))
        assert [(d.event, d.payload, d.url, d.secret, d.attempts) for d in claimed] == [
            ("job.completed", {"job_id": "j1"}, hook.url, hook.secret, 0)
        ]
        assert await u.webhooks.claim_due(at(2), 10, lease_until=at(3)) == []  # leased
        await u.webhooks.mark_failed(
            claimed[0].id, at=at(2), status_code=500, error="HTTP 500", next_attempt_at=at(2) + timedelta(seconds=5)
        )
        await u.commit()
    async with uow() as u:
        again = await u.webhooks.claim_due(at(4), 10, lease_until=at(6))
        assert [(d.attempts, d.last_status_code, d.last_error) for d in again] == [(1, 500, "HTTP 500")]
        await u.webhooks.mark_delivered(again[0].id, at=at(4), status_code=204)
        await u.commit()
    async with uow() as u:
        (delivery,) = await u.webhooks.deliveries(hook.id, 10)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("delivered", 2, at(4))
