DROP TABLE revoked_tokens;
DROP TABLE audit_events;
DROP TABLE admin_tokens;
DROP TABLE credential_secrets;
DROP TABLE credentials;
DROP TABLE workspaces;
DROP TABLE accounts;
