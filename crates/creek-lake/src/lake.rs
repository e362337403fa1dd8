//! [`Lake`]: where finished files go — a local folder (the embedded default) or
//! S3 / an S3-compatible server, both through `object_store`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};

use crate::LakeError;

/// S3 refuses multipart parts below 5 MiB (except the last).
const MIN_PART_SIZE: usize = 5 << 20;
/// How many parts of one object are uploaded at once.
const PART_CONCURRENCY: usize = 4;

/// A bucket in an object store.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    target: Target,
    bucket: String,
    part_size: usize,
}

#[derive(Debug, Clone)]
enum Target {
    /// `DIR/<bucket>` on the local filesystem.
    Local(PathBuf),
    /// S3 (`endpoint` `None`) or an S3-compatible server.
    S3 { endpoint: Option<String> },
}

impl Lake {
    /// `store_url`: `file:///DIR` (objects under `DIR/<bucket>/…`, the directory is
    /// created), `http(s)://host:port` (an S3-compatible endpoint, path-style
    /// requests), or empty for AWS S3. Credentials: `access_key`/`secret_key` when
    /// given, else the usual `AWS_*` environment variables (then the container or
    /// instance credentials). Objects larger than `part_size` (`s3.part.size`) go up
    /// as multipart uploads in parts of that size.
    pub fn open(
        store_url: &str,
        bucket: &str,
        region: &str,
        access_key: Option<&str>,
        secret_key: Option<&str>,
        part_size: usize,
    ) -> Result<Lake, LakeError> {
        check_bucket_name(bucket)?;
        let url = store_url.trim();
        if let Some(rest) = url.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(LakeError::Destination {
                    value: store_url.into(),
                    reason: "file:// needs a directory, e.g. file:///var/lake".into(),
                });
            }
            let dir = PathBuf::from(rest).join(bucket);
            std::fs::create_dir_all(&dir).map_err(|e| LakeError::Destination {
                value: store_url.into(),
                reason: format!("cannot create the bucket directory {}: {e}", dir.display()),
            })?;
            let store =
                LocalFileSystem::new_with_prefix(&dir).map_err(|e| LakeError::Destination {
                    value: store_url.into(),
                    reason: e.to_string(),
                })?;
            return Ok(Lake {
                store: Arc::new(store),
                target: Target::Local(dir),
                bucket: bucket.into(),
                part_size,
            });
        }

        let endpoint = if url.is_empty() {
            None
        } else if url.starts_with("http://") || url.starts_with("https://") {
            Some(url.trim_end_matches('/').to_string())
        } else {
            return Err(LakeError::Destination {
                value: store_url.into(),
                reason: "expected file:///DIR, http(s)://host:port of an S3-compatible server, \
                         or empty for AWS S3"
                    .into(),
            });
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(if region.is_empty() {
                "us-west-2"
            } else {
                region
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    // Generous: one request may carry a whole part.
                    .with_timeout(Duration::from_secs(300)),
            )
            // Fail within about a minute, so that the task is marked FAILED and retried.
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
            });
        if let Some(endpoint) = &endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        match (access_key, secret_key) {
            (Some(id), Some(secret)) if !id.is_empty() => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
            }
            (Some(id), _) if !id.is_empty() => {
                return Err(LakeError::Destination {
                    value: store_url.into(),
                    reason: "aws.access.key.id is set but aws.secret.access.key is not".into(),
                })
            }
            _ => {}
        }
        let store = builder.build().map_err(|e| LakeError::Destination {
            value: if store_url.is_empty() {
                format!("s3://{bucket}")
            } else {
                store_url.into()
            },
            reason: e.to_string(),
        })?;
        Ok(Lake {
            store: Arc::new(store),
            target: Target::S3 { endpoint },
            bucket: bucket.into(),
            part_size: part_size.max(MIN_PART_SIZE),
        })
    }

    /// Where `key` lives, for messages: `s3://bucket/key`, with the endpoint for a
    /// custom server, or the local file path.
    pub fn describe(&self, key: &str) -> String {
        match &self.target {
            Target::Local(dir) => dir.join(key).display().to_string(),
            Target::S3 { endpoint: None } => format!("s3://{}/{key}", self.bucket),
            Target::S3 { endpoint: Some(e) } => format!("s3://{}/{key} at {e}", self.bucket),
        }
    }

    /// The bucket itself, for messages.
    pub fn describe_bucket(&self) -> String {
        match &self.target {
            Target::Local(dir) => dir.display().to_string(),
            Target::S3 { endpoint: None } => format!("s3://{}", self.bucket),
            Target::S3 { endpoint: Some(e) } => format!("s3://{} at {e}", self.bucket),
        }
    }

    /// The local bucket directory, for `file://` lakes.
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        match &self.target {
            Target::Local(dir) => Some(dir),
            Target::S3 { .. } => None,
        }
    }

    fn store_error(&self, op: &'static str, key: &str, e: object_store::Error) -> LakeError {
        LakeError::Store {
            op,
            location: self.describe(key),
            message: explain(&self.bucket, &e),
            source: Some(Box::new(e)),
        }
    }

    /// Writes a whole object so that it is visible only when complete (one PUT or a
    /// completed multipart upload on S3; a temporary file renamed into place
    /// locally); overwrites an object of the same key.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), LakeError> {
        let path = object_path(key)?;
        let local = matches!(self.target, Target::Local(_));
        if local || data.len() <= self.part_size {
            self.store
                .put(&path, PutPayload::from(data))
                .await
                .map_err(|e| self.store_error("writing", key, e))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.store_error("starting the multipart upload of", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut rest = data;
        while !rest.is_empty() {
            let part = rest.split_to(self.part_size.min(rest.len()));
            if let Err(e) = writer.wait_for_capacity(PART_CONCURRENCY).await {
                let _ = writer.abort().await;
                return Err(self.store_error("uploading a part of", key, e));
            }
            writer.put(part);
        }
        // `finish` aborts the upload itself when a part or the completion fails.
        writer
            .finish()
            .await
            .map_err(|e| self.store_error("completing the multipart upload of", key, e))?;
        Ok(())
    }

    /// Lists the keys that start with `prefix` (S3's string-prefix semantics),
    /// sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        // object_store lists whole path segments: list the prefix's directory,
        // then keep the keys that really start with the prefix.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let dir_path = if dir.trim_matches('/').is_empty() {
            None
        } else {
            Some(object_path(dir)?)
        };
        let mut stream = self.store.list(dir_path.as_ref());
        let mut keys = Vec::new();
        while let Some(item) = stream.next().await {
            let meta = item.map_err(|e| self.store_error("listing", prefix, e))?;
            let key = meta.location.to_string();
            if key.starts_with(prefix.trim_start_matches('/')) {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Reads a whole object (for tests and recovery checks).
    pub async fn get(&self, key: &str) -> Result<Bytes, LakeError> {
        let path = object_path(key)?;
        let result = self
            .store
            .get(&path)
            .await
            .map_err(|e| self.store_error("reading", key, e))?;
        result
            .bytes()
            .await
            .map_err(|e| self.store_error("reading", key, e))
    }

    /// Cheap reachability check, used when a connector starts: the bucket exists and
    /// the credentials work (S3: one list request), or the directory is writable.
    pub async fn check(&self) -> Result<(), LakeError> {
        match &self.target {
            Target::Local(dir) => {
                let probe = dir.join(format!(".creek-check-{}", std::process::id()));
                std::fs::write(&probe, b"")
                    .and_then(|()| std::fs::remove_file(&probe))
                    .map_err(|e| LakeError::Store {
                        op: "writing to",
                        location: dir.display().to_string(),
                        message: e.to_string(),
                        source: None,
                    })
            }
            Target::S3 { .. } => {
                let mut stream = self.store.list(None);
                match stream.next().await {
                    None | Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(LakeError::Store {
                        op: "checking",
                        location: self.describe_bucket(),
                        message: explain(&self.bucket, &e),
                        source: Some(Box::new(e)),
                    }),
                }
            }
        }
    }
}

/// The store's message, prefixed with what it most likely means.
fn explain(bucket: &str, e: &object_store::Error) -> String {
    // One line for /status: S3 error bodies are multi-line XML.
    let text = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let hint = if text.contains("NoSuchBucket") {
        Some(format!("bucket {bucket:?} does not exist"))
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("AccessDenied")
        || text.contains("403 Forbidden")
        || matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        )
    {
        Some("the credentials were refused (aws.access.key.id / aws.secret.access.key or AWS_* variables)".to_string())
    } else if text.contains("error sending request")
        || text.contains("connect")
        || text.contains("timed out")
    {
        Some("the endpoint cannot be reached".to_string())
    } else {
        None
    };
    match hint {
        Some(h) => format!("{h}: {text}"),
        None => text,
    }
}

/// Bucket names become a directory name locally: refuse anything that could
/// escape it, and what S3 would refuse anyway.
/// A bucket name that is one safe path segment (also checked by `Lake::open`).
pub fn check_bucket_name(bucket: &str) -> Result<(), LakeError> {
    let ok = !bucket.is_empty()
        && bucket != "."
        && bucket != ".."
        && bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(LakeError::Config {
            key: "s3.bucket.name",
            value: bucket.into(),
            reason: "a bucket name: letters, digits, '.', '-' and '_'".into(),
        })
    }
}

