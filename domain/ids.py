"""Typed identifiers, so a team id can never be passed where a job id is expected."""

from typing import NewType
from uuid import UUID

OrganizationId = NewType("OrganizationId", UUID)
TeamId = NewType("TeamId", UUID)
ApiKeyId = NewType("ApiKeyId", UUID)
JobId = NewType("JobId", UUID)
CallId = NewType("CallId", UUID)
CredentialId = NewType("CredentialId", UUID)
LedgerEntryId = NewType("LedgerEntryId", UUID)
AdminUserId = NewType("AdminUserId", UUID)
