//! No secret leaks: a whole credential lifecycle with `RUST_LOG=trace`, then every log line of
//! the server and the CLI, the SQLite database with its `-wal`/`-shm`, and every admin response
//! are searched for client secrets, admin tokens, Basic headers and access-token signatures.
//! Each secret may appear only in the one response that shows it. The lifecycle runs with each
//! `log.format`; with `json` every line the server writes must parse as one JSON object.

use std::collections::BTreeMap;
use std::fs;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Install, Reply, Server};

/// Values that must not leak, by a label saying what each is.
#[derive(Default)]
struct Secrets {
    values: BTreeMap<String, String>,
}

impl Secrets {
    /// A client secret or admin token: the value, and its random part on its own (in case
    /// something stored it without the prefix).
    fn secret(&mut self, label: &str, value: &str) {
        assert!(value.len() == 53, "{label} is not a secret: {value:?}");
        self.values.insert(label.to_owned(), value.to_owned());
        self.values
            .insert(format!("{label} (random part)"), value[4..47].to_owned());
    }

    fn other(&mut self, label: &str, value: &str) {
        self.values.insert(label.to_owned(), value.to_owned());
    }

    /// The access token and its signature.
    fn access_token(&mut self, label: &str, token: &str) {
        let signature = token.rsplit('.').next().expect("a JWT");
        assert!(signature.len() > 40, "{token}");
        self.values
            .insert(format!("{label} signature"), signature.to_owned());
    }

    /// Panics naming every value of `self` found in `haystack`, except `allowed` (labels).
    #[track_caller]
    fn assert_absent(&self, place: &str, haystack: &[u8], allowed: &[&str]) {
        let found: Vec<&String> = self
            .values
            .iter()
            .filter(|(label, _)| !allowed.iter().any(|a| label.starts_with(a)))
            .filter(|(_, value)| contains(haystack, value.as_bytes()))
            .map(|(label, _)| label)
            .collect();
        assert!(found.is_empty(), "{place} contains {found:?}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every admin (and introspection) response, with the secrets it may show.
#[derive(Default)]
struct Responses {
    seen: Vec<(String, String, Vec<String>)>,
}

impl Responses {
    fn record(&mut self, what: &str, reply: &Reply, allowed: &[&str]) {
        self.seen.push((
            what.to_owned(),
            reply.text.clone(),
            allowed.iter().map(|s| (*s).to_owned()).collect(),
        ));
    }
}

fn basic(id: &str, secret: &str) -> String {
    // Ids and secrets are base62, which form-urlencoding leaves as they are.
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn post_form(
    server: &Server,
    path: &str,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = server
        .client
        .post(format!("{}{path}", server.public))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    Reply::of(request.send().await.expect("POST")).await
}

fn access_token(reply: Reply) -> String {
    reply.expect(200)["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

const TRACE: [(&str, &str); 1] = [("RUST_LOG", "trace")];

#[tokio::test]
async fn a_whole_lifecycle_at_trace_level_leaks_no_secret() {
    lifecycle("plain").await;
}

#[tokio::test]
async fn a_whole_lifecycle_at_trace_level_leaks_no_secret_in_json_logs() {
    lifecycle("json").await;
}

/// The fields of a JSON log line, or a panic naming the line.
fn json_line(line: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields)) => {
            for member in ["ts", "level", "target", "msg"] {
                assert!(fields.contains_key(member), "no {member}: {line}");
            }
            fields
        }
        _ => panic!("a log line that is not a JSON object: {line:?}"),
    }
}

async fn lifecycle(format: &str) {
    let mut install = Install::sqlite();
    install.set("TESSERA__LOG__FORMAT", format);
    // Written at once rather than only at shutdown, so last-used rows are in the files read.
    install.set("TESSERA__DATABASE__LAST_USED_FLUSH_SECONDS", "1");
    let mut secrets = Secrets::default();
    let mut responses = Responses::default();

    // Admin tokens, made by the CLI at trace level: shown on stdout once, nowhere else.
    let create = install
        .start(&["admin-token", "create", "--name", "ops"], &TRACE)
        .finish();
    let admin = create.success().last_line().to_owned();
    secrets.secret("admin token ops", &admin);
    let create_spare = install
        .start(&["admin-token", "create", "--name", "spare"], &TRACE)
        .finish();
    let spare = create_spare.success().last_line().to_owned();
    secrets.secret("admin token spare", &spare);
    secrets.other("admin bearer header", &format!("Bearer {admin}"));

    let mut server = install.serve_with(&TRACE).await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let server = &server;
        let admin = admin.clone();
        async move { server.admin(&admin, method, &path, body).await }
    };

    let account = call(
        Method::POST,
        "/accounts".into(),
        Some(json!({"name": "Acme"})),
    )
    .await;
    responses.record("create account", &account, &[]);
    let account_id = account.expect(201)["id"].as_str().unwrap().to_owned();
    let workspace = call(
        Method::POST,
        format!("/accounts/{account_id}/workspaces"),
        Some(json!({"name": "Docs"})),
    )
    .await;
    responses.record("create workspace", &workspace, &[]);
    let workspace_id = workspace.expect(201)["id"].as_str().unwrap().to_owned();

    let created = call(
        Method::POST,
        format!("/accounts/{account_id}/credentials"),
        Some(json!({"name": "bot"})),
    )
    .await;
    responses.record("create account credential", &created, &["account secret 1"]);
    let body = created.expect(201);
    let account_cred = body["id"].as_str().unwrap().to_owned();
    let account_client = body["client_id"].as_str().unwrap().to_owned();
    let account_secret_1 = body["client_secret"].as_str().unwrap().to_owned();
    secrets.secret("account secret 1", &account_secret_1);
    assert!(
        body["curl_example"]
            .as_str()
            .is_some_and(|c| c.contains(&account_secret_1)),
        "the creation response shows the secret in its curl example: {body}"
    );

    let created = call(
        Method::POST,
        format!("/workspaces/{workspace_id}/credentials"),
        Some(json!({"name": "editor", "role": "content_manager"})),
    )
    .await;
    responses.record(
        "create workspace credential",
        &created,
        &["workspace secret 1"],
    );
    let body = created.expect(201);
    let workspace_cred = body["id"].as_str().unwrap().to_owned();
    let workspace_client = body["client_id"].as_str().unwrap().to_owned();
    let workspace_secret_1 = body["client_secret"].as_str().unwrap().to_owned();
    secrets.secret("workspace secret 1", &workspace_secret_1);

    // Tokens by all three request forms.
    let basic_header = basic(&account_client, &account_secret_1);
    secrets.other("Basic header of account secret 1", &basic_header);
    let by_basic = access_token(
        post_form(
            &server,
            "/oauth/token",
            Some(&basic_header),
            &[("grant_type", "client_credentials")],
        )
        .await,
    );
    secrets.access_token("basic token", &by_basic);
    let by_post = access_token(
        post_form(
            &server,
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &workspace_client),
                ("client_secret", &workspace_secret_1),
            ],
        )
        .await,
    );
    secrets.access_token("post token", &by_post);
    let by_json = access_token(server.token(&account_client, &account_secret_1).await);
    secrets.access_token("json token", &by_json);

