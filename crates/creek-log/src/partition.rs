//! One partition: an ordered run of segments, the idempotent-producer table, and
//! a wake-up for fetchers waiting on new data.

use crate::now_ms;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::config::{FlushPolicy, TopicConfig};
use crate::segment::{read_at, walk, Segment};
use creek_store::batch::{validate_batches, BatchHeader};
use creek_store::error::{LogError, Result};

/// How many recent batches per producer are remembered for de-duplication (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence is 5).
const PRODUCER_BATCH_MEMORY: usize = 5;

#[derive(Debug, Clone, Copy)]
struct ProducedBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

#[derive(Debug, Default)]
struct ProducerState {
    epoch: i16,
    recent: VecDeque<ProducedBatch>,
}

impl ProducerState {
    fn remember(&mut self, batch: ProducedBatch) {
        if self.recent.len() == PRODUCER_BATCH_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back(batch);
    }
}

struct PartitionState {
    segments: BTreeMap<i64, Segment>,
    producers: HashMap<i64, ProducerState>,
    dirty: bool,
}

impl PartitionState {
    fn active(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a partition always has a segment")
    }
    fn log_start(&self) -> i64 {
        *self
            .segments
            .keys()
            .next()
            .expect("a partition always has a segment")
    }
    fn log_end(&self) -> i64 {
        self.segments
            .values()
            .next_back()
            .map(|s| s.next_offset)
            .unwrap_or(0)
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset given to the first record of the first batch.
    pub base_offset: i64,
    pub log_start_offset: i64,
    /// True if every batch was a retry of one already in the log (idempotent producer).
    pub duplicate: bool,
}

/// Raw batches read from a partition, ready to be sent to a consumer as-is.
#[derive(Debug, Clone)]
pub struct FetchedSlice {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    dir: PathBuf,
    state: Mutex<PartitionState>,
    appended: Notify,
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
}

impl Partition {
    /// Creates an empty partition directory with its first segment.
    pub(crate) fn create(dir: &Path, topic: &str, index: i32) -> Result<Partition> {
        fs::create_dir_all(dir)?;
        let segment = Segment::create(dir, 0)?;
        let mut segments = BTreeMap::new();
        segments.insert(0, segment);
        Ok(Self::from_state(
            dir,
            topic,
            index,
            segments,
            HashMap::new(),
        ))
    }

    fn from_state(
        dir: &Path,
        topic: &str,
        index: i32,
        segments: BTreeMap<i64, Segment>,
        producers: HashMap<i64, ProducerState>,
    ) -> Partition {
        let state = PartitionState {
            segments,
            producers,
            dirty: false,
        };
        let hw = state.log_end();
        let start = state.log_start();
        Partition {
            topic: topic.to_string(),
            index,
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            appended: Notify::new(),
            high_watermark: AtomicI64::new(hw),
            log_start_offset: AtomicI64::new(start),
        }
    }

    /// Opens a partition directory, recovering its active segment and rebuilding the
    /// idempotent-producer table from batch headers.
    pub(crate) fn open(dir: &Path, topic: &str, index: i32) -> Result<Partition> {
        let mut bases: Vec<i64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            }
        }
        bases.sort_unstable();
        if bases.is_empty() {
            warn!(dir = %dir.display(), "partition has no segments; starting it empty");
            return Self::create(dir, topic, index);
        }
        let mut segments = BTreeMap::new();
        let mut producers: HashMap<i64, ProducerState> = HashMap::new();
        for (i, base) in bases.iter().enumerate() {
            let is_active = i + 1 == bases.len();
            let segment = Segment::open(dir, *base, is_active)?;
            let (file, size) = segment.reader();
            let (batches, _, _) = walk(&file, 0, size, false)?;
            for b in batches {
                let h = b.header;
                if h.producer_id >= 0 && !h.is_control() {
                    let p = producers.entry(h.producer_id).or_default();
                    if h.producer_epoch != p.epoch {
                        p.recent.clear();
                    }
                    p.epoch = h.producer_epoch;
                    p.remember(ProducedBatch {
                        first_sequence: h.base_sequence,
                        last_sequence: h.last_sequence(),
                        base_offset: h.base_offset,
                    });
                }
            }
            segments.insert(*base, segment);
        }
        Ok(Self::from_state(dir, topic, index, segments, producers))
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Largest producer id with batches in this partition (for id allocation after restart).
    pub(crate) fn max_producer_id(&self) -> i64 {
        self.state
            .lock()
            .producers
            .keys()
            .copied()
            .max()
            .unwrap_or(-1)
    }

