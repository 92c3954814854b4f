//! One decode of a compressed trace for both the automatic warm-up's count and the run.
//!
//! The automatic warm-up is half of a trace's length (`run::warmup`), and a compressed
//! trace's length is known only by decoding it, which a counting pass did in full before
//! the run decoded the trace again: on a short trace that pass, which nothing overlapped,
//! cost a third of the run (issue 21 item 3). Here a thread decodes the trace once,
//! counts it as the bytes come, and publishes how far it has counted; every decoded byte
//! is also queued for the run's reader ([`Predecoded::reader`]), so the run starts at
//! once and learns the count on the way (`sim::LateWarmup`: the warm-up's end is needed
//! only at half the trace).
//!
//! In: a compressed trace's path and how to count it ([`Counter`]). Out: the count (so
//! far, and its outcome) and, once, a reader of the decoded bytes.
//!
//! Counting: an uncapped `.mmt` trace holds one access per 16-byte record, so its count
//! follows from the decoded size and header ([`super::length`]); the decoder then writes
//! straight into the queued chunks. Any other trace is counted by a reader on this
//! thread over the decoded bytes, as the counting pass before the run counted it.
//!
//! Memory: the queue holds what the decoder is ahead of the run's reader, at most
//! [`MAX_QUEUED`] bytes. Beyond that the thread goes on counting without queueing, and
//! the reader, once the queue is drained, decodes the file again itself and skips what
//! the queue gave (two decodes, as before). Once the count is done, the thread decodes
//! only [`AHEAD`] bytes ahead of the reader, as the decoder thread of [`super::pipe`]
//! does (a run shorter than its trace stops it by dropping the reader).
//!
//! Errors: the reader gets the decoder's error (codec and offset) after the bytes before
//! it, as from [`compress::open_read`]; errors of the trace's own (a bad record) its
//! reader meets in the same bytes. A stream's checksum is checked only at the end of a
//! block, so the run may read corrupted bytes before the count fails on them: the run
//! therefore waits for the count's outcome however it ends, and a failed count's error
//! (the codec's, naming the file) is the run's (`run::simulate_recording`); no result is
//! made from a stream that does not check out. The one exception is a run Ctrl-C
//! stopped ([`Predecoded::count_or_cancel`]): its result is partial anyway, and waiting
//! for the rest of a long trace's decode could take minutes, so the count stops where
//! it is and the report's warm-up rule says the stream was not checked to its end.

use super::binary::{HEADER, RECORD};
use super::compress::{self, Compression};
use super::pipe::{fill, Repeat};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Most decoded bytes queued ahead of the run's reader while the trace is being
/// counted. The queue must hold at least half the decoded trace (the count is needed
/// when the run is half-way): the 20 M-access `.mmt` trace of `scripts/trace_speed.sh`
/// is 320 MB decoded, and its run peaks at 180 MB resident (`/usr/bin/time -f %M`;
/// 11 MB raw). Such traces are decoded once; longer ones fall back to two decodes.
pub const MAX_QUEUED: usize = 384 << 20;

/// The environment variable of a test hook: `MMUSIM_QUEUE_MAX=<bytes>` lowers the
/// queue's bound from [`MAX_QUEUED`], so that a test's small trace takes the path of a
/// trace too long to queue (two decodes). Read once per process; inert when unset,
/// ignored with a warning when not a number.
pub const QUEUE_VAR: &str = "MMUSIM_QUEUE_MAX";

/// [`MAX_QUEUED`], or the bound [`QUEUE_VAR`] sets.
fn max_queued() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| match std::env::var(QUEUE_VAR) {
        Err(_) => MAX_QUEUED,
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("warning: {QUEUE_VAR}={v} ignored: expected a number of bytes");
            MAX_QUEUED
        }),
    })
}

/// The count's error once [`Predecoded::count_or_cancel`] stopped it.
const CANCELLED: &str = "the count was stopped (the run was stopped first)";

/// Bytes decoded ahead of the reader once the count is done.
const AHEAD: usize = 4 << 20;

/// Bytes per queued chunk: a transparent huge page (x86-64), which the kernel maps in
/// one fault where 4 KiB pages took 512; the queue's fresh memory then cost the 20 M
/// trace 0.08-0.10 s of system time instead of 0.13-0.18 s (`docs/PERFORMANCE.md`). At
/// least the 1 MiB that the counting reader of [`Counter::Reader`] asks for at a time.
const CHUNK: usize = 2 << 20;

