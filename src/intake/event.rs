use std::path::PathBuf;

/// Something intake must look at. Sent by the watcher, the periodic scan and
/// the SFTP server (an upload renamed into place on CLOSE).
#[derive(Debug, Clone)]
pub enum IntakeEvent {
    /// A file is complete: it was closed after writing or renamed into place.
    /// Taken without a stability wait.
    Completed { account: String, path: PathBuf },
    /// A file was seen but may still be growing (copy by other means):
    /// taken once its size and mtime are stable.
    Seen { account: String, path: PathBuf },
}
