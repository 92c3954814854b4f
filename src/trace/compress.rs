//! Transparent decompression (reading) and compression (writing) of trace files.
//!
//! Owns the choice of codec: by file-name suffix (`.gz`, `.xz`, `.zst`) and, when
//! reading, by the stream's magic bytes, which win over the suffix (a gzip file named
//! `foo.champsim` still decodes). In: a path (or `-` for stdin). Out: a byte stream of
//! the *decompressed* contents, or a [`Sink`] that compresses what is written to it.
//! Trace parsers above this layer never know whether the file was compressed; byte
//! offsets in their errors are offsets into the decompressed stream.
//!
//! Codecs: gzip (flate2's Rust backend), xz (liblzma's C library, several times faster
//! than a pure-Rust decoder), zstd (the C library; the fast format for our own traces).
//! A compressed stream is decoded on its own thread ([`super::pipe`]), one chunk ahead
//! of the parser, so a run from a compressed trace costs about what the raw trace does.
//!
//! Codec errors (a corrupt or truncated stream) surface as `io::Error`s carrying a
//! [`CodecError`]: the codec's name and the decompressed offset where decoding failed,
//! so the reader's error reads e.g. `t.mmt.xz: byte 1048576: xz stream: ...`.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::path::Path;

/// How a file's bytes are encoded on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// gzip's two magic bytes plus the compression method (8 = deflate, the only one
/// defined); the third byte makes an accidental match on raw binary data rarer.
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B, 0x08];
/// A zstd frame's magic number, 0xFD2FB528 little-endian.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xB5, 0x2F, 0xFD];

/// Largest dictionary (plus decoder state) an xz stream may ask for. `xz -9` uses a
/// 64 MiB dictionary; the limit only exists so that a corrupt header cannot make us
/// allocate gigabytes before the data proves it wrong.
const XZ_MEM_LIMIT: u64 = 1 << 30;

/// zstd level for written traces: zstd's default, which compresses `.mmt` records at
/// several hundred MB/s (far above what valgrind produces) to within a few tens of
/// percent of xz's size.
const ZSTD_LEVEL: i32 = 3;

impl Compression {
    /// The codec a file name's last suffix promises (`.gz`, `.xz`, `.zst`), if any.
    pub fn from_suffix(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("gz") => Compression::Gzip,
            Some(e) if e.eq_ignore_ascii_case("xz") => Compression::Xz,
            Some(e) if e.eq_ignore_ascii_case("zst") => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// The codec the first bytes of a stream reveal (`None` if no magic matches).
    pub fn from_magic(head: &[u8]) -> Compression {
        if head.starts_with(XZ_MAGIC) {
            Compression::Xz
        } else if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
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
            Compression::Zstd => "zstd",
        }
    }
}

/// A file name with its compression suffix (if any) removed: `t.lackey.gz` → `t.lackey`.
pub fn strip_suffix(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    for suffix in [".gz", ".xz", ".zst"] {
        if lower.ends_with(suffix) {
            return &name[..name.len() - suffix.len()];
        }
    }
    name
}

/// A decoder's failure: which codec, and how many decompressed bytes it delivered
/// before it (the offset of the first byte it could not produce).
#[derive(Clone, Debug)]
pub struct CodecError {
    pub codec: &'static str,
    pub offset: u64,
    pub msg: String,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stream: {}", self.codec, self.msg)
    }
}

impl std::error::Error for CodecError {}

/// Turns a codec's I/O errors into [`CodecError`]s (codec name and decompressed
/// offset), so that a corrupt stream is reported as such, and where, rather than as a
/// generic read failure.
struct Labelled<R> {
    inner: R,
    codec: &'static str,
    /// Decompressed bytes delivered so far.
    out: u64,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.out += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let msg = match e.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        "unexpected end of compressed data (truncated file?)".to_string()
                    }
                    _ => e.to_string(),
                };
                let err = CodecError {
                    codec: self.codec,
                    offset: self.out,
                    msg,
                };
                Err(io::Error::new(e.kind(), err))
            }
        }
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
pub fn wrap_read(raw: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let (r, comp) = decoder(raw)?;
    if comp == Compression::None {
        // Raw bytes need no decoding: the parser reads the file directly.
        return Ok((r, comp));
    }
    Ok((Box::new(super::pipe::spawn(r)?), comp))
}

