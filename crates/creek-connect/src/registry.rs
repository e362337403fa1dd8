//! The connector classes a worker can run, looked up by class name or alias as
//! Kafka Connect does (full class, simple class name, or creek's short alias).
//! One map from name to constructor, as Arroyo's connector registry: adding a
//! connector is its module plus one line in [`Registry::builtin`].

use crate::config::KeyTable;
use crate::connector::{Connector, ConnectorKind};
use crate::{jdbc, s3sink};

/// Builds an unstarted connector.
pub type Constructor = fn() -> Box<dyn Connector>;

/// One connector class.
#[derive(Clone)]
pub struct Plugin {
    pub class: &'static str,
    pub aliases: &'static [&'static str],
    pub create: Constructor,
}

impl Plugin {
    pub fn kind(&self) -> ConnectorKind {
        (self.create)().kind()
    }
    pub fn version(&self) -> &'static str {
        (self.create)().version()
    }
    fn answers_to(&self, name: &str) -> bool {
        self.class == name || self.aliases.contains(&name)
    }
}

/// The connector classes, in the order `/connector-plugins` lists them.
#[derive(Clone)]
pub struct Registry {
    plugins: Vec<Plugin>,
}

impl Registry {
    /// creek's connectors.
    pub fn builtin() -> Registry {
        Registry {
            plugins: vec![
                Plugin {
                    class: jdbc::CLASS,
                    aliases: jdbc::ALIASES,
                    create: jdbc::connector::create,
                },
                Plugin {
                    class: s3sink::CLASS,
                    aliases: s3sink::ALIASES,
                    create: s3sink::connector::create,
                },
            ],
        }
    }

    /// Adds a connector class (listed last; a name an earlier class already
    /// answers to stays that class's).
    pub fn register(&mut self, plugin: Plugin) {
        self.plugins.push(plugin);
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    pub fn find(&self, name: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.answers_to(name))
    }

    /// Every key of every connector: for masking configs of all kinds.
    pub fn all_keys(&self) -> KeyTable {
        let mut all = KeyTable {
            keys: Vec::new(),
            prefixes: Vec::new(),
        };
        for p in &self.plugins {
            let t = (p.create)().config_keys();
            all.keys.extend(t.keys);
            all.prefixes.extend(t.prefixes);
        }
        all
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_answer_to_their_aliases() {
        let r = Registry::builtin();
        for name in [jdbc::CLASS, "JdbcSourceConnector", "JdbcSource"] {
            let p = r.find(name).expect(name);
            assert_eq!((p.class, p.kind()), (jdbc::CLASS, ConnectorKind::Source));
        }
        for name in [s3sink::CLASS, "S3SinkConnector", "S3Sink", "LakeSink"] {
            let p = r.find(name).expect(name);
            assert_eq!((p.class, p.kind()), (s3sink::CLASS, ConnectorKind::Sink));
        }
        assert!(r
            .find("io.confluent.connect.jdbc.JdbcSinkConnector")
            .is_none());
    }

    #[test]
    fn a_registered_class_is_listed_and_found() {
        let mut r = Registry::builtin();
        r.register(Plugin {
            class: "test.Other",
            aliases: &["Other", "JdbcSource"],
            create: jdbc::connector::create,
        });
        assert_eq!(r.plugins().last().map(|p| p.class), Some("test.Other"));
        assert_eq!(r.find("Other").map(|p| p.class), Some("test.Other"));
        // A taken alias stays with the class that had it first.
        assert_eq!(r.find("JdbcSource").map(|p| p.class), Some(jdbc::CLASS));
    }
}
