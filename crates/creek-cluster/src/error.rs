//! Kafka client errors as creek's [`LogError`]s, with the Kafka code a broker would
//! have sent, and a hint where to look when the cluster cannot be reached.

use std::io::{Error as IoError, ErrorKind};

use creek_store::LogError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// The code behind a client error, when it has one.
pub(crate) fn code_of(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    match e {
        KafkaError::AdminOp(code) => Some(*code),
        other => other.rdkafka_error_code(),
    }
}

/// Maps a Kafka error code for `subject` (a topic, `topic-partition` or group)
/// onto creek's error; `what` names the operation for the messages that are not
/// about the subject itself.
pub(crate) fn from_code(
    code: RDKafkaErrorCode,
    subject: &str,
    what: &str,
    bootstrap: &str,
) -> LogError {
    use RDKafkaErrorCode as C;
    match code {
        C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition | C::UnknownTopicId => {
            LogError::UnknownTopicOrPartition(subject.to_string())
        }
        C::TopicAlreadyExists => LogError::TopicAlreadyExists(subject.to_string()),
        C::InvalidTopic => LogError::InvalidTopic(subject.to_string()),
        C::InvalidPartitions => LogError::InvalidPartitions(format!("{subject}: {code}")),
        C::InvalidReplicationFactor | C::InvalidReplicaAssignment => {
            LogError::InvalidReplicationFactor(format!("{subject}: {code}"))
        }
        C::InvalidConfig | C::PolicyViolation => {
            LogError::InvalidConfig(format!("{subject}: {code}"))
        }
        C::InvalidRecord | C::InvalidTimestamp | C::MessageSizeTooLarge => {
            LogError::InvalidRecord(format!("{what} to {subject}: {code}"))
        }
        C::InvalidMessage | C::BadMessage => {
            LogError::CorruptRecord(format!("{what} from {subject}: {code}"))
        }
        C::OperationTimedOut
        | C::RequestTimedOut
        | C::MessageTimedOut
        | C::TimedOutQueue
        | C::AllBrokersDown
        | C::BrokerTransportFailure
        | C::Resolve
        | C::LeaderNotAvailable
        | C::BrokerNotAvailable
        | C::NetworkException
        | C::CoordinatorNotAvailable => unreachable_cluster(what, bootstrap, &code.to_string()),
        C::Authentication
        | C::SaslAuthenticationFailed
        | C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed => LogError::Io(IoError::new(
            ErrorKind::PermissionDenied,
            format!(
                "{what} ({subject}) was refused by the Kafka cluster at bootstrap.servers={bootstrap}: \
                 {code}; check the credentials (sasl.*, ssl.*) and the ACLs of the principal"
            ),
        )),
        _ => LogError::Io(IoError::other(format!("{what} ({subject}): {code}"))),
    }
}

/// A client error as creek's error (see [`from_code`]).
pub(crate) fn from_kafka(e: &KafkaError, subject: &str, what: &str, bootstrap: &str) -> LogError {
    match code_of(e) {
        Some(code) => from_code(code, subject, what, bootstrap),
        None => LogError::Io(IoError::other(format!("{what} ({subject}): {e}"))),
    }
}

/// The cluster did not answer: say where creek looked and what to check.
pub(crate) fn unreachable_cluster(what: &str, bootstrap: &str, detail: &str) -> LogError {
    LogError::Io(IoError::new(
        ErrorKind::TimedOut,
        format!(
            "{what}: the Kafka cluster at bootstrap.servers={bootstrap} did not answer ({detail}); \
             check that the address is right and reachable from here, that the brokers are up, \
             and that security.protocol and the sasl.*/ssl.* properties match the listener"
        ),
    ))
}

/// A call that waited `timeout` for the cluster.
pub(crate) fn timed_out(what: &str, bootstrap: &str, timeout: std::time::Duration) -> LogError {
    unreachable_cluster(what, bootstrap, &format!("no answer within {timeout:?}"))
}

/// What creek cannot do on an external cluster yet.
pub(crate) fn not_supported(what: &str) -> LogError {
    LogError::Io(IoError::new(
        ErrorKind::Unsupported,
        format!("not supported yet on an external Kafka cluster: {what}"),
    ))
}
