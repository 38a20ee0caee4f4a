//! Padding of the first HTTP/2 flights of a connection to size classes
//! (`docs/protocol.md` §9.9 "Traffic shape", `docs/security.md` §1).
//!
//! In a two-hop route the entry carries the client's TLS to the exit and
//! sees the length of every TLS record, both ways. Unpadded, the records of
//! the route's setup (`GetTerms`, `OpenSession`, the `Relay` call, its
//! first frames, and the exit's answers to each) have lengths that name
//! those messages. [`Shaper`] sits between HTTP/2 and TLS: it gathers each
//! flight (the bytes HTTP/2 writes between two flushes) and, for the first
//! [`PADDED_FLIGHTS`], appends one HTTP/2 frame of an experimental type
//! ([`PAD_FRAME_TYPE`], RFC 9113 §5.5: a receiver ignores frame types it
//! does not know) so that the flight's plaintext is a multiple of [`CLASS`]
//! bytes. The peer's HTTP/2 discards it; the entry sees records of size
//! classes. The client shapes its side of the inner connection, every
//! node the server side of every TLS connection it accepts (a node cannot
//! tell whether a connection comes through an entry).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Flights padded at the start of a connection: the route's setup and its
/// first relay frames.
pub const PADDED_FLIGHTS: u32 = 16;
/// The size class: a padded flight's plaintext is a multiple of it.
pub const CLASS: usize = 512;
/// Flights larger than this are sent as they are (more than one record).
const MAX_PADDED: usize = 16 * 1024;
/// A flight gathered beyond this is sent unpadded without waiting for a flush.
const MAX_GATHER: usize = 64 * 1024;
/// The experimental HTTP/2 frame type of the padding (RFC 9113 §11.2).
pub const PAD_FRAME_TYPE: u8 = 0xf0;
const FRAME_HEADER: usize = 9;
const PREFACE_LEN: usize = 24;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

/// Which end of the HTTP/2 connection writes the shaped stream: a client's
/// stream starts with the 24-byte connection preface, a server's with its
/// SETTINGS frame (RFC 9113 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Where an HTTP/2 byte stream is: inside the preface, a frame header or a
/// frame body, or between frames.
#[derive(Debug)]
struct Frames {
    preface_left: usize,
    header: Vec<u8>,
    body_left: usize,
    /// A header block is open (HEADERS or CONTINUATION without
    /// END_HEADERS): only CONTINUATION may follow.
    open_block: bool,
    frames: u64,
}

impl Frames {
    fn new(role: Role) -> Self {
        Self {
            preface_left: match role {
                Role::Client => PREFACE_LEN,
                Role::Server => 0,
            },
            header: Vec::with_capacity(FRAME_HEADER),
            body_left: 0,
            open_block: false,
            frames: 0,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let skip = if self.preface_left > 0 {
                let k = self.preface_left.min(bytes.len());
                self.preface_left -= k;
                k
            } else if self.body_left > 0 {
                let k = self.body_left.min(bytes.len());
                self.body_left -= k;
                k
            } else {
                let k = (FRAME_HEADER - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..k]);
                if self.header.len() == FRAME_HEADER {
                    self.frame_header();
                }
                k
            };
            bytes = &bytes[skip..];
        }
    }

    fn frame_header(&mut self) {
        let h = &self.header;
        self.body_left = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let (kind, flags) = (h[3], h[4]);
        if matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION) {
            self.open_block = flags & END_HEADERS == 0;
        }
        self.frames += 1;
        self.header.clear();
    }

    /// Whether a frame may be appended here: after the preface and at least
    /// one frame (the SETTINGS that must come first), between frames, no
    /// header block open.
    fn may_append(&self) -> bool {
        self.preface_left == 0
            && self.frames > 0
            && self.header.is_empty()
            && self.body_left == 0
            && !self.open_block
    }
}

/// The padding frame that brings a flight of `len` bytes to the next
/// multiple of [`CLASS`], if the flight may be padded.
fn padding_for(len: usize) -> Option<Vec<u8>> {
    if len % CLASS == 0 {
        return (len <= MAX_PADDED).then(Vec::new);
    }
    let target = (len + FRAME_HEADER).div_ceil(CLASS) * CLASS;
    if target > MAX_PADDED {
        return None;
    }
    let body = target - len - FRAME_HEADER;
    let mut frame = vec![0u8; FRAME_HEADER + body];
    frame[..3].copy_from_slice(&(body as u32).to_be_bytes()[1..]);
    frame[3] = PAD_FRAME_TYPE;
    Some(frame)
}