/// Decoded bytes: `len` of them from `off` in `mem`, where [`CHUNK`] bytes aligned to
/// a huge page start.
struct Chunk {
    mem: Vec<u8>,
    off: usize,
    len: usize,
}

impl Chunk {
    /// Fresh memory: zeroed by the kernel when first touched (`calloc`), asked to be
    /// mapped in huge pages.
    fn new() -> Chunk {
        let mem = vec![0u8; 2 * CHUNK];
        let off = mem.as_ptr().align_offset(CHUNK);
        let mut c = Chunk { mem, off, len: 0 };
        let huge = c.space();
        // SAFETY: madvise only advises the kernel on how to map pages this Vec owns (it
        // reads or moves no byte); a failure (no huge pages) leaves 4 KiB pages.
        unsafe {
            libc::madvise(huge.as_mut_ptr().cast(), huge.len(), libc::MADV_HUGEPAGE);
        }
        c
    }

    fn bytes(&self) -> &[u8] {
        &self.mem[self.off..self.off + self.len]
    }

    /// The unfilled rest.
    fn space(&mut self) -> &mut [u8] {
        &mut self.mem[self.off + self.len..self.off + CHUNK]
    }
}

/// A counting function: reads the decoded bytes, calls `progress(n)` with the accesses
/// counted so far, returns the count or the error that stopped it.
pub type CountFn =
    Box<dyn FnOnce(Box<dyn Read + Send>, &dyn Fn(u64)) -> Result<u64, String> + Send>;

/// Counts a trace by reading its file again (see [`Counter::Mmt`]).
pub type RecountFn = Box<dyn FnOnce() -> Result<u64, String> + Send>;

/// How the thread counts what it decodes.
pub enum Counter {
    /// By this function, reading the decoded bytes (any format, any cap).
    Reader(CountFn),
    /// A whole `.mmt` trace, by its decoded size and header; when they do not tell
    /// (a bad header, a half record: its reader fails on them), by the function given,
    /// which reads the file again.
    Mmt(RecountFn),
}

/// A trace being decoded and counted on its own thread.
#[derive(Clone)]
pub struct Predecoded {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Predecoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Predecoded({})", self.shared.path.display())
    }
}

struct Shared {
    path: PathBuf,
    max_queued: usize,
    state: Mutex<State>,
    /// Signalled on every change of `state`.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Decoded bytes in order, each chunk full to its length.
    chunks: VecDeque<Chunk>,
    /// Chunks the reader has emptied, for the thread to fill again: fresh memory is
    /// zeroed by the kernel when first touched. All are kept (the queue and they hold
    /// at most what the queue held at its fullest), so the thread's fresh memory is the
    /// queue's peak, not the whole trace.
    spare: Vec<Chunk>,
    /// Bytes in `chunks`.
    queued: usize,
    /// Bytes queued in all.
    pushed: u64,
    /// The queue stopped at this byte (it was full): the reader decodes the rest itself.
    stopped_at: Option<u64>,
    /// The decoded stream's end: `Ok` at its end, or the decoder's error.
    end: Option<Result<(), Repeat>>,
    /// Accesses counted so far, and the count's outcome once known.
    counted: u64,
    count: Option<Result<u64, String>>,
    taken: bool,
    reader_gone: bool,
    /// The run was stopped (Ctrl-C) before the count was done: the thread stops.
    cancelled: bool,
}

/// How far the count has got: `(counted so far, outcome once known)`.
pub type Progress<'a> = (u64, Option<&'a Result<u64, String>>);

impl Predecoded {
    /// Starts decoding and counting `path`, or `None` when it is not compressed (its
    /// bytes need no decoder: nothing to share) or cannot be opened (the run says why).
    pub fn start(path: &Path, counter: Counter) -> Option<Predecoded> {
        Predecoded::start_with(path, counter, max_queued())
    }

    /// [`Predecoded::start`] with a queue of at most `max_queued` bytes.
    pub(crate) fn start_with(
        path: &Path,
        counter: Counter,
        max_queued: usize,
    ) -> Option<Predecoded> {
        let file = std::fs::File::open(path).ok()?;
        let (decoder, comp) = compress::decoder(Box::new(file)).ok()?;
        if comp == Compression::None {
            return None;
        }
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            max_queued,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("trace-count".into())
            .spawn(move || {
                let _guard = EndOnPanic(s.clone());
                match counter {
                    Counter::Reader(count) => produce(s, decoder, count),
                    Counter::Mmt(fallback) => produce_mmt(s, decoder, fallback),
                }
            })
            .ok()?;
        Some(Predecoded { shared })
    }

