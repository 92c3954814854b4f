//! Decompression on its own thread: a [`Read`] whose bytes a reader thread decodes
//! ahead of the consumer.
//!
//! Owns the thread, the two bounded channels between it and the consumer and the
//! buffers that travel on them. In: a decoder (any `Read + Send`, in practice a
//! [`super::compress`] decoder over a file). Out: the same bytes, in the same order, to
//! whoever reads the [`Pipe`] (the trace readers' read window), while the next chunks
//! are being decoded on the other core. Bytes are bytes: what the parsers see, hence
//! every result, does not depend on thread timing.
//!
//! Steady state allocates nothing: at most [`BUFFERS`] chunk buffers exist, full ones
//! go to the consumer on one channel and come back empty on the other.
//!
//! Ending: the thread sends an explicit end (or the decoder's error, after the bytes
//! before it) and stops. A consumer that stops early (a run shorter than its trace,
//! Ctrl-C) drops the [`Pipe`]; the thread's next send or receive then fails and it
//! stops too, dropping the decoder and closing the file. `Drop` does not wait for it:
//! a thread blocked reading standard input must not hold up the consumer's exit. A
//! thread that dies without saying "end" (a panic in a decoder) is reported as an error,
//! never as a silently shorter trace.

use super::compress::CodecError;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes decoded per chunk: large enough that a chunk's trip through the channels is
/// amortised over many thousand records, small enough that the chunks in flight stay
/// in the host's L2/L3 (and that a consumer that stops early wastes little work).
pub(crate) const CHUNK: usize = 256 << 10;

/// Chunk buffers per pipe: the consumer holds one, the thread fills one, and the rest
/// are decoded ahead (about 1.5 MiB in all).
pub(crate) const BUFFERS: usize = 6;

/// What the thread sends: a chunk buffer and how many of its bytes are valid (buffers
/// keep their full length, so refilling one touches no allocator and zeroes nothing),
/// the end, or the decoder's error.
enum Msg {
    Data(Vec<u8>, usize),
    End,
    Fail(io::Error),
}

/// The consumer's end: reads the decoded bytes in order.
pub(crate) struct Pipe {
    full: Receiver<Msg>,
    empty: SyncSender<Vec<u8>>,
    /// The chunk being read, its valid length, and how far it has been read.
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    /// Set once the end or an error has been received: later reads repeat it.
    done: Option<Result<(), Repeat>>,
}

/// Starts a thread that decodes `src` into chunks; returns the reading end.
pub(crate) fn spawn(src: Box<dyn Read + Send>) -> io::Result<Pipe> {
    let (full_tx, full_rx) = sync_channel(BUFFERS);
    let (empty_tx, empty_rx) = sync_channel(BUFFERS);
    std::thread::Builder::new()
        .name("trace-decoder".into())
        .spawn(move || decode(src, full_tx, empty_rx))?;
    Ok(Pipe {
        full: full_rx,
        empty: empty_tx,
        cur: Vec::new(),
        len: 0,
        pos: 0,
        done: None,
    })
}

/// The thread's loop: fill a buffer (a returned one, or a new one while fewer than
/// [`BUFFERS`] exist), send it; stop at the end, at an error, or when the consumer
/// has gone.
fn decode(mut src: Box<dyn Read + Send>, full: SyncSender<Msg>, empty: Receiver<Vec<u8>>) {
    let mut made = 0;
    loop {
        let mut buf = match empty.try_recv() {
            Ok(b) => b,
            Err(_) if made < BUFFERS => {
                made += 1;
                vec![0u8; CHUNK]
            }
            Err(_) => match empty.recv() {
                Ok(b) => b,
                // The consumer has dropped its end.
                Err(_) => return,
            },
        };
        let (n, err) = fill(&mut *src, &mut buf);
        if n > 0 && full.send(Msg::Data(buf, n)).is_err() {
            return;
        }
        let last = match err {
            Some(e) => Msg::Fail(e),
            None if n < CHUNK => Msg::End,
            None => continue,
        };
        let _ = full.send(last);
        return;
    }
}