fn object_path(key: &str) -> Result<Path, LakeError> {
    Path::parse(key).map_err(|e| LakeError::Destination {
        value: key.into(),
        reason: format!("not a valid object key: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_put_list_get_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let lake = Lake::open(&url, "bucket", "", None, None, 0).unwrap();
        lake.check().await.unwrap();
        lake.put(
            "topics/t/partition=0/t+0+0000000000.json",
            Bytes::from_static(b"a\n"),
        )
        .await
        .unwrap();
        lake.put(
            "topics/t/partition=0/t+0+0000000001.json",
            Bytes::from_static(b"b\n"),
        )
        .await
        .unwrap();
        lake.put("topics/u/x.json", Bytes::from_static(b"c"))
            .await
            .unwrap();
        // The same key an S3 bucket would get, under DIR/<bucket>/.
        let on_disk = dir
            .path()
            .join("bucket/topics/t/partition=0/t+0+0000000000.json");
        assert_eq!(std::fs::read(on_disk).unwrap(), b"a\n");
        assert_eq!(
            lake.list("topics/t/partition=0/t+0+00000000")
                .await
                .unwrap(),
            vec![
                "topics/t/partition=0/t+0+0000000000.json",
                "topics/t/partition=0/t+0+0000000001.json"
            ]
        );
        assert_eq!(lake.list("topics/").await.unwrap().len(), 3);
        assert_eq!(lake.list("").await.unwrap().len(), 3);
        assert!(lake.list("topics/v").await.unwrap().is_empty());
        lake.put("topics/u/x.json", Bytes::from_static(b"d"))
            .await
            .unwrap();
        assert_eq!(&lake.get("topics/u/x.json").await.unwrap()[..], b"d");
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("bucket/topics/u"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["x.json"]);
    }

    #[test]
    fn bad_destinations_are_clear() {
        let err = Lake::open("ftp://x", "b", "", None, None, 0).unwrap_err();
        assert!(err.to_string().contains("expected file:///DIR"), "{err}");
        let err = Lake::open("file:///tmp", "..", "", None, None, 0).unwrap_err();
        assert!(err.to_string().contains("s3.bucket.name"), "{err}");
        let err = Lake::open("http://127.0.0.1:1", "b", "", Some("id"), None, 0).unwrap_err();
        assert!(err.to_string().contains("aws.secret.access.key"), "{err}");
        assert!(object_path("a//b").is_err());
        assert!(object_path("a/../b").is_err());
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_a_clear_error() {
        // Nothing listens on port 1.
        let lake = Lake::open(
            "http://127.0.0.1:1",
            "bucket",
            "us-east-1",
            Some("AKIDEXAMPLE"),
            Some("secret"),
            25 << 20,
        )
        .unwrap();
        let err = lake.check().await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("checking s3://bucket at http://127.0.0.1:1"),
            "{text}"
        );
        assert!(text.contains("cannot be reached"), "{text}");
    }
}