    // A secret in the query string must not reach the access log either.
    let query_reply = Reply::of(
        server
            .client
            .post(format!(
                "{}/oauth/token?client_secret={account_secret_1}",
                server.public
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(query_reply.status, 401, "{}", query_reply.text);

    // A wrong secret (well formed, so it is looked up and verified) and a malformed one.
    let wrong = {
        let random = "W".repeat(43);
        let check = crc_base62(&random);
        format!("tss_{random}{check}")
    };
    secrets.secret("wrong secret", &wrong);
    let refused = server.token(&account_client, &wrong).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let malformed = format!("{}x", &account_secret_1[..52]);
    secrets.other("malformed secret", &malformed);
    let refused = post_form(
        &server,
        "/oauth/token",
        Some(&basic(&workspace_client, &malformed)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(refused.status, 401, "{}", refused.text);

    // Id and secret swapped (a real client's mistake): the "client_id" it sent is its secret,
    // which the refusal's log line must not show.
    let swapped = server.token(&workspace_secret_1, &workspace_client).await;
    assert_eq!(swapped.status, 401, "{}", swapped.text);

    // Rotate without grace (account key) and with grace (workspace key).
    let rotated = call(
        Method::POST,
        format!("/credentials/{account_cred}/rotate"),
        Some(json!({})),
    )
    .await;
    responses.record("rotate account credential", &rotated, &["account secret 2"]);
    let account_secret_2 = rotated.expect(200)["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.secret("account secret 2", &account_secret_2);
    assert_eq!(
        server
            .token(&account_client, &account_secret_1)
            .await
            .status,
        401
    );
    let after_rotation = access_token(server.token(&account_client, &account_secret_2).await);
    secrets.access_token("token after rotation", &after_rotation);

    let rotated = call(
        Method::POST,
        format!("/credentials/{workspace_cred}/rotate"),
        Some(json!({"grace_seconds": 3600})),
    )
    .await;
    responses.record(
        "rotate workspace credential",
        &rotated,
        &["workspace secret 2"],
    );
    let workspace_secret_2 = rotated.expect(200)["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.secret("workspace secret 2", &workspace_secret_2);
    let in_grace = access_token(server.token(&workspace_client, &workspace_secret_1).await);
    secrets.access_token("token in grace", &in_grace);
    let new_ws = access_token(server.token(&workspace_client, &workspace_secret_2).await);
    secrets.access_token("token with the new workspace secret", &new_ws);

    // Introspection with the admin token and with a credential, then revocation.
    let introspected = post_form(
        &server,
        "/oauth/introspect",
        Some(&format!("Bearer {admin}")),
        &[("token", &by_json)],
    )
    .await;
    responses.record("introspect (admin)", &introspected, &[]);
    assert_eq!(introspected.expect(200)["active"], true);
    let introspected = post_form(
        &server,
        "/oauth/introspect",
        Some(&basic(&account_client, &account_secret_2)),
        &[("token", &by_basic)],
    )
    .await;
    responses.record("introspect (credential)", &introspected, &[]);
    assert_eq!(introspected.expect(200)["active"], true);
    let revoked = post_form(
        &server,
        "/oauth/revoke",
        None,
        &[
            ("client_id", &account_client),
            ("client_secret", &account_secret_2),
            ("token", &by_basic),
        ],
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let introspected = post_form(
        &server,
        "/oauth/introspect",
        Some(&format!("Bearer {admin}")),
        &[("token", &by_basic)],
    )
    .await;
    responses.record("introspect revoked", &introspected, &[]);
    assert_eq!(introspected.expect(200)["active"], false);

    // Deactivate, and the refusal that follows.
    let deactivated = call(
        Method::POST,
        format!("/credentials/{workspace_cred}/deactivate"),
        None,
    )
    .await;
    responses.record("deactivate", &deactivated, &[]);
    deactivated.expect(200);
    assert_eq!(
        server
            .token(&workspace_client, &workspace_secret_2)
            .await
            .status,
        401
    );

    // Every read the admin API offers.
    for path in [
        "/accounts".to_owned(),
        format!("/accounts/{account_id}"),
        format!("/accounts/{account_id}/workspaces"),
        format!("/workspaces/{workspace_id}"),
        "/credentials".to_owned(),
        format!("/credentials/{account_cred}"),
        format!("/credentials/{workspace_cred}"),
        "/audit".to_owned(),
        format!("/audit?credential_id={account_cred}"),
    ] {
        let reply = call(Method::GET, path.clone(), None).await;
        responses.record(&format!("GET {path}"), &reply, &[]);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    }
    let audit = call(Method::GET, "/audit".into(), None).await.expect(200);
    assert!(
        audit["items"].as_array().is_some_and(|a| a.len() >= 6),
        "{audit}"
    );

    // The CLI's other admin-token verbs, at trace level too.
    install
        .start(&["admin-token", "list"], &TRACE)
        .finish()
        .success();
    install
        .start(&["admin-token", "revoke", "spare"], &TRACE)
        .finish()
        .success();
    assert_eq!(
        server
            .admin(&spare, Method::GET, "/accounts", None)
            .await
            .status,
        401
    );

    // Last-used times reach the database (flushed every second) before it is read.
    let flushed = crate::harness::Deadline::after(crate::harness::POLL_LIMIT, "a last-used flush");
    loop {
        let read = call(Method::GET, format!("/credentials/{account_cred}"), None)
            .await
            .expect(200);
        if !read["last_used_at"].is_null() {
            break;
        }
        flushed.tick().await;
    }

    let db_files = [
        "data/tessera.db",
        "data/tessera.db-wal",
        "data/tessera.db-shm",
    ];
    let mut db_seen = 0;
    for file in db_files {
        if let Ok(bytes) = fs::read(install.path(file)) {
            db_seen += 1;
            secrets.assert_absent(&format!("{file} (server running)"), &bytes, &[]);
        }
    }
    assert!(
        db_seen >= 2,
        "the database and its WAL should exist while serving"
    );
    server.stop_cleanly().await;
    for file in db_files {
        if let Ok(bytes) = fs::read(install.path(file)) {
            secrets.assert_absent(&format!("{file} (after shutdown)"), &bytes, &[]);
        }
    }

    // The logs: every line the server and the CLI wrote (stderr of every command, the
    // server's combined output); stdout of the CLI except what `admin-token create` shows.
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("TRACE") || l.contains("DEBUG")),
        "the server did not log at trace level"
    );
    secrets.assert_absent("the server log", log.as_bytes(), &[]);
    let mut outputs = 0;
    for entry in fs::read_dir(install.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("cmd-") || name.starts_with("serve-")) {
            continue;
        }
        outputs += 1;
        let text = fs::read(&path).unwrap();
        let shows_ops = contains(&text, admin.as_bytes()) && name.ends_with(".out");
        let shows_spare = contains(&text, spare.as_bytes()) && name.ends_with(".out");
        let mut allowed = Vec::new();
        if shows_ops {
            allowed.push("admin token ops");
        }
        if shows_spare {
            allowed.push("admin token spare");
        }
        secrets.assert_absent(&name, &text, &allowed);
    }
    assert!(
        outputs >= 9,
        "expected the outputs of 4 commands and a server"
    );
    assert_eq!(
        [
            create.stdout.matches(&admin).count(),
            create_spare.stdout.matches(&spare).count()
        ],
        [1, 1],
        "admin-token create shows its token exactly once"
    );
    for run in [&create, &create_spare] {
        secrets.assert_absent("admin-token create stderr", run.stderr.as_bytes(), &[]);
    }

    // Admin responses: only the one that shows a secret contains it.
    for (what, text, allowed) in &responses.seen {
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        secrets.assert_absent(what, text.as_bytes(), &allowed);
    }

    // The token endpoint says who asked and how it ended, in every case, on its one access
    // line: (outcome, client_id) of each token request.
    let json = format == "json";
    let token_lines: Vec<(String, String)> = log
        .lines()
        .filter_map(|line| {
            if json {
                let fields = json_line(line);
                let is_token = fields["target"] == "tessera::access"
                    && fields.get("path").and_then(Value::as_str) == Some("/oauth/token");
                is_token.then(|| {
                    let field = |name: &str| {
                        fields
                            .get(name)
                            .and_then(Value::as_str)
                            .unwrap_or_else(|| panic!("no {name}: {line}"))
                            .to_owned()
                    };
                    (field("outcome"), field("client_id"))
                })
            } else {
                if !line.contains(" tessera::access] ") {
                    return None;
                }
                let rest = line.split_once(" POST /oauth/token ")?.1;
                let outcome = rest.split_once("outcome=").expect(line).1;
                let (outcome, client) = outcome.split_once(" client_id=").expect(line);
                Some((outcome.to_owned(), client.to_owned()))
            }
        })
        .collect();
    // No second line per token request, as there once was.
    assert!(
        !log.contains("token issued") && !log.contains("token request refused"),
        "{log}"
    );
    let count = |outcome: &str, client: &str| {
        token_lines
            .iter()
            .filter(|(o, c)| o == outcome && c == client)
            .count()
    };
    assert_eq!(count("issued", &account_client), 3, "{log}");
    assert_eq!(count("issued", &workspace_client), 3, "{log}");
    let refused = |client: &str| {
        token_lines
            .iter()
            .filter(|(o, c)| o != "issued" && c == client)
            .count()
    };
    assert!(refused(&account_client) >= 2, "{log}");
    assert!(refused(&workspace_client) >= 2, "{log}");
    for (outcome, client) in &token_lines {
        assert!(
            ["issued", "invalid_client", "invalid_request"].contains(&outcome.as_str()),
            "an unexpected outcome: {outcome}"
        );
        assert!(
            client.starts_with("ak_")
                || client.starts_with("wk_")
                || client == "<none>"
                || client == "<malformed>",
            "a client_id that is not well formed reached the log: {client}"
        );
    }
    // The swapped pair's "client_id" was a secret: shown as <malformed>.
    assert!(token_lines.iter().any(|(_, c)| c == "<malformed>"), "{log}");
    if json {
        // Every line of the server is JSON, whatever its target or level.
        let levels: std::collections::BTreeSet<String> = log
            .lines()
            .map(|l| json_line(l)["level"].as_str().unwrap_or("").to_owned())
            .collect();
        assert!(
            levels.contains("TRACE") || levels.contains("DEBUG"),
            "{levels:?}"
        );
    }
}

/// The documented checksum: base62 CRC-32 of the random part, 6 digits.
fn crc_base62(random: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = u64::from(crc32fast::hash(random.as_bytes()));
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits.to_vec()).unwrap()
}