/// Reads until `buf` is full, the stream ends or fails: the bytes read, and the error.
pub(super) fn fill(src: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

impl Pipe {
    /// The next chunk into `cur`; `false` at the end. The emptied chunk goes back.
    fn next_chunk(&mut self) -> io::Result<bool> {
        if let Some(d) = &self.done {
            return match d {
                Ok(()) => Ok(false),
                Err(r) => Err(r.error()),
            };
        }
        let msg = self.full.recv().unwrap_or_else(|_| {
            Msg::Fail(io::Error::other("the decoder thread stopped unexpectedly"))
        });
        match msg {
            Msg::Data(b, n) => {
                let old = std::mem::replace(&mut self.cur, b);
                self.len = n;
                if !old.is_empty() {
                    // Fails only when the thread has already stopped: then the buffer
                    // is simply freed.
                    let _ = self.empty.try_send(old);
                }
                self.pos = 0;
                Ok(true)
            }
            Msg::End => {
                self.done = Some(Ok(()));
                Ok(false)
            }
            Msg::Fail(e) => {
                self.done = Some(Err(Repeat::of(&e)));
                Err(e)
            }
        }
    }
}

/// What it takes to repeat an error (`io::Error` is not `Clone`): its kind, and the
/// codec's error (which carries the offset) or else the message.
#[derive(Clone)]
pub(super) struct Repeat {
    kind: io::ErrorKind,
    codec: Option<CodecError>,
    msg: String,
}

impl Repeat {
    pub(super) fn of(e: &io::Error) -> Repeat {
        Repeat {
            kind: e.kind(),
            codec: e
                .get_ref()
                .and_then(|i| i.downcast_ref::<CodecError>())
                .cloned(),
            msg: e.to_string(),
        }
    }

    pub(super) fn error(&self) -> io::Error {
        match &self.codec {
            Some(c) => io::Error::new(self.kind, c.clone()),
            None => io::Error::new(self.kind, self.msg.clone()),
        }
    }
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.len {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn read_all(p: &mut Pipe) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        p.read_to_end(&mut v).map(|_| v)
    }

    /// Every length around the chunk size comes through whole and in order (a chunk
    /// exactly full is followed by an empty end, not lost).
    #[test]
    fn bytes_come_through_in_order() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut p = spawn(Box::new(Cursor::new(data.clone()))).unwrap();
            assert_eq!(read_all(&mut p).unwrap(), data, "len {len}");
            // The end repeats.
            assert_eq!(p.read(&mut [0u8; 4]).unwrap(), 0);
        }
    }

    /// A reader that fails after `good` bytes.
    struct FailAfter {
        good: usize,
        at: usize,
    }
    impl Read for FailAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.good {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad block"));
            }
            let n = buf.len().min(self.good - self.at).min(1000);
            buf[..n].fill(7);
            self.at += n;
            Ok(n)
        }
    }

    /// The bytes before an error are delivered, then the error (with its kind), then
    /// the error again on every later read.
    #[test]
    fn error_after_the_bytes_before_it() {
        let good = 3 * CHUNK + 5;
        let mut p = spawn(Box::new(FailAfter { good, at: 0 })).unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 100_000];
        let e = loop {
            match p.read(&mut buf) {
                Ok(0) => panic!("end before the error"),
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(got, good);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "bad block");
        assert_eq!(p.read(&mut buf).unwrap_err().to_string(), "bad block");
    }

    /// An endless stream that says when it is dropped (the thread has stopped).
    struct Endless(Arc<AtomicBool>);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(1);
            Ok(buf.len())
        }
    }
    impl Drop for Endless {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A consumer that stops early: the thread, blocked on full channels, stops and
    /// drops its decoder instead of decoding for ever.
    #[test]
    fn thread_stops_when_the_consumer_does() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut p = spawn(Box::new(Endless(dropped.clone()))).unwrap();
        let mut buf = [0u8; 10];
        p.read_exact(&mut buf).unwrap();
        drop(p);
        let t = Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "decoder thread still running"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A decoder that panics: an error, not a clean (shorter) end.
    struct Panics;
    impl Read for Panics {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("decoder bug")
        }
    }

    #[test]
    fn a_dead_thread_is_an_error() {
        let mut p = spawn(Box::new(Panics)).unwrap();
        let e = read_all(&mut p).unwrap_err();
        assert!(e.to_string().contains("stopped unexpectedly"), "{e}");
    }
}
