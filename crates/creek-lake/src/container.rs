//! Avro object container files (AvroFormat): the header carries the writer schema,
//! then blocks of datum bodies, each compressed with `avro.codec` and followed by
//! the file's sync marker. The bodies arrive already Avro-encoded, so they are
//! copied, not re-encoded.

use creek_avro::{put_bytes, put_long};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;

use crate::config::ContainerCodec;
use crate::LakeError;

/// Java's `DataFileWriter` closes a block at about 64 KB of data (its sync interval).
const BLOCK_BYTES: usize = 64_000;

pub(crate) struct ContainerWriter {
    codec: ContainerCodec,
    level: flate2::Compression,
    sync: [u8; 16],
    out: Vec<u8>,
    block: Vec<u8>,
    block_count: usize,
}

impl ContainerWriter {
    /// Starts a file whose header names `schema_json` and `codec`.
    pub(crate) fn new(
        schema_json: &str,
        codec: ContainerCodec,
        level: flate2::Compression,
    ) -> Self {
        let sync = sync_marker();
        let mut out = Vec::with_capacity(BLOCK_BYTES);
        out.extend_from_slice(b"Obj\x01");
        // File metadata: a map<bytes> with one block of two entries, then the end.
        put_long(&mut out, 2);
        put_bytes(&mut out, b"avro.schema");
        put_bytes(&mut out, schema_json.as_bytes());
        put_bytes(&mut out, b"avro.codec");
        put_bytes(&mut out, codec.name().as_bytes());
        put_long(&mut out, 0);
        out.extend_from_slice(&sync);
        ContainerWriter {
            codec,
            level,
            sync,
            out,
            block: Vec::with_capacity(BLOCK_BYTES),
            block_count: 0,
        }
    }

    /// Appends one datum body (already validated against the schema).
    pub(crate) fn append(&mut self, body: &[u8]) -> Result<(), LakeError> {
        self.block.extend_from_slice(body);
        self.block_count += 1;
        if self.block.len() >= BLOCK_BYTES {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<(), LakeError> {
        if self.block_count == 0 {
            return Ok(());
        }
        let data = match self.codec {
            ContainerCodec::Null => std::mem::take(&mut self.block),
            ContainerCodec::Deflate => {
                // Avro's deflate is raw DEFLATE (RFC 1951), no zlib header.
                let mut enc = flate2::write::DeflateEncoder::new(
                    Vec::with_capacity(self.block.len() / 2),
                    self.level,
                );
                enc.write_all(&self.block)
                    .and_then(|()| enc.finish())
                    .map_err(|e| LakeError::encode("Avro", e))?
            }
            ContainerCodec::Snappy => {
                // Raw snappy, then the CRC32 of the uncompressed data, big-endian.
                let mut data = snap::raw::Encoder::new()
                    .compress_vec(&self.block)
                    .map_err(|e| LakeError::encode("Avro", e))?;
                data.extend_from_slice(&crc32(&self.block).to_be_bytes());
                data
            }
        };
        put_long(&mut self.out, self.block_count as i64);
        put_long(&mut self.out, data.len() as i64);
        self.out.extend_from_slice(&data);
        self.out.extend_from_slice(&self.sync);
        self.block.clear();
        self.block_count = 0;
        Ok(())
    }

    /// The complete file.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, LakeError> {
        self.flush_block()?;
        Ok(self.out)
    }
}

/// 16 random bytes: the marker only has to be unlikely to appear in the data.
fn sync_marker() -> [u8; 16] {
    let mut sync = [0u8; 16];
    for (i, chunk) in sync.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    sync
}

/// CRC-32 (IEEE 802.3, the one Avro's snappy codec uses), table-driven.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;
    use creek_avro::{put_long as put, put_str};

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    fn write(codec: ContainerCodec, rows: usize) -> Vec<u8> {
        let schema = r#"{"type":"record","name":"r","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"]}]}"#;
        let mut w = ContainerWriter::new(schema, codec, flate2::Compression::default());
        for i in 0..rows {
            let mut body = Vec::new();
            put(&mut body, i as i64);
            put(&mut body, 1);
            put_str(&mut body, &format!("name-{i}"));
            w.append(&body).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn every_codec_is_readable_by_apache_avro() {
        for codec in [
            ContainerCodec::Null,
            ContainerCodec::Deflate,
            ContainerCodec::Snappy,
        ] {
            // Enough rows for several blocks.
            let file = write(codec, 20_000);
            let reader = apache_avro::Reader::new(&file[..]).unwrap();
            let mut n = 0;
            for (i, v) in reader.enumerate() {
                let Value::Record(fields) = v.unwrap() else {
                    panic!()
                };
                assert_eq!(fields[0].1, Value::Long(i as i64));
                assert_eq!(
                    fields[1].1,
                    Value::Union(1, Box::new(Value::String(format!("name-{i}"))))
                );
                n += 1;
            }
            assert_eq!(n, 20_000, "{codec:?}");
        }
    }

    #[test]
    fn header_names_codec_and_schema() {
        let file = write(ContainerCodec::Deflate, 1);
        let reader = apache_avro::Reader::new(&file[..]).unwrap();
        assert!(matches!(
            reader.writer_schema(),
            apache_avro::Schema::Record(_)
        ));
        let text = String::from_utf8_lossy(&file);
        assert!(text.contains("avro.codec") && text.contains("deflate"));
    }
}
