-- Credentials without a stored secret. `auth_method` says which table holds what authenticates
-- a credential: credential_secrets (client_secret), credential_keys (private_key_jwt) or
-- trust_rules (federated). Existing credentials keep their secrets.
ALTER TABLE credentials ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret'
    CHECK (auth_method IN ('client_secret', 'private_key_jwt', 'federated'));

-- The public keys (JWK JSON, never a private member) a private_key_jwt credential signs its
-- assertions with, in the order the administrator gave them.
CREATE TABLE credential_keys (
    id TEXT PRIMARY KEY NOT NULL,
    credential_id TEXT NOT NULL REFERENCES credentials (id),
    position INTEGER NOT NULL,
    kid TEXT NOT NULL,
    jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    UNIQUE (credential_id, kid)
);

-- The external tokens a federated credential accepts; the first rule (by position) that
-- matches wins. `claims` is a JSON object of claims that must be equal.
CREATE TABLE trust_rules (
    id TEXT PRIMARY KEY NOT NULL,
    credential_id TEXT NOT NULL REFERENCES credentials (id),
    position INTEGER NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    audience TEXT NOT NULL,
    claims TEXT NOT NULL DEFAULT '{}',
    jwks_uri TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX trust_rules_credential ON trust_rules (credential_id, position);

-- Client assertions already accepted, shared by every replica: a (credential, jti) pair is
-- refused while its row is unexpired. Rows past expires_at are deleted in the background.
CREATE TABLE assertion_jtis (
    credential_id TEXT NOT NULL REFERENCES credentials (id),
    jti TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (credential_id, jti)
);
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);
