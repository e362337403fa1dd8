//! [`ClusterConfig`]: where the cluster is and how to reach it, and the librdkafka
//! client configurations built from it for each kind of client.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use creek_store::{LogError, Result};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

/// How long a call waits for the cluster before it fails, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An external Kafka cluster: its bootstrap servers and the client properties,
/// under Kafka's own names (`security.protocol`, `sasl.mechanism`,
/// `sasl.username`, `sasl.password`, `ssl.ca.location`, …), that every client
/// made for it gets.
///
/// `Debug` masks secret values (see [`is_secret`]), so a config can be logged.
#[derive(Clone)]
pub struct ClusterConfig {
    bootstrap_servers: String,
    properties: BTreeMap<String, String>,
    replication_factor: i32,
    timeout: Duration,
}

/// Whether a client property holds a secret: passwords, secrets, private keys and
/// the JAAS/OAUTHBEARER settings that embed them.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || matches!(
            key.as_str(),
            "ssl.key.pem" | "sasl.jaas.config" | "sasl.oauthbearer.config"
        )
}

impl ClusterConfig {
    /// A cluster reached at `bootstrap_servers` (`host:port,host:port`) with these
    /// client properties. A property librdkafka does not know, or a value it
    /// rejects, is an [`LogError::InvalidConfig`] naming the key.
    pub fn new<K, V>(
        bootstrap_servers: impl Into<String>,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ClusterConfig>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let bootstrap_servers = bootstrap_servers.into();
        if bootstrap_servers.trim().is_empty() {
            return Err(LogError::InvalidConfig(
                "bootstrap.servers is empty: give the cluster's brokers as host:port[,host:port]"
                    .into(),
            ));
        }
        let properties: BTreeMap<String, String> = properties
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if properties.contains_key("bootstrap.servers") {
            return Err(LogError::InvalidConfig(
                "bootstrap.servers is given twice: pass it as the bootstrap servers, not as a property"
                    .into(),
            ));
        }
        let config = ClusterConfig {
            bootstrap_servers,
            properties,
            replication_factor: -1,
            timeout: DEFAULT_TIMEOUT,
        };
        // librdkafka checks names and values when it builds a native config:
        // doing it once here reports a typo before anything connects.
        let mut check = ClientConfig::new();
        config.apply(&mut check);
        check.create_native_config().map_err(|e| config_error(&e))?;
        Ok(config)
    }

    /// The replication factor of topics this store creates; -1 (the default)
    /// lets the cluster use its `default.replication.factor`.
    pub fn with_replication_factor(mut self, replication_factor: i32) -> Self {
        self.replication_factor = replication_factor;
        self
    }

    /// How long one call waits for the cluster (connecting, metadata, admin
    /// requests, deliveries) before it fails; 30 s unless set.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    pub fn replication_factor(&self) -> i32 {
        self.replication_factor
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The bootstrap servers and the user's properties, onto a client config.
    fn apply(&self, config: &mut ClientConfig) {
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.properties {
            config.set(k, v);
        }
    }

    fn timeout_ms(&self) -> String {
        self.timeout.as_millis().max(1).to_string()
    }

    /// Settings every client shares: creek's defaults (and this kind of client's
    /// `defaults`) first, then the user's properties over them.
    fn base(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("client.id", "creek");
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        // A dead cluster fails a connection attempt within the call's timeout
        // rather than librdkafka's 30 s default.
        config.set("socket.connection.setup.timeout.ms", self.timeout_ms());
        // Topics exist only when created through the admin API, as in creek's
        // embedded log: reading or writing a missing topic must not create it.
        config.set("allow.auto.create.topics", "false");
        self.apply(&mut config);
        config
    }

    /// The idempotent producer: each partition's records in order, no duplicates
    /// from librdkafka's own retries.
    pub(crate) fn producer(&self) -> ClientConfig {
        let timeout = self.timeout_ms();
        let mut config = self.base(&[("message.timeout.ms", &timeout), ("linger.ms", "1")]);
        config.set("enable.idempotence", "true");
        config.set("acks", "all");
        config.set("allow.auto.create.topics", "false");
        config
    }

