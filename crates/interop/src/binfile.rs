//! iden3's binary container (`@iden3/binfileutils`), shared by `.r1cs`,
//! `.wtns`, `.zkey` and `.ptau`: a 4-byte magic, a `u32` version, a `u32`
//! section count, then sections `(u32 id, u64 length, body)`, all
//! little-endian.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};

use crate::error::{InteropError, NumberError, SectionProblem};

/// Bytes of a scalar-field element in these files (`n8`).
pub const FR_BYTES: usize = 32;

/// Builds a container section by section.
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub fn new(magic: &[u8; 4], version: u32, sections: u32) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(magic);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&sections.to_le_bytes());
        Writer { out }
    }

    pub fn section(&mut self, id: u32, body: &[u8]) {
        self.out.extend_from_slice(&id.to_le_bytes());
        self.out
            .extend_from_slice(&(body.len() as u64).to_le_bytes());
        self.out.extend_from_slice(body);
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The field header both formats share: `n8 = 32` and the prime `r`.
pub(crate) fn put_field_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&(FR_BYTES as u32).to_le_bytes());
    out.extend_from_slice(&Fr::MODULUS.to_bytes_le());
}

/// `x` as 32 little-endian bytes of its canonical representative.
pub(crate) fn put_fr(out: &mut Vec<u8>, x: &Fr) {
    out.extend_from_slice(&x.into_bigint().to_bytes_le());
}

/// The sections of a parsed container, in file order.
pub(crate) struct Sections<'a> {
    file: &'static str,
    sections: Vec<(u32, &'a [u8])>,
}

impl<'a> Sections<'a> {
    /// Splits `bytes` into sections; refuses a wrong magic or version, a
    /// section running past the end, or bytes after the last section.
    pub fn parse(
        bytes: &'a [u8],
        file: &'static str,
        magic: &[u8; 4],
        version: u32,
    ) -> Result<Self, InteropError> {
        let mut r = Reader::new(bytes, file);
        if r.take(4)? != magic {
            return Err(InteropError::binary(
                file,
                format!(
                    "not a {file} file (magic is not {:?})",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
        let v = r.u32()?;
        if v != version {
            return Err(InteropError::Unsupported {
                file,
                field: "version",
                expected: version.to_string(),
                found: v.to_string(),
            });
        }
        let n = r.u32()?;
        let mut sections = Vec::new();
        for _ in 0..n {
            let id = r.u32()?;
            let len = usize::try_from(r.u64()?)
                .map_err(|_| InteropError::binary(file, "section too long"))?;
            sections.push((id, r.take(len)?));
        }
        r.finish()?;
        Ok(Sections { file, sections })
    }

    fn problem(&self, id: u32, problem: SectionProblem) -> InteropError {
        InteropError::Section {
            file: self.file,
            id,
            problem,
        }
    }

    /// Whether section `id` occurs (at least once).
    pub fn has(&self, id: u32) -> bool {
        self.sections.iter().any(|(i, _)| *i == id)
    }

    /// The body of section `id`, which must occur exactly once.
    pub fn unique(&self, id: u32) -> Result<Reader<'a>, InteropError> {
        let mut found = self.sections.iter().filter(|(i, _)| *i == id);
        match (found.next(), found.next()) {
            (Some((_, body)), None) => Ok(Reader::new(body, self.file)),
            (None, _) => Err(self.problem(id, SectionProblem::Missing)),
            (Some(_), Some(_)) => Err(self.problem(id, SectionProblem::Duplicated)),
        }
    }

    /// The body of section `id`, which must occur exactly once and be
    /// exactly `len` bytes long.
    pub fn exact(&self, id: u32, len: u64) -> Result<Reader<'a>, InteropError> {
        let r = self.unique(id)?;
        let found = r.bytes.len() as u64;
        if found != len {
            return Err(self.problem(
                id,
                SectionProblem::Length {
                    expected: len,
                    found,
                },
            ));
        }
        Ok(r)
    }

    /// Refuses any section whose id is not in `known`, and any repeated one.
    pub fn only(&self, known: &[u32]) -> Result<(), InteropError> {
        for (n, (id, _)) in self.sections.iter().enumerate() {
            if !known.contains(id) {
                return Err(self.problem(*id, SectionProblem::Unknown));
            }
            if self.sections[..n].iter().any(|(i, _)| i == id) {
                return Err(self.problem(*id, SectionProblem::Duplicated));
            }
        }
        Ok(())
    }
}

/// Reads little-endian values from a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    file: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], file: &'static str) -> Self {
        Reader { bytes, file }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], InteropError> {
        if self.bytes.len() < n {
            return Err(InteropError::binary(self.file, "truncated"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub fn u32(&mut self) -> Result<u32, InteropError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, InteropError> {
        let lo = u64::from(self.u32()?);
        let hi = u64::from(self.u32()?);
        Ok(lo | (hi << 32))
    }

    /// A canonical scalar (`< r`).
    pub fn fr(&mut self, what: impl FnOnce() -> String) -> Result<Fr, InteropError> {
        let b = self.take(FR_BYTES)?;
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(b.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(w);
        }
        Fr::from_bigint(ark_ff::BigInt(limbs)).ok_or_else(|| InteropError::Number {
            what: what(),
            reason: NumberError::NotReduced,
        })
    }

    /// The shared field header: `n8 = 32`, prime `r`.
    pub fn field_header(&mut self) -> Result<(), InteropError> {
        let n8 = self.u32()?;
        if n8 as usize != FR_BYTES {
            return Err(InteropError::Unsupported {
                file: self.file,
                field: "field size n8",
                expected: FR_BYTES.to_string(),
                found: n8.to_string(),
            });
        }
        if self.take(FR_BYTES)? != Fr::MODULUS.to_bytes_le().as_slice() {
            return Err(InteropError::Unsupported {
                file: self.file,
                field: "prime",
                expected: "the BN254 scalar field order r".into(),
                found: "another prime".into(),
            });
        }
        Ok(())
    }

    /// Every byte must have been read.
    pub fn finish(self) -> Result<(), InteropError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(InteropError::binary(
                self.file,
                format!("{} unexpected trailing bytes", self.bytes.len()),
            ))
        }
    }
}
