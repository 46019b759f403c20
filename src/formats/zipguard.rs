//! A look at a ZIP container's central directory before any decompression:
//! spreadsheets (xlsx, ods) are ZIPs, and a "zip bomb" declares parts that
//! inflate to gigabytes from a few megabytes. The declared sizes are read from
//! the central directory (ZIP64 included) and checked against limits; nothing
//! is inflated here. Pure and bounded: O(entries), no allocation per entry.

/// Limits on what a container may declare.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Largest uncompressed size of one entry.
    pub max_entry: u64,
    /// Largest total uncompressed size.
    pub max_total: u64,
    /// Most entries.
    pub max_entries: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entry: 128 << 20,
            max_total: 256 << 20,
            max_entries: 10_000,
        }
    }
}

/// Why a container is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipRefusal {
    Entry { name: String, size: u64, max: u64 },
    Total { size: u64, max: u64 },
    Entries { count: u64, max: u64 },
}

fn u16_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
}

fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Check the declared sizes of a ZIP's entries. A file that is not a readable
/// ZIP passes (the reader reports it); only what is declared is judged.
pub fn check(bytes: &[u8], limits: ZipLimits) -> Result<(), ZipRefusal> {
    // End of central directory: the last signature in the final 64 KiB + 22.
    let tail_start = bytes.len().saturating_sub(65_557);
    let Some(eocd) = bytes[tail_start..]
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .map(|i| tail_start + i)
    else {
        return Ok(());
    };
    let (Some(mut entries), Some(mut cd_offset)) =
        (u16_at(bytes, eocd + 10), u32_at(bytes, eocd + 16))
    else {
        return Ok(());
    };
    // ZIP64 end of central directory, through its locator just before the EOCD.
    if (entries == 0xFFFF || cd_offset == 0xFFFF_FFFF)
        && eocd >= 20
        && bytes.get(eocd - 20..eocd - 16) == Some(b"PK\x06\x07")
        && let Some(z64) = u64_at(bytes, eocd - 12).and_then(|o| usize::try_from(o).ok())
        && bytes.get(z64..z64 + 4) == Some(b"PK\x06\x06")
    {
        entries = u64_at(bytes, z64 + 32).unwrap_or(entries);
        cd_offset = u64_at(bytes, z64 + 48).unwrap_or(cd_offset);
    }
    if entries > limits.max_entries {
        return Err(ZipRefusal::Entries {
            count: entries,
            max: limits.max_entries,
        });
    }
    let mut at = usize::try_from(cd_offset).unwrap_or(usize::MAX);
    let mut total = 0u64;
    for _ in 0..entries {
        if bytes.get(at..at + 4) != Some(b"PK\x01\x02") {
            break;
        }
        let (Some(mut size), Some(name_len), Some(extra_len), Some(comment_len)) = (
            u32_at(bytes, at + 24),
            u16_at(bytes, at + 28),
            u16_at(bytes, at + 30),
            u16_at(bytes, at + 32),
        ) else {
            break;
        };
        let name_at = at + 46;
        let extra_at = name_at + name_len as usize;
        if size == 0xFFFF_FFFF {
            // ZIP64 extended information: the uncompressed size comes first.
            let mut e = extra_at;
            let end = extra_at + extra_len as usize;
            while e + 4 <= end {
                let (Some(id), Some(len)) = (u16_at(bytes, e), u16_at(bytes, e + 2)) else {
                    break;
                };
                if id == 1 {
                    size = u64_at(bytes, e + 4).unwrap_or(size);
                    break;
                }
                e += 4 + len as usize;
            }
        }
        let name = bytes
            .get(name_at..extra_at)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        if size > limits.max_entry {
            return Err(ZipRefusal::Entry {
                name,
                size,
                max: limits.max_entry,
            });
        }
        total = total.saturating_add(size);
        if total > limits.max_total {
            return Err(ZipRefusal::Total {
                size: total,
                max: limits.max_total,
            });
        }
        at = extra_at + extra_len as usize + comment_len as usize;
    }
    Ok(())
}

impl std::fmt::Display for ZipRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        match self {
            ZipRefusal::Entry { name, size, max } => write!(
                f,
                "la parte '{name}' se expande a {:.0} MiB (máximo {:.0} MiB); parece una bomba de compresión",
                mib(*size),
                mib(*max)
            ),
            ZipRefusal::Total { size, max } => write!(
                f,
                "el contenido se expande a más de {:.0} MiB (máximo {:.0} MiB); parece una bomba de compresión",
                mib(*size),
                mib(*max)
            ),
            ZipRefusal::Entries { count, max } => {
                write!(f, "el archivo tiene {count} partes (máximo {max})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(entries: &[(&str, usize)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, size) in entries {
                z.start_file(*name, opts).unwrap();
                let chunk = vec![b'A'; 1 << 16];
                let mut left = *size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    z.write_all(&chunk[..n]).unwrap();
                    left -= n;
                }
            }
            z.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn ordinary_containers_pass_and_bombs_are_refused() {
        let small = zip_with(&[
            ("xl/workbook.xml", 1000),
            ("xl/worksheets/sheet1.xml", 50_000),
        ]);
        assert_eq!(check(&small, ZipLimits::default()), Ok(()));
        let limits = ZipLimits {
            max_entry: 40_000,
            max_total: 45_000,
            max_entries: 10,
        };
        match check(&small, limits) {
            Err(ZipRefusal::Entry { name, size, .. }) => {
                assert_eq!(name, "xl/worksheets/sheet1.xml");
                assert_eq!(size, 50_000);
            }
            other => panic!("{other:?}"),
        }
        let many = zip_with(&[("a", 30_000), ("b", 30_000)]);
        assert!(matches!(
            check(&many, limits),
            Err(ZipRefusal::Total { .. })
        ));
        let lots: Vec<(String, usize)> = (0..11).map(|i| (format!("f{i}"), 1)).collect();
        let lots: Vec<(&str, usize)> = lots.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        assert!(matches!(
            check(&zip_with(&lots), limits),
            Err(ZipRefusal::Entries { count: 11, .. })
        ));
    }

    #[test]
    fn junk_and_truncated_input_pass_through_without_panicking() {
        for b in [
            &b""[..],
            b"PK\x05\x06",
            b"PK\x03\x04\x14\x00",
            &[0xffu8; 100],
        ] {
            assert_eq!(check(b, ZipLimits::default()), Ok(()));
        }
        let mut z = zip_with(&[("a", 10)]);
        z.truncate(z.len() - 3);
        let _ = check(&z, ZipLimits::default());
    }
}
