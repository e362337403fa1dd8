//! AlterConfigs and IncrementalAlterConfigs (what `kafka-configs --alter` sends):
//! topic configuration changes, applied by the log and kept in the topic's
//! metadata. Broker configuration is fixed at start-up (`creek up`'s flags) and
//! refused with a clear error.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::errors::*;
use crate::Broker;

/// Kafka's resource type for a topic (`ConfigResource.Type.TOPIC`).
const TOPIC: i8 = 2;
/// Kafka's resource type for a broker.
const BROKER: i8 = 4;

/// IncrementalAlterConfigs operations (`AlterConfigOp.OpType`).
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Why a resource could not be altered: a Kafka error code and a message.
type Refusal = (i16, String);

impl Broker {
    pub(crate) fn alter_configs(&self, req: AlterConfigsRequest) -> AlterConfigsResponse {
        let mut resp = AlterConfigsResponse::default();
        for res in req.resources {
            // The whole set replaces the topic's overrides: keys left out go back
            // to their defaults, as in Kafka.
            let overrides = res
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            let outcome = self
                .check_resource(res.resource_type, &res.resource_name)
                .and_then(|()| self.apply(&res.resource_name, overrides, req.validate_only));
            let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
            r.resource_type = res.resource_type;
            r.resource_name = res.resource_name;
            (r.error_code, r.error_message) = error_fields(outcome);
            resp.responses.push(r);
        }
        resp
    }

    pub(crate) fn incremental_alter_configs(
        &self,
        req: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        let mut resp = IncrementalAlterConfigsResponse::default();
        for res in req.resources {
            let outcome = self
                .check_resource(res.resource_type, &res.resource_name)
                .and_then(|()| {
                    let topic = self.log.topic(&res.resource_name).ok_or_else(|| {
                        (
                            UNKNOWN_TOPIC_OR_PARTITION,
                            unknown_topic(&res.resource_name),
                        )
                    })?;
                    let mut overrides = topic.config().overrides;
                    for c in &res.configs {
                        let value = c.value.as_ref().map(|v| v.to_string());
                        apply_op(&mut overrides, &c.name, c.config_operation, value)?;
                    }
                    self.apply(&res.resource_name, overrides, req.validate_only)
                });
            let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
            r.resource_type = res.resource_type;
            r.resource_name = res.resource_name;
            (r.error_code, r.error_message) = error_fields(outcome);
            resp.responses.push(r);
        }
        resp
    }

    /// Only topics can be altered; broker settings come from `creek up`'s flags.
    fn check_resource(&self, resource_type: i8, name: &str) -> Result<(), Refusal> {
        match resource_type {
            TOPIC => Ok(()),
            BROKER => Err((
                INVALID_REQUEST,
                format!(
                    "not supported yet: altering broker configs (broker '{name}'); creek's broker \
                     settings are `creek up` flags, set at start-up"
                ),
            )),
            other => Err((
                INVALID_REQUEST,
                format!("not supported yet: altering configs of resource type {other}"),
            )),
        }
    }

    fn apply(
        &self,
        topic: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), Refusal> {
        self.log
            .set_topic_configs(topic, overrides, validate_only)
            .map_err(|e| (e.kafka_code(), e.to_string()))
    }
}

/// A resource's error code and message in either response.
fn error_fields(outcome: Result<(), Refusal>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (NONE, None),
        Err((code, message)) => (code, Some(StrBytes::from_string(message))),
    }
}

fn unknown_topic(name: &str) -> String {
    format!("topic {name} does not exist")
}

/// One IncrementalAlterConfigs operation on a topic's overrides. APPEND and
/// SUBTRACT treat the value as a comma-separated list (`cleanup.policy`).
fn apply_op(
    overrides: &mut BTreeMap<String, String>,
    name: &str,
    op: i8,
    value: Option<String>,
) -> Result<(), Refusal> {
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    let missing_value = || {
        (
            INVALID_REQUEST,
            format!("config {name}: the operation needs a value"),
        )
    };
    match op {
        SET => {
            overrides.insert(name.to_string(), value.ok_or_else(missing_value)?);
        }
        DELETE => {
            overrides.remove(name);
        }
        APPEND | SUBTRACT => {
            let value = value.ok_or_else(missing_value)?;
            let mut items = overrides.get(name).map(|v| list(v)).unwrap_or_default();
            for item in list(&value) {
                let present = items.contains(&item);
                if op == APPEND && !present {
                    items.push(item);
                } else if op == SUBTRACT {
                    items.retain(|x| *x != item);
                }
            }
            if items.is_empty() {
                overrides.remove(name);
            } else {
                overrides.insert(name.to_string(), items.join(","));
            }
        }
        other => {
            return Err((
                INVALID_REQUEST,
                format!("config {name}: unknown operation {other}"),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_delete_append_subtract() {
        let mut o = BTreeMap::new();
        apply_op(&mut o, "retention.ms", SET, Some("5".into())).unwrap();
        apply_op(&mut o, "cleanup.policy", APPEND, Some("delete".into())).unwrap();
        apply_op(
            &mut o,
            "cleanup.policy",
            APPEND,
            Some("compact,delete".into()),
        )
        .unwrap();
        assert_eq!(o["cleanup.policy"], "delete,compact");
        apply_op(&mut o, "cleanup.policy", SUBTRACT, Some("delete".into())).unwrap();
        assert_eq!(o["cleanup.policy"], "compact");
        apply_op(&mut o, "cleanup.policy", SUBTRACT, Some("compact".into())).unwrap();
        apply_op(&mut o, "retention.ms", DELETE, None).unwrap();
        assert!(o.is_empty());
        assert_eq!(
            apply_op(&mut o, "x", SET, None).unwrap_err().0,
            INVALID_REQUEST
        );
        assert_eq!(
            apply_op(&mut o, "x", 9, Some("1".into())).unwrap_err().0,
            INVALID_REQUEST
        );
    }
}
