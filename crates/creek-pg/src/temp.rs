//! A throwaway PostgreSQL cluster run from the machine's own binaries, for tests and
//! `creek demo`: `initdb` into a temp dir, `postgres` on a free loopback port with
//! `wal_level=logical` and trust auth, stopped and deleted on drop.
//!
//! Durability against OS crashes is deliberately off (`fsync=off`,
//! `full_page_writes=off`): the cluster lives for one test run and is never reused
//! after an OS crash, and this keeps inserts fast on shared CI disks. Commits are still
//! written to the WAL before they are acknowledged (`synchronous_commit` stays on), so
//! a killed server ([`TempPostgres::kill_server`]) loses nothing committed.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Start attempts when the chosen free port is taken by someone else in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// A running throwaway PostgreSQL. Drop (or [`TempPostgres::stop`]) shuts it down
/// (fast shutdown, then SIGKILL after 30 s) and deletes its directory.
pub struct TempPostgres {
    bin_dir: PathBuf,
    port: u16,
    /// Set when running as root: the `postgres` account the server runs as.
    run_as: Option<(u32, u32)>,
    /// The postmaster, when running.
    server: Mutex<Option<Child>>,
    /// Holds `data/` (the cluster), `postgres.log` and the unix socket. Last field:
    /// dropped (deleted) after `Drop::drop` stopped the server.
    dir: TempDir,
}

