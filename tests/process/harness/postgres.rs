//! PostgreSQL: throwaway databases on the server of `TESSERA_TEST_POSTGRES_URL`, and throwaway
//! clusters for outages.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tempfile::TempDir;

/// `TESSERA_TEST_POSTGRES_URL`, or a SKIPPED line naming `test` on the real stderr (a panic
/// under `TESSERA_REQUIRE_ALL=1`) and `None`.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    tessera::testing::postgres_url_or_skip(test)
}

/// A fresh database, dropped with this: the one `tessera::testing` creates for in-process tests.
pub use tessera::testing::PgDatabase;

/// A port for a throwaway cluster: `pg_ctl` must be told one, and PostgreSQL does not report a
/// port 0 it bound, so this one is probed (only the outage test's cluster uses it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A throwaway PostgreSQL cluster in a temporary directory, run as the `postgres` user when the
/// tests run as root (initdb refuses root). Stopped when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: TempDir,
    pub port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// The newest `/usr/lib/postgresql/*/bin` with `initdb` and `pg_ctl`.
    fn find_bin() -> Option<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                (bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                    .then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    }

    /// initdb into a new directory; `None` (with a SKIPPED line) without the PostgreSQL tools.
    pub fn init(test: &str) -> Option<Self> {
        let Some(bin) = Self::find_bin() else {
            tessera::testing::skip(test, "no initdb/pg_ctl under /usr/lib/postgresql/*/bin");
            return None;
        };
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = tempfile::tempdir().expect("tempdir");
        if as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(chown.success(), "chown postgres: {}", dir.path().display());
        }
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data();
        cluster.tool(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs a PostgreSQL tool (as `postgres` when root) and asserts it succeeded.
    fn tool(&self, name: &str, args: &[&str]) {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        assert!(
            output.status.success(),
            "{name} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        let data = self.data();
        self.tool(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
            ],
        );
    }

    /// `pg_ctl stop -m fast`.
    pub fn stop(&self) {
        let data = self.data();
        self.tool("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn create_database(&self, name: &str) {
        let mut conn = PgConnection::establish(&self.url("postgres")).expect("connect");
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("CREATE DATABASE");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = [
            "-D",
            data.as_str(),
            "-m",
            "immediate",
            "-w",
            "-t",
            "10",
            "stop",
        ];
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // Fails harmlessly when the cluster is not running.
        let _ = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