    /// The decoded bytes from the start, the first time it is asked (`None` later: a
    /// second stream of the same file opens it again).
    pub fn reader(&self) -> Option<Box<dyn Read + Send>> {
        let mut st = self.shared.lock();
        if st.taken {
            return None;
        }
        st.taken = true;
        Some(Box::new(Reader {
            shared: self.shared.clone(),
            cur: None,
            pos: 0,
            delivered: 0,
            own: None,
        }))
    }

    /// Waits until `ready` says something of the count's progress, and returns it.
    pub fn wait_for<R>(&self, mut ready: impl FnMut(Progress) -> Option<R>) -> R {
        let mut st = self.shared.lock();
        loop {
            if let Some(r) = ready((st.counted, st.count.as_ref())) {
                return r;
            }
            st = (self.shared.changed.wait(st)).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The count's outcome, waiting for it.
    pub fn count(&self) -> Result<u64, String> {
        self.wait_for(|(_, c)| c.cloned())
    }

    /// The count's outcome if it is known (`Ok`); else stops the thread (at its next
    /// decoded chunk, within milliseconds) and gives what was counted so far (`Err`):
    /// for a run that Ctrl-C stopped, which should not wait for the rest of a long
    /// trace's decode.
    pub fn count_or_cancel(&self) -> Result<Result<u64, String>, u64> {
        let mut st = self.shared.lock();
        match &st.count {
            Some(outcome) => Ok(outcome.clone()),
            None => {
                st.cancelled = true;
                self.shared.changed.notify_all();
                Err(st.counted)
            }
        }
    }
}

/// Ends the stream and the count with an error if the thread panics (a parser or the
/// decoder on bytes it did not expect), so that the run, waiting on them, stops with
/// that error instead of waiting forever.
struct EndOnPanic(Arc<Shared>);

impl Drop for EndOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let what = format!(
                "{}: the thread decoding and counting the trace failed",
                self.0.path.display()
            );
            self.0
                .end(Err(Repeat::of(&std::io::Error::other(what.clone()))));
            let mut st = self.0.lock();
            st.count.get_or_insert(Err(what));
            self.0.changed.notify_all();
        }
    }
}

impl Shared {
    /// The state, also after a panic of the other side while it held the lock (the
    /// state is whole between statements; [`EndOnPanic`] then ends it).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty chunk: a spare one, or fresh memory.
    fn take_chunk(&self) -> Chunk {
        let spare = self.lock().spare.pop();
        spare.unwrap_or_else(Chunk::new)
    }

    /// Queues `chunk` (at least a byte) and publishes `counted`, unless the queue has
    /// stopped or would overflow; then gives `chunk` back.
    fn push_chunk(&self, chunk: Chunk, counted: u64) -> Option<Chunk> {
        let mut st = self.lock();
        st.counted = counted;
        self.changed.notify_all();
        if st.stopped_at.is_some() || st.reader_gone {
            return Some(chunk);
        }
        if st.queued + chunk.len > self.max_queued {
            st.stopped_at = Some(st.pushed);
            return Some(chunk);
        }
        st.queued += chunk.len;
        st.pushed += chunk.len as u64;
        st.chunks.push_back(chunk);
        None
    }

    /// Queues a copy of `bytes` (see [`Shared::push_chunk`]), appended to the last
    /// chunk while it fits.
    fn push(&self, bytes: &[u8]) {
        let mut st = self.lock();
        for piece in bytes.chunks(CHUNK) {
            if st.stopped_at.is_some() || st.reader_gone {
                break;
            }
            if st.queued + piece.len() > self.max_queued {
                st.stopped_at = Some(st.pushed);
                break;
            }
            if (st.chunks.back()).is_none_or(|c| CHUNK - c.len < piece.len()) {
                let c = st.spare.pop().unwrap_or_else(Chunk::new);
                st.chunks.push_back(c);
            }
            let last = st.chunks.back_mut().expect("made");
            last.space()[..piece.len()].copy_from_slice(piece);
            last.len += piece.len();
            st.queued += piece.len();
            st.pushed += piece.len() as u64;
        }
        self.changed.notify_all();
    }

