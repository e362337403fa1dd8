//! Format settings: which file format, which codec, and the object-name extension
//! Confluent's S3 sink gives each combination.

use crate::LakeError;

/// The file formats of Confluent's `format.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    /// `io.confluent.connect.s3.format.parquet.ParquetFormat`
    Parquet,
    /// `io.confluent.connect.s3.format.json.JsonFormat`
    Json,
    /// `io.confluent.connect.s3.format.avro.AvroFormat`
    Avro,
    /// `io.confluent.connect.s3.format.bytearray.ByteArrayFormat`
    ByteArray,
}

impl FormatKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FormatKind::Parquet => "ParquetFormat",
            FormatKind::Json => "JsonFormat",
            FormatKind::Avro => "AvroFormat",
            FormatKind::ByteArray => "ByteArrayFormat",
        }
    }
}

/// Everything that decides a file's bytes and name, from the connector config.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatConfig {
    pub kind: FormatKind,
    /// `parquet.codec`: none, snappy (default), gzip, lz4, zstd, brotli (lzo: not supported yet).
    pub parquet_codec: String,
    /// `s3.compression.type` for JsonFormat and ByteArrayFormat: none (default) or gzip.
    pub compression: String,
    /// `s3.compression.level`: -1 (zlib's default) or 0..=9.
    pub compression_level: i32,
    /// `avro.codec`: null (default), deflate, snappy (bzip2: not supported yet).
    pub avro_codec: String,
    /// `format.bytearray.separator`, written after every value (default "\n").
    pub bytearray_separator: Vec<u8>,
    /// `format.bytearray.extension` (default ".bin").
    pub bytearray_extension: String,
    /// Schemaless JSON records become Parquet with a schema inferred per file.
    pub infer_schema: bool,
    /// `json.decimal.format` for Avro decimals in JsonFormat: BASE64 (default) or NUMERIC.
    pub json_decimal_format: String,
    /// Whether a record that fails to convert must leave the file untouched, so the
    /// caller can skip it and go on (errors.tolerance=all). Costs a checking pass
    /// over each Avro body before decoding it into Parquet columns; without it a
    /// failed record breaks the file, which callers that fail the task discard anyway.
    pub atomic_appends: bool,
}

impl FormatConfig {
    /// Confluent's defaults for `kind` (plus schema inference on).
    pub fn new(kind: FormatKind) -> Self {
        FormatConfig {
            kind,
            parquet_codec: "snappy".into(),
            compression: "none".into(),
            compression_level: -1,
            avro_codec: "null".into(),
            bytearray_separator: b"\n".to_vec(),
            bytearray_extension: ".bin".into(),
            infer_schema: true,
            json_decimal_format: "BASE64".into(),
            atomic_appends: true,
        }
    }

    /// Checks every setting; the messages name Confluent's config keys.
    pub fn validate(&self) -> Result<(), LakeError> {
        self.parquet_compression()?;
        self.stream_compression()?;
        self.container_codec()?;
        self.decimal_numeric()?;
        if !(-1..=9).contains(&self.compression_level) {
            return Err(LakeError::Config {
                key: "s3.compression.level",
                value: self.compression_level.to_string(),
                reason: "must be -1 (default) or between 0 and 9".into(),
            });
        }
        if !self.bytearray_extension.is_empty() && self.bytearray_extension.contains('/') {
            return Err(LakeError::Config {
                key: "format.bytearray.extension",
                value: self.bytearray_extension.clone(),
                reason: "must not contain '/'".into(),
            });
        }
        Ok(())
    }

    /// The object-name suffix, as Confluent's record writer providers build it:
    /// `.snappy.parquet` (the Parquet codec's own extension, none for `none`),
    /// `.json` / `.json.gz`, `.avro`, `.bin` / `.bin.gz`.
    pub fn extension(&self) -> String {
        let gz = match self.stream_compression() {
            Ok(StreamCompression::Gzip) => ".gz",
            _ => "",
        };
        match self.kind {
            FormatKind::Parquet => {
                let codec = self
                    .parquet_compression()
                    .map(|c| c.extension())
                    .unwrap_or("");
                format!("{codec}.parquet")
            }
            FormatKind::Json => format!(".json{gz}"),
            FormatKind::Avro => ".avro".into(),
            FormatKind::ByteArray => format!("{}{gz}", self.bytearray_extension),
        }
    }

    pub(crate) fn parquet_compression(&self) -> Result<ParquetCodec, LakeError> {
        let codec = match self.parquet_codec.to_ascii_lowercase().as_str() {
            "none" | "uncompressed" => ParquetCodec::None,
            "snappy" => ParquetCodec::Snappy,
            "gzip" => ParquetCodec::Gzip,
            "lz4" => ParquetCodec::Lz4,
            "zstd" => ParquetCodec::Zstd,
            "brotli" => ParquetCodec::Brotli,
            "lzo" => {
                return Err(LakeError::not_supported(
                    "parquet.codec=lzo (use snappy, gzip, lz4, zstd, brotli or none)",
                ))
            }
            _ => {
                return Err(LakeError::Config {
                    key: "parquet.codec",
                    value: self.parquet_codec.clone(),
                    reason: "expected one of none, snappy, gzip, lz4, zstd, brotli".into(),
                })
            }
        };
        Ok(codec)
    }

    pub(crate) fn stream_compression(&self) -> Result<StreamCompression, LakeError> {
        match self.compression.to_ascii_lowercase().as_str() {
            "none" | "" => Ok(StreamCompression::None),
            "gzip" => Ok(StreamCompression::Gzip),
            _ => Err(LakeError::Config {
                key: "s3.compression.type",
                value: self.compression.clone(),
                reason: "expected none or gzip".into(),
            }),
        }
    }

