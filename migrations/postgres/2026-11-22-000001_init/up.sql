-- Tessera schema, PostgreSQL flavour of migrations/sqlite: the same tables and types, so one
-- diesel schema serves both backends.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    suspended_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    suspended_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX workspaces_account ON workspaces (account_id, id);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('account', 'workspace')),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    workspace_id TEXT REFERENCES workspaces (id),
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    audience TEXT NOT NULL,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    rotated_at TIMESTAMP,
    deactivated_at TIMESTAMP,
    -- Tokens issued before this instant are revoked (deactivation, rotation with revoke_tokens).
    tokens_revoked_before TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    CHECK ((kind = 'account' AND workspace_id IS NULL) OR (kind = 'workspace' AND workspace_id IS NOT NULL))
);
CREATE INDEX credentials_account ON credentials (account_id, id);
CREATE INDEX credentials_workspace ON credentials (workspace_id, id);

-- A credential has one secret, or two while a rotation's grace period runs.
CREATE TABLE credential_secrets (
    id TEXT PRIMARY KEY NOT NULL,
    credential_id TEXT NOT NULL REFERENCES credentials (id),
    secret_hash TEXT NOT NULL,
    last4 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX credential_secrets_credential ON credential_secrets (credential_id);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    account_id TEXT REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
-- A name can be reused once the token that had it is revoked.
CREATE UNIQUE INDEX admin_tokens_live_name ON admin_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    actor_ip TEXT,
    action TEXT NOT NULL,
    account_id TEXT,
    workspace_id TEXT,
    credential_id TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_credential ON audit_events (credential_id, id);

-- Individual access tokens revoked through RFC 7009, kept until they expire.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
