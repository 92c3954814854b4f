//! Reading an input file (system config, workload, sweep or study spec, `mva` model)
//! into text, bounded: inputs are small by nature, so anything that is not a regular
//! file (a device such as `/dev/zero`, a pipe, a folder) or is over
//! [`MAX_INPUT_BYTES`] is refused before it is read, and the read itself stops one byte
//! past the limit (a file that grows while it is read cannot run away either). Text
//! that is not UTF-8 is refused at its line and column.

use super::ConfigError;
use std::io::Read;
use std::path::Path;

/// The largest input file read: 1 MiB. The largest shipped config is under 10 KiB;
/// a megabyte of TOML is thousands of TLBs or sweep points.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

fn error(file: &str, line: Option<usize>, msg: String) -> ConfigError {
    ConfigError::new(file, line, "", msg)
}

fn too_large(file: &str, len: u64) -> ConfigError {
    error(
        file,
        None,
        format!(
            "is {len} bytes, over the limit of {MAX_INPUT_BYTES} bytes (1 MiB) for configs, workloads and specs"
        ),
    )
}

/// What a file that is not a regular file is, for the message.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

/// The text of the input file at `path` (named `path` in errors): refused unless it is
/// a regular file of at most [`MAX_INPUT_BYTES`] of UTF-8.
pub fn read_input(path: &Path) -> Result<String, ConfigError> {
    let file = path.display().to_string();
    // Looked at before opening: opening a pipe waits for a writer.
    let meta =
        std::fs::metadata(path).map_err(|e| error(&file, None, format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(error(
            &file,
            None,
            format!(
                "not a regular file ({}): configs, workloads and specs are read from files",
                kind_of(&meta)
            ),
        ));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_large(&file, meta.len()));
    }
    let f =
        std::fs::File::open(path).map_err(|e| error(&file, None, format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    f.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(&file, None, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        // It grew since it was looked at; its size now is unknown, at least this.
        return Err(too_large(&file, bytes.len() as u64));
    }
    utf8(&file, bytes)
}

/// `bytes` as text, or the line and column (in characters) of the first byte that is
/// not UTF-8.
pub(super) fn utf8(file: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        // Valid up to `at`, so this prefix decodes.
        let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        error(
            file,
            Some(line),
            format!(
                "column {column}: not UTF-8 (byte {:#04x}); the file must be UTF-8 text",
                bytes[at]
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_is_located_in_characters() {
        // Line 2: `é` (one character of two bytes) and `x` before it: column 3.
        let e = utf8("f", b"a\n\xc3\xa9x\xc0\n".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f:2: column 3: not UTF-8 (byte 0xc0); the file must be UTF-8 text"
        );
        // A character cut short at the end: its first byte is the bad one.
        let e = utf8("f", b"ab\xe2\x82".to_vec()).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.msg.starts_with("column 3: not UTF-8 (byte 0xe2)"));
        assert_eq!(utf8("f", "ok é".into()).unwrap(), "ok é");
    }

    #[test]
    fn limits_and_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(&p, vec![b'#'; MAX_INPUT_BYTES as usize]).unwrap();
        assert_eq!(read_input(&p).unwrap().len(), MAX_INPUT_BYTES as usize);
        std::fs::write(&p, vec![b'#'; MAX_INPUT_BYTES as usize + 1]).unwrap();
        assert!(read_input(&p)
            .unwrap_err()
            .msg
            .starts_with("is 1048577 bytes, over"));
        let e = read_input(dir.path()).unwrap_err();
        assert!(e.msg.starts_with("not a regular file (a folder)"), "{e}");
        let e = read_input(&dir.path().join("none")).unwrap_err();
        assert!(e.msg.starts_with("cannot read: "), "{e}");
    }
}
