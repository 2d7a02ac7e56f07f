//! A headless Chromium per test, through its own chromedriver: started, driven, and stopped
//! (the chromedriver's process group, which holds the browser, is killed on drop).

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::TestApp;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// WebDriver key codes.
pub const ENTER: char = '\u{e007}';
pub const TAB: char = '\u{e004}';
pub const ESCAPE: char = '\u{e00c}';

/// At most two browsers at a time: the machines that run this have few cores.
static BROWSERS: Semaphore = Semaphore::const_new(2);

const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    /// The admin listener's origin: the console's.
    pub base: String,
    driver: Child,
    _profile: TempDir,
    _permit: SemaphorePermit<'static>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The chromedriver leads its own process group; Chromium is in it.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl Browser {
    /// A browser for the test `name`; `None` (the test passes, saying SKIPPED) when there is
    /// no chromedriver and `TESSERA_REQUIRE_BROWSER` is not `1`.
    pub async fn open(app: &TestApp, name: &str) -> Option<Self> {
        if !Path::new(CHROMEDRIVER).exists() {
            let required = std::env::var("TESSERA_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "TESSERA_REQUIRE_BROWSER=1 but {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
            // On the real stderr: the harness's capture does not hide it.
            let _ = writeln!(
                std::io::stderr(),
                "browser test {name} SKIPPED: {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let permit = BROWSERS.acquire().await.unwrap();
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut browser_args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
        ];
        browser_args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": browser_args},
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let started = Instant::now();
        let client = loop {
            let attempt =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&url)
                    .await;
            match attempt {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        Some(Self {
            client,
            base: app.admin.clone(),
            driver,
            _profile: profile,
            _permit: permit,
        })
    }

    /// Ends the session (Chromium quits); the drop stops the chromedriver.
    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Runs `script` (a function body) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until the expression `condition` is truthy in the page; its value.
    pub async fn until(&self, what: &str, condition: &str) -> Value {
        let script = format!("return !!({condition});");
        let started = Instant::now();
        loop {
            if self.js(&script).await == true {
                return Value::Bool(true);
            }
            if started.elapsed() > WAIT {
                let status = self
                    .js("return document.getElementById('status').textContent + ' | ' + document.getElementById('app-view').textContent.slice(0, 500)")
                    .await;
                panic!("timed out waiting for {what} ({condition}); page: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of `css` contains `expected`.
    pub async fn until_text(&self, css: &str, expected: &str, what: &str) {
        let condition = format!(
            "(document.querySelector({css:?}) || {{textContent: ''}}).textContent.includes({expected:?})"
        );
        self.until(what, &condition).await;
    }

    pub async fn until_open(&self, dialog: &str) {
        self.until(dialog, &format!("document.getElementById('{dialog}').open"))
            .await;
    }

    /// Waits until the secret's element is gone.
    pub async fn until_gone(&self, what: &str) {
        self.until(what, "document.getElementById('secret-value') === null")
            .await;
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Replaces the value of the input `css` with `value`, by typing.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    /// Signs in on the console's page with `token`.
    pub async fn sign_in(&self, token: &str) {
        self.goto("/console").await;
        self.fill("#token-input", token).await;
        self.click("#sign-in-form button[type=submit]").await;
        self.until(
            "signed in",
            "document.getElementById('sign-in-view').hidden && document.querySelector('#app-view h1')",
        )
        .await;
    }

    /// Opens the account's view (from the accounts list) and waits for it.
    pub async fn open_account(&self, account: &str) {
        self.click("#nav a[data-nav=accounts]").await;
        self.click(&format!("tr[data-account-id=\"{account}\"] a"))
            .await;
        self.until(
            "the account view",
            "document.getElementById('create-credential') && document.getElementById('account-title')",
        )
        .await;
    }

    /// Presses and releases `key` (a character or a WebDriver key code).
    pub async fn press(&self, key: char) {
        self.type_keys(&key.to_string()).await;
    }

    /// Key presses only: each character down and up, to whatever has the focus.
    pub async fn type_keys(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for c in text.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(actions).await.unwrap();
    }

    /// Presses Tab until `condition` holds (at most 80 times).
    pub async fn tab_to(&self, condition: &str) {
        for _ in 0..80 {
            if self.js(&format!("return !!({condition});")).await == true {
                return;
            }
            self.press(TAB).await;
        }
        panic!("Tab never reached {condition}");
    }

    /// The secret is nowhere in the page or the tab's storage.
    pub async fn assert_secret_gone(&self, secret: &str) {
        let html = self.js("return document.documentElement.outerHTML").await;
        assert!(
            !html.as_str().unwrap().contains(secret),
            "secret still in the DOM"
        );
        let storage = self
            .js("return JSON.stringify(Object.assign({}, sessionStorage, localStorage))")
            .await;
        assert!(!storage.as_str().unwrap().contains(secret));
        assert_eq!(
            self.js("return document.getElementById('secret-copy').disabled")
                .await,
            true
        );
    }

    /// Every resource the page loaded, and the page itself, came from the console's origin.
    pub async fn assert_same_origin_only(&self) {
        let urls = self
            .js("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
            .await;
        let urls = urls.as_array().unwrap();
        assert!(urls.len() > 2, "{urls:?}");
        for url in urls {
            let url = url.as_str().unwrap();
            assert!(
                url.starts_with(&format!("{}/", self.base)),
                "{url} is not from {}",
                self.base
            );
        }
        // The script and the style sheet came with the page, and the CSP was in force (the
        // page's own script ran, so script-src 'self' admitted it).
        let names = self
            .js("return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)")
            .await;
        assert!(names
            .as_array()
            .unwrap()
            .contains(&json!("/console/console.js")));
        assert!(names
            .as_array()
            .unwrap()
            .contains(&json!("/console/console.css")));
    }

    /// Saves a PNG of the page to `$TESSERA_CONSOLE_SCREENSHOTS/name`, when that is set.
    pub async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("TESSERA_CONSOLE_SCREENSHOTS") {
            // Tall enough for an account's header, usage, workspaces and credentials.
            self.client.set_window_size(1280, 1180).await.unwrap();
            let png = self.client.screenshot().await.unwrap();
            self.client.set_window_size(1280, 900).await.unwrap();
            std::fs::write(Path::new(&dir).join(name), png).unwrap();
        }
    }
}
