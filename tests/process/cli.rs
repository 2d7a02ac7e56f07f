//! One-shot commands: `migrate`, bad configuration, `admin-token`, `keys`.

use std::fs;

use reqwest::Method;

use crate::harness::{key_list, mode, Install};

// ---- migrate --------------------------------------------------------------------------------

#[test]
fn migrate_on_a_fresh_sqlite_database_twice() {
    let install = Install::sqlite();
    let first = install.run(&["migrate"]);
    first.success();
    assert!(install.path("data/tessera.db").exists());
    let applied = first.last_line();
    assert!(
        applied.starts_with("applied ") && applied != "applied 0 migration(s)",
        "the first run applies the migrations: {first:#?}"
    );
    let second = install.run(&["migrate"]);
    assert_eq!(second.success().last_line(), "applied 0 migration(s)");
}

// ---- bad configuration: one line naming the key, exit 2, no panic ------------------------------

#[test]
fn an_unknown_database_scheme_is_one_line_and_exit_2() {
    let mut install = Install::sqlite();
    install.set("TESSERA__DATABASE__URL", "mysql://x");
    for command in ["migrate", "serve"] {
        let run = install.run(&[command]);
        let line = run.one_line_failure(2);
        assert!(
            line.starts_with("tessera: configuration error: database.url:")
                && line.contains("mysql"),
            "{line}"
        );
    }
}

/// A SQLite-only build (`--no-default-features`) refuses a PostgreSQL URL in one line that names
/// the missing cargo feature; runs under `cargo test --no-default-features`.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_url_in_a_build_without_postgres_is_one_line_and_exit_2() {
    let install = Install::on_database("postgres://u@127.0.0.1:1/db");
    for command in ["migrate", "serve"] {
        let run = install.run(&[command]);
        let line = run.one_line_failure(2);
        assert!(
            line.starts_with("tessera: configuration error: database.url:")
                && line.contains("`postgres` cargo feature")
                && line.contains("cargo build --release"),
            "{line}"
        );
    }
}

#[test]
fn duplicate_listener_addresses_are_one_line_and_exit_2() {
    let mut install = Install::sqlite();
    // Refused before anything binds it, so any port will do.
    let addr = "127.0.0.1:47001".to_owned();
    install
        .set("TESSERA__SERVER__PUBLIC_ADDR", addr.clone())
        .set("TESSERA__SERVER__ADMIN_ADDR", addr.clone());
    let run = install.run(&["serve"]);
    let line = run.one_line_failure(2);
    assert!(
        line.contains("server.admin_addr") && line.contains(&addr),
        "{line}"
    );
    assert!(
        !install.path("data").exists(),
        "refused before touching the database"
    );
}

#[test]
fn a_non_numeric_lifetime_is_one_line_naming_the_key() {
    let mut install = Install::sqlite();
    install.set("TESSERA__TOKENS__LIFETIME_SECONDS", "abc");
    for command in ["migrate", "serve"] {
        let run = install.run(&[command]);
        let line = run.one_line_failure(2);
        assert!(
            line.starts_with("tessera: configuration error: tokens.lifetime_seconds:")
                && line.contains("abc"),
            "{line}"
        );
    }
    install.set("TESSERA__TOKENS__LIFETIME_SECONDS", "5");
    let line = install.run(&["serve"]).one_line_failure(2).to_owned();
    assert!(
        line.contains("tokens.lifetime_seconds") && line.contains("60"),
        "{line}"
    );
}

