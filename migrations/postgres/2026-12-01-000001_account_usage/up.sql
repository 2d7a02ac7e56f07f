-- Tokens signed per account and UTC month ('YYYY-MM'), for [plans.NAME] monthly_token_quota.
-- Each replica adds what it counted since its last flush; nothing is written per token request.
CREATE TABLE account_usage (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    month TEXT NOT NULL,
    tokens_issued BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, month)
);
