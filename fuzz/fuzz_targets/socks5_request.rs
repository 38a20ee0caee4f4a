//! The SOCKS5 handshake parser of the client's local proxy (RFC 1928):
//! never panics and never hangs on a closed stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;

fuzz_target!(|data: &[u8]| {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let (mut app, mut proxy) = tokio::io::duplex(64 * 1024);
        if app.write_all(data).await.is_err() || app.shutdown().await.is_err() {
            return;
        }
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            veil_client::socks5::accept(&mut proxy),
        )
        .await;
        assert!(r.is_ok(), "SOCKS5 handshake hung on a closed stream");
    });
});
