//! Isolated decoding: every decoder that reads untrusted bytes runs as a
//! child process: poppler's `pdftotext`/`pdftoppm`/`pdfdetach`, Tesseract,
//! and this binary's own `pasarela decode` for the pure-Rust decoders
//! (spreadsheets, images; `formats::decode`). Each child runs in its own empty
//! scratch directory (its working directory), confined by `sandbox` (no
//! network, no sockets, no new processes, a filesystem view of the system
//! directories and its scratch only),
//! under a wall-time limit, an address-space limit (`RLIMIT_AS`), a CPU-time
//! limit, a file-size limit (`RLIMIT_FSIZE`), an open-files limit and no core
//! dumps; what it prints is read up to a limit, never whole. A crash, a hang,
//! a runaway allocation or an escape attempt ends the child, never the daemon;
//! the caller turns it into a finding.
//!
//! OCR work is throttled by its own semaphore ([`ocr_permit`]), separate from
//! the daemon's file workers, because one page of OCR costs a core for ~1 s
//! while an XML invoice costs milliseconds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Resource limits for one child process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit; the child (and its process group) is killed after it.
    pub wall: Duration,
    /// Address-space limit in bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// CPU-time limit in seconds (`RLIMIT_CPU`).
    pub cpu_secs: u64,
    /// Largest file the child may write (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Most bytes read from the child's standard output; more ends it.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(60),
            memory_bytes: 1536 << 20,
            cpu_secs: 120,
            file_bytes: 256 << 20,
            output_bytes: 64 << 20,
        }
    }
}

/// Why an isolated child did not produce a result.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WorkerError {
    /// The tool is not installed or cannot be started (an environment problem:
    /// transient from the file's point of view).
    #[error("no se pudo iniciar '{program}': {reason}")]
    Spawn { program: String, reason: String },
    /// Killed after the wall-time limit.
    #[error("'{program}' superó el tiempo máximo de {secs} s")]
    Timeout { program: String, secs: u64 },
    /// Ended by a signal (crash, memory limit, CPU limit).
    #[error("'{program}' terminó anormalmente (señal {signal})")]
    Signal { program: String, signal: i32 },
    /// Exited with a non-zero status.
    #[error("'{program}' falló (código {code}): {stderr}")]
    Failed {
        program: String,
        code: i32,
        stderr: String,
    },
    /// Printed more than `Limits::output_bytes`; ended.
    #[error("'{program}' produjo más de {limit} bytes de salida")]
    TooMuchOutput { program: String, limit: u64 },
    /// Reading or writing the child's pipes or temporary files failed.
    #[error("E/S con '{program}': {reason}")]
    Io { program: String, reason: String },
}

impl WorkerError {
    /// True when the cause is the environment (tool missing), not the file.
    pub fn is_environment(&self) -> bool {
        matches!(self, WorkerError::Spawn { .. })
    }

    /// The finding for the file whose decoder ended this way: `what` names
    /// what could not be read ("PDF ilegible", "Página 2 del PDF", …).
    pub fn finding(&self, code: &str, what: &str) -> crate::result::Finding {
        let why = match self {
            WorkerError::Timeout { secs, .. } => format!(
                "el procesamiento superó el tiempo máximo ({secs} s); el archivo puede estar dañado o ser hostil"
            ),
            WorkerError::Signal { .. } => {
                "el decodificador terminó anormalmente (archivo dañado o demasiado grande)".into()
            }
            WorkerError::Failed { .. } | WorkerError::Io { .. } => {
                "el archivo está dañado o no se puede leer".into()
            }
            WorkerError::TooMuchOutput { .. } => {
                "el decodificador produjo más datos de los permitidos (archivo hostil o demasiado grande)".into()
            }
            WorkerError::Spawn { .. } => "herramienta no disponible".into(),
        };
        crate::result::Finding::reject(code, format!("{what}: {why}."))
    }
}

/// Run `program args…` isolated under `limits` in a scratch directory of its
/// own, feeding `stdin` and returning its standard output.
pub async fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    limits: Limits,
) -> Result<Vec<u8>, WorkerError> {
    let scratch = Scratch::new().map_err(|e| WorkerError::Io {
        program: program.into(),
        reason: format!("directorio temporal: {e}"),
    })?;
    run_in(&scratch, program, args, stdin, limits, &[]).await
}

