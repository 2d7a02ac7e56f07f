//! Trust rules: validation of the admin JSON, and the reasons of an evaluation.

use serde_json::{json, Map, Value};

use super::*;

fn rule(value: Value) -> TrustRule {
    TrustRule::parse(&value).unwrap()
}

fn base() -> Value {
    json!({
        "issuer": "https://token.actions.githubusercontent.com",
        "subject": "repo:acme/deploy:ref:refs/heads/main",
        "audience": "https://tessera.example",
    })
}

fn with(member: &str, value: Value) -> Value {
    let mut rule = base();
    rule[member] = value;
    rule
}

fn error(value: Value) -> TrustRuleError {
    TrustRule::parse(&value).unwrap_err()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn github_claims() -> Map<String, Value> {
    object(json!({
        "iss": "https://token.actions.githubusercontent.com",
        "sub": "repo:acme/deploy:ref:refs/heads/main",
        "aud": "https://tessera.example",
        "repository": "acme/deploy",
        "ref": "refs/heads/main",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "exp": 1_900_000_000,
    }))
}

#[test]
fn a_minimal_rule_is_read_and_shown_back_with_every_member() {
    let rule = rule(base());
    assert_eq!(rule.issuer(), "https://token.actions.githubusercontent.com");
    assert!(rule.claims().is_empty());
    assert_eq!(rule.jwks_uri(), None);
    assert_eq!(
        serde_json::to_value(&rule).unwrap(),
        json!({
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:acme/deploy:ref:refs/heads/main",
            "audience": "https://tessera.example",
            "claims": {},
            "jwks_uri": null,
        })
    );
}

#[test]
fn a_rule_read_back_can_be_sent_again() {
    let mut value = with(
        "claims",
        json!({"ref": "refs/heads/main", "run_attempt": 1}),
    );
    value["jwks_uri"] = json!("https://keys.example/jwks");
    let first = rule(value);
    let mut shown = serde_json::to_value(&first).unwrap();
    shown["last_used_at"] = json!("2025-11-22T10:00:00Z");
    assert_eq!(rule(shown.clone()), first);
    // Deserialize goes through the same validation.
    let again: TrustRule = serde_json::from_value(shown).unwrap();
    assert_eq!(again, first);
    assert!(
        serde_json::from_value::<TrustRule>(with("issuer", json!("http://x.example"))).is_err()
    );
}

#[test]
fn null_claims_and_jwks_uri_are_absent() {
    let mut value = with("claims", Value::Null);
    value["jwks_uri"] = Value::Null;
    let rule = rule(value);
    assert!(rule.claims().is_empty());
    assert_eq!(rule.jwks_uri(), None);
}

#[test]
fn issuers_and_jwks_uris_must_be_https_or_loopback_http() {
    for ok in [
        "https://token.actions.githubusercontent.com",
        "https://gitlab.example/",
        "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c",
        "http://127.0.0.1:8080",
        "http://localhost:3000",
        "http://[::1]:9000",
    ] {
        assert_eq!(rule(with("issuer", json!(ok))).issuer(), ok);
        assert_eq!(rule(with("jwks_uri", json!(ok))).jwks_uri(), Some(ok));
    }
    for (bad, problem) in [
        ("http://ci.example", "must use https"),
        ("http://192.168.1.10", "must use https"),
        ("ci.example", "absolute"),
        ("https://ci.example/?tenant=1", "query"),
        ("https://ci.example/#x", "query"),
        ("https://user:pw@ci.example", "user information"),
        ("", "must not be empty"),
    ] {
        for member in ["issuer", "jwks_uri"] {
            let err = error(with(member, json!(bad)));
            assert_eq!(err.field, member, "{bad}");
            assert!(err.problem.contains(problem), "{bad}: {err}");
        }
    }
    let long = format!("https://ci.example/{}", "a".repeat(MAX_URL_BYTES));
    assert!(error(with("issuer", json!(long)))
        .problem
        .contains("at most 512 bytes"));
}

#[test]
fn subjects_and_audiences_are_bounded_non_empty_strings() {
    for member in ["subject", "audience"] {
        assert_eq!(error(with(member, json!(""))).problem, "must not be empty");
        assert_eq!(error(with(member, json!(7))).problem, "must be a string");
        assert_eq!(error(with(member, json!("a\u{0}b"))).field, member);
        let too_long = "a".repeat(513);
        assert!(error(with(member, json!(too_long))).problem.contains("512"));
        assert_eq!(error(with(member, Value::Null)).problem, "is required");
        let mut missing = base();
        missing.as_object_mut().unwrap().remove(member);
        assert_eq!(error(missing).to_string(), format!("{member}: is required"));
    }
    assert_eq!(
        rule(with("subject", json!("a".repeat(512))))
            .subject()
            .len(),
        512
    );
}

#[test]
fn degenerate_patterns_are_refused() {
    for bad in ["*", "**", "***", "repo:acme/**:ref:x"] {
        assert_eq!(error(with("subject", json!(bad))).field, "subject", "{bad}");
    }
    assert!(rule(with("subject", json!("*:*"))).is_pattern());
    assert!(rule(with("subject", json!("system:serviceaccount:*:deployer"))).is_pattern());
}

#[test]
fn claims_are_scalars_or_arrays_of_scalars() {
    let ok = rule(with(
        "claims",
        json!({"repository": "acme/deploy", "run_attempt": 1, "ok": true, "groups": ["a", 2, false], "empty": []}),
    ));
    assert_eq!(ok.claims().len(), 5);
    for (claims, field) in [
        (json!({"nested": {"a": 1}}), "claims.nested"),
        (json!({"n": null}), "claims.n"),
        (json!({"deep": [["a"]]}), "claims.deep"),
        (json!({"deep": [{"a": 1}]}), "claims.deep"),
        (json!({"long": "x".repeat(513)}), "claims.long"),
        (json!({"many": vec![1; 33]}), "claims.many"),
        (json!({"sub": "x"}), "claims.sub"),
        (json!({"iss": "x"}), "claims.iss"),
        (json!({"aud": "x"}), "claims.aud"),
        (json!({"exp": 1}), "claims.exp"),
        (json!({"jti": "x"}), "claims.jti"),
        (json!({"": "x"}), "claims"),
        (json!({"a\u{7}": "x"}), "claims"),
        (json!("repository=acme"), "claims"),
        (json!(["a"]), "claims"),
    ] {
        assert_eq!(
            error(with("claims", claims.clone())).field,
            field,
            "{claims}"
        );
    }
    let too_many: Map<String, Value> = (0..17).map(|i| (format!("c{i}"), json!(i))).collect();
    assert!(error(with("claims", Value::Object(too_many)))
        .problem
        .contains("at most 16"));
    let long_name = json!({"n".repeat(129): 1});
    assert_eq!(error(with("claims", long_name)).field, "claims");
}

#[test]
fn unknown_members_and_non_objects_are_refused() {
    assert_eq!(error(with("subjects", json!("x"))).field, "subjects");
    assert_eq!(error(json!("https://ci.example")).field, "rule");
    assert_eq!(error(json!(null)).field, "rule");
    assert_eq!(
        error(with("jwks_uri", json!(1))).problem,
        "must be a string"
    );
}

#[test]
fn lists_hold_one_to_twenty_rules_and_errors_name_the_index() {
    assert_eq!(
        TrustRule::parse_list(&json!(vec![base(); 20]))
            .unwrap()
            .len(),
        20
    );
    for bad in [json!([]), json!(vec![base(); 21]), json!({}), json!(null)] {
        assert_eq!(TrustRule::parse_list(&bad).unwrap_err().field, "trust");
    }
    let err =
        TrustRule::parse_list(&json!([base(), with("claims", json!({"sub": "x"}))])).unwrap_err();
    assert_eq!(err.field, "trust[1].claims.sub");
    let err = TrustRule::parse_list(&json!([base(), "x"])).unwrap_err();
    assert_eq!(err.field, "trust[1].rule");
}

#[test]
fn a_token_matching_every_check_matches() {
    let rule = rule(with(
        "claims",
        json!({"repository": "acme/deploy", "ref": "refs/heads/main"}),
    ));
    assert!(rule.mismatches(&github_claims()).is_empty());
    let evaluation = evaluate(&[rule], &github_claims());
    assert_eq!(evaluation.matched, Some(0));
    assert_eq!(
        serde_json::to_value(&evaluation).unwrap(),
        json!({"matched": 0, "rules": [{"index": 0, "matched": true, "reasons": []}]})
    );
}

#[test]
fn each_failed_check_says_why_in_a_sentence() {
    let rule = rule(json!({
        "issuer": "https://a.example",
        "subject": "repo:acme/*:ref:refs/heads/main",
        "audience": "tessera",
        "claims": {"repository": "y", "run_attempt": 1, "environment": "prod"},
    }));
    let claims = object(json!({
        "iss": "https://b.example",
        "sub": "repo:acme/x/y:ref:refs/heads/main",
        "aud": ["other", "another"],
        "repository": "x",
        "run_attempt": "1",
    }));
    assert_eq!(
        rule.mismatches(&claims),
        [
            r#"issuer is "https://a.example", the token's is "https://b.example""#,
            r#"the token's subject "repo:acme/x/y:ref:refs/heads/main" does not match the pattern "repo:acme/*:ref:refs/heads/main""#,
            r#"audience "tessera" is not in the token's aud ["other","another"]"#,
            r#"the token has no claim environment; the rule wants "prod""#,
            r#"claim repository is "x", the rule wants "y""#,
            r#"claim run_attempt is "1", the rule wants 1"#,
        ]
    );
}

#[test]
fn an_exact_subject_says_both_values() {
    let rule = rule(base());
    let mut claims = github_claims();
    claims.insert("sub".into(), json!("repo:acme/deploy:ref:refs/heads/dev"));
    assert_eq!(
        rule.mismatches(&claims),
        [
            r#"subject is "repo:acme/deploy:ref:refs/heads/main", the token's is "repo:acme/deploy:ref:refs/heads/dev""#
        ]
    );
}

#[test]
fn missing_and_mistyped_registered_claims_are_reasons() {
    let rule = rule(base());
    assert_eq!(
        rule.mismatches(&Map::new()),
        [
            "the token has no iss claim",
            "the token has no sub claim",
            "the token has no aud claim"
        ]
    );
    let claims = object(json!({"iss": 1, "sub": ["x"], "aud": {"a": 1}}));
    assert_eq!(
        rule.mismatches(&claims),
        [
            "the token's iss is not a string",
            "the token's sub is not a string",
            "the token's aud is not a string or an array"
        ]
    );
}

#[test]
fn aud_may_be_a_string_or_an_array() {
    let rule = rule(base());
    let mut claims = github_claims();
    claims.insert("aud".into(), json!(["x", "https://tessera.example"]));
    assert!(rule.mismatches(&claims).is_empty());
    claims.insert("aud".into(), json!("https://tessera.example/"));
    assert_eq!(rule.mismatches(&claims).len(), 1);
    claims.insert("aud".into(), json!([]));
    assert_eq!(rule.mismatches(&claims).len(), 1);
}

#[test]
fn claim_values_compare_by_type_then_value() {
    let check = |wanted: Value, actual: Value| {
        let rule = rule(with("claims", json!({"c": wanted})));
        let mut claims = github_claims();
        claims.insert("c".into(), actual);
        rule.mismatches(&claims).is_empty()
    };
    assert!(check(json!("acme"), json!("acme")));
    assert!(!check(json!("acme"), json!("Acme")));
    assert!(!check(json!("acme"), json!(" acme")));
    assert!(!check(json!("1"), json!(1)));
    assert!(!check(json!(1), json!("1")));
    assert!(check(json!(1), json!(1)));
    assert!(check(json!(1), json!(1.0)));
    assert!(!check(json!(1), json!(2)));
    assert!(check(json!(u64::MAX), json!(u64::MAX)));
    assert!(!check(json!(true), json!("true")));
    assert!(check(json!(false), json!(false)));
    assert!(check(json!(["a", "b"]), json!(["a", "b"])));
    assert!(!check(json!(["a", "b"]), json!(["b", "a"])));
    assert!(!check(json!(["a"]), json!("a")));
    assert!(!check(json!("a"), json!(["a"])));
    assert!(!check(json!("a"), Value::Null));
}

#[test]
fn the_first_matching_rule_wins_and_the_others_keep_their_reasons() {
    let rules = TrustRule::parse_list(&json!([
        {"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:acme/other:*", "audience": "https://tessera.example"},
        {"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:acme/*:ref:refs/heads/main", "audience": "https://tessera.example"},
        base(),
    ]))
    .unwrap();
    let evaluation = evaluate(&rules, &github_claims());
    assert_eq!(evaluation.matched, Some(1));
    assert!(!evaluation.rules[0].matched);
    assert_eq!(evaluation.rules[0].reasons.len(), 1);
    assert!(evaluation.rules[1].matched && evaluation.rules[2].matched);

    let mut evaluation = evaluation;
    evaluation.reject(1, "its keys do not verify the token".into());
    assert_eq!(evaluation.matched, Some(2));
    evaluation.reject_all("the token has expired");
    assert_eq!(evaluation.matched, None);
    assert_eq!(
        evaluation.rules[0].reasons.last().unwrap(),
        "the token has expired"
    );
    assert_eq!(Evaluation::refused(2, "x").rules[1].reasons, ["x"]);
}

#[test]
fn long_token_values_are_cut_in_reasons() {
    let rule = rule(base());
    let mut claims = github_claims();
    claims.insert("iss".into(), json!("x".repeat(5000)));
    let reasons = rule.mismatches(&claims);
    assert!(reasons[0].chars().count() < 300, "{}", reasons[0]);
    assert!(reasons[0].ends_with('…'));
}

#[test]
fn a_very_long_subject_never_matches_a_pattern() {
    let rule = rule(with("subject", json!("repo:*")));
    let mut claims = github_claims();
    claims.insert("sub".into(), json!(format!("repo:{}", "a".repeat(2000))));
    assert_eq!(
        rule.mismatches(&claims),
        ["the token's subject is longer than 1024 bytes, which no pattern matches"]
    );
}

#[test]
fn pattern_examples() {
    for (pattern, subject, expected) in [
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/deploy:ref:refs/heads/main",
            true,
        ),
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/x/y:ref:refs/heads/main",
            false,
        ),
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/x:y:ref:refs/heads/main",
            false,
        ),
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/:ref:refs/heads/main",
            false,
        ),
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/deploy:ref:refs/heads/main2",
            false,
        ),
        (
            "system:serviceaccount:ns:*",
            "system:serviceaccount:ns:a",
            true,
        ),
        (
            "system:serviceaccount:ns:*",
            "system:serviceaccount:ns:a:b",
            false,
        ),
        (
            "system:serviceaccount:ns:*",
            "system:serviceaccount:ns:",
            false,
        ),
        (
            "system:serviceaccount:*:deployer",
            "system:serviceaccount:prod:deployer",
            true,
        ),
        ("repo:acme/deploy-*", "repo:acme/deploy-web", true),
        ("repo:acme/deploy-*", "repo:acme/deploy-", false),
        ("repo:acme/*-svc", "repo:acme/a-b-svc", true),
        ("repo:acme/*-svc", "repo:acme/-svc", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "abbbc", true),
        ("a*b*c", "abc", false),
        ("a*b*c", "aXXbc", false),
        ("*.example", "ci.example", true),
        ("*.example", ".example", false),
        ("x:*", "x:é", true),
        ("x:é*", "x:éé", true),
        ("x:*é", "x:aé", true),
        ("no-star", "no-star", true),
        ("no-star", "no-stars", false),
    ] {
        assert_eq!(
            subject_matches(pattern, subject),
            expected,
            "{pattern} vs {subject}"
        );
    }
}
