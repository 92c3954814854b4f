//! Transparent decompression (reading) and compression (writing) of trace files.
//!
//! Owns the choice of codec: by file-name suffix (`.gz`, `.xz`) and, when reading, by
//! the stream's magic bytes, which win over the suffix (a gzip file named
//! `foo.champsim` still decodes). In: a path (or `-` for stdin). Out: a byte stream of
//! the *decompressed* contents, or a [`Sink`] that compresses what is written to it.
//! Trace parsers above this layer never know whether the file was compressed; byte
//! offsets in their errors are offsets into the decompressed stream.
//!
//! Codec errors (a corrupt or truncated gzip/xz stream) surface as `io::Error`s whose
//! message names the codec, so the parser's error reads e.g.
//! `t.lackey.xz: xz stream: ...` instead of a bare "invalid data".

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::path::Path;

/// How a file's bytes are encoded on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
}

const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// gzip's two magic bytes plus the compression method (8 = deflate, the only one
/// defined); the third byte makes an accidental match on raw binary data rarer.
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B, 0x08];

/// Largest dictionary (plus decoder state) an xz block may ask for. `xz -9` uses a
/// 64 MiB dictionary; the limit only exists so that a corrupt header cannot make us
/// allocate gigabytes before the data proves it wrong.
const XZ_MEM_LIMIT_KIB: u32 = 1 << 20;

impl Compression {
    /// The codec a file name's last suffix promises (`.gz`, `.xz`), if any.
    pub fn from_suffix(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("gz") => Compression::Gzip,
            Some(e) if e.eq_ignore_ascii_case("xz") => Compression::Xz,
            _ => Compression::None,
        }
    }

    /// The codec the first bytes of a stream reveal (`None` if neither magic matches).
    pub fn from_magic(head: &[u8]) -> Compression {
        if head.starts_with(XZ_MAGIC) {
            Compression::Xz
        } else if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The codec's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "raw",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
        }
    }
}

/// A file name with its compression suffix (if any) removed: `t.lackey.gz` → `t.lackey`.
pub fn strip_suffix(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".gz") || lower.ends_with(".xz") {
        &name[..name.len() - 3]
    } else {
        name
    }
}

/// Prefixes a codec's I/O errors with the codec's name, so that a corrupt stream is
/// reported as such rather than as a generic read failure.
struct Labelled<R> {
    inner: R,
    codec: &'static str,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let msg = match e.kind() {
                io::ErrorKind::UnexpectedEof => "unexpected end of compressed data".to_string(),
                _ => e.to_string(),
            };
            io::Error::new(e.kind(), format!("{} stream: {msg}", self.codec))
        })
    }
}

/// Opens `path` (`-` = stdin) and returns its decompressed bytes and the codec found.
///
/// The codec is decided by the magic bytes, not the suffix: suffixes lie (renamed
/// files, `foo.trace` that is really gzip), magic bytes do not. The few bytes read to
/// look at the magic are put back in front of the stream.
pub fn open_read(path: &Path) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    wrap_read(raw)
}

/// Like [`open_read`] for an already-open stream.
pub fn wrap_read(mut raw: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let mut head = [0u8; 6];
    let n = read_up_to(&mut raw, &mut head)?;
    let comp = Compression::from_magic(&head[..n]);
    let whole = Cursor::new(head[..n].to_vec()).chain(raw);
    // The decoders read in small pieces; a buffer under them keeps the syscalls large.
    let out: Box<dyn Read + Send> = match comp {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(Labelled {
            // Multi-member: `cat a.gz b.gz` is a valid gzip file of both.
            inner: flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, whole)),
            codec: "gzip",
        }),
        Compression::Xz => Box::new(Labelled {
            inner: lzma_rust2::XzReader::new_mem_limit(
                BufReader::with_capacity(1 << 16, whole),
                true,
                XZ_MEM_LIMIT_KIB,
            ),
            codec: "xz",
        }),
    };
    Ok((out, comp))
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A file being written, compressed according to its name's suffix.
pub enum Sink {
    Plain(File),
    Gzip(flate2::write::GzEncoder<File>),
    Xz(Box<lzma_rust2::XzWriter<File>>),
}