    fn end(&self, how: Result<(), Repeat>) {
        let mut st = self.lock();
        st.end.get_or_insert(how);
        self.changed.notify_all();
    }

    fn counted(&self, outcome: Result<u64, String>) {
        let mut st = self.lock();
        if let Ok(n) = outcome {
            st.counted = n;
        }
        st.count = Some(outcome);
        self.changed.notify_all();
    }
}

/// The thread of [`Counter::Mmt`]: decodes into chunks that go to the queue as they are
/// (no copy), counting records as it goes.
fn produce_mmt(shared: Arc<Shared>, mut decoder: Box<dyn Read + Send>, fallback: RecountFn) {
    let mut header = [0u8; HEADER];
    let mut total = 0u64;
    // A chunk the queue did not take (it stopped): decoded into again, to count.
    let mut back: Option<Chunk> = None;
    let ended = loop {
        if shared.lock().cancelled {
            return shared.counted(Err(CANCELLED.into()));
        }
        let mut chunk = back.take().unwrap_or_else(|| shared.take_chunk());
        chunk.len = 0;
        let (n, err) = fill_pieces(&mut *decoder, chunk.space());
        chunk.len = n;
        if total < HEADER as u64 {
            let (at, k) = (total as usize, n.min(HEADER - total as usize));
            header[at..at + k].copy_from_slice(&chunk.bytes()[..k]);
        }
        total += n as u64;
        if n > 0 {
            // What is decoded so far holds at least this many whole records.
            let counted = if super::length::header_ok(&header) {
                total.saturating_sub(HEADER as u64) / RECORD as u64
            } else {
                0
            };
            back = shared.push_chunk(chunk, counted);
        }
        match err {
            Some(e) => break Err(e),
            None if n < CHUNK => break Ok(()),
            None => {}
        }
    };
    shared.end(ended.as_ref().map(|_| ()).map_err(Repeat::of));
    let outcome = match ended {
        Err(e) => Err(super::TraceError::io(&super::display_name(&shared.path), &e).to_string()),
        Ok(()) => match super::length::records(total, &header) {
            Some(n) => Ok(n),
            None => fallback(),
        },
    };
    shared.counted(outcome);
}

/// Fills `buf` in the pieces the decoder thread of [`super::pipe`] reads, so that a
/// codec's error names the offset it names there (a zstd frame's checksum failure, met
/// in a read that also decoded bytes, drops them: the offset is where that read began).
fn fill_pieces(src: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    for piece in buf.chunks_mut(super::pipe::CHUNK) {
        let (k, err) = fill(src, piece);
        n += k;
        if err.is_some() || k < piece.len() {
            return (n, err);
        }
    }
    (n, None)
}

/// The thread of [`Counter::Reader`]: count through a [`Tee`] (which queues a copy of
/// what it decodes), then decode the rest of the stream for the reader, if the queue is
/// still what the reader reads.
fn produce(shared: Arc<Shared>, decoder: Box<dyn Read + Send>, count: CountFn) {
    let (back, returned) = std::sync::mpsc::channel();
    let tee = Tee {
        src: Some(decoder),
        shared: shared.clone(),
        back,
        piece: vec![0u8; super::pipe::CHUNK],
        pos: 0,
        len: 0,
        end: None,
    };
    let outcome = count(Box::new(tee), &|n| {
        shared.lock().counted = n;
        shared.changed.notify_all();
    });
    shared.counted(outcome);
    // The counting reader has been dropped with the tee, which sent the decoder back.
    let Ok(Some(mut decoder)) = returned.try_recv() else {
        return;
    };
    let mut buf = vec![0u8; super::pipe::CHUNK];
    loop {
        {
            let mut st = shared.lock();
            while st.queued >= AHEAD && !st.reader_gone {
                st = (shared.changed.wait(st)).unwrap_or_else(PoisonError::into_inner);
            }
            if st.reader_gone || st.stopped_at.is_some() || st.end.is_some() || st.cancelled {
                return;
            }
        }
        let (n, err) = fill(&mut *decoder, &mut buf);
        shared.push(&buf[..n]);
        match err {
            Some(e) => return shared.end(Err(Repeat::of(&e))),
            None if n < buf.len() => return shared.end(Ok(())),
            None => {}
        }
    }
}

