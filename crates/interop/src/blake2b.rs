//! BLAKE2b-512 (RFC 7693) whose state can be saved and restored in
//! snarkjs' 216-byte "partial hash" form (`misc.js` `toPartialHash` /
//! `fromPartialHash`): a phase-1 contribution record carries the state of
//! its response hash before its public key, so a verifier can finish it.
//! The `blake2` crate does not expose its state, hence this small
//! implementation; a test checks it against that crate.

const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

const SIGMA: [[usize; 16]; 12] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
];

const BLOCK: usize = 128;

/// Size of snarkjs' saved state: the 128-byte buffer, then 20 `u32` words
/// (little-endian): the eight state words as (low, high) pairs, the bytes
/// compressed so far as (low, high), the bytes in the buffer as (low, high).
pub const PARTIAL_BYTES: usize = 216;

/// An unkeyed BLAKE2b-512 hasher.
#[derive(Clone)]
pub struct Blake2b {
    h: [u64; 8],
    /// Bytes compressed so far.
    t: u128,
    buf: [u8; BLOCK],
    /// Bytes in `buf` (the last block is kept until more data or the end).
    pos: usize,
}

impl Default for Blake2b {
    fn default() -> Self {
        let mut h = IV;
        h[0] ^= 0x0101_0040; // digest length 64, no key, fanout 1, depth 1
        Blake2b {
            h,
            t: 0,
            buf: [0; BLOCK],
            pos: 0,
        }
    }
}

impl Blake2b {
    /// Absorbs `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pos == BLOCK {
                self.t += BLOCK as u128;
                let block = self.buf;
                self.compress(&block, false);
                self.pos = 0;
            }
            let take = (BLOCK - self.pos).min(data.len());
            self.buf[self.pos..self.pos + take].copy_from_slice(&data[..take]);
            self.pos += take;
            data = &data[take..];
        }
    }

    /// The digest.
    pub fn finalize(mut self) -> [u8; 64] {
        self.t += self.pos as u128;
        self.buf[self.pos..].fill(0);
        let block = self.buf;
        self.compress(&block, true);
        let mut out = [0u8; 64];
        for (o, w) in out.chunks_exact_mut(8).zip(self.h) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// snarkjs' `toPartialHash`.
    pub fn to_partial(&self) -> [u8; PARTIAL_BYTES] {
        let mut out = [0u8; PARTIAL_BYTES];
        out[..BLOCK].copy_from_slice(&self.buf);
        let mut words = Vec::with_capacity(20);
        for w in self.h {
            words.extend([w as u32, (w >> 32) as u32]);
        }
        let t = self.t as u64;
        words.extend([t as u32, (t >> 32) as u32, self.pos as u32, 0]);
        for (o, w) in out[BLOCK..].chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// snarkjs' `fromPartialHash`; `None` for a state no hasher can be in
    /// (more than a block buffered, or a count that is not whole blocks).
    pub fn from_partial(p: &[u8; PARTIAL_BYTES]) -> Option<Self> {
        let word = |i: usize| {
            let at = BLOCK + 4 * i;
            u64::from(u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]))
        };
        let mut h = [0u64; 8];
        for (i, w) in h.iter_mut().enumerate() {
            *w = word(2 * i) | (word(2 * i + 1) << 32);
        }
        let t = word(16) | (word(17) << 32);
        let pos = word(18) | (word(19) << 32);
        if pos > BLOCK as u64 || t % BLOCK as u64 != 0 || (t > 0 && pos == 0) {
            return None;
        }
        let mut buf = [0u8; BLOCK];
        buf.copy_from_slice(&p[..BLOCK]);
        Some(Blake2b {
            h,
            t: u128::from(t),
            buf,
            pos: pos as usize,
        })
    }

    fn compress(&mut self, block: &[u8; BLOCK], last: bool) {
        let mut m = [0u64; 16];
        for (w, c) in m.iter_mut().zip(block.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            *w = u64::from_le_bytes(b);
        }
        let mut v = [0u64; 16];
        v[..8].copy_from_slice(&self.h);
        v[8..].copy_from_slice(&IV);
        v[12] ^= self.t as u64;
        v[13] ^= (self.t >> 64) as u64;
        if last {
            v[14] = !v[14];
        }
        for s in &SIGMA {
            g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
            g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
            g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
            g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
            g(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
            g(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
            g(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
            g(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for i in 0..8 {
            self.h[i] ^= v[i] ^ v[i + 8];
        }
    }
}

fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

#[cfg(test)]
mod tests {
    use super::*;
    use blake2::{Blake2b512, Digest};

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn equals_the_blake2_crate_at_every_block_boundary() {
        for n in [0, 1, 63, 127, 128, 129, 255, 256, 257, 1000, 4096] {
            let d = data(n);
            let mut ours = Blake2b::default();
            // Fed in uneven pieces.
            for chunk in d.chunks(37) {
                ours.update(chunk);
            }
            let theirs: [u8; 64] = Blake2b512::digest(&d).into();
            assert_eq!(ours.finalize(), theirs, "{n} bytes");
        }
    }

    #[test]
    fn a_saved_state_finishes_the_same_hash() {
        for split in [0, 1, 64, 128, 129, 300, 384] {
            let d = data(700);
            let mut h = Blake2b::default();
            h.update(&d[..split]);
            let saved = h.to_partial();
            let mut back = Blake2b::from_partial(&saved).expect("a real state");
            back.update(&d[split..]);
            let theirs: [u8; 64] = Blake2b512::digest(&d).into();
            assert_eq!(back.finalize(), theirs, "split at {split}");
        }
    }

    #[test]
    fn impossible_states_are_refused() {
        let mut p = Blake2b::default().to_partial();
        p[BLOCK + 4 * 18] = 129; // 129 bytes buffered
        assert!(Blake2b::from_partial(&p).is_none());
        let mut p = Blake2b::default().to_partial();
        p[BLOCK + 4 * 16] = 5; // 5 bytes compressed
        assert!(Blake2b::from_partial(&p).is_none());
    }
}