impl Sink {
    /// Wraps `file` in the codec that `name`'s suffix asks for.
    pub fn new(file: File, name: &Path) -> io::Result<Sink> {
        Ok(match Compression::from_suffix(name) {
            Compression::None => Sink::Plain(file),
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )),
            Compression::Xz => Sink::Xz(Box::new(lzma_rust2::XzWriter::new(
                file,
                // xz's own default level.
                lzma_rust2::XzOptions::with_preset(6),
            )?)),
        })
    }

    /// Whether bytes land in the file as written (so a header can be patched later).
    pub fn is_plain(&self) -> bool {
        matches!(self, Sink::Plain(_))
    }

    /// Ends the compressed stream (trailer, checksums) and returns the file.
    pub fn finish(self) -> io::Result<File> {
        match self {
            Sink::Plain(f) => Ok(f),
            Sink::Gzip(g) => g.finish(),
            Sink::Xz(x) => x.finish(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(f) => f.write(buf),
            Sink::Gzip(g) => g.write(buf),
            Sink::Xz(x) => x.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.write_all(buf),
            Sink::Gzip(g) => g.write_all(buf),
            Sink::Xz(x) => x.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Gzip(g) => g.flush(),
            Sink::Xz(x) => x.flush(),
        }
    }
}

/// Bytes compressed as the readers' tests need them (fast settings).
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;

    pub fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub fn xz(data: &[u8]) -> Vec<u8> {
        let mut e =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{gz, xz};
    use super::*;

    fn decode_all(bytes: Vec<u8>) -> (io::Result<Vec<u8>>, Compression) {
        let (mut r, c) = wrap_read(Box::new(Cursor::new(bytes))).unwrap();
        let mut out = Vec::new();
        (r.read_to_end(&mut out).map(|_| out), c)
    }

    #[test]
    fn suffix_and_magic() {
        assert_eq!(
            Compression::from_suffix(Path::new("a.champsim.xz")),
            Compression::Xz
        );
        assert_eq!(
            Compression::from_suffix(Path::new("t.GZ")),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_suffix(Path::new("t.mmt")),
            Compression::None
        );
        assert_eq!(strip_suffix("t.lackey.gz"), "t.lackey");
        assert_eq!(strip_suffix("t.lackey"), "t.lackey");
        assert_eq!(Compression::from_magic(&gz(b"x")), Compression::Gzip);
        assert_eq!(Compression::from_magic(&xz(b"x")), Compression::Xz);
        assert_eq!(Compression::from_magic(b"\x1f"), Compression::None);
    }

    #[test]
    fn round_trips_and_concatenation() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (bytes, want) in [
            (data.clone(), Compression::None),
            (gz(&data), Compression::Gzip),
            (xz(&data), Compression::Xz),
        ] {
            let (out, c) = decode_all(bytes);
            assert_eq!(c, want);
            assert_eq!(out.unwrap(), data);
        }
        // Two gzip members and two xz streams back to back decode as one stream.
        let (out, _) = decode_all([gz(b"ab"), gz(b"cd")].concat());
        assert_eq!(out.unwrap(), b"abcd");
        let (out, _) = decode_all([xz(b"ab"), xz(b"cd")].concat());
        assert_eq!(out.unwrap(), b"abcd");
        // Short and empty inputs are raw.
        assert_eq!(decode_all(b"ab".to_vec()).0.unwrap(), b"ab");
        assert_eq!(decode_all(Vec::new()).0.unwrap(), b"");
    }

    #[test]
    fn corrupt_streams_are_errors_naming_the_codec() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 256) as u8).collect();
        for (mut bytes, codec) in [(gz(&data), "gzip"), (xz(&data), "xz")] {
            // Flip bytes in the middle of the compressed data.
            let mid = bytes.len() / 2;
            for b in &mut bytes[mid..mid + 8] {
                *b ^= 0x5A;
            }
            let e = decode_all(bytes.clone()).0.unwrap_err();
            assert!(e.to_string().starts_with(codec), "{e}");
            // A truncated stream is an error too, not a silent short read.
            bytes.truncate(mid);
            let e = decode_all(bytes).0.unwrap_err();
            assert!(e.to_string().starts_with(codec), "{e}");
        }
    }
}
