//! `BatchBuilder`: writes a RecordBatch v2 directly, record by record, into one
//! buffer — no per-record allocation — for in-process producers (connectors).

use bytes::{BufMut, Bytes, BytesMut};

use crate::batch::HEADER_LEN;
use crate::record::ProducerSequence;

/// An uncompressed RecordBatch v2 under construction.
pub struct BatchBuilder {
    buf: BytesMut,
    scratch: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer: Option<ProducerSequence>,
}

fn varint(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

impl BatchBuilder {
    /// `base_timestamp`: the batch's first timestamp (ms); records carry deltas to it.
    pub fn new(base_timestamp: i64, producer: Option<ProducerSequence>) -> Self {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        buf.put_bytes(0, HEADER_LEN);
        BatchBuilder {
            buf,
            scratch: Vec::with_capacity(64),
            count: 0,
            base_timestamp,
            max_timestamp: base_timestamp,
            producer,
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one record without headers.
    pub fn append(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        let s = &mut self.scratch;
        s.clear();
        s.push(0); // attributes
        varint(s, timestamp - self.base_timestamp);
        varint(s, self.count as i64);
        match key {
            Some(k) => {
                varint(s, k.len() as i64);
                s.extend_from_slice(k);
            }
            None => varint(s, -1),
        }
        let value_len = value.map_or(-1, |v| v.len() as i64);
        varint(s, value_len);
        let body_len = s.len() + value.map_or(0, <[u8]>::len) + 1; // + header count
        let mut len_prefix = Vec::with_capacity(5);
        varint(&mut len_prefix, body_len as i64);
        self.buf.extend_from_slice(&len_prefix);
        self.buf.extend_from_slice(&self.scratch);
        if let Some(v) = value {
            self.buf.extend_from_slice(v);
        }
        self.buf.put_u8(0); // no headers
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    /// Fills in the header and CRC; the base offset is 0 until the log assigns it.
    pub fn finish(mut self) -> Bytes {
        let total = self.buf.len();
        let h = &mut self.buf[..HEADER_LEN];
        h[0..8].copy_from_slice(&0i64.to_be_bytes());
        h[8..12].copy_from_slice(&((total - 12) as i32).to_be_bytes());
        h[12..16].copy_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
        h[16] = 2; // magic
        h[21..23].copy_from_slice(&0i16.to_be_bytes()); // attributes: no compression, create time
        h[23..27].copy_from_slice(&(self.count - 1).max(0).to_be_bytes());
        h[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        let (pid, epoch, seq) = match self.producer {
            Some(p) => (p.producer_id, p.producer_epoch, p.base_sequence),
            None => (-1, -1, -1),
        };
        h[43..51].copy_from_slice(&pid.to_be_bytes());
        h[51..53].copy_from_slice(&epoch.to_be_bytes());
        h[53..57].copy_from_slice(&seq.to_be_bytes());
        h[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&self.buf[21..]);
        self.buf[17..21].copy_from_slice(&crc.to_be_bytes());
        self.buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_records;

    #[test]
    fn built_batches_validate_and_decode() {
        let mut b = BatchBuilder::new(
            1_000,
            Some(ProducerSequence {
                producer_id: 7,
                producer_epoch: 0,
                base_sequence: 10,
            }),
        );
        b.append(1_000, None, Some(b"first"));
        b.append(1_005, Some(b"k"), None);
        b.append(999, None, Some(&[0u8; 300]));
        let bytes = b.finish();
        let headers = crate::batch::validate_batches(&bytes).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].producer_id, 7);
        assert_eq!(headers[0].base_sequence, 10);
        assert_eq!(headers[0].last_sequence(), 12);
        let recs = decode_records(0, bytes, 0).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].value.as_deref(), Some(&b"first"[..]));
        assert_eq!(recs[1].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(recs[1].value, None);
        assert_eq!(recs[1].timestamp, 1_005);
        assert_eq!(recs[2].value.as_ref().unwrap().len(), 300);
        assert_eq!(recs[2].offset, 2);
    }
}