    /// A consumer without a group: assigned partitions, positions kept by creek.
    pub(crate) fn reader(&self) -> ClientConfig {
        // Each reader holds one partition: a few MB of prefetch is plenty, and
        // librdkafka's 64 MB default per consumer adds up over many partitions.
        let mut config = self.base(&[
            ("queued.max.messages.kbytes", "4096"),
            // Once the prefetch is full librdkafka postpones the next fetch by this
            // much (1 s by default): a reader draining its queue faster than that
            // (a query replaying a topic) waited most of its time.
            ("fetch.queue.backoff.ms", "1"),
        ]);
        // librdkafka assigns partitions only to a consumer with a group id; this
        // one never joins its group (no subscribe) nor commits to it.
        config.set("group.id", "creek-reader");
        config.set("enable.auto.commit", "false");
        config.set("enable.auto.offset.store", "false");
        // The end-of-partition event tells a fetch that nothing more is there.
        config.set("enable.partition.eof", "true");
        // An offset outside the log is an error to report, not a jump elsewhere.
        config.set("auto.offset.reset", "error");
        config
    }

    /// A consumer that commits and reads a group's offsets without joining it.
    pub(crate) fn group(&self, group: &str) -> ClientConfig {
        let mut config = self.reader();
        config.set("group.id", group);
        config
    }

    /// The admin client.
    pub(crate) fn admin(&self) -> ClientConfig {
        self.base(&[])
    }
}

/// A librdkafka configuration error as InvalidConfig, naming the key and
/// leaving out a secret's value.
pub(crate) fn config_error(e: &KafkaError) -> LogError {
    match e {
        // Java clients' JAAS line has no librdkafka equivalent; say what does.
        KafkaError::ClientConfig(_, _, key, _) if key == "sasl.jaas.config" => {
            LogError::InvalidConfig(
                "client property 'sasl.jaas.config' is Java's; give sasl.mechanism, \
                 sasl.username and sasl.password instead (value hidden)"
                    .into(),
            )
        }
        KafkaError::ClientConfig(_, _, key, _) if is_secret(key) => LogError::InvalidConfig(
            format!("client property '{key}' was rejected by librdkafka (value hidden)"),
        ),
        KafkaError::ClientConfig(_, description, key, _) => LogError::InvalidConfig(format!(
            "client property '{key}' was rejected by librdkafka: {description}"
        )),
        other => LogError::InvalidConfig(format!("cannot create a Kafka client: {other}")),
    }
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) { "********" } else { v.as_str() };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("ClusterConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties", &properties)
            .field("replication_factor", &self.replication_factor)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Display for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bootstrap.servers={}", self.bootstrap_servers)?;
        for (k, v) in &self.properties {
            let shown = if is_secret(k) { "********" } else { v.as_str() };
            write!(f, " {k}={shown}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_unknown_properties_named() {
        let config = ClusterConfig::new(
            "localhost:9092",
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "creek"),
                ("sasl.password", "hunter2"),
            ],
        )
        .unwrap();
        let shown = format!("{config:?} {config}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sasl.username") && shown.contains("creek"));
        assert!(shown.contains("sasl.password"));

        let err = ClusterConfig::new("localhost:9092", [("sasl.pasword", "x")]).unwrap_err();
        assert!(matches!(err, LogError::InvalidConfig(_)));
        assert!(err.to_string().contains("sasl.pasword"), "{err}");

        // A rejected secret value does not appear in the error either.
        let err = ClusterConfig::new("localhost:9092", [("ssl.key.password", "")]);
        if let Err(e) = err {
            assert!(!e.to_string().contains("hunter2"));
        }
        assert!(is_secret("sasl.oauthbearer.client.secret"));
        assert!(is_secret("ssl.keystore.password"));
        assert!(!is_secret("ssl.ca.location"));
    }
}