/// The decoder as the counting reader reads it: decoded in the pieces the decoder thread
/// of [`super::pipe`] decodes (so that a codec's error names the offset it names there),
/// each queued too. Gives the decoder back when dropped, for the rest of the stream.
struct Tee {
    src: Option<Box<dyn Read + Send>>,
    shared: Arc<Shared>,
    back: std::sync::mpsc::Sender<Option<Box<dyn Read + Send>>>,
    piece: Vec<u8>,
    pos: usize,
    len: usize,
    /// How the stream ended, once it has (the error is the decoder's).
    end: Option<Result<(), Repeat>>,
}

impl Read for Tee {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            match &self.end {
                Some(Ok(())) => return Ok(0),
                Some(Err(r)) => return Err(r.error()),
                None => {}
            }
            if self.shared.lock().cancelled {
                return Err(io::Error::other(CANCELLED));
            }
            let src = self.src.as_mut().expect("the decoder is here until drop");
            let (n, err) = fill(&mut **src, &mut self.piece);
            self.shared.push(&self.piece[..n]);
            (self.pos, self.len) = (0, n);
            if let Some(e) = err {
                self.end = Some(Err(Repeat::of(&e)));
            } else if n < self.piece.len() {
                self.end = Some(Ok(()));
            }
            if let Some(end) = &self.end {
                self.shared
                    .end(end.as_ref().map(|_| ()).map_err(Repeat::clone));
            }
            if n == 0 {
                return self.read(out);
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        let _ = self.back.send(self.src.take());
    }
}

/// The run's reader: the queued bytes, then the stream's end or error, or after a
/// stopped queue the file decoded again ([`compress::open_read`]) from where the queue
/// stopped.
struct Reader {
    shared: Arc<Shared>,
    cur: Option<Chunk>,
    pos: usize,
    /// Bytes delivered so far.
    delivered: u64,
    own: Option<Box<dyn Read + Send>>,
}