/// [`wrap_read`] without the decoder thread: the decoder runs on the reader's thread
/// ([`super::predecode`] runs it on a thread of its own).
pub(crate) fn decoder(
    mut raw: Box<dyn Read + Send>,
) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let mut head = [0u8; 6];
    let n = read_up_to(&mut raw, &mut head)?;
    let comp = Compression::from_magic(&head[..n]);
    let whole = Cursor::new(head[..n].to_vec()).chain(raw);
    if comp == Compression::None {
        return Ok((Box::new(whole), comp));
    }
    // The decoders read in small pieces; a buffer under them keeps the syscalls large.
    let buffered = || BufReader::with_capacity(1 << 16, whole);
    let decoder: Box<dyn Read + Send> = match comp {
        Compression::None => unreachable!("returned above"),
        // Multi-member: `cat a.gz b.gz` is a valid gzip file of both.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered())),
        Compression::Xz => {
            // CONCATENATED: `cat a.xz b.xz` decodes as both, as `xz -d` does.
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEM_LIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(buffered(), stream))
        }
        // Several frames back to back decode as one stream.
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered())?),
    };
    let labelled = Labelled {
        inner: decoder,
        codec: comp.name(),
        out: 0,
    };
    Ok((Box::new(labelled), comp))
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
    Xz(liblzma::write::XzEncoder<File>),
    Zstd(zstd::stream::write::Encoder<'static, File>),
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
            // xz's own default level.
            Compression::Xz => Sink::Xz(liblzma::write::XzEncoder::new(file, 6)),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(file, ZSTD_LEVEL)?;
                // A content checksum, as gzip and xz have: corruption is an error when
                // read back, not a different trace.
                e.include_checksum(true)?;
                Sink::Zstd(e)
            }
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
            Sink::Zstd(z) => z.finish(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(f) => f.write(buf),
            Sink::Gzip(g) => g.write(buf),
            Sink::Xz(x) => x.write(buf),
            Sink::Zstd(z) => z.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.write_all(buf),
            Sink::Gzip(g) => g.write_all(buf),
            Sink::Xz(x) => x.write_all(buf),
            Sink::Zstd(z) => z.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Gzip(g) => g.flush(),
            Sink::Xz(x) => x.flush(),
            Sink::Zstd(z) => z.flush(),
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
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// With the content checksum, as [`super::Sink`] writes it.
    pub fn zst(data: &[u8]) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        e.include_checksum(true).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{gz, xz, zst};
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
        assert_eq!(
            Compression::from_suffix(Path::new("t.mmt.zst")),
            Compression::Zstd
        );
        assert_eq!(strip_suffix("t.lackey.gz"), "t.lackey");
        assert_eq!(strip_suffix("t.mmt.ZST"), "t.mmt");
        assert_eq!(strip_suffix("t.lackey"), "t.lackey");
        assert_eq!(Compression::from_magic(&gz(b"x")), Compression::Gzip);
        assert_eq!(Compression::from_magic(&xz(b"x")), Compression::Xz);
        // zstd's frame magic 0xFD2FB528, little-endian.
        assert_eq!(
            Compression::from_magic(&[0x28, 0xB5, 0x2F, 0xFD, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::from_magic(&zst(b"x")), Compression::Zstd);
        assert_eq!(
            Compression::from_magic(&[0x28, 0xB5, 0x2F]),
            Compression::None
        );
        assert_eq!(Compression::from_magic(b"\x1f"), Compression::None);
    }

    #[test]
    fn round_trips_and_concatenation() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (bytes, want) in [
            (data.clone(), Compression::None),
            (gz(&data), Compression::Gzip),
            (xz(&data), Compression::Xz),
            (zst(&data), Compression::Zstd),
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
        let (out, _) = decode_all([zst(b"ab"), zst(b"cd")].concat());
        assert_eq!(out.unwrap(), b"abcd");
        // Short and empty inputs are raw.
        assert_eq!(decode_all(b"ab".to_vec()).0.unwrap(), b"ab");
        assert_eq!(decode_all(Vec::new()).0.unwrap(), b"");
    }

    #[test]
    fn corrupt_streams_are_errors_naming_the_codec() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 256) as u8).collect();
        for (mut bytes, codec) in [(gz(&data), "gzip"), (xz(&data), "xz"), (zst(&data), "zstd")] {
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
