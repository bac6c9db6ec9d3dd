//! A real S3-compatible server for the tests: `s3s-fs` (checks request signatures) on
//! loopback, serving the buckets under a local directory (bucket `b`, key `k` is the file
//! `<root>/b/k`, so a test can also inspect what is stored).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "liverec-test";
pub const SECRET: &str = "liverec-test-secret-7f3a";

/// The s3s-fs binary (scripts/test installs it into ~/.cache/liverec-tools).
pub fn s3s_fs() -> PathBuf {
    let path = std::env::var_os("LIVEREC_S3S_FS")
        .map(Into::into)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/liverec-tools/bin/s3s-fs")
        });
    assert!(
        path.exists(),
        "{} missing: run scripts/test, or `cargo install s3s-fs --version 0.14.1 --features binary --locked`",
        path.display()
    );
    path
}

pub struct S3Server {
    pub root: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl S3Server {
    /// Starts a server on a free port over `root` (created, with the given buckets).
    pub fn start(root: &Path, buckets: &[&str]) -> Self {
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            root: root.to_path_buf(),
            port,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts (again) on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The AWS environment a liverec process needs to reach this server with `secret`.
    pub fn envs(&self, secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// The directory holding the objects under `s3://bucket/prefix`.
    pub fn dir(&self, bucket_and_prefix: &str) -> PathBuf {
        self.root.join(bucket_and_prefix)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
