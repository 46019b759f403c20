//! SFTP wire helpers: status frames and packet encoding, the request
//! failure type and its mapping from IO errors, field readers, and the
//! attributes and `ls -l` lines of listings.

use super::*;

pub(super) fn status_frame(id: u32, code: StatusCode, msg: &str) -> Bytes {
    encode(Packet::Status(p::Status {
        id,
        status_code: code,
        error_message: msg.to_string(),
        language_tag: "en".to_string(),
    }))
}

pub(super) fn encode(packet: Packet) -> Bytes {
    Bytes::try_from(packet).unwrap_or_else(|_| Bytes::new())
}

/// A request failed: its status reply.
#[derive(Debug)]
pub(super) struct Fail(pub(super) StatusCode, pub(super) String);

impl Fail {
    pub(super) fn denied() -> Fail {
        Fail(StatusCode::PermissionDenied, "Permission denied".into())
    }
    pub(super) fn no_such() -> Fail {
        Fail(StatusCode::NoSuchFile, "No such file".into())
    }
    pub(super) fn failure(msg: &str) -> Fail {
        Fail(StatusCode::Failure, msg.into())
    }
    pub(super) fn unsupported() -> Fail {
        Fail(StatusCode::OpUnsupported, "Operation unsupported".into())
    }
    pub(super) fn bad() -> Fail {
        Fail(StatusCode::BadMessage, "Bad message".into())
    }
}

/// OpenSSH sftp-server's errno_to_portable.
pub fn io_status(e: &io::Error) -> (StatusCode, String) {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EBADF) => {
            (StatusCode::NoSuchFile, "No such file".into())
        }
        Some(libc::EPERM | libc::EACCES) => {
            (StatusCode::PermissionDenied, "Permission denied".into())
        }
        Some(libc::EINVAL | libc::ENAMETOOLONG) => (StatusCode::BadMessage, "Bad message".into()),
        Some(libc::ENOSYS) => (StatusCode::OpUnsupported, "Operation unsupported".into()),
        _ if e.kind() == io::ErrorKind::NotFound => (StatusCode::NoSuchFile, "No such file".into()),
        _ => (StatusCode::Failure, e.to_string()),
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        let (c, m) = io_status(&e);
        Fail(c, m)
    }
}

impl From<VfsError> for Fail {
    fn from(e: VfsError) -> Self {
        match e {
            VfsError::Denied => Fail::denied(),
            VfsError::NotFound => Fail::no_such(),
            VfsError::Io(e) => e.into(),
        }
    }
}

pub(super) type R<T> = Result<T, Fail>;

pub(super) fn be_u32(b: &mut Bytes) -> R<u32> {
    b.try_get_u32().map_err(|_| Fail::bad())
}

pub(super) fn be_u64(b: &mut Bytes) -> R<u64> {
    b.try_get_u64().map_err(|_| Fail::bad())
}

pub(super) fn be_string(b: &mut Bytes) -> R<Bytes> {
    let n = be_u32(b)? as usize;
    if b.remaining() < n {
        return Err(Fail::bad());
    }
    Ok(b.split_to(n))
}

pub(super) fn attrs_of(md: &std::fs::Metadata) -> FileAttributes {
    FileAttributes {
        size: Some(md.len()),
        uid: Some(0),
        gid: Some(0),
        permissions: Some(md.mode()),
        atime: Some(md.atime().max(0) as u32),
        mtime: Some(md.mtime().max(0) as u32),
        ..Default::default()
    }
}

/// `ls -l` style line, as OpenSSH's sftp-server writes it.
pub(super) fn longname(name: &str, md: &std::fs::Metadata, owner: &str) -> String {
    let mode = md.mode();
    let t = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        _ => '-',
    };
    let mut s = String::with_capacity(80);
    s.push(t);
    for (bit, c) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        s.push(if mode & bit != 0 { c } else { '-' });
    }
    let mtime = chrono::DateTime::<chrono::Utc>::from_timestamp(md.mtime(), 0).unwrap_or_default();
    let now = chrono::Utc::now();
    let recent = (now - mtime).num_days().abs() < 180;
    let when = if recent {
        mtime.format("%b %e %H:%M").to_string()
    } else {
        mtime.format("%b %e  %Y").to_string()
    };
    format!(
        "{s} {:>4} {:<8} {:<8} {:>8} {when} {name}",
        md.nlink().min(9999),
        owner,
        owner,
        md.len()
    )
}

impl Fail {
    pub(super) fn failure_bad_handle() -> Fail {
        Fail(StatusCode::Failure, "Invalid handle".into())
    }
}

pub(super) fn ok(id: u32) -> Bytes {
    status_frame(id, StatusCode::Ok, "Success")
}
