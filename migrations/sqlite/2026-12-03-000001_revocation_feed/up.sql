-- The revocation feed's change log. Every change to a feed entry takes the next number from
-- feed_state.last_seq in the transaction that makes it; the UPDATE holds the row's write lock
-- until commit, so numbers are handed out in commit order and a cursor (a number) never skips
-- an entry that commits later. `epoch` tells this database's cursors from any other's.
CREATE TABLE feed_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch TEXT NOT NULL,
    last_seq BIGINT NOT NULL
);
INSERT INTO feed_state (id, epoch, last_seq) VALUES (1, lower(hex(randomblob(6))), 0);

ALTER TABLE credentials ADD COLUMN feed_seq BIGINT;
ALTER TABLE accounts ADD COLUMN feed_seq BIGINT;
ALTER TABLE accounts ADD COLUMN feed_changed_at TIMESTAMP;
ALTER TABLE workspaces ADD COLUMN feed_seq BIGINT;
ALTER TABLE workspaces ADD COLUMN feed_changed_at TIMESTAMP;
ALTER TABLE revoked_tokens ADD COLUMN feed_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX revoked_tokens_client ON revoked_tokens (client_id);
CREATE INDEX credentials_revoked ON credentials (tokens_revoked_before);
CREATE INDEX accounts_feed ON accounts (feed_changed_at);
CREATE INDEX workspaces_feed ON workspaces (feed_changed_at);

-- The admin token that authenticated each change; NULL for events recorded before it was kept.
ALTER TABLE audit_events ADD COLUMN admin_token TEXT;
