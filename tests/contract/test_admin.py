"""Admin users, the audit log and the webhook outbox."""

from datetime import timedelta
from uuid import uuid4

import msgspec
import pytest

from application.errors import ConflictError
from application.ports.admin import NewAuditEntry, Webhook
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
                NewAuditEntry(
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


def webhook(org_id: object, minute: float = 0, **fields: object) -> Webhook:
    values: dict[str, object] = {
        "id": uuid4(),
        "organization_id": org_id,
        "url": "https://example.com/hook",
        "events": ("job.completed",),
        "secret": "gAAAA-token-1",
        "secret_encrypted": True,
        "created_at": at(minute),
    }
    values.update(fields)
    return Webhook(**values)  # type: ignore[arg-type]


async def test_deliveries_of_an_inactive_webhook_wait_unclaimed(uow: UowFactory) -> None:
    org = await make_org(uow)
    hook = webhook(org.id)
    async with uow() as u:
        await u.webhooks.add(hook)
        assert await u.webhooks.enqueue(org.id, "job.completed", {"job_id": "j1"}, at(1)) == 1
        await u.webhooks.update(msgspec.structs.replace(hook, is_active=False))
        await u.commit()
    async with uow() as u:
        assert await u.webhooks.claim_due(at(2), 10, lease_until=at(3)) == []
        assert await u.webhooks.enqueue(org.id, "job.completed", {"job_id": "j2"}, at(2)) == 0  # nor queued
        await u.webhooks.update(hook)  # active again
        await u.commit()
    async with uow() as u:
        claimed = await u.webhooks.claim_due(at(2), 10, lease_until=at(3))
    assert [(d.payload, d.attempts, d.next_attempt_at) for d in claimed] == [({"job_id": "j1"}, 0, at(1))]


async def test_a_claim_carries_the_webhooks_current_url_and_secret(uow: UowFactory) -> None:
    org = await make_org(uow)
    hook = webhook(org.id, secret="whsec_plain", secret_encrypted=False)
    async with uow() as u:
        await u.webhooks.add(hook)
        await u.webhooks.enqueue(org.id, "job.completed", {}, at(1))
        await u.webhooks.update(msgspec.structs.replace(hook, url="https://example.com/moved"))
        assert await u.webhooks.replace_secret(hook.id, old="whsec_plain", new="gAAAA-token-2") is True
        await u.commit()
    async with uow() as u:
        [delivery] = await u.webhooks.claim_due(at(2), 10, lease_until=at(3))
        [listed] = await u.webhooks.deliveries(hook.id, 10)
    assert (delivery.url, delivery.secret, delivery.secret_encrypted) == (
        "https://example.com/moved",
        "gAAAA-token-2",
        True,
    )
    assert (listed.url, listed.secret) == (delivery.url, delivery.secret)


async def test_webhooks_are_read_updated_and_deleted_with_their_outbox(uow: UowFactory) -> None:
    org = await make_org(uow)
    first, second = webhook(org.id, 0, secret="whsec_a", secret_encrypted=False), webhook(org.id, 1)
    async with uow() as u:
        await u.webhooks.add(first)
        await u.webhooks.add(second)
        await u.webhooks.enqueue(org.id, "job.completed", {}, at(1))
        await u.commit()
    async with uow() as u:
        assert await u.webhooks.get(first.id) == first
        assert await u.webhooks.get(uuid4()) is None
        by_id = sorted([first, second], key=lambda w: w.id)
        assert await u.webhooks.list_all(after=None, limit=1) == by_id[:1]
        assert await u.webhooks.list_all(after=by_id[0].id, limit=10) == by_id[1:]
        changed = msgspec.structs.replace(
            first, url="https://example.com/other", events=("job.completed", "team.credits_low"), is_active=False
        )
        await u.webhooks.update(changed)
        assert await u.webhooks.get(first.id) == changed
        # the secret is swapped only while it is the one read
        assert await u.webhooks.replace_secret(first.id, old="whsec_stale", new="gAAAA-x") is False
        assert await u.webhooks.replace_secret(first.id, old="whsec_a", new="gAAAA-x") is True
        swapped = await u.webhooks.get(first.id)
        assert swapped is not None and (swapped.secret, swapped.secret_encrypted) == ("gAAAA-x", True)
        assert await u.webhooks.delete(second.id) is True
        assert await u.webhooks.delete(second.id) is False
        assert await u.webhooks.deliveries(second.id, 10) == []
        assert await u.webhooks.list_for_organization(org.id) == [swapped]
        await u.commit()
