DROP INDEX assertion_jtis_expiry;
DROP TABLE assertion_jtis;
DROP INDEX trust_rules_credential;
DROP TABLE trust_rules;
DROP TABLE credential_keys;
ALTER TABLE credentials DROP COLUMN auth_method;