/// An HTTP/2 byte stream with its first flights padded (module docs).
/// With `flights = 0` it passes every call through.
pub struct Shaper<S> {
    inner: S,
    frames: Frames,
    flight: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    flights_left: u32,
}

impl<S> Shaper<S> {
    /// Shapes the first `flights` flights `role` writes to `inner`.
    pub fn new(inner: S, role: Role, flights: u32) -> Self {
        Self {
            inner,
            frames: Frames::new(role),
            flight: Vec::new(),
            out: Vec::new(),
            written: 0,
            flights_left: flights,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Whether every padded flight is out: calls pass straight through.
    fn passing_through(&self) -> bool {
        self.flights_left == 0 && self.flight.is_empty()
    }

    /// Adds `data` to the flight being gathered.
    fn gather(&mut self, data: &[u8]) {
        self.frames.feed(data);
        self.flight.extend_from_slice(data);
        if self.flight.len() > MAX_GATHER {
            self.end_flight(false);
        }
    }

    /// Ends the flight gathered so far: padded if it may be, then queued.
    fn end_flight(&mut self, may_pad: bool) {
        if self.flight.is_empty() {
            return;
        }
        let pad = if may_pad && self.frames.may_append() {
            padding_for(self.flight.len())
        } else {
            None
        };
        self.out.append(&mut self.flight);
        if let Some(p) = pad {
            self.out.extend_from_slice(&p);
        }
        self.flights_left = self.flights_left.saturating_sub(1);
    }
}

impl<S: AsyncWrite + Unpin> Shaper<S> {
    /// Writes the queued bytes out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.out.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Shaper<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        if me.passing_through() {
            return Pin::new(&mut me.inner).poll_write(cx, data);
        }
        me.gather(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        if me.passing_through() {
            return Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
        }
        for b in bufs {
            me.gather(b);
        }
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        me.end_flight(true);
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Shaper<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(kind: u8, flags: u8, body: usize) -> Vec<u8> {
        let mut f = vec![0u8; FRAME_HEADER + body];
        f[..3].copy_from_slice(&(body as u32).to_be_bytes()[1..]);
        f[3] = kind;
        f[4] = flags;
        f
    }

    /// Writes each flight then flushes; returns the bytes per flight.
    async fn shaped_as(role: Role, flights: &[Vec<u8>], padded: u32) -> Vec<Vec<u8>> {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut s = Shaper::new(near, role, padded);
        let mut out = Vec::new();
        for f in flights {
            s.write_all(f).await.expect("write");
            s.flush().await.expect("flush");
            let mut got = vec![0u8; 1 << 16];
            let n = far.read(&mut got).await.expect("read");
            out.push(got[..n].to_vec());
        }
        out
    }

    async fn shaped(flights: &[Vec<u8>], padded: u32) -> Vec<Vec<u8>> {
        shaped_as(Role::Client, flights, padded).await
    }

    fn preface_and_settings() -> Vec<u8> {
        let mut v = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        v.extend(frame(0x4, 0, 18));
        v
    }

    #[tokio::test]
    async fn first_flights_are_padded_to_the_class_with_one_ignorable_frame() {
        let flights = vec![
            preface_and_settings(),
            [frame(HEADERS, END_HEADERS, 90), frame(0x0, 0x1, 700)].concat(),
            frame(0x0, 0, CLASS - FRAME_HEADER),
        ];
        let out = shaped(&flights, 3).await;
        for (f, o) in flights.iter().zip(&out) {
            assert_eq!(
                o.len() % CLASS,
                0,
                "flight of {} sent as {}",
                f.len(),
                o.len()
            );
            assert!(o.starts_with(f), "the flight's own bytes come first");
            let pad = &o[f.len()..];
            if !pad.is_empty() {
                assert_eq!(pad[3], PAD_FRAME_TYPE);
                let len = usize::from(pad[1]) << 8 | usize::from(pad[2]);
                assert_eq!(len + FRAME_HEADER, pad.len(), "one whole frame");
                assert!(pad[FRAME_HEADER..].iter().all(|b| *b == 0));
            }
        }
        assert_eq!(
            out[2].len(),
            CLASS,
            "a flight already in class is not padded"
        );
    }

    #[tokio::test]
    async fn later_flights_and_the_bare_preface_pass_unpadded() {
        let bare = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let flights = vec![
            bare.clone(),
            frame(0x4, 0, 6),
            frame(0x0, 0, 100),
            frame(0x0, 0, 100),
        ];
        let out = shaped(&flights, 3).await;
        assert_eq!(out[0], bare, "nothing may precede the first SETTINGS");
        assert_eq!(out[1].len() % CLASS, 0);
        assert_eq!(out[2].len() % CLASS, 0);
        assert_eq!(out[3], flights[3], "past the padded flights: as written");
        let none = shaped(&[preface_and_settings()], 0).await;
        assert_eq!(
            none[0],
            preface_and_settings(),
            "flights = 0: a pass-through"
        );
    }

    #[tokio::test]
    async fn an_open_header_block_or_a_split_frame_is_not_padded() {
        let open = [preface_and_settings(), frame(HEADERS, 0, 40)].concat();
        let out = shaped(&[open.clone(), frame(CONTINUATION, END_HEADERS, 10)], 4).await;
        assert_eq!(out[0], open, "only CONTINUATION may follow an open block");
        assert_eq!(out[1].len() % CLASS, 0, "closed again: padded");
        let whole = [preface_and_settings(), frame(0x0, 0, 300)].concat();
        let (a, b) = whole.split_at(whole.len() - 100);
        let out = shaped(&[a.to_vec(), b.to_vec()], 4).await;
        assert_eq!(out[0], a, "a flight ending inside a frame is sent as it is");
        assert_eq!(out[1].len() % CLASS, 0, "the next boundary is found again");
    }

    #[tokio::test]
    async fn a_server_pads_from_its_first_settings_and_not_before_it() {
        let settings = frame(0x4, 0, 24);
        let flights = vec![
            [settings.clone(), frame(0x8, 0, 4)].concat(),
            [frame(HEADERS, END_HEADERS, 40), frame(0x0, 0x1, 120)].concat(),
        ];
        let out = shaped_as(Role::Server, &flights, 2).await;
        for (f, o) in flights.iter().zip(&out) {
            assert_eq!(
                o.len() % CLASS,
                0,
                "server flight of {} sent as {}",
                f.len(),
                o.len()
            );
            assert!(o.starts_with(f));
        }
        // A server's first write cut inside its SETTINGS is not padded.
        let cut = shaped_as(Role::Server, &[settings[..5].to_vec()], 1).await;
        assert_eq!(cut[0], settings[..5].to_vec());
    }

    #[tokio::test]
    async fn vectored_writes_are_gathered_into_the_flight_then_pass_through() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut s = Shaper::new(near, Role::Server, 1);
        let (a, b) = (frame(0x4, 0, 6), frame(0x0, 0, 50));
        let slices = [io::IoSlice::new(&a), io::IoSlice::new(&b)];
        let n = std::future::poll_fn(|cx| Pin::new(&mut s).poll_write_vectored(cx, &slices))
            .await
            .expect("write");
        assert_eq!(n, a.len() + b.len());
        s.flush().await.expect("flush");
        let mut got = vec![0u8; 4096];
        let k = far.read(&mut got).await.expect("read");
        assert_eq!(k, CLASS, "one padded flight");
        assert_eq!(&got[..a.len()], &a[..]);
        s.write_all(&b).await.expect("write");
        s.flush().await.expect("flush");
        let k = far.read(&mut got).await.expect("read");
        assert_eq!(&got[..k], &b[..], "past the padded flights: as written");
    }

    #[test]
    fn a_flight_too_large_for_one_record_is_not_padded() {
        assert!(padding_for(MAX_PADDED + 1).is_none());
        assert!(
            padding_for(MAX_PADDED - 4).is_none(),
            "no room for a header"
        );
        assert_eq!(padding_for(MAX_PADDED - 100).map(|p| p.len()), Some(100));
        assert_eq!(padding_for(1).map(|p| p.len()), Some(CLASS - 1));
        assert_eq!(
            padding_for(CLASS).map(|p| p.len()),
            Some(0),
            "in class already"
        );
        assert_eq!(
            padding_for(CLASS - 4).map(|p| p.len()),
            Some(CLASS + 4),
            "no room for a header"
        );
    }
}
