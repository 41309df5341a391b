//! Readers that enforce the limits hostile files test: a line with no end,
//! a gzip that inflates a thousandfold. Each turns the breach into an I/O
//! error with a message for the receipt.

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest physical line accepted. A 1 MB field passes; a file with no
    /// line breaks does not make the reader buffer gigabytes.
    pub max_line_bytes: usize,
    /// Most bytes a compressed extract may inflate to.
    pub max_decompressed_bytes: u64,
    /// Most a compressed extract may inflate relative to its size (CSV
    /// compresses about 10:1; zip bombs 1000:1 and more).
    pub max_compression_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_line_bytes: 4 << 20, max_decompressed_bytes: 50 << 30, max_compression_ratio: 100 }
    }
}

pub struct HashingReader<R> {
    inner: R,
    hasher: Arc<Mutex<Sha256>>,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R, hasher: Arc<Mutex<Sha256>>) -> Self {
        HashingReader { inner, hasher }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.lock().expect("hasher").update(&buf[..n]);
        Ok(n)
    }
}

pub struct LimitedReader<R> {
    inner: R,
    mode: Mode,
}

enum Mode {
    Bytes { left: u64, cap: u64, what: &'static str },
    Lines { max: usize, current: usize },
}

impl<R> LimitedReader<R> {
    pub fn bytes(inner: R, cap: u64, what: &'static str) -> Self {
        LimitedReader { inner, mode: Mode::Bytes { left: cap, cap, what } }
    }
    pub fn lines(inner: R, max: usize) -> Self {
        LimitedReader { inner, mode: Mode::Lines { max, current: 0 } }
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match &mut self.mode {
            Mode::Bytes { left, cap, what } => {
                if n as u64 > *left {
                    return Err(io::Error::other(format!("{what} is larger than {cap} bytes (possible decompression bomb); refused")));
                }
                *left -= n as u64;
            }
            Mode::Lines { max, current } => {
                for b in &buf[..n] {
                    if *b == b'\n' {
                        *current = 0;
                    } else {
                        *current += 1;
                        if *current > *max {
                            return Err(io::Error::other(format!("a line is longer than {max} bytes; refused")));
                        }
                    }
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_trip() {
        let mut out = Vec::new();
        let r = LimitedReader::lines(&b"ab\ncdef\n"[..], 3).read_to_end(&mut out);
        assert!(r.unwrap_err().to_string().contains("longer than 3"));
        let r = LimitedReader::bytes(&[0u8; 10][..], 5, "x").read_to_end(&mut out);
        assert!(r.unwrap_err().to_string().contains("larger than 5"));
        let mut out = Vec::new();
        assert!(LimitedReader::lines(&b"abc\nabc\n"[..], 3).read_to_end(&mut out).is_ok());
    }
}