impl TempPostgres {
    /// initdb a new cluster in a temp dir and start it on a free port of 127.0.0.1.
    pub async fn start() -> Result<TempPostgres> {
        let bin_dir = find_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("creek-pg-")
            .tempdir()
            .context("creating the temp dir for PostgreSQL")?;
        let run_as = if is_root() {
            // initdb and postgres refuse to run as root.
            let ids = lookup_user("postgres").context(
                "running as root, PostgreSQL must run as the 'postgres' user, which was not found",
            )?;
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))
                .with_context(|| format!("chown {} to postgres", dir.path().display()))?;
            Some(ids)
        } else {
            None
        };
        let mut pg = TempPostgres {
            bin_dir,
            port: 0,
            run_as,
            server: Mutex::new(None),
            dir,
        };
        pg.initdb().await?;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            pg.port = free_port()?;
            match pg.start_server().await {
                Ok(()) => return Ok(pg),
                Err(e) if pg.log_mentions_port_in_use() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("no free port found")))
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth: no password).
    pub fn connection_string(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `jdbc:postgresql://127.0.0.1:PORT/postgres`, for JDBC connector configs.
    pub fn jdbc_url(&self) -> String {
        format!("jdbc:postgresql://127.0.0.1:{}/postgres", self.port)
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server log (stdout and stderr of every start).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A new client connection to the `postgres` database as user `postgres`.
    pub async fn connect(&self) -> Result<Client> {
        crate::connect(&self.connection_string()).await
    }

    /// Whether the postmaster is running (not stopped, and has not exited).
    pub fn is_running(&self) -> bool {
        let mut server = self.server();
        match server.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                *server = None;
                false
            }
            None => false,
        }
    }

    /// Stops the server (fast shutdown: clients are disconnected, then a checkpoint),
    /// keeping the data directory and port for [`TempPostgres::start_server`].
    pub async fn stop_server(&self) -> Result<()> {
        self.signal_and_wait(libc::SIGINT).await
    }

    /// Simulates a crash: immediate shutdown (SIGQUIT; no checkpoint, so the next
    /// start runs crash recovery). Data dir and port are kept.
    pub async fn kill_server(&self) -> Result<()> {
        self.signal_and_wait(libc::SIGQUIT).await
    }

    /// (Re)starts the server on the same port and data directory and waits until it
    /// accepts connections. A no-op when it is already running.
    pub async fn start_server(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening postgres.log")?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin_dir.join("postgres").display()))?;
        *self.server() = Some(child);
        self.wait_ready().await
    }

    /// Stops the server and deletes the cluster.
    pub async fn stop(self) {
        if let Err(e) = self.stop_server().await {
            tracing::warn!("stopping the temporary PostgreSQL: {e:#}");
        }
        // Drop deletes the directory.
    }

    fn server(&self) -> MutexGuard<'_, Option<Child>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // The server must be able to stat its working directory (not /root).
        cmd.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.run_as {
            // std drops the supplementary groups when changing uid as root.
            cmd.uid(uid).gid(gid);
        }
        // Its own process group: a terminal's Ctrl-C reaches only its owner
        // (`creek demo`), which stops the cluster after everything reading it.
        cmd.process_group(0);
        cmd
    }

    async fn initdb(&self) -> Result<()> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .arg("--no-sync"); // throwaway: skip the final fsync of ~40 MB
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await?
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let socket_dir = self.dir.path().display().to_string().replace('\'', "''");
        let settings = format!(
            "\n# creek-pg TempPostgres\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{socket_dir}'\n\
             max_connections = 100\n\
             wal_level = logical\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             fsync = off\n\
             full_page_writes = off\n"
        );
        let conf = self.data_dir().join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf)
            .with_context(|| format!("opening {}", conf.display()))?;
        file.write_all(settings.as_bytes())?;
        Ok(())
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let config = format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5",
            self.port
        );
        loop {
            if !self.is_running() {
                bail!(
                    "PostgreSQL exited during startup on port {}; log tail:\n{}",
                    self.port,
                    self.log_tail(20)
                );
            }
            match tokio_postgres::connect(&config, NoTls).await {
                Ok((client, connection)) => {
                    drop(client);
                    let _ = connection.await;
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => {
                    let _ = self.signal_and_wait(libc::SIGQUIT).await;
                    bail!(
                        "PostgreSQL on port {} not ready within {READY_TIMEOUT:?}: {e}; log tail:\n{}",
                        self.port,
                        self.log_tail(20)
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn signal_and_wait(&self, signal: i32) -> Result<()> {
        let Some(mut child) = self.server().take() else {
            return Ok(());
        };
        send_signal(&child, signal);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("PostgreSQL did not stop within {STOP_TIMEOUT:?}; killed");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn log_mentions_port_in_use(&self) -> bool {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        log.contains("could not bind") || log.contains("Address already in use")
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let Some(mut child) = self.server().take() else {
            return;
        };
        send_signal(&child, libc::SIGINT);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn send_signal(child: &Child, signal: i32) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid; it is not reaped yet (we hold the
        // Child and have not waited on it), so the pid cannot have been reused.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// `$CREEK_PG_BIN`, else the highest-versioned `/usr/lib/postgresql/*/bin` that has
/// `postgres` and `initdb`.
pub fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CREEK_PG_BIN") {
        let dir = PathBuf::from(dir);
        if !dir.join("postgres").is_file() || !dir.join("initdb").is_file() {
            bail!(
                "CREEK_PG_BIN={} has no postgres and initdb binaries",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let version: Vec<u32> = entry
            .file_name()
            .to_string_lossy()
            .split('.')
            .map_while(|p| p.parse().ok())
            .collect();
        let bin = entry.path().join("bin");
        if version.is_empty() || !bin.join("postgres").is_file() || !bin.join("initdb").is_file() {
            continue;
        }
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "no PostgreSQL server binaries under {}/*/bin (install Debian's `postgresql` \
             package, or set CREEK_PG_BIN to the directory holding postgres and initdb)",
            root.display()
        )
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// (uid, gid) of a local account, from /etc/passwd.
fn lookup_user(name: &str) -> Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == name)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| anyhow!("no user '{name}' in /etc/passwd"))
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shareable_across_tasks() {
        fn check<T: Send + Sync>() {}
        check::<TempPostgres>();
    }

    #[test]
    fn finds_binaries_and_accounts() {
        let bin = find_bin_dir().expect("PostgreSQL binaries");
        assert!(bin.join("initdb").is_file());
        assert_eq!(lookup_user("root").unwrap(), (0, 0));
        assert!(lookup_user("no-such-user-creek").is_err());
    }
}