#[test]
fn an_unusable_key_file_stops_serve_naming_the_file() {
    let install = Install::sqlite();
    let keys = install.keys_dir();
    fs::create_dir_all(&keys).unwrap();
    let cases: [(&str, &[u8]); 3] = [
        ("garbage.pem", b"this is not a key\n"),
        ("binary.pem", b"\xff\xfe\x00\x01 not utf-8"),
        (
            "truncated.pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
    ];
    for (name, content) in cases {
        let path = keys.join(name);
        fs::write(&path, content).unwrap();
        for args in [&["serve"][..], &["keys", "list"][..]] {
            let run = install.run(args);
            let line = run.one_line_failure(2);
            assert!(
                line.contains("keys.dir") && line.contains(&path.display().to_string()),
                "{line}"
            );
        }
        fs::remove_file(&path).unwrap();
    }
    // A directory where a key file should be cannot be read either.
    let dir_pem = keys.join("directory.pem");
    fs::create_dir(&dir_pem).unwrap();
    let run = install.run(&["serve"]);
    let line = run.one_line_failure(2);
    assert!(line.contains("directory.pem"), "{line}");
    assert!(
        !install.path("data").exists(),
        "a configuration error is reported before any database work"
    );
}

#[test]
fn a_broken_local_toml_given_with_config_is_one_line() {
    let install = Install::sqlite();
    let config = install.path("etc");
    fs::create_dir_all(&config).unwrap();
    let config_arg = config.display().to_string();
    let local = config.join("local.toml");

    fs::write(&local, "[server\npublic_addr = \n").unwrap();
    let run = install.run(&["--config", &config_arg, "migrate"]);
    let line = run.one_line_failure(2);
    assert!(
        line.contains("local.toml") && line.contains("line 1"),
        "{line}"
    );

    fs::write(&local, "[tokens]\nlifetime_seconds = \"a day\"\n").unwrap();
    let run = install.run(&["--config", &config_arg, "serve"]);
    let line = run.one_line_failure(2);
    assert!(
        line.starts_with("tessera: configuration error: tokens.lifetime_seconds:")
            && line.contains("local.toml"),
        "{line}"
    );

    // Values in it are validated like every other layer.
    fs::write(&local, "[roles]\nworkspace = []\n").unwrap();
    let run = install.run(&["--config", &config_arg, "migrate"]);
    assert!(run.one_line_failure(2).contains("roles.workspace"));

    // A misspelt key is named, not silently ignored.
    fs::write(&local, "[tokens]\nlifetime_secs = 600\n").unwrap();
    let run = install.run(&["--config", &config_arg, "migrate"]);
    let line = run.one_line_failure(2);
    assert!(line.contains("lifetime_secs"), "{line}");
}

#[test]
fn a_config_directory_that_does_not_exist_is_one_line_and_exit_2() {
    let install = Install::sqlite();
    let missing = install.path("no-such-dir").display().to_string();
    for command in [&["keys", "list"][..], &["serve"][..], &["migrate"][..]] {
        let mut args = vec!["--config", missing.as_str()];
        args.extend_from_slice(command);
        let run = install.run(&args);
        let line = run.one_line_failure(2);
        assert!(
            line.contains("--config") && line.contains("no-such-dir"),
            "{line}"
        );
    }
    assert!(
        !install.path("data").exists(),
        "refused before touching the database"
    );
}

// ---- admin-token ------------------------------------------------------------------------------

#[test]
fn admin_token_create_prints_the_token_alone_and_list_never_shows_it() {
    let install = Install::sqlite();
    let created = install.run(&["admin-token", "create", "--name", "ops"]);
    let token = created.success().last_line().to_owned();
    assert_eq!(token.len(), 53, "{created:#?}");
    assert!(token.starts_with("tsa_"), "{token}");
    assert!(
        token[4..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{token}"
    );

    let list = install.run(&["admin-token", "list"]);
    list.success();
    assert!(
        list.stdout.lines().any(|l| l.starts_with("ops ")),
        "{list:#?}"
    );
    assert!(
        !list.stdout.contains(&token[4..16]) && !list.stderr.contains(&token[4..16]),
        "the token leaks: {list:#?}"
    );

    let duplicate = install.run(&["admin-token", "create", "--name", "ops"]);
    assert_ne!(duplicate.code(), Some(0), "{duplicate:#?}");
    let line = duplicate.one_line_failure(1);
    assert!(
        line.contains("\"ops\"") && line.contains("exists"),
        "{line}"
    );
    assert!(!duplicate.stdout.contains("tsa_"), "{duplicate:#?}");

    for account in ["01900000-0000-7000-8000-000000000000", "not-an-id"] {
        let scoped = install.run(&[
            "admin-token",
            "create",
            "--name",
            "scoped",
            "--account",
            account,
        ]);
        let line = scoped.one_line_failure(1);
        assert!(line.contains("account"), "{line}");
        assert!(!scoped.stdout.contains("tsa_"), "{scoped:#?}");
    }
    let list = install.run(&["admin-token", "list"]);
    assert!(!list.stdout.contains("scoped"), "{list:#?}");

    let missing = install.run(&["admin-token", "revoke", "nobody"]);
    assert!(missing.one_line_failure(1).contains("not found"));
}

#[tokio::test]
async fn a_revoked_admin_token_is_refused_at_once_by_a_running_server() {
    let install = Install::sqlite();
    let token = install.admin_token("ops");
    let mut server = install.serve().await;
    server
        .admin(&token, Method::GET, "/accounts", None)
        .await
        .expect(200);

    install.run(&["admin-token", "revoke", "ops"]).success();
    let refused = server.admin(&token, Method::GET, "/accounts", None).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let list = install.run(&["admin-token", "list"]);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("ops "))
        .unwrap_or_else(|| panic!("{list:#?}"));
    assert!(!row.trim_end().ends_with(" -"), "shown as revoked: {row}");

    // The name is free again; the new token works, the old one stays refused.
    let again = install.admin_token("ops");
    assert_ne!(again, token);
    server
        .admin(&again, Method::GET, "/accounts", None)
        .await
        .expect(200);
    assert_eq!(
        server
            .admin(&token, Method::GET, "/accounts", None)
            .await
            .status,
        401
    );
    server.stop_cleanly().await;
}

// ---- keys -------------------------------------------------------------------------------------

#[test]
fn keys_generate_is_idempotent_list_shows_states_and_rotate_adds_a_signer() {
    let install = Install::sqlite();
    let dir = install.keys_dir();
    assert!(!dir.exists());

    install.run(&["keys", "generate"]).success();
    let files = install.key_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&dir), 0o700);

    let again = install.run(&["keys", "generate"]);
    again.success();
    assert_eq!(install.key_files(), files, "no second key: {again:#?}");

    let list = install.run(&["keys", "list"]);
    let keys = key_list(list.success());
    assert_eq!(keys.len(), 1, "{list:#?}");
    let (first_kid, state) = &keys[0];
    assert_eq!(state, "signing");
    assert_eq!(
        first_kid.len(),
        43,
        "an RFC 7638 SHA-256 thumbprint: {first_kid}"
    );
    assert!(again.stdout.contains(first_kid.as_str()), "{again:#?}");
    assert!(
        !list.stdout.contains("PRIVATE"),
        "no key material is printed"
    );

    install.run(&["keys", "rotate"]).success();
    let files = install.key_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| mode(f) == 0o600));
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".pem"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let list = install.run(&["keys", "list"]);
    let keys = key_list(list.success());
    assert_eq!(keys.len(), 2, "{list:#?}");
    assert_eq!(
        keys[0],
        (first_kid.clone(), "published".to_owned()),
        "{list:#?}"
    );
    assert_eq!(keys[1].1, "signing", "{list:#?}");
    assert_ne!(&keys[1].0, first_kid);
}