    /// A future that completes on the next append. Create it *before* checking for
    /// data, so an append in between is not missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// Validates and appends the batches of one produce request, assigning offsets.
    /// The bytes are written as received in one run; each batch's broker-owned header
    /// fields are then patched in the file, so the payload is never copied.
    pub fn append(&self, data: impl Into<Bytes>, config: &TopicConfig) -> Result<AppendResult> {
        let data: Bytes = data.into();
        let mut headers = validate_batches(&data)?;
        for h in &headers {
            if h.size > config.max_message_bytes {
                return Err(LogError::RecordTooLarge {
                    size: h.size,
                    max: config.max_message_bytes,
                });
            }
            if h.is_transactional() || h.is_control() {
                return Err(LogError::TransactionsNotSupported);
            }
        }

        let mut state = self.state.lock();
        // Idempotent producers: a retried batch returns its original offset.
        let first = headers[0];
        if first.producer_id >= 0 {
            if let Some(p) = state.producers.get(&first.producer_id) {
                if first.producer_epoch < p.epoch {
                    return Err(LogError::InvalidProducerEpoch {
                        producer_id: first.producer_id,
                        epoch: first.producer_epoch,
                        current: p.epoch,
                    });
                }
                if first.producer_epoch == p.epoch {
                    if let Some(dup) = p.recent.iter().find(|b| {
                        b.first_sequence == first.base_sequence
                            && b.last_sequence == first.last_sequence()
                    }) {
                        return Ok(AppendResult {
                            base_offset: dup.base_offset,
                            log_start_offset: state.log_start(),
                            duplicate: true,
                        });
                    }
                    if let Some(last) = p.recent.back() {
                        let expected = if last.last_sequence == i32::MAX {
                            0
                        } else {
                            last.last_sequence + 1
                        };
                        if first.base_sequence != expected {
                            return Err(LogError::OutOfOrderSequence {
                                producer_id: first.producer_id,
                                expected,
                                got: first.base_sequence,
                            });
                        }
                    }
                }
            }
        }

        // Roll the active segment on size, age, or relative-offset overflow.
        let now = now_ms();
        let needs_roll = {
            let active = state.active();
            let span = headers.iter().map(|h| h.offset_count()).sum::<i64>();
            active.size > 0
                && (active.size + data.len() as u64 > config.segment_bytes.min(i32::MAX as u64)
                    || now - active.created_ms >= config.segment_ms as i64
                    || active.next_offset + span - active.base_offset > u32::MAX as i64)
        };
        if needs_roll {
            let base = state.log_end();
            if config.flush == FlushPolicy::EveryBatch || state.dirty {
                state.active().flush()?;
            }
            let segment = Segment::create(&self.dir, base)?;
            state.segments.insert(base, segment);
        }

        let mut next = state.log_end();
        let base_offset = next;
        for h in headers.iter_mut() {
            h.base_offset = next;
            next += h.offset_count();
        }
        let active = state.active();
        active.append(&data, &headers, config.index_interval_bytes)?;
        if config.flush == FlushPolicy::EveryBatch {
            active.flush()?;
        } else {
            state.dirty = true;
        }
        for h in &headers {
            if h.producer_id >= 0 {
                let p = state.producers.entry(h.producer_id).or_default();
                if h.producer_epoch != p.epoch {
                    p.recent.clear();
                    p.epoch = h.producer_epoch;
                }
                p.remember(ProducedBatch {
                    first_sequence: h.base_sequence,
                    last_sequence: h.last_sequence(),
                    base_offset: h.base_offset,
                });
            }
        }
        let log_start = state.log_start();
        drop(state);
        self.high_watermark.store(next, Ordering::Release);
        self.appended.notify_waiters();
        Ok(AppendResult {
            base_offset,
            log_start_offset: log_start,
            duplicate: false,
        })
    }

