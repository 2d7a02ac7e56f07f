//! The diesel schema: the same for both backends (TEXT ids, TIMESTAMP times in UTC).

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        plan -> Text,
        status -> Text,
        suspended_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        feed_seq -> Nullable<BigInt>,
        feed_changed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        status -> Text,
        suspended_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        feed_seq -> Nullable<BigInt>,
        feed_changed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        client_id -> Text,
        kind -> Text,
        account_id -> Text,
        workspace_id -> Nullable<Text>,
        role -> Text,
        scopes -> Text,
        name -> Text,
        description -> Nullable<Text>,
        audience -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Text,
        rotated_at -> Nullable<Timestamp>,
        deactivated_at -> Nullable<Timestamp>,
        tokens_revoked_before -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        feed_seq -> Nullable<BigInt>,
        auth_method -> Text,
    }
}

diesel::table! {
    credential_secrets (id) {
        id -> Text,
        credential_id -> Text,
        secret_hash -> Text,
        last4 -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    credential_keys (id) {
        id -> Text,
        credential_id -> Text,
        position -> Integer,
        kid -> Text,
        jwk -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    trust_rules (id) {
        id -> Text,
        credential_id -> Text,
        position -> Integer,
        issuer -> Text,
        subject -> Text,
        audience -> Text,
        claims -> Text,
        jwks_uri -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    assertion_jtis (credential_id, jti) {
        credential_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    admin_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Text,
        account_id -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        actor_ip -> Nullable<Text>,
        action -> Text,
        account_id -> Nullable<Text>,
        workspace_id -> Nullable<Text>,
        credential_id -> Nullable<Text>,
        details -> Text,
        admin_token -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        client_id -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
        feed_seq -> BigInt,
    }
}

diesel::table! {
    feed_state (id) {
        id -> Integer,
        epoch -> Text,
        last_seq -> BigInt,
    }
}

diesel::table! {
    account_usage (account_id, month) {
        account_id -> Text,
        month -> Text,
        tokens_issued -> BigInt,
    }
}

diesel::joinable!(workspaces -> accounts (account_id));
diesel::joinable!(account_usage -> accounts (account_id));
diesel::joinable!(credentials -> accounts (account_id));
diesel::joinable!(credentials -> workspaces (workspace_id));
diesel::joinable!(credential_secrets -> credentials (credential_id));
diesel::joinable!(credential_keys -> credentials (credential_id));
diesel::joinable!(trust_rules -> credentials (credential_id));
diesel::joinable!(assertion_jtis -> credentials (credential_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    workspaces,
    credentials,
    credential_secrets,
    credential_keys,
    trust_rules,
    assertion_jtis,
    admin_tokens,
    audit_events,
    revoked_tokens,
    account_usage,
    feed_state,
);