impl Reader {
    /// The next queued chunk into `cur`; `Ok(false)` at the end of the queued bytes
    /// (the stream's end, or a stopped queue: then `own` is open and past them).
    fn next_chunk(&mut self) -> io::Result<bool> {
        let stopped_at = {
            let mut st = self.shared.lock();
            loop {
                if let Some(c) = st.chunks.pop_front() {
                    st.queued -= c.len;
                    self.shared.changed.notify_all();
                    if let Some(mut old) = self.cur.replace(c) {
                        old.len = 0;
                        st.spare.push(old);
                    }
                    self.pos = 0;
                    return Ok(true);
                }
                if let Some(at) = st.stopped_at {
                    break at;
                }
                match &st.end {
                    Some(Ok(())) => return Ok(false),
                    Some(Err(r)) => return Err(r.error()),
                    None => {
                        st = (self.shared.changed.wait(st)).unwrap_or_else(PoisonError::into_inner)
                    }
                }
            }
        };
        debug_assert_eq!(stopped_at, self.delivered);
        let (mut own, _) = compress::open_read(&self.shared.path)?;
        let skipped = io::copy(&mut (&mut own).take(stopped_at), &mut io::sink())?;
        if skipped < stopped_at {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the trace ended sooner when read again (was it changed during the run?)",
            ));
        }
        self.own = Some(own);
        Ok(false)
    }
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.cur.as_ref().map_or(0, |c| c.len) {
            if let Some(own) = &mut self.own {
                return own.read(out);
            }
            if !self.next_chunk()? && self.own.is_none() {
                return Ok(0);
            }
        }
        let cur = self.cur.as_ref().expect("a chunk").bytes();
        let n = out.len().min(cur.len() - self.pos);
        out[..n].copy_from_slice(&cur[self.pos..self.pos + n]);
        self.pos += n;
        self.delivered += n as u64;
        Ok(n)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.reader_gone = true;
        st.chunks.clear();
        st.spare.clear();
        st.queued = 0;
        self.shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::compress::testing::{xz, zst};

    /// Bytes whose every offset is told apart from its neighbours.
    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn read_all(r: &mut dyn Read) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).map(|_| v)
    }

    /// Counts bytes, reading all of them (the count is the byte count).
    fn byte_count() -> Counter {
        Counter::Reader(Box::new(|mut r, progress| {
            let mut buf = vec![0u8; 100_000];
            let mut n = 0u64;
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(n),
                    Ok(k) => n += k as u64,
                    Err(e) => return Err(e.to_string()),
                }
                progress(n);
            }
        }))
    }

    /// A `.mmt` trace of `n` records (header count unknown, as a pipe writes it).
    fn mmt(n: u64) -> Vec<u8> {
        let mut w = crate::trace::BinaryWriter::new(Vec::new(), 4096).unwrap();
        for i in 0..n {
            let a = crate::workload::Access {
                vaddr: i * 4096,
                kind: crate::addr::AccessKind::Load,
                instrs: 1,
            };
            w.write(&a).unwrap();
        }
        w.finish().unwrap()
    }

    /// An `.mmt` counter whose fallback says it was called.
    fn mmt_count() -> Counter {
        Counter::Mmt(Box::new(|| Err("fallback".into())))
    }

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// The count sees every decoded byte and the reader gets them all, in order, once;
    /// raw files are not predecoded.
    #[test]
    fn one_decode_feeds_the_count_and_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let want = data(3_000_000);
        for (name, bytes) in [("a.xz", xz(&want)), ("a.zst", zst(&want))] {
            let p = file(dir.path(), name, &bytes);
            let pre = Predecoded::start(&p, byte_count()).unwrap();
            let mut r = pre.reader().unwrap();
            assert!(pre.reader().is_none(), "{name}: taken once");
            assert_eq!(read_all(&mut r).unwrap(), want, "{name}");
            assert_eq!(pre.count(), Ok(want.len() as u64), "{name}");
            assert_eq!(pre.wait_for(|(n, _)| Some(n)), want.len() as u64);
        }
        let p = file(dir.path(), "raw", &want);
        assert!(Predecoded::start(&p, byte_count()).is_none());
    }

    /// A count that panics (a parser meeting bytes it did not expect) ends the count and
    /// the stream with an error naming the file: the run waiting on them stops instead
    /// of waiting forever.
    #[test]
    fn a_panicking_count_ends_with_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), "a.xz", &xz(&data(3_000_000)));
        let panics: CountFn = Box::new(|mut r, _| {
            let mut b = [0u8; 10];
            r.read_exact(&mut b).unwrap();
            panic!("a parser's bug");
        });
        let pre = Predecoded::start(&p, Counter::Reader(panics)).unwrap();
        let e = pre.count().unwrap_err();
        assert!(e.contains("a.xz") && e.contains("failed"), "{e}");
        let mut r = pre.reader().unwrap();
        let e = read_all(&mut r).unwrap_err().to_string();
        assert!(e.contains("a.xz"), "{e}");
    }

    /// The queue's bound: a stream that fits is read from memory alone (the file may
    /// be gone), one byte more and the reader decodes the file again past the queued
    /// bytes (it fails when the file is gone).
    #[test]
    fn the_queue_holds_at_most_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        // 2.5 MB of bytes counted by a reader; 3.2 MB of `.mmt` (not a whole number of
        // decoder chunks) counted by size.
        type Case = (Vec<u8>, fn() -> Counter, u64);
        let cases: [Case; 2] = [
            (data(2_500_000), byte_count, 2_500_000),
            (mmt(200_000), mmt_count, 200_000),
        ];
        for (want, counter, n) in cases {
            let bytes = xz(&want);
            for (bound, fits) in [(want.len(), true), (want.len() - 1, false)] {
                let p = file(dir.path(), "b.xz", &bytes);
                let pre = Predecoded::start_with(&p, counter(), bound).unwrap();
                // The count done, everything the thread decoded is in the queue (or not).
                assert_eq!(pre.count(), Ok(n));
                let queued = pre.shared.lock().queued;
                assert!(queued <= bound, "{queued} > {bound}");
                assert_eq!(queued == want.len(), fits);
                let mut r = pre.reader().unwrap();
                if fits {
                    std::fs::remove_file(&p).unwrap();
                    assert_eq!(read_all(&mut r).unwrap(), want);
                } else {
                    assert_eq!(read_all(&mut r).unwrap(), want);
                    let pre = Predecoded::start_with(&p, counter(), bound).unwrap();
                    pre.count().unwrap();
                    std::fs::remove_file(&p).unwrap();
                    let e = read_all(&mut *pre.reader().unwrap()).unwrap_err();
                    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
                }
            }
        }
    }

    /// An `.mmt` trace is counted by its decoded size, the bounds on the way never above
    /// it; what the size cannot tell (a half record at the end, no record, a bad
    /// header) goes to the fallback, and a corrupt stream is the codec's error, named
    /// with the file and offset as a reader names it.
    #[test]
    fn mmt_traces_are_counted_by_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let good = mmt(300_000);
        let p = file(dir.path(), "m.mmt.xz", &xz(&good));
        let pre = Predecoded::start(&p, mmt_count()).unwrap();
        let mut bounds = Vec::new();
        let n = pre.wait_for(|(so_far, done)| {
            bounds.push(so_far);
            done.cloned()
        });
        assert_eq!(n, Ok(300_000));
        assert!(bounds.iter().all(|&b| b <= 300_000), "{bounds:?}");
        assert_eq!(read_all(&mut *pre.reader().unwrap()).unwrap(), good);
        let mut half = good.clone();
        half.extend_from_slice(&[0; 8]);
        let mut bad_header = good.clone();
        bad_header[24] = 1;
        for bytes in [half, good[..HEADER].to_vec(), bad_header] {
            let p = file(dir.path(), "f.mmt.zst", &zst(&bytes));
            let pre = Predecoded::start(&p, mmt_count()).unwrap();
            assert_eq!(pre.count(), Err("fallback".into()));
            assert_eq!(read_all(&mut *pre.reader().unwrap()).unwrap(), bytes);
        }
        // Corrupt streams: the error (and its offset) that reading the file through the
        // decoder thread of `pipe` gives.
        let mut flipped = xz(&good);
        let mid = flipped.len() / 2;
        flipped[mid..mid + 16].iter_mut().for_each(|b| *b ^= 0xA5);
        let mut checksum = zst(&good);
        *checksum.last_mut().unwrap() ^= 0xFF;
        let cut = zst(&good)[..40_000].to_vec();
        for (name, bytes) in [
            ("c.mmt.xz", flipped),
            ("s.mmt.zst", checksum),
            ("t.mmt.zst", cut),
        ] {
            let p = file(dir.path(), name, &bytes);
            let e = Predecoded::start(&p, mmt_count())
                .unwrap()
                .count()
                .unwrap_err();
            let (mut piped, _) = compress::open_read(&p).unwrap();
            let want = read_all(&mut piped).unwrap_err();
            let want = super::super::TraceError::io(&p.display().to_string(), &want).to_string();
            assert_eq!(e, want, "{name}");
            assert!(e.contains(": byte ") && e.contains(" stream: "), "{e}");
        }
    }

    /// A corrupt stream: the count fails with the codec's error, and the reader gets
    /// the bytes before it, then the same error.
    #[test]
    fn a_corrupt_stream_fails_the_count_and_the_reader_alike() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = xz(&data(1_000_000));
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0xA5;
        }
        let p = file(dir.path(), "c.xz", &bytes);
        let pre = Predecoded::start(&p, byte_count()).unwrap();
        let counted = pre.count().unwrap_err();
        assert!(counted.starts_with("xz stream: "), "{counted}");
        let mut r = pre.reader().unwrap();
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(e.to_string(), counted);
        // The bytes before the error are the decoder's (not necessarily the original's:
        // the checksum that would tell is at the block's end).
        let (mut own, _) = compress::open_read(&p).unwrap();
        let mut before = Vec::new();
        own.read_to_end(&mut before).unwrap_err();
        assert_eq!(got, before);
    }

    /// A count that stops early (a capped trace) leaves the rest of the stream to the
    /// reader, decoded on demand.
    #[test]
    fn the_reader_gets_the_rest_after_a_short_count() {
        let dir = tempfile::tempdir().unwrap();
        let want = data(5 * AHEAD + 7);
        let p = file(dir.path(), "d.zst", &zst(&want));
        let pre = Predecoded::start(
            &p,
            Counter::Reader(Box::new(|mut r, progress| {
                let mut head = [0u8; 10];
                r.read_exact(&mut head).map_err(|e| e.to_string())?;
                progress(10);
                Ok(10)
            })),
        )
        .unwrap();
        assert_eq!(pre.count(), Ok(10));
        // Not decoded far ahead of a reader that has not read yet.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(pre.shared.lock().pushed <= (AHEAD + 2 * CHUNK) as u64);
        assert_eq!(read_all(&mut *pre.reader().unwrap()).unwrap(), want);
    }
}