/// Run `program args…` isolated under `limits`, with `scratch` as its working
/// directory and the only place it may write; `read_only` are paths beyond
/// the system directories it may read (e.g. a schema folder).
pub async fn run_in(
    scratch: &Scratch,
    program: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    limits: Limits,
    read_only: &[PathBuf],
) -> Result<Vec<u8>, WorkerError> {
    let mut extra_ro = read_only.to_vec();
    if let Some(t) = std::env::var_os("TESSDATA_PREFIX") {
        extra_ro.push(PathBuf::from(t));
    }
    // The program found now is the one allowed to run (wherever installed).
    let exe = resolve_program(program);
    let plan = super::sandbox::Plan::new(scratch.path(), exe.as_deref(), &extra_ro);
    let mut cmd = tokio::process::Command::new(exe.as_deref().unwrap_or(Path::new(program)));
    cmd.args(args)
        .current_dir(scratch.path())
        // Temporary files too go to the one place the child may write.
        .env("TMPDIR", scratch.path())
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mem = limits.memory_bytes;
    let cpu = limits.cpu_secs;
    let fsize = limits.file_bytes;
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (setrlimit, prctl, unshare, open,
    // fstat, close and Landlock's); `Plan` prepared every path beforehand,
    // so it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            set_limit(libc::RLIMIT_AS, mem)?;
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_CORE, 0)?;
            set_limit(libc::RLIMIT_FSIZE, fsize)?;
            set_limit(libc::RLIMIT_NOFILE, 64)?;
            // The child dies with the daemon rather than outliving it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            plan.apply()
        });
    }
    let mut child = cmd.spawn().map_err(|e| WorkerError::Spawn {
        program: program.into(),
        reason: e.to_string(),
    })?;
    let pid = child.id();
    let io_err = |e: std::io::Error| WorkerError::Io {
        program: program.into(),
        reason: e.to_string(),
    };
    let input = stdin.map(<[u8]>::to_vec);
    let mut pipe_in = child.stdin.take();
    let feed = async move {
        if let (Some(mut p), Some(data)) = (pipe_in.take(), input) {
            // A child that exits early closes its stdin: not our error.
            let _ = p.write_all(&data).await;
            let _ = p.shutdown().await;
        }
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let cap = limits.output_bytes;
    let read_out = async move {
        let mut buf = Vec::new();
        if let Some(out) = stdout {
            // One byte past the limit tells "too much" from "exactly enough".
            out.take(cap + 1).read_to_end(&mut buf).await?;
        }
        Ok::<_, std::io::Error>(buf)
    };
    let read_err = async move {
        let mut buf = Vec::new();
        if let Some(mut err) = stderr {
            // Keep the first 64 KiB; drain the rest so the child never blocks.
            let _ = (&mut err).take(64 << 10).read_to_end(&mut buf).await;
            let _ = tokio::io::copy(&mut err, &mut tokio::io::sink()).await;
        }
        buf
    };
    // Feeding and draining stderr run on their own, so a child that stops
    // reading its input, or floods its output, cannot stall the reader.
    let feed = tokio::spawn(feed);
    let read_err = tokio::spawn(read_err);
    let work = async {
        let out = read_out.await?;
        if out.len() as u64 > cap {
            return Ok(Err(out.len()));
        }
        let status = child.wait().await?;
        let _ = feed.await;
        let err = read_err.await.unwrap_or_default();
        Ok::<_, std::io::Error>(Ok((status, out, err)))
    };
    let (status, stdout, stderr) = match tokio::time::timeout(limits.wall, work).await {
        Ok(Ok(Ok(r))) => r,
        Ok(Ok(Err(_))) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            return Err(WorkerError::TooMuchOutput {
                program: program.into(),
                limit: cap,
            });
        }
        Ok(Err(e)) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            return Err(io_err(e));
        }
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            return Err(WorkerError::Timeout {
                program: program.into(),
                secs: limits.wall.as_secs(),
            });
        }
    };
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        return Err(WorkerError::Signal {
            program: program.into(),
            signal: sig,
        });
    }
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        return Err(WorkerError::Failed {
            program: program.into(),
            code: status.code().unwrap_or(-1),
            stderr: stderr.chars().take(400).collect(),
        });
    }
    Ok(stdout)
}