#[test]
fn keys_rotate_writes_nothing_into_a_broken_directory() {
    let install = Install::sqlite();
    install.run(&["keys", "generate"]).success();
    let garbage = install.keys_dir().join("garbage.pem");
    fs::write(&garbage, "not a key").unwrap();
    let run = install.run(&["keys", "rotate"]);
    let line = run.one_line_failure(2);
    assert!(line.contains("garbage.pem"), "{line}");
    assert_eq!(install.key_files().len(), 2, "no new key was written");
}

#[test]
fn an_unknown_key_algorithm_is_one_line_and_exit_2() {
    let mut install = Install::sqlite();
    install.set("TESSERA__KEYS__ALGORITHM", "HS256");
    for args in [&["serve"][..], &["keys", "rotate"][..]] {
        let run = install.run(args);
        let line = run.one_line_failure(2);
        assert!(
            line.starts_with("tessera: configuration error: keys.algorithm:")
                && line.contains("HS256")
                && line.contains("RS256, ES256 or EdDSA"),
            "{line}"
        );
    }
    assert!(!install.keys_dir().exists(), "no key was written");
    assert!(
        !install.path("data").exists(),
        "refused before any database work"
    );
}

#[test]
fn switching_algorithm_is_a_rotation_and_keys_list_shows_each_keys_algorithm() {
    let mut install = Install::sqlite();
    install.run(&["keys", "generate"]).success();
    install.set("TESSERA__KEYS__ALGORITHM", "ES256");
    // `generate` keeps the key that is there, and says how to switch.
    let again = install.run(&["keys", "generate"]);
    assert!(again.success().stdout.contains("keys rotate"), "{again:#?}");
    assert_eq!(install.key_files().len(), 1);

    let rotated = install.run(&["keys", "rotate"]);
    assert!(
        rotated.success().stdout.contains("new ES256 signing key"),
        "{rotated:#?}"
    );
    install.set("TESSERA__KEYS__ALGORITHM", "eddsa");
    install.run(&["keys", "rotate"]).success();
    let files = install.key_files();
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|f| mode(f) == 0o600));

    let list = install.run(&["keys", "list"]);
    let out = &list.success().stdout;
    assert!(out.lines().next().unwrap().contains("ALG"), "{out}");
    let rows: Vec<(String, String)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[2].to_owned(), cols[3].to_owned())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("published", "RS256"),
            ("published", "ES256"),
            ("signing", "EdDSA")
        ]
        .map(|(s, a)| (s.to_owned(), a.to_owned()))
        .to_vec(),
        "{out}"
    );
    assert!(!out.contains("PRIVATE"), "no key material is printed");
}