    pub(crate) fn container_codec(&self) -> Result<ContainerCodec, LakeError> {
        match self.avro_codec.to_ascii_lowercase().as_str() {
            "null" | "" => Ok(ContainerCodec::Null),
            "deflate" => Ok(ContainerCodec::Deflate),
            "snappy" => Ok(ContainerCodec::Snappy),
            "bzip2" => Err(LakeError::not_supported(
                "avro.codec=bzip2 (use null, deflate or snappy)",
            )),
            _ => Err(LakeError::Config {
                key: "avro.codec",
                value: self.avro_codec.clone(),
                reason: "expected one of null, deflate, snappy".into(),
            }),
        }
    }

    /// True for `json.decimal.format=NUMERIC`, false for BASE64.
    pub(crate) fn decimal_numeric(&self) -> Result<bool, LakeError> {
        match self.json_decimal_format.to_ascii_uppercase().as_str() {
            "BASE64" | "" => Ok(false),
            "NUMERIC" => Ok(true),
            _ => Err(LakeError::Config {
                key: "json.decimal.format",
                value: self.json_decimal_format.clone(),
                reason: "expected BASE64 or NUMERIC".into(),
            }),
        }
    }

    /// The zlib level for gzip and deflate (-1 = the library default, 6).
    pub(crate) fn zlib_level(&self) -> flate2::Compression {
        match self.compression_level {
            0..=9 => flate2::Compression::new(self.compression_level as u32),
            _ => flate2::Compression::default(),
        }
    }
}

impl Default for FormatConfig {
    /// Parquet with Confluent's defaults; use [`FormatConfig::new`] for another kind.
    fn default() -> Self {
        FormatConfig::new(FormatKind::Parquet)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParquetCodec {
    None,
    Snappy,
    Gzip,
    Lz4,
    Zstd,
    Brotli,
}

impl ParquetCodec {
    /// parquet-java's `CompressionCodecName.getExtension()`, which Confluent puts
    /// before `.parquet`.
    fn extension(self) -> &'static str {
        match self {
            ParquetCodec::None => "",
            ParquetCodec::Snappy => ".snappy",
            ParquetCodec::Gzip => ".gz",
            // parquet-java's LZ4 is the Hadoop-framed codec (parquet-rs writes the same).
            ParquetCodec::Lz4 => ".lz4hadoop",
            ParquetCodec::Zstd => ".zstd",
            ParquetCodec::Brotli => ".br",
        }
    }

    pub(crate) fn to_parquet(self) -> parquet::basic::Compression {
        use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
        match self {
            ParquetCodec::None => Compression::UNCOMPRESSED,
            ParquetCodec::Snappy => Compression::SNAPPY,
            ParquetCodec::Gzip => Compression::GZIP(GzipLevel::default()),
            ParquetCodec::Lz4 => Compression::LZ4,
            ParquetCodec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            ParquetCodec::Brotli => Compression::BROTLI(BrotliLevel::default()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamCompression {
    None,
    Gzip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContainerCodec {
    Null,
    Deflate,
    Snappy,
}

impl ContainerCodec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ContainerCodec::Null => "null",
            ContainerCodec::Deflate => "deflate",
            ContainerCodec::Snappy => "snappy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(kind: FormatKind, f: impl FnOnce(&mut FormatConfig)) -> FormatConfig {
        let mut c = FormatConfig::new(kind);
        f(&mut c);
        c
    }

    #[test]
    fn extensions_follow_confluent() {
        assert_eq!(
            FormatConfig::new(FormatKind::Parquet).extension(),
            ".snappy.parquet"
        );
        let ext =
            |codec: &str| with(FormatKind::Parquet, |c| c.parquet_codec = codec.into()).extension();
        assert_eq!(ext("none"), ".parquet");
        assert_eq!(ext("gzip"), ".gz.parquet");
        assert_eq!(ext("zstd"), ".zstd.parquet");
        assert_eq!(ext("brotli"), ".br.parquet");
        assert_eq!(ext("lz4"), ".lz4hadoop.parquet");
        assert_eq!(FormatConfig::new(FormatKind::Json).extension(), ".json");
        assert_eq!(
            with(FormatKind::Json, |c| c.compression = "gzip".into()).extension(),
            ".json.gz"
        );
        assert_eq!(
            with(FormatKind::Avro, |c| c.avro_codec = "snappy".into()).extension(),
            ".avro"
        );
        assert_eq!(FormatConfig::new(FormatKind::ByteArray).extension(), ".bin");
        assert_eq!(
            with(FormatKind::ByteArray, |c| c.compression = "gzip".into()).extension(),
            ".bin.gz"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let err = with(FormatKind::Parquet, |c| c.parquet_codec = "lzo".into())
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not supported yet: parquet.codec=lzo (use snappy, gzip, lz4, zstd, brotli or none)"
        );
        let err = with(FormatKind::Json, |c| c.compression = "bzip".into())
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("s3.compression.type"), "{err}");
        let err = with(FormatKind::Avro, |c| c.avro_codec = "xz".into())
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("avro.codec"), "{err}");
        let err = with(FormatKind::Avro, |c| c.avro_codec = "bzip2".into())
            .validate()
            .unwrap_err();
        assert!(err.to_string().starts_with("not supported yet"), "{err}");
        let err = with(FormatKind::Json, |c| c.compression_level = 10)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("s3.compression.level"), "{err}");
        for kind in [
            FormatKind::Parquet,
            FormatKind::Json,
            FormatKind::Avro,
            FormatKind::ByteArray,
        ] {
            FormatConfig::new(kind).validate().unwrap();
        }
    }
}
