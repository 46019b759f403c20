use std::path::PathBuf;

/// What the SFTP server learnt receiving a file: its hash, and which file
/// it was, so intake can tell the file it staged is that one (a rename keeps
/// the inode) and need not hash it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub sha256: String,
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
}

/// Something intake must look at. Sent by the watcher, the periodic scan and
/// the SFTP server (an upload renamed into place on CLOSE).
#[derive(Debug, Clone)]
pub enum IntakeEvent {
    /// A file is complete: it was closed after writing or renamed into place.
    /// Taken without a stability wait.
    Completed {
        account: String,
        path: PathBuf,
        /// Set by the SFTP server, which hashed the upload as it arrived.
        upload: Option<Upload>,
    },
    /// A file was seen but may still be growing (copy by other means):
    /// taken once its size and mtime are stable.
    Seen { account: String, path: PathBuf },
}
