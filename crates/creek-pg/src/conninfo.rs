//! Connection strings: connecting with a clear error, and masking passwords for display.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Connects (without TLS) to a `postgresql://` URL or a `key=value` connection string
/// and drives the connection on a background task. Errors name the host and port
/// (and never the password).
pub async fn connect(connection_string: &str) -> Result<Client> {
    let mut config: Config = connection_string.parse().map_err(|e| {
        anyhow!(
            "invalid connection string '{}': {e}",
            mask_password(connection_string)
        )
    })?;
    if config.get_connect_timeout().is_none() {
        // Fail in bounded time on an unreachable host instead of waiting on TCP.
        config.connect_timeout(Duration::from_secs(10));
    }
    let (client, connection) = config.connect(NoTls).await.with_context(|| {
        format!(
            "could not connect to PostgreSQL at {} as user {}",
            describe_target(&config),
            config.get_user().unwrap_or("(default)")
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection closed: {e}");
        }
    });
    Ok(client)
}

/// `host:port` (comma-separated when several hosts are given), as the client sees it.
pub fn describe_target(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return "(no host given)".to_owned();
    }
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            // libpq rules: one port for all hosts, or one per host; 5432 by default.
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The connection string with any password replaced by `***`: the `user:password@`
/// part and `password=` parameters of URLs, and `password=` in `key=value` strings.
pub fn mask_password(connection_string: &str) -> String {
    let s = connection_string;
    if let Some(scheme_end) = s.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &s[rest_start..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let mut out = String::with_capacity(s.len());
        out.push_str(&s[..rest_start]);
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let tail = &rest[authority_end..];
        match tail.find('?') {
            Some(q) => {
                out.push_str(&tail[..=q]);
                let params = tail[q + 1..]
                    .split('&')
                    .map(|kv| match kv.split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                            format!("{k}=***")
                        }
                        _ => kv.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                out.push_str(&params);
            }
            None => out.push_str(tail),
        }
        out
    } else {
        mask_key_value(s)
    }
}

/// `host=h password='a b' user=u` → `host=h password=*** user=u`.
fn mask_key_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = find_password_key(rest) {
        let (before, after_key) = rest.split_at(pos);
        out.push_str(before);
        let eq = after_key.find('=').expect("key ends with '='");
        out.push_str(&after_key[..=eq]);
        out.push_str("***");
        let value = after_key[eq + 1..].trim_start();
        rest = skip_value(value);
    }
    out.push_str(rest);
    out
}

/// Byte position of a `password` key (followed by optional spaces and `=`) that starts
/// a word.
fn find_password_key(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password") {
        let pos = from + i;
        let starts_word = pos == 0 || lower.as_bytes()[pos - 1].is_ascii_whitespace();
        let after = lower[pos + "password".len()..].trim_start();
        if starts_word && after.starts_with('=') {
            return Some(pos);
        }
        from = pos + 1;
    }
    None
}

/// The text after one `key=value` value (quoted with '' and \ escapes, or up to a space).
fn skip_value(value: &str) -> &str {
    if let Some(quoted) = value.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => return &quoted[i + 1..],
                _ => {}
            }
        }
        ""
    } else {
        let end = value.find(char::is_whitespace).unwrap_or(value.len());
        &value[end..]
    }
}

/// What a JDBC connector config needs to reach the database of a connection
/// string: `connection.url`, `connection.user` and `connection.password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JdbcTarget {
    pub url: String,
    pub user: String,
    pub password: String,
}

/// The JDBC form of a `postgresql://` URL or `key=value` connection string
/// (first TCP host only; JDBC has no unix sockets).
pub fn jdbc_target(connection_string: &str) -> Result<JdbcTarget> {
    let config: Config = connection_string.parse().map_err(|e| {
        anyhow!(
            "invalid connection string '{}': {e}",
            mask_password(connection_string)
        )
    })?;
    let host = config
        .get_hosts()
        .iter()
        .find_map(|h| match h {
            Host::Tcp(name) => Some(name.clone()),
            Host::Unix(_) => None,
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let dbname = config.get_dbname().unwrap_or(&user).to_owned();
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    Ok(JdbcTarget {
        url: format!("jdbc:postgresql://{host}:{port}/{dbname}"),
        user,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            mask_password("postgresql://postgres:secret@localhost:5432/postgres"),
            "postgresql://postgres:***@localhost:5432/postgres"
        );
        assert_eq!(
            mask_password("postgres://u:p%40ss@h/db?sslmode=disable&password=x"),
            "postgres://u:***@h/db?sslmode=disable&password=***"
        );
        assert_eq!(
            mask_password("postgresql://postgres@127.0.0.1:5/postgres"),
            "postgresql://postgres@127.0.0.1:5/postgres"
        );
        assert_eq!(mask_password("postgresql://h"), "postgresql://h");
    }

    #[test]
    fn masks_key_value_passwords() {
        assert_eq!(
            mask_password("host=h password=secret user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            mask_password("host=h password = 'a \\' b' user=u"),
            "host=h password =*** user=u"
        );
        assert_eq!(mask_password("user=passwordless"), "user=passwordless");
    }

    #[test]
    fn targets() {
        let c: Config = "postgresql://u:p@db.example:6543/x".parse().unwrap();
        assert_eq!(describe_target(&c), "db.example:6543");
        let c: Config = "host=a,b port=1".parse().unwrap();
        assert_eq!(describe_target(&c), "a:1,b:1");
        let c: Config = "postgresql://localhost/x".parse().unwrap();
        assert_eq!(describe_target(&c), "localhost:5432");
    }

    #[tokio::test]
    async fn connection_failure_names_host_and_port() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = connect(&format!(
            "postgresql://postgres:hunter2@127.0.0.1:{port}/postgres"
        ))
        .await
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let err = connect("postgresql://u:hunter2@h:notaport/x")
            .await
            .unwrap_err();
        assert!(!format!("{err:#}").contains("hunter2"));
    }

    #[test]
    fn jdbc_targets_of_connection_strings() {
        let t = jdbc_target("postgresql://me:secret@db.example:5433/shop").unwrap();
        assert_eq!(t.url, "jdbc:postgresql://db.example:5433/shop");
        assert_eq!((t.user.as_str(), t.password.as_str()), ("me", "secret"));
        let t = jdbc_target("host=127.0.0.1 user=postgres").unwrap();
        assert_eq!(t.url, "jdbc:postgresql://127.0.0.1:5432/postgres");
        assert_eq!(t.password, "");
        let e = jdbc_target("postgresql://me:secret@[bad").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
