//! Waiting on librdkafka: its blocking calls run on tokio's blocking threads
//! ([`run_blocking`]), and the failures a moment fixes are asked again with a
//! doubling pause until a deadline ([`Retry`], [`Backoff`]).

use std::time::Duration;

use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use tokio::time::Instant;

use crate::error::code_of;

/// Which failures of a librdkafka call are asked again.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Retry {
    /// Those a moment fixes: a leader or coordinator moving or loading, a
    /// connection lost, a request that timed out on the broker.
    Transient,
    /// Those, and an unknown topic or partition.
    UnknownTopic,
}

impl Retry {
    pub(crate) fn covers(self, e: &KafkaError) -> bool {
        use RDKafkaErrorCode as C;
        match code_of(e) {
            Some(
                C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::BrokerNotAvailable
                | C::ReplicaNotAvailable
                | C::NotCoordinator
                | C::CoordinatorNotAvailable
                | C::CoordinatorLoadInProgress
                | C::RequestTimedOut
                | C::NetworkException
                | C::UnknownLeaderEpoch
                | C::FencedLeaderEpoch
                | C::OffsetNotAvailable
                | C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::DestroyBroker,
            ) => true,
            Some(C::UnknownTopicOrPartition | C::UnknownPartition | C::UnknownTopic) => {
                self == Retry::UnknownTopic
            }
            _ => false,
        }
    }
}

/// Pauses between attempts: doubling from `first` up to `max`, never past the
/// deadline. What is waited for (metadata a broker has not caught up with, a
/// leader being elected) has no notification to wait on.
pub(crate) struct Backoff {
    deadline: Instant,
    pause: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(within: Duration, first: Duration, max: Duration) -> Backoff {
        Backoff {
            deadline: Instant::now() + within,
            pause: first,
            max,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Waits the next pause; `false` (without waiting) when it would end past the
    /// deadline: time to give up.
    pub(crate) async fn wait(&mut self) -> bool {
        if Instant::now() + self.pause >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(self.max);
        true
    }
}

/// Runs a blocking librdkafka call on tokio's blocking threads. librdkafka
/// bounds the call by the timeout it is given; this bounds the wait for it by a
/// second more, in case a call does not honour it: `None` then. A call that
/// panicked is the `JoinError`.
pub(crate) async fn run_blocking<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce() -> KafkaResult<T> + Send + 'static,
) -> Option<Result<KafkaResult<T>, tokio::task::JoinError>> {
    let task = tokio::task::spawn_blocking(call);
    tokio::time::timeout(timeout + Duration::from_secs(1), task)
        .await
        .ok()
}
