//! A local anvil node for end-to-end tests and development
//! (`tools/anvil`: npm `@foundry-rs/anvil`, pinned). The binary is started
//! directly and stopped by its own PID when the handle drops (`npx anvil`
//! would leave it running: `shared/design/evm.md`, pitfall 9).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The private key of anvil's first development account (its default
/// mnemonic: public knowledge, funded with 10,000 ETH on every anvil).
pub const FIRST_DEV_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Where `tools/anvil` installs the binary, or `$VEIL_ANVIL`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VEIL_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join("tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    p.is_file().then_some(p)
}

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// anvil could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    #[error(
        "anvil is not installed: run (cd tools/anvil && npm ci --ignore-scripts) or set VEIL_ANVIL"
    )]
    NotInstalled,
    #[error("starting anvil: {0}")]
    Io(#[from] std::io::Error),
    #[error("anvil did not answer on {0} within 30 s")]
    NotReady(String),
}

impl Anvil {
    /// Starts anvil on a free loopback port (chain id 31337, automine,
    /// hardfork Cancun)
    /// and waits until it accepts connections.
    pub fn start() -> Result<Self, AnvilError> {
        let bin = binary().ok_or(AnvilError::NotInstalled)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(bin)
            // Cancun, as the sandbox (veil_evm::sandbox::SPEC): same gas.
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
            ])
            .args(["--hardfork", "cancun"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err(AnvilError::NotReady(anvil.url.clone()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(anvil)
    }

    /// For a test: anvil, or `None` after a loud skip line when it is not
    /// installed — unless `VEIL_REQUIRE_ANVIL=1` (CI), when a missing anvil
    /// fails the test like any other error.
    pub fn for_test(what: &str) -> Option<Self> {
        match Self::start() {
            Ok(a) => Some(a),
            Err(AnvilError::NotInstalled)
                if std::env::var("VEIL_REQUIRE_ANVIL").as_deref() != Ok("1") =>
            {
                eprintln!(
                    "SKIPPED {what}: anvil is not installed (cd tools/anvil && npm ci --ignore-scripts)"
                );
                None
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
