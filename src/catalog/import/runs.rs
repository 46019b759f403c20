//! Sort runs: the in-memory sort buffer, run files and their readers, the
//! spilling thread, and the line counter of the input.

use super::*;

/// One sort buffer: records `u16 kl, u16 pl, u64 line, key, payload`.
pub(super) struct RunBuf {
    pub(super) arena: Vec<u8>,
    pub(super) offs: Vec<u32>,
}

impl RunBuf {
    pub(super) fn with_capacity(bytes: usize) -> RunBuf {
        RunBuf {
            arena: Vec::with_capacity(bytes),
            offs: Vec::new(),
        }
    }
    pub(super) fn push(
        &mut self,
        line: u64,
        p: &Product,
        scratch: &mut Vec<u8>,
    ) -> Result<(), String> {
        scratch.clear();
        p.encode_payload(scratch);
        if scratch.len() > u16::MAX as usize {
            return Err("la fila es demasiado larga (más de 65535 bytes)".into());
        }
        self.offs.push(self.arena.len() as u32);
        self.arena
            .extend_from_slice(&(p.code.len() as u16).to_le_bytes());
        self.arena
            .extend_from_slice(&(scratch.len() as u16).to_le_bytes());
        self.arena.extend_from_slice(&line.to_le_bytes());
        self.arena.extend_from_slice(p.code.as_bytes());
        self.arena.extend_from_slice(scratch);
        Ok(())
    }
    pub(super) fn key_line(&self, off: u32) -> (&[u8], u64) {
        let o = off as usize;
        let a = &self.arena;
        let kl = u16::from_le_bytes([a[o], a[o + 1]]) as usize;
        let mut l = [0u8; 8];
        l.copy_from_slice(&a[o + 4..o + 12]);
        (&a[o + 12..o + 12 + kl], u64::from_le_bytes(l))
    }
    pub(super) fn record(&self, off: u32) -> &[u8] {
        let o = off as usize;
        let a = &self.arena;
        let kl = u16::from_le_bytes([a[o], a[o + 1]]) as usize;
        let pl = u16::from_le_bytes([a[o + 2], a[o + 3]]) as usize;
        &a[o..o + 12 + kl + pl]
    }
    /// Sort by (code, line) and write the run file.
    pub(super) fn sort_and_write(mut self, path: &Path) -> io::Result<()> {
        let mut offs = std::mem::take(&mut self.offs);
        offs.sort_unstable_by(|a, b| self.key_line(*a).cmp(&self.key_line(*b)));
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
        for o in offs {
            w.write_all(self.record(o))?;
        }
        w.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// Reads one sorted run.
pub(super) struct RunReader {
    pub(super) r: BufReader<File>,
    pub(super) key: Vec<u8>,
    pub(super) payload: Vec<u8>,
    pub(super) line: u64,
}

impl RunReader {
    pub(super) fn advance(&mut self) -> io::Result<bool> {
        let mut h = [0u8; 12];
        match self.r.read_exact(&mut h[..1]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        self.r.read_exact(&mut h[1..])?;
        let kl = u16::from_le_bytes([h[0], h[1]]) as usize;
        let pl = u16::from_le_bytes([h[2], h[3]]) as usize;
        let mut l = [0u8; 8];
        l.copy_from_slice(&h[4..12]);
        self.line = u64::from_le_bytes(l);
        self.key.resize(kl, 0);
        self.r.read_exact(&mut self.key)?;
        self.payload.resize(pl, 0);
        self.r.read_exact(&mut self.payload)?;
        Ok(true)
    }
}

/// Counts bytes read (for the progress bar) and remembers where newlines
/// are, so a record's byte offset maps to its line number in the file (the
/// csv crate's own line counter does not count blank lines and CRLF as an
/// editor does).
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) n: Arc<AtomicU64>,
    pub(super) lines: Rc<RefCell<Lines>>,
}

#[derive(Default)]
pub(super) struct Lines {
    /// Offsets of newlines read ahead but not yet passed by a record.
    pub(super) pending: VecDeque<u64>,
    /// Newlines before the last record asked about.
    pub(super) passed: u64,
}

impl Lines {
    /// 1-based line number of a record starting at `offset` (offsets must not
    /// decrease). With CRLF the csv crate reports the start at the `\n` that
    /// ends the previous line, hence `<=`.
    pub(super) fn line_of(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|&o| o <= offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        let base = self.n.fetch_add(k as u64, Ordering::Relaxed);
        let mut l = self.lines.borrow_mut();
        for (i, b) in buf[..k].iter().enumerate() {
            if *b == b'\n' {
                l.pending.push_back(base + i as u64);
            }
        }
        Ok(k)
    }
}

/// Sorts and writes full buffers on a second thread.
pub(super) struct Spiller {
    pub(super) tx: Option<std::sync::mpsc::SyncSender<(RunBuf, PathBuf)>>,
    pub(super) handle: Option<std::thread::JoinHandle<io::Result<()>>>,
    pub(super) runs: Vec<PathBuf>,
    pub(super) tmp: PathBuf,
}

impl Spiller {
    pub(super) fn new(tmp: PathBuf) -> Spiller {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(RunBuf, PathBuf)>(0);
        let handle = std::thread::Builder::new()
            .name("catalog-sort".into())
            .spawn(move || {
                for (buf, path) in rx {
                    buf.sort_and_write(&path)?;
                }
                Ok(())
            })
            .ok();
        Spiller {
            tx: Some(tx),
            handle,
            runs: Vec::new(),
            tmp,
        }
    }
    pub(super) fn spill(&mut self, buf: RunBuf) -> io::Result<()> {
        let path = self.tmp.join(format!("run-{:05}", self.runs.len()));
        self.runs.push(path.clone());
        match (&self.tx, &self.handle) {
            (Some(tx), Some(_)) => tx
                .send((buf, path))
                .map_err(|_| io::Error::other("sort thread stopped")),
            _ => buf.sort_and_write(&path),
        }
    }
    pub(super) fn finish(mut self) -> io::Result<Vec<PathBuf>> {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            h.join()
                .map_err(|_| io::Error::other("sort thread panicked"))??;
        }
        Ok(self.runs)
    }
}