/// `program` as an absolute path: as given when it names a path, else the
/// first executable file of that name on `PATH`.
fn resolve_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        // The child starts in its scratch directory: anchor a relative path.
        let p = PathBuf::from(program);
        return Some(if p.is_relative() {
            std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
        } else {
            p
        });
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: plain syscall with a valid pointer to a stack value.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn kill_group(pid: u32) {
    // The child leads its own process group (process_group(0)); kill the
    // group so helpers it started die too.
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// A private temporary directory removed on drop (the decoding tools need
/// file paths; nothing else in the crate writes there).
pub struct Scratch {
    path: PathBuf,
}

/// Where scratch directories are made: the daemon's `<state_dir>/scratch`
/// (set at start-up, under the state directory's lock), else the system's
/// temporary directory (`process`, tests).
static SCRATCH_ROOT: OnceLock<PathBuf> = OnceLock::new();
const SCRATCH_PREFIX: &str = "pasarela-fmt-";

/// Make scratch directories under `root` from now on, after removing the
/// ones a crashed or killed process left there; returns how many. Call once
/// at start-up, holding the state directory's lock (no other process uses
/// `root`). Returns `Err` when `root` cannot be made.
pub fn set_scratch_root(root: &Path) -> std::io::Result<usize> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)?;
    let mut removed = 0;
    for e in std::fs::read_dir(root)?.flatten() {
        let is_ours = e.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX);
        // Never through a link: only directories this module made.
        if is_ours
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::remove_dir_all(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    let _ = SCRATCH_ROOT.set(root.to_path_buf());
    Ok(removed)
}

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        let root = SCRATCH_ROOT
            .get()
            .cloned()
            .unwrap_or_else(std::env::temp_dir);
        let path = root.join(format!("{SCRATCH_PREFIX}{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path)?;
        Ok(Scratch { path })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Write `bytes` to `name` inside the directory and return its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let p = self.path.join(name);
        std::fs::write(&p, bytes)?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

static OCR_SEMAPHORE: OnceLock<Arc<Semaphore>> = OnceLock::new();

/// Default number of OCR/rasterisation jobs at once: one per core, at least 1.
pub fn default_ocr_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Set how many OCR/rasterisation children may run at once. Effective only
/// before the first OCR job (call it at start-up); returns false afterwards.
pub fn set_ocr_concurrency(n: usize) -> bool {
    OCR_SEMAPHORE
        .set(Arc::new(Semaphore::new(n.max(1))))
        .is_ok()
}

/// Wait for a slot to run heavy decoding (OCR, page rendering).
pub async fn ocr_permit() -> Option<OwnedSemaphorePermit> {
    let sem = OCR_SEMAPHORE
        .get_or_init(|| Arc::new(Semaphore::new(default_ocr_concurrency())))
        .clone();
    sem.acquire_owned().await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_and_captures_stdout() {
        let out = run("cat", &[], Some(b"hola"), Limits::default())
            .await
            .unwrap();
        assert_eq!(out, b"hola");
    }

    #[tokio::test]
    async fn times_out_and_kills() {
        let limits = Limits {
            wall: Duration::from_millis(200),
            ..Limits::default()
        };
        let e = run("sleep", &["10"], None, limits).await.unwrap_err();
        assert!(matches!(e, WorkerError::Timeout { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn memory_limit_ends_the_child_not_us() {
        let limits = Limits {
            memory_bytes: 64 << 20,
            ..Limits::default()
        };
        // One process that asks for 200 MB (the child may not fork).
        let e = run(
            "perl",
            &["-e", "my $x = 'a' x 200_000_000; print length $x"],
            None,
            limits,
        )
        .await;
        assert!(e.is_err(), "{e:?}");
    }

    /// The sandbox is really in force on this kernel: a child can write its
    /// scratch directory but nothing else, cannot read the daemon's files,
    /// and cannot reach a TCP listener on loopback.
    #[tokio::test]
    async fn the_sandbox_confines_files_and_network() {
        let probe = super::super::sandbox::probe();
        assert!(
            probe.filesystem && probe.tcp,
            "Landlock with TCP rules (ABI 4+) is expected on this host: {probe:?}"
        );
        let outside =
            std::env::temp_dir().join(format!("pasarela-escape-{}", uuid::Uuid::new_v4()));
        let scratch = Scratch::new().unwrap();
        // Builtins only: the child may not start processes (seccomp; tested
        // below).
        let script = format!(
            "echo inside > ok.txt && read -r l < ok.txt && echo \"$l\"; \
             echo escaped > {o} && echo WROTE-OUTSIDE; \
             read -r l < {cfg} && echo READ-CONFIG; \
             echo x > /dev/tcp/127.0.0.1/$1 && echo CONNECTED; \
             true",
            o = outside.display(),
            cfg = std::fs::canonicalize("Cargo.toml").unwrap().display(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let out = run_in(
            &scratch,
            "bash",
            &["-c", &script, "bash", &port],
            None,
            Limits::default(),
            &[],
        )
        .await
        .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("inside"), "{out}");
        assert!(!out.contains("WROTE-OUTSIDE"), "{out}");
        assert!(!outside.exists());
        assert!(!out.contains("READ-CONFIG"), "{out}");
        assert!(!out.contains("CONNECTED"), "{out}");
        assert!(listener.accept().is_err(), "the child reached the listener");
        assert!(scratch.path().join("ok.txt").is_file());
    }

    /// No socket of any kind: a pathname UNIX socket (PostgreSQL's, say) is
    /// beyond the network namespace and Landlock; seccomp refuses `socket`.
    #[tokio::test]
    async fn the_sandbox_refuses_unix_sockets_and_new_processes() {
        let perl = "use Socket; \
            if (socket(my $s, PF_UNIX, SOCK_STREAM, 0)) { print \"SOCKET\\n\" } \
            my $pid = fork(); if (defined $pid) { exit 0 if $pid == 0; print \"FORKED\\n\" } \
            print \"done\\n\";";
        let out = run("perl", &["-e", perl], None, Limits::default())
            .await
            .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("done"), "{out}");
        assert!(!out.contains("SOCKET"), "{out}");
        assert!(!out.contains("FORKED"), "{out}");
    }

    #[tokio::test]
    async fn output_beyond_the_limit_ends_the_child() {
        let limits = Limits {
            output_bytes: 1 << 20,
            ..Limits::default()
        };
        let e = run("sh", &["-c", "exec cat /dev/zero"], None, limits)
            .await
            .unwrap_err();
        assert!(matches!(e, WorkerError::TooMuchOutput { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn missing_tool_is_environment() {
        let e = run("pasarela-no-such-tool", &[], None, Limits::default())
            .await
            .unwrap_err();
        assert!(e.is_environment());
    }
}
