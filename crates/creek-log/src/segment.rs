//! One segment of a partition: `<base>.log` holding RecordBatch v2 bytes, plus a
//! sparse offset index (`.index`: relative offset u32, position u32) and a time
//! index (`.timeindex`: max timestamp so far i64, relative offset u32).
//!
//! Both indexes live in memory and are appended to their files as batches arrive.
//! They are advisory: a missing or inconsistent index is rebuilt from the log file.

use crate::now_ms;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tracing::warn;

use creek_store::batch::{broker_fields, crc_matches, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    relative_offset: u32,
    position: u32,
}

#[derive(Debug, Clone, Copy)]
struct TimeEntry {
    timestamp: i64,
    relative_offset: u32,
}

pub(crate) struct Segment {
    pub base_offset: i64,
    log_path: PathBuf,
    file: Arc<File>,
    /// Bytes of complete batches in the file.
    pub size: u64,
    /// Offset after the last batch of the segment.
    pub next_offset: i64,
    /// Largest batch max-timestamp seen; -1 for an empty segment.
    pub max_timestamp: i64,
    /// Wall-clock creation time, for `segment.ms` rolls.
    pub created_ms: i64,
    offset_index: Vec<IndexEntry>,
    time_index: Vec<TimeEntry>,
    index_file: Arc<File>,
    time_index_file: Arc<File>,
    bytes_since_index: u64,
    /// The last batches appended, oldest first: a consumer at the tail (a live
    /// pipeline asks for the batch it was just woken for) is answered from
    /// memory instead of reading headers from the index entry on.
    recent: VecDeque<Located>,
    /// Reused for patching small appends before their one write.
    scratch: Vec<u8>,
}

/// Appends up to this size are patched in memory and written with one call;
/// larger ones are written as received and patched in place (no big copy).
const PATCH_IN_MEMORY: usize = 64 * 1024;

/// How many of the last appended batches a segment remembers.
const RECENT_BATCHES: usize = 64;

/// A segment's log and index files, shared with the segment.
pub(crate) struct SegmentFiles([Arc<File>; 3]);

impl SegmentFiles {
    pub fn sync(&self) -> io::Result<()> {
        for f in &self.0 {
            f.sync_data()?;
        }
        Ok(())
    }
}

/// A located batch: its header and position in the segment file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located {
    pub position: u64,
    pub header: BatchHeader,
}

pub(crate) fn segment_file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Walks batch headers of a log file from `start`, stopping at the first torn or
/// (if `verify`) corrupt batch. Returns the batches and where valid data ends.
pub(crate) fn walk(
    file: &File,
    start: u64,
    file_len: u64,
    verify: bool,
) -> io::Result<(Vec<Located>, u64, Option<String>)> {
    let mut expected_base: Option<i64> = None;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(start))?;
    let mut pos = start;
    let mut found = Vec::new();
    let mut header_buf = [0u8; HEADER_LEN];
    let mut body = Vec::new();
    let mut problem = None;
    while pos < file_len {
        if file_len - pos < HEADER_LEN as u64 {
            problem = Some(format!(
                "{} trailing bytes too short for a batch header",
                file_len - pos
            ));
            break;
        }
        reader.read_exact(&mut header_buf)?;
        let header = match BatchHeader::parse(&header_buf) {
            Ok(h) => h,
            Err(e) => {
                problem = Some(e.to_string());
                break;
            }
        };
        if pos + header.size as u64 > file_len {
            problem = Some(format!("batch at offset {} is torn", header.base_offset));
            break;
        }
        if verify && expected_base.is_some_and(|e| e != header.base_offset) {
            problem = Some(format!(
                "batch at position {pos} has base offset {} where {} was expected (its offsets were never assigned)",
                header.base_offset,
                expected_base.unwrap_or_default()
            ));
            break;
        }
        expected_base = Some(header.last_offset() + 1);
        if verify {
            body.clear();
            body.extend_from_slice(&header_buf);
            body.resize(header.size, 0);
            reader.read_exact(&mut body[HEADER_LEN..])?;
            if !crc_matches(&body, &header) {
                problem = Some(format!(
                    "batch at offset {} fails its CRC check",
                    header.base_offset
                ));
                break;
            }
        } else {
            reader.seek_relative((header.size - HEADER_LEN) as i64)?;
        }
        found.push(Located {
            position: pos,
            header,
        });
        pos += header.size as u64;
    }
    Ok((found, pos, problem))
}

