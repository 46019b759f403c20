//! Isolated decoding: every C library that reads untrusted bytes (poppler's
//! `pdftotext`/`pdftoppm`/`pdfdetach`, Tesseract) runs as a child process
//! under a wall-time limit, an address-space limit (`RLIMIT_AS`), a CPU-time
//! limit and no core dumps. A crash, a hang or a runaway allocation ends the
//! child, never the daemon; the caller turns it into a finding.
//!
//! OCR work is throttled by its own semaphore ([`ocr_permit`]), separate from
//! the daemon's file workers, because one page of OCR costs a core for ~1 s
//! while an XML invoice costs milliseconds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(60),
            memory_bytes: 1536 << 20,
            cpu_secs: 120,
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
    /// Reading or writing the child's pipes or temporary files failed.
    #[error("E/S con '{program}': {reason}")]
    Io { program: String, reason: String },
}

impl WorkerError {
    /// True when the cause is the environment (tool missing), not the file.
    pub fn is_environment(&self) -> bool {
        matches!(self, WorkerError::Spawn { .. })
    }
}

/// Run `program args…` isolated under `limits`, feeding `stdin` and
/// returning its standard output.
pub async fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    limits: Limits,
) -> Result<Vec<u8>, WorkerError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
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
    // SAFETY: the closure runs between fork and exec and only calls
    // setrlimit(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            set_limit(libc::RLIMIT_AS, mem)?;
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_CORE, 0)?;
            Ok(())
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
    let work = async {
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        out
    };
    let out = match tokio::time::timeout(limits.wall, work).await {
        Ok(r) => r.map_err(io_err)?,
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
    if let Some(sig) = out.status.signal() {
        return Err(WorkerError::Signal {
            program: program.into(),
            signal: sig,
        });
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(WorkerError::Failed {
            program: program.into(),
            code: out.status.code().unwrap_or(-1),
            stderr: stderr.chars().take(400).collect(),
        });
    }
    Ok(out.stdout)
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

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        let path = std::env::temp_dir().join(format!("pasarela-fmt-{}", uuid::Uuid::new_v4()));
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
        // python is not guaranteed; use sh + a huge allocation through `head`.
        let e = run(
            "sh",
            &[
                "-c",
                "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
            ],
            None,
            limits,
        )
        .await;
        assert!(e.is_err(), "{e:?}");
    }

    #[tokio::test]
    async fn missing_tool_is_environment() {
        let e = run("pasarela-no-such-tool", &[], None, Limits::default())
            .await
            .unwrap_err();
        assert!(e.is_environment());
    }
}
