//! A real `redis-server` for tests: a free loopback port, no persistence, stopped by
//! PID on drop. Installs the server with `.ci/install-test-deps.sh` when it is missing,
//! and fails loudly when that fails: these tests are never skipped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a started server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One `redis-server` process on `127.0.0.1:port`.
pub(crate) struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers PING.
    pub(crate) fn start() -> Self {
        ensure_installed();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = Self { port, child: None };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (by PID) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL also ends a frozen (SIGSTOPped) server.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`true`, SIGSTOP) or thaws (`false`, SIGCONT) the server: connections
    /// stay open and nothing answers, the way a hung server looks.
    pub(crate) fn freeze(&self, frozen: bool) {
        let child = self.child.as_ref().expect("a running server");
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal} failed");
    }

    /// Starts the server again on the same port (empty: nothing is persisted).
    pub(crate) fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !ping(self.port) {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ensure_installed() {
    // Once per test binary: parallel tests must not run apt-get side by side.
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(install_if_missing);
}

fn install_if_missing() {
    if installed() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/install-test-deps.sh");
    assert!(
        script.exists(),
        "redis-server is not installed and {} is missing: install redis-server to run these tests",
        script.display()
    );
    let status = Command::new("bash").arg(&script).status();
    assert!(
        status.is_ok_and(|s| s.success()) && installed(),
        "redis-server is not installed and {} could not install it",
        script.display()
    );
}
