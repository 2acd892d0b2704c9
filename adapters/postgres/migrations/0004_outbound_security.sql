-- Webhook secrets are stored encrypted by the vault (Fernet) from now on. SQL cannot encrypt
-- the secrets already stored (the vault key is not in the database), so they are marked as
-- plaintext and keep working as they are; `saasllm rotate-keys` encrypts them, and every
-- secret written from now on (creation, rotate-secret) is encrypted. No default: a writer
-- must say which kind it stores.
ALTER TABLE webhooks ADD COLUMN secret_encrypted boolean NOT NULL DEFAULT false;
ALTER TABLE webhooks ALTER COLUMN secret_encrypted DROP DEFAULT;
