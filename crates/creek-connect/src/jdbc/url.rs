//! `connection.url` parsing: the JDBC PostgreSQL URL forms users already have.

use std::time::Duration;

/// Where and how to connect, from `jdbc:postgresql://host[:port][/database][?k=v&…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub hosts: Vec<(String, u16)>,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
}

impl PgUrl {
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        // Messages quote the URL with any embedded password hidden.
        let shown = crate::config::mask_url(url);
        let rest = url.strip_prefix("jdbc:postgresql:").ok_or_else(|| {
            format!("{shown:?} is not a PostgreSQL JDBC URL: it must start with jdbc:postgresql://")
        })?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (hosts, database) = if let Some(after) = path.strip_prefix("//") {
            let (authority, db) = match after.split_once('/') {
                Some((a, d)) => (a, d),
                None => (after, ""),
            };
            if authority.contains('@') {
                // pgjdbc reads no user:password@ before the host; creek would take
                // it for a host name, and print it.
                return Err(format!(
                    "{shown:?}: a user or password before the host (user:password@host) is not \
                     read by PostgreSQL's JDBC driver; give them in connection.user and \
                     connection.password"
                ));
            }
            let mut hosts = Vec::new();
            for h in authority.split(',').filter(|h| !h.is_empty()) {
                hosts.push(parse_host(h).map_err(|e| format!("{shown:?}: {e}"))?);
            }
            if hosts.is_empty() {
                hosts.push(("localhost".to_string(), 5432));
            }
            (hosts, db.to_string())
        } else {
            // jdbc:postgresql:database
            (vec![("localhost".to_string(), 5432)], path.to_string())
        };
        let mut parsed = PgUrl {
            hosts,
            database: if database.is_empty() {
                String::new()
            } else {
                percent_decode(&database)
            },
            user: None,
            password: None,
            connect_timeout: None,
            application_name: None,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "user" => parsed.user = Some(v),
                "password" => parsed.password = Some(v),
                "connectTimeout" | "loginTimeout" => {
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| format!("{shown:?}: {k}={v} is not a number of seconds"))?;
                    parsed.connect_timeout = Some(Duration::from_secs(secs));
                }
                "ApplicationName" => parsed.application_name = Some(v),
                // Driver tuning the wire protocol does not need.
                "ssl" | "sslmode"
                    if v == "false" || v == "disable" || v == "prefer" || v == "allow" => {}
                "ssl" | "sslmode" => {
                    return Err(format!(
                        "{shown:?}: not supported yet: TLS connections ({k}={v})"
                    ))
                }
                _ => {} // other pgJDBC properties (prepareThreshold, …) have no effect here
            }
        }
        Ok(parsed)
    }

    /// The tokio-postgres configuration, with `user`/`password` from the connector
    /// config taking precedence over the URL's.
    pub fn to_config(&self, user: Option<&str>, password: Option<&str>) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        for (h, p) in &self.hosts {
            c.host(h);
            c.port(*p);
        }
        let user = user.or(self.user.as_deref()).unwrap_or("postgres");
        c.user(user);
        if let Some(pw) = password.or(self.password.as_deref()) {
            c.password(pw);
        }
        c.dbname(if self.database.is_empty() {
            user
        } else {
            &self.database
        });
        c.connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)));
        c.application_name(
            self.application_name
                .as_deref()
                .unwrap_or("creek-jdbc-source"),
        );
        c
    }

    /// host:port/database, for messages (never includes the password).
    pub fn display(&self) -> String {
        let hosts: Vec<String> = self.hosts.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        format!("{}/{}", hosts.join(","), self.database)
    }
}

fn parse_host(h: &str) -> Result<(String, u16), String> {
    // [::1]:5432 or host:port or host
    if let Some(rest) = h.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unterminated IPv6 address in {h:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None => 5432,
        };
        return Ok((addr.to_string(), port));
    }
    match h.rsplit_once(':') {
        Some((host, port)) => {
            if host.is_empty() {
                return Err(format!("missing host name in {h:?}"));
            }
            Ok((host.to_string(), parse_port(port)?))
        }
        None => Ok((h.to_string(), 5432)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port {p:?}"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_refused_without_echoing_the_password() {
        let e = PgUrl::parse("jdbc:postgresql://bob:urlpw@127.0.0.1:1/db").unwrap_err();
        assert!(e.contains("connection.password"), "{e}");
        assert!(!e.contains("urlpw"), "{e}");
        let e = PgUrl::parse("jdbc:postgresql://[bad/db?password=qpw").unwrap_err();
        assert!(!e.contains("qpw"), "{e}");
    }

    #[test]
    fn parses_the_seed_url() {
        let u = PgUrl::parse("jdbc:postgresql://127.0.0.1:5432/postgres").unwrap();
        assert_eq!(u.hosts, vec![("127.0.0.1".to_string(), 5432)]);
        assert_eq!(u.database, "postgres");
    }

    #[test]
    fn parses_defaults_and_properties() {
        let u =
            PgUrl::parse("jdbc:postgresql://db/app?user=bob&password=s%40cret&connectTimeout=3")
                .unwrap();
        assert_eq!(u.hosts, vec![("db".to_string(), 5432)]);
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.connect_timeout, Some(Duration::from_secs(3)));
        let u = PgUrl::parse("jdbc:postgresql:app").unwrap();
        assert_eq!(u.database, "app");
    }

    #[test]
    fn rejects_malformed_urls() {
        assert!(PgUrl::parse("postgresql://x/y").is_err());
        assert!(PgUrl::parse("jdbc:mysql://x/y").is_err());
        assert!(PgUrl::parse("jdbc:postgresql://host:notaport/db").is_err());
        assert!(PgUrl::parse("jdbc:postgresql://:5432/db").is_err());
        assert!(PgUrl::parse("jdbc:postgresql://h/db?sslmode=require").is_err());
    }
}
