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

/// Line numbers counted from the bytes themselves. The csv crate's own
/// count is off for CRLF files, CR-only files (old Excel on a Mac) and
/// blank lines (rust-csv#395), and a receipt that names the wrong line sends
/// a partner hunting in the wrong place. A line ends at `\n`, `\r\n` or a
/// lone `\r`. Only breaks not yet asked about are kept: a few kilobytes of
/// read-ahead, whatever the file's size.
#[derive(Default)]
pub struct LineBreaks {
    before: u64,
    /// Byte spans `[start, end)` of the line breaks not yet passed.
    breaks: std::collections::VecDeque<(u64, u64)>,
    pos: u64,
    pending_cr: Option<u64>,
}

impl LineBreaks {
    fn feed(&mut self, buf: &[u8]) {
        for (i, b) in buf.iter().enumerate() {
            let at = self.pos + i as u64;
            match (self.pending_cr.take(), b) {
                (Some(cr), b'\n') => self.breaks.push_back((cr, at + 1)),
                (cr, _) => {
                    if let Some(cr) = cr {
                        self.breaks.push_back((cr, cr + 1));
                    }
                    match b {
                        b'\n' => self.breaks.push_back((at, at + 1)),
                        b'\r' => self.pending_cr = Some(at),
                        _ => {}
                    }
                }
            }
        }
        self.pos += buf.len() as u64;
    }

    /// The 1-based line a record found at byte `offset` starts on. The
    /// csv crate may report a record's start at the line break before it
    /// (the `\n` of a `\r\n`, or blank lines it skipped), so breaks at the
    /// offset are stepped over. Offsets asked about must not go backwards.
    pub fn line_of(&mut self, offset: u64) -> u64 {
        let mut at = offset;
        while let Some(&(start, end)) = self.breaks.front() {
            if end <= at {
                self.breaks.pop_front();
                self.before += 1;
            } else if start <= at {
                self.breaks.pop_front();
                self.before += 1;
                at = end;
            } else {
                break;
            }
        }
        self.before + 1
    }
}

pub struct LineCounting<R> {
    inner: R,
    lines: Arc<Mutex<LineBreaks>>,
}

impl<R> LineCounting<R> {
    pub fn new(inner: R, lines: Arc<Mutex<LineBreaks>>) -> Self {
        LineCounting { inner, lines }
    }
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines.lock().expect("line counter").feed(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    fn lines_of(text: &[u8], offsets: &[u64]) -> Vec<u64> {
        let mut l = LineBreaks::default();
        for chunk in text.chunks(3) {
            l.feed(chunk);
        }
        offsets.iter().map(|o| l.line_of(*o)).collect()
    }

    #[test]
    fn every_line_ending_counts() {
        // line 1 `a\n`, 2 `b\r\n`, 3 `c\r\n`, 4 `xx\r`, 5 blank `\r`, 6 `d`
        let text = b"a\nb\r\nc\r\nxx\r\rd";
        assert_eq!(lines_of(text, &[0, 2, 5, 8, 12]), vec![1, 2, 3, 4, 6]);
        // Reported at the `\n` of a CRLF, or at the first of blank lines.
        assert_eq!(lines_of(b"h\r\nrow\r\nnext", &[2, 7]), vec![2, 3]);
        assert_eq!(lines_of(b"h\nr\n\n\nlast", &[2, 4]), vec![2, 5]);
    }
}