impl Segment {
    /// Creates a new, empty segment.
    pub fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        let log_path = dir.join(segment_file_name(base_offset, "log"));
        let file = open_rw(&log_path)?;
        file.set_len(0)?;
        let index_file = open_rw(&dir.join(segment_file_name(base_offset, "index")))?;
        index_file.set_len(0)?;
        let time_index_file = open_rw(&dir.join(segment_file_name(base_offset, "timeindex")))?;
        time_index_file.set_len(0)?;
        Ok(Segment {
            base_offset,
            log_path,
            file: Arc::new(file),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            created_ms: now_ms(),
            offset_index: Vec::new(),
            time_index: Vec::new(),
            index_file: Arc::new(index_file),
            time_index_file: Arc::new(time_index_file),
            bytes_since_index: 0,
            recent: VecDeque::new(),
            scratch: Vec::new(),
        })
    }

    /// Opens an existing segment. `is_active` segments have their tail CRC-checked and
    /// a torn or corrupt tail truncated.
    pub fn open(dir: &Path, base_offset: i64, is_active: bool) -> io::Result<Segment> {
        let log_path = dir.join(segment_file_name(base_offset, "log"));
        let index_path = dir.join(segment_file_name(base_offset, "index"));
        let time_path = dir.join(segment_file_name(base_offset, "timeindex"));
        let file = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let file_len = file.metadata()?.len();
        let created_ms = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or_else(now_ms);

        let index_existed = index_path.exists() && time_path.exists();
        let mut index_file = open_rw(&index_path)?;
        let mut time_index_file = open_rw(&time_path)?;
        let mut offset_index = Vec::new();
        let mut time_index = Vec::new();
        let mut index_ok = index_existed;
        if index_existed {
            let mut raw = Vec::new();
            index_file.read_to_end(&mut raw)?;
            for chunk in raw.chunks_exact(8) {
                let entry = IndexEntry {
                    relative_offset: u32::from_be_bytes(chunk[0..4].try_into().unwrap()),
                    position: u32::from_be_bytes(chunk[4..8].try_into().unwrap()),
                };
                let monotonic = offset_index.last().is_none_or(|l: &IndexEntry| {
                    l.relative_offset < entry.relative_offset && l.position < entry.position
                });
                if !monotonic {
                    index_ok = false;
                    break;
                }
                if (entry.position as u64) < file_len {
                    offset_index.push(entry);
                }
            }
            raw.clear();
            time_index_file.read_to_end(&mut raw)?;
            for chunk in raw.chunks_exact(12) {
                time_index.push(TimeEntry {
                    timestamp: i64::from_be_bytes(chunk[0..8].try_into().unwrap()),
                    relative_offset: u32::from_be_bytes(chunk[8..12].try_into().unwrap()),
                });
            }
        }
        if !index_ok {
            if index_existed {
                warn!(file = %index_path.display(), "offset index is inconsistent; rebuilding it");
            } else {
                warn!(file = %log_path.display(), "segment indexes are missing; rebuilding them");
            }
            offset_index.clear();
            time_index.clear();
        }

        let mut segment = Segment {
            base_offset,
            log_path,
            file: Arc::new(file),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            created_ms,
            offset_index,
            time_index,
            index_file: Arc::new(index_file),
            time_index_file: Arc::new(time_index_file),
            bytes_since_index: 0,
            recent: VecDeque::new(),
            scratch: Vec::new(),
        };
        let scan_from = segment
            .offset_index
            .last()
            .map(|e| e.position as u64)
            .unwrap_or(0);
        let (batches, valid_end, problem) =
            walk(&segment.file, scan_from, file_len, is_active || !index_ok)?;
        if batches.is_empty() && scan_from > 0 {
            // The last indexed batch itself is damaged: we cannot tell where the batch
            // before it ended without a full scan, so rebuild the indexes from scratch.
            drop(segment);
            fs::remove_file(&index_path)?;
            return Segment::open(dir, base_offset, is_active);
        }
        if let Some(problem) = problem {
            let offset = batches
                .last()
                .map(|b| b.header.last_offset() + 1)
                .unwrap_or(base_offset);
            warn!(
                file = %segment.log_path.display(),
                position = valid_end,
                offset,
                "truncating corrupt log tail: {problem}"
            );
            segment.file.set_len(valid_end)?;
        }
        segment.size = valid_end;
        segment.max_timestamp = segment.time_index.last().map(|t| t.timestamp).unwrap_or(-1);
        if !index_ok {
            // Rebuild both indexes from scratch as if every batch were appended anew.
            segment.index_file.set_len(0)?;
            segment.time_index_file.set_len(0)?;
        }
        for b in &batches {
            segment.note_appended(b.position, &b.header, 4096)?;
        }
        if let Some(last) = batches.last() {
            segment.next_offset = last.header.last_offset() + 1;
        }
        // Drop index entries that point past the (possibly truncated) end.
        segment
            .offset_index
            .retain(|e| (e.position as u64) < valid_end);
        let next_rel = segment.next_offset - base_offset;
        segment
            .time_index
            .retain(|t| (t.relative_offset as i64) < next_rel);
        if batches.is_empty() && valid_end == 0 {
            segment.max_timestamp = -1;
        }
        // Make the on-disk indexes match the in-memory ones after any truncation.
        segment.rewrite_index_files()?;
        Ok(segment)
    }

    fn rewrite_index_files(&mut self) -> io::Result<()> {
        let mut raw = Vec::with_capacity(self.offset_index.len() * 8);
        for e in &self.offset_index {
            raw.extend_from_slice(&e.relative_offset.to_be_bytes());
            raw.extend_from_slice(&e.position.to_be_bytes());
        }
        self.index_file.set_len(0)?;
        self.index_file.write_all_at(&raw, 0)?;
        let mut raw = Vec::with_capacity(self.time_index.len() * 12);
        for e in &self.time_index {
            raw.extend_from_slice(&e.timestamp.to_be_bytes());
            raw.extend_from_slice(&e.relative_offset.to_be_bytes());
        }
        self.time_index_file.set_len(0)?;
        self.time_index_file.write_all_at(&raw, 0)?;
        (&*self.index_file).seek(SeekFrom::End(0))?;
        (&*self.time_index_file).seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Updates indexes and counters for a batch written at `position`.
    ///
    /// Every `index_interval` bytes both indexes get an entry at this batch: the
    /// offset index maps its base offset to its position, and the time index records
    /// the largest timestamp of everything before it. So on reopen the largest
    /// timestamp is the last time entry combined with a scan from the last offset entry.
    fn note_appended(
        &mut self,
        position: u64,
        header: &BatchHeader,
        index_interval: u64,
    ) -> io::Result<()> {
        let relative_offset = (header.base_offset - self.base_offset) as u32;
        if self.bytes_since_index >= index_interval && position > 0 {
            let entry = IndexEntry {
                relative_offset,
                position: position as u32,
            };
            let mut raw = [0u8; 8];
            raw[0..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
            raw[4..8].copy_from_slice(&entry.position.to_be_bytes());
            (&*self.index_file).write_all(&raw)?;
            self.offset_index.push(entry);
            self.bytes_since_index = 0;
            if self
                .time_index
                .last()
                .is_none_or(|t| t.timestamp < self.max_timestamp)
            {
                let entry = TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset,
                };
                let mut raw = [0u8; 12];
                raw[0..8].copy_from_slice(&entry.timestamp.to_be_bytes());
                raw[8..12].copy_from_slice(&entry.relative_offset.to_be_bytes());
                (&*self.time_index_file).write_all(&raw)?;
                self.time_index.push(entry);
            }
        }
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        if self.recent.len() == RECENT_BATCHES {
            self.recent.pop_front();
        }
        self.recent.push_back(Located {
            position,
            header: *header,
        });
        self.bytes_since_index += header.size as u64;
        self.size = self.size.max(position + header.size as u64);
        self.next_offset = header.last_offset() + 1;
        Ok(())
    }

    /// Appends validated batches in one write, then patches each batch's
    /// broker-owned header fields with the offsets in `headers`. Until a batch is
    /// patched it carries the producer's base offset, which recovery detects as a
    /// break in offset continuity and truncates (it was never acknowledged).
    pub fn append(
        &mut self,
        data: &[u8],
        headers: &[BatchHeader],
        index_interval: u64,
    ) -> io::Result<()> {
        let start = self.size;
        if data.len() <= PATCH_IN_MEMORY {
            // A small append (a live producer's few records) is patched in a copy
            // and written once: one system call instead of one per batch more. A
            // crash mid-write leaves a torn tail, which recovery truncates as it
            // would an unpatched batch.
            self.scratch.clear();
            self.scratch.extend_from_slice(data);
            let mut pos = 0;
            for h in headers {
                let fields = broker_fields(h.base_offset, (h.size - LOG_OVERHEAD) as i32);
                self.scratch[pos..pos + fields.len()].copy_from_slice(&fields);
                pos += h.size;
            }
            self.file.write_all_at(&self.scratch, start)?;
        } else {
            self.file.write_all_at(data, start)?;
            let mut pos = start;
            for h in headers {
                let fields = broker_fields(h.base_offset, (h.size - LOG_OVERHEAD) as i32);
                self.file.write_all_at(&fields, pos)?;
                pos += h.size as u64;
            }
        }
        let mut pos = start;
        for h in headers {
            self.note_appended(pos, h, index_interval)?;
            pos += h.size as u64;
        }
        self.size = start + data.len() as u64;
        Ok(())
    }

    /// Finds the batch holding `offset`, or `None` if the segment ends before it.
    pub fn locate(&self, offset: i64) -> io::Result<Option<Located>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        if let Some(first) = self.recent.front() {
            if offset >= first.header.base_offset {
                let i = self
                    .recent
                    .partition_point(|b| b.header.last_offset() < offset);
                return Ok(self.recent.get(i).copied());
            }
        }
        let rel = (offset.max(self.base_offset) - self.base_offset) as u32;
        let idx = self
            .offset_index
            .partition_point(|e| e.relative_offset <= rel);
        let mut pos = if idx == 0 {
            0
        } else {
            self.offset_index[idx - 1].position as u64
        };
        let mut buf = [0u8; HEADER_LEN];
        while pos < self.size {
            self.file.read_exact_at(&mut buf, pos)?;
            let header = BatchHeader::parse(&buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if header.last_offset() >= offset {
                return Ok(Some(Located {
                    position: pos,
                    header,
                }));
            }
            pos += header.size as u64;
        }
        Ok(None)
    }

    /// The file handle and valid size, so a reader can copy bytes without the partition lock.
    pub fn reader(&self) -> (Arc<File>, u64) {
        (self.file.clone(), self.size)
    }

    /// Position of the first batch whose max timestamp may reach `timestamp`.
    pub fn scan_start_for_timestamp(&self, timestamp: i64) -> u64 {
        let idx = self.time_index.partition_point(|t| t.timestamp < timestamp);
        if idx == 0 {
            return 0;
        }
        let rel = self.time_index[idx - 1].relative_offset;
        let i = self
            .offset_index
            .partition_point(|e| e.relative_offset <= rel);
        if i == 0 {
            0
        } else {
            self.offset_index[i - 1].position as u64
        }
    }

    pub fn flush(&self) -> io::Result<()> {
        self.files().sync()
    }

    /// The segment's open files, to fsync without holding the partition's lock.
    pub fn files(&self) -> SegmentFiles {
        SegmentFiles([
            self.file.clone(),
            self.index_file.clone(),
            self.time_index_file.clone(),
        ])
    }

    pub fn delete_files(&self) -> io::Result<()> {
        let dir = self.log_path.parent().unwrap_or(Path::new("."));
        for ext in ["log", "index", "timeindex"] {
            match fs::remove_file(dir.join(segment_file_name(self.base_offset, ext))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Reads `len` bytes at `position` from a segment file.
pub(crate) fn read_at(file: &File, position: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    file.read_exact_at(&mut buf, position)?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use creek_store::batch::{assign_offset, BatchHeader};
    use creek_store::testing::encode_batch;

    fn append_values(seg: &mut Segment, offset: i64, values: &[&str], ts: i64) {
        let mut b = encode_batch(values, ts, None);
        assign_offset(&mut b, offset);
        let h = BatchHeader::parse(&b).unwrap();
        seg.append(&b, &[h], 64).unwrap();
    }

    #[test]
    fn recent_batches_answer_as_the_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0).unwrap();
        for i in 0..(RECENT_BATCHES as i64 * 3) {
            append_values(&mut seg, i * 2, &["aaaaaaaaaa", "bbbbbbbbbb"], 1000 + i);
        }
        let remembered: Vec<_> = (0..seg.next_offset + 2)
            .map(|o| seg.locate(o).unwrap().map(|l| (l.position, l.header)))
            .collect();
        seg.recent.clear();
        let from_file: Vec<_> = (0..seg.next_offset + 2)
            .map(|o| seg.locate(o).unwrap().map(|l| (l.position, l.header)))
            .collect();
        assert_eq!(remembered, from_file);
        assert!(remembered[..seg.next_offset as usize]
            .iter()
            .all(|l| l.is_some()));
    }

    #[test]
    fn large_appends_are_patched_in_place_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0).unwrap();
        let big = "x".repeat(PATCH_IN_MEMORY);
        append_values(&mut seg, 0, &["small"], 1000);
        append_values(&mut seg, 1, &[&big, &big], 1001);
        append_values(&mut seg, 3, &["small"], 1002);
        let size = seg.size;
        drop(seg);
        let seg = Segment::open(dir.path(), 0, true).unwrap();
        assert_eq!((seg.size, seg.next_offset), (size, 4));
        assert_eq!(seg.locate(2).unwrap().unwrap().header.base_offset, 1);
        assert_eq!(seg.locate(3).unwrap().unwrap().header.base_offset, 3);
    }

    #[test]
    fn append_locate_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 100).unwrap();
        let mut off = 100;
        for i in 0..50 {
            append_values(&mut seg, off, &["aaaaaaaaaa", "bbbbbbbbbb"], 1000 + i);
            off += 2;
        }
        assert_eq!(seg.next_offset, 200);
        let l = seg.locate(151).unwrap().unwrap();
        assert_eq!(l.header.base_offset, 150);
        assert!(seg.locate(200).unwrap().is_none());
        let size = seg.size;
        drop(seg);

        let seg = Segment::open(dir.path(), 100, true).unwrap();
        assert_eq!(seg.size, size);
        assert_eq!(seg.next_offset, 200);
        assert_eq!(seg.max_timestamp, 1049 + 1);
        assert_eq!(seg.locate(177).unwrap().unwrap().header.base_offset, 176);
    }

    #[test]
    fn torn_tail_is_truncated_and_missing_index_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0).unwrap();
        for i in 0..20 {
            append_values(&mut seg, i, &["value"], i);
        }
        let good = seg.size;
        drop(seg);
        // A torn write: half a batch at the end.
        let path = dir.path().join(segment_file_name(0, "log"));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let mut b = encode_batch(&["torn"], 99, None);
        assign_offset(&mut b, 20);
        f.write_all(&b[..b.len() / 2]).unwrap();
        drop(f);
        fs::remove_file(dir.path().join(segment_file_name(0, "index"))).unwrap();

        let seg = Segment::open(dir.path(), 0, true).unwrap();
        assert_eq!(seg.size, good);
        assert_eq!(seg.next_offset, 20);
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        assert_eq!(seg.locate(13).unwrap().unwrap().header.base_offset, 13);
    }

    #[test]
    fn batch_written_but_not_yet_given_offsets_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0).unwrap();
        for i in 0..5 {
            append_values(&mut seg, i, &["v"], i);
        }
        let good = seg.size;
        drop(seg);
        // A crash between writing the producer's bytes and patching their offsets
        // leaves the client's base offset (0) in place.
        let path = dir.path().join(segment_file_name(0, "log"));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&encode_batch(&["unacked"], 9, None)).unwrap();
        drop(f);
        let seg = Segment::open(dir.path(), 0, true).unwrap();
        assert_eq!(seg.size, good);
        assert_eq!(seg.next_offset, 5);
    }

    #[test]
    fn corrupt_crc_in_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0).unwrap();
        append_values(&mut seg, 0, &["one"], 1);
        let first = seg.size;
        append_values(&mut seg, 1, &["two"], 2);
        let total = seg.size;
        drop(seg);
        let path = dir.path().join(segment_file_name(0, "log"));
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xAB], total - 1).unwrap();
        let seg = Segment::open(dir.path(), 0, true).unwrap();
        assert_eq!(seg.size, first);
        assert_eq!(seg.next_offset, 1);
    }
}