    /// Reads whole batches starting with the one holding `offset`, up to `max_bytes`
    /// (but always at least one batch, so an oversized batch cannot stall a consumer).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<FetchedSlice> {
        let state = self.state.lock();
        let log_start = state.log_start();
        let hw = state.log_end();
        if offset < log_start || offset > hw {
            return Err(LogError::OffsetOutOfRange {
                offset,
                start: log_start,
                end: hw,
            });
        }
        let empty = FetchedSlice {
            records: Bytes::new(),
            high_watermark: hw,
            log_start_offset: log_start,
        };
        if offset == hw {
            return Ok(empty);
        }
        let mut found = None;
        for (_, segment) in state
            .segments
            .range(..=offset)
            .next_back()
            .into_iter()
            .chain(state.segments.range(offset + 1..))
        {
            if let Some(located) = segment.locate(offset)? {
                found = Some((segment.reader(), located));
                break;
            }
        }
        drop(state);
        let Some(((file, size), located)) = found else {
            return Ok(empty);
        };
        let available = (size - located.position) as usize;
        let len = available.min(max_bytes.max(located.header.size));
        let raw = read_at(&file, located.position, len)?;
        // Trim to whole batches.
        let mut end = 0;
        while end < raw.len() {
            match BatchHeader::parse(&raw[end..]) {
                Ok(h) if end + h.size <= raw.len() => end += h.size,
                _ => break,
            }
        }
        Ok(FetchedSlice {
            records: raw.slice(..end),
            high_watermark: hw,
            log_start_offset: log_start,
        })
    }

    /// The first offset whose record timestamp is at or after `timestamp`, with that timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let state = self.state.lock();
        let log_start = state.log_start();
        let candidates: Vec<_> = state
            .segments
            .values()
            .filter(|s| s.max_timestamp >= timestamp)
            .map(|s| (s.reader(), s.scan_start_for_timestamp(timestamp)))
            .collect();
        drop(state);
        for ((file, size), start) in candidates {
            let (batches, _, _) = walk(&file, start, size, false)?;
            for b in batches {
                if b.header.max_timestamp < timestamp || b.header.is_control() {
                    continue;
                }
                let mut raw = read_at(&file, b.position, b.header.size)?;
                let set = RecordBatchDecoder::decode(&mut raw).map_err(|e| {
                    LogError::CorruptRecord(format!("cannot decode stored batch: {e}"))
                })?;
                for r in set.records {
                    if r.timestamp >= timestamp && r.offset >= log_start {
                        return Ok(Some((r.offset, r.timestamp)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// fsyncs the active segment if anything was appended since the last flush.
    /// The fsync runs outside the partition's lock: an fsync can take tens of
    /// milliseconds, and appends and reads must not wait for it.
    pub fn flush_if_dirty(&self) -> Result<()> {
        let files = {
            let mut state = self.state.lock();
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            state.active().files()
        };
        if let Err(e) = files.sync() {
            // Still not on disk: the next flush tries again.
            self.state.lock().dirty = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Deletes whole old segments beyond `retention.ms` / `retention.bytes`; the
    /// active segment is never deleted. Returns how many segments went.
    pub fn enforce_retention(&self, config: &TopicConfig, now_ms: i64) -> Result<usize> {
        if config.compacted {
            return Ok(0);
        }
        let mut state = self.state.lock();
        let mut total: u64 = state.segments.values().map(|s| s.size).sum();
        let mut deleted = 0;
        while state.segments.len() > 1 {
            let oldest = state.segments.values().next().unwrap();
            let expired_by_time =
                config.retention_ms >= 0 && oldest.max_timestamp < now_ms - config.retention_ms;
            let expired_by_size = config.retention_bytes >= 0
                && total.saturating_sub(oldest.size) >= config.retention_bytes as u64;
            if !(expired_by_time || expired_by_size) {
                break;
            }
            let base = oldest.base_offset;
            let segment = state.segments.remove(&base).unwrap();
            total -= segment.size;
            segment.delete_files()?;
            deleted += 1;
            info!(topic = %self.topic, partition = self.index, base_offset = base, "retention deleted segment");
        }
        let start = state.log_start();
        drop(state);
        self.log_start_offset.store(start, Ordering::Release);
        Ok(deleted)
    }

    /// Number of segments (for tests and `describe`).
    pub fn segment_count(&self) -> usize {
        self.state.lock().segments.len()
    }

    /// Bytes on disk across all segments.
    pub fn size_bytes(&self) -> u64 {
        self.state.lock().segments.values().map(|s| s.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogConfig;
    use creek_store::testing::encode_batch;

    fn cfg(overrides: &[(&str, &str)]) -> TopicConfig {
        let o = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TopicConfig::resolve(&LogConfig::default(), o).unwrap()
    }

    fn batch(values: &[&str], ts: i64) -> Vec<u8> {
        encode_batch(values, ts, None)
    }

    #[test]
    fn append_assigns_offsets_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::create(dir.path(), "t", 0).unwrap();
        let c = cfg(&[]);
        assert_eq!(p.append(batch(&["a", "b"], 10), &c).unwrap().base_offset, 0);
        assert_eq!(p.append(batch(&["c"], 20), &c).unwrap().base_offset, 2);
        assert_eq!(p.high_watermark(), 3);
        let slice = p.read(2, 1 << 20).unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut slice.records.clone()).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].records[0].offset, 2);
        assert_eq!(sets[0].records[0].value.as_deref(), Some(&b"c"[..]));
        assert!(p.read(3, 100).unwrap().records.is_empty());
        assert!(matches!(
            p.read(4, 100),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        // A small max_bytes still returns one whole batch.
        let one = p.read(0, 1).unwrap();
        assert_eq!(
            BatchHeader::parse(&one.records).unwrap().size,
            one.records.len()
        );
    }

    #[test]
    fn idempotent_retries_are_deduplicated_and_gaps_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::create(dir.path(), "t", 0).unwrap();
        let c = cfg(&[]);
        let b0 = encode_batch(&["a", "b"], 1, Some((42, 0, 0)));
        let b1 = encode_batch(&["c"], 1, Some((42, 0, 2)));
        assert_eq!(p.append(b0.clone(), &c).unwrap().base_offset, 0);
        assert_eq!(p.append(b1.clone(), &c).unwrap().base_offset, 2);
        let retry = p.append(b0, &c).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.base_offset, 0);
        assert_eq!(p.high_watermark(), 3);
        let gap = encode_batch(&["z"], 1, Some((42, 0, 9)));
        assert!(matches!(
            p.append(gap, &c),
            Err(LogError::OutOfOrderSequence { expected: 3, .. })
        ));
        // The table survives a restart.
        drop(p);
        let p = Partition::open(dir.path(), "t", 0).unwrap();
        assert!(p.append(b1, &c).unwrap().duplicate);
        assert_eq!(p.max_producer_id(), 42);
    }

    #[test]
    fn rolls_segments_and_enforces_retention() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::create(dir.path(), "t", 0).unwrap();
        let c = cfg(&[("segment.bytes", "200"), ("retention.bytes", "400")]);
        for i in 0..30 {
            p.append(batch(&["0123456789012345678901234567890123456789"], i), &c)
                .unwrap();
        }
        assert!(p.segment_count() > 3);
        let deleted = p.enforce_retention(&c, now_ms()).unwrap();
        assert!(deleted > 0);
        assert!(p.size_bytes() < 400 + 200);
        let start = p.log_start_offset();
        assert!(start > 0);
        assert!(matches!(
            p.read(0, 100),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(!p.read(start, 100).unwrap().records.is_empty());
        // Time retention removes everything but the active segment.
        let c_time = cfg(&[("retention.ms", "1000")]);
        p.enforce_retention(&c_time, now_ms()).unwrap();
        assert_eq!(p.segment_count(), 1);
        drop(p);
        let p = Partition::open(dir.path(), "t", 0).unwrap();
        assert_eq!(p.high_watermark(), 30);
        assert_eq!(p.segment_count(), 1);
    }

    #[test]
    fn finds_offsets_by_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::create(dir.path(), "t", 0).unwrap();
        let c = cfg(&[]);
        p.append(batch(&["a", "b", "c"], 100), &c).unwrap(); // ts 100,101,102
        p.append(batch(&["d"], 200), &c).unwrap();
        assert_eq!(p.offset_for_timestamp(0).unwrap(), Some((0, 100)));
        assert_eq!(p.offset_for_timestamp(101).unwrap(), Some((1, 101)));
        assert_eq!(p.offset_for_timestamp(150).unwrap(), Some((3, 200)));
        assert_eq!(p.offset_for_timestamp(201).unwrap(), None);
    }
}
