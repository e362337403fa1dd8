//! `Lake` against a real S3-compatible HTTP server: moto's `moto_server`, when it
//! is installed (`pip install 'moto[server]'`); skipped otherwise.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use creek_lake::Lake;

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Option<Moto> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(moto);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// moto does not check signatures, so a bare HTTP PUT creates a bucket.
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn put_list_get_and_multipart_against_moto() {
    let Some(moto) = start_moto() else {
        eprintln!("moto_server is not installed: skipping");
        return;
    };
    let url = format!("http://127.0.0.1:{}", moto.port);
    let open = |bucket: &str| {
        Lake::open(
            &url,
            bucket,
            "us-west-2",
            Some("AKIDEXAMPLE"),
            Some("secret"),
            5 << 20,
        )
        .unwrap()
    };

    let err = open("missing").check().await.unwrap_err().to_string();
    eprintln!("missing bucket: {err}");
    assert!(err.contains("bucket \"missing\" does not exist"), "{err}");

    create_bucket(moto.port, "lake");
    let lake = open("lake");
    lake.check().await.unwrap();
    lake.put(
        "topics/t/partition=0/t+0+0000000000.json",
        Bytes::from_static(b"{}\n"),
    )
    .await
    .unwrap();
    // 12 MiB in 5 MiB parts: a three-part multipart upload.
    let big: Bytes = (0..12 << 20)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    lake.put("topics/t/partition=0/t+0+0000000001.parquet", big.clone())
        .await
        .unwrap();
    assert_eq!(
        lake.list("topics/t/partition=0/").await.unwrap(),
        vec![
            "topics/t/partition=0/t+0+0000000000.json",
            "topics/t/partition=0/t+0+0000000001.parquet"
        ]
    );
    assert_eq!(
        lake.get("topics/t/partition=0/t+0+0000000001.parquet")
            .await
            .unwrap(),
        big
    );
}
