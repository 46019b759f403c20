//! A look at a ZIP container's structure before any decompression:
//! spreadsheets (xlsx, ods) are ZIPs, and a "zip bomb" declares parts that
//! inflate to gigabytes from a few megabytes. The declared sizes are read from
//! the central directory (ZIP64 included) and checked against limits; nothing
//! is inflated here. Pure and bounded: O(entries), one allocation.
//!
//! The guard only helps if it judges the directory the real reader will use.
//! The zip crate (through calamine) is lenient: it searches the end record
//! backwards, corrects for bytes prepended to the archive, and tries earlier
//! end records when one does not parse. A guard that read the directory at
//! the raw offset was bypassed by a few bytes of junk before the archive. So
//! instead of imitating every leniency, only a canonical archive passes (what
//! Excel, LibreOffice and every ZIP writer produce): one end record ending
//! exactly at the end of the file, no bytes before the first local header, a
//! central directory that abuts the end record and holds exactly the declared
//! entries, local headers that agree with it, no overlapping entries, and
//! stored entries whose sizes agree. Anything else is refused. The reader
//! itself stops inflating an entry past its declared size, so the declared
//! sizes judged here bound what it can produce.

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
    Entry {
        name: String,
        size: u64,
        max: u64,
    },
    Total {
        size: u64,
        max: u64,
    },
    Entries {
        count: u64,
        max: u64,
    },
    /// Bytes before the archive (the directory offsets do not count them).
    Prefix {
        bytes: u64,
    },
    /// The structure is not canonical; `detail` says where (Spanish).
    Malformed {
        detail: &'static str,
    },
}

const EOCD: &[u8] = b"PK\x05\x06";
const EOCD64: &[u8] = b"PK\x06\x06";
const LOCATOR64: &[u8] = b"PK\x06\x07";
const CENTRAL: &[u8] = b"PK\x01\x02";
const LOCAL: &[u8] = b"PK\x03\x04";
/// Where the zip crate looks for the end record: its fixed part, a
/// signature's length and the longest comment.
const EOCD_WINDOW: usize = 22 + 4 + (1 << 16);

fn u16_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i.checked_add(2)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
}

fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i.checked_add(8)?).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn malformed(detail: &'static str) -> ZipRefusal {
    ZipRefusal::Malformed { detail }
}

fn at(v: u64) -> Result<usize, ZipRefusal> {
    usize::try_from(v).map_err(|_| malformed("un desplazamiento está fuera del archivo"))
}

/// The ZIP64 extended-information field (id 1) of an extra block: its
/// values in order, for the fields whose 32-bit value is saturated.
fn zip64_extra(extra: &[u8], wanted: &[bool]) -> Result<[u64; 4], ZipRefusal> {
    let mut out = [0u64; 4];
    let mut e = 0usize;
    while e + 4 <= extra.len() {
        let (id, len) = (
            u16_at(extra, e).unwrap_or(0),
            u16_at(extra, e + 2).unwrap_or(0) as usize,
        );
        let body = extra
            .get(e + 4..e + 4 + len)
            .ok_or(malformed("un campo extra ZIP64 está truncado"))?;
        if id == 1 {
            let mut p = 0usize;
            for (i, w) in wanted.iter().enumerate() {
                if *w {
                    // The disk number (last) is 4 bytes, the rest 8.
                    out[i] = if i == 3 {
                        u32_at(body, p)
                    } else {
                        u64_at(body, p)
                    }
                    .ok_or(malformed("un campo extra ZIP64 está truncado"))?;
                    p += if i == 3 { 4 } else { 8 };
                }
            }
            return Ok(out);
        }
        e += 4 + len;
    }
    if wanted.iter().any(|w| *w) {
        return Err(malformed("falta el campo extra ZIP64 de una parte"));
    }
    Ok(out)
}

/// Check the structure and declared sizes of a ZIP's entries. A file with no
/// end-of-central-directory record where a reader looks for one is not a
/// ZIP and passes (the spreadsheet reader judges it); any ZIP that is not
/// canonical is refused (see the module documentation). Long on purpose: the
/// end record, the central directory and each local header are checked in
/// one pass in file order, each refusal naming the offset it found.
pub fn check(bytes: &[u8], limits: ZipLimits) -> Result<(), ZipRefusal> {
    let len = bytes.len();
    let tail_start = len.saturating_sub(EOCD_WINDOW);
    // The zip crate tries the last signature first.
    let Some(eocd) = bytes[tail_start..]
        .windows(4)
        .rposition(|w| w == EOCD)
        .map(|i| tail_start + i)
    else {
        return Ok(());
    };
    let field16 =
        |i: usize| u16_at(bytes, eocd + i).ok_or(malformed("el registro final está truncado"));
    let field32 =
        |i: usize| u32_at(bytes, eocd + i).ok_or(malformed("el registro final está truncado"));
    let (disk, cd_disk, disk_entries, entries32) =
        (field16(4)?, field16(6)?, field16(8)?, field16(10)?);
    let (cd_size32, cd_offset32, comment_len) = (field32(12)?, field32(16)?, field16(20)?);
    if eocd + 22 + comment_len as usize != len {
        return Err(malformed(
            "el registro final no termina donde termina el archivo (datos después del ZIP)",
        ));
    }
    if disk != 0 || cd_disk != 0 || disk_entries != entries32 {
        return Err(malformed("es un ZIP de varios volúmenes"));
    }
    let (mut entries, mut cd_size, mut cd_offset, mut cd_end) =
        (entries32, cd_size32, cd_offset32, eocd as u64);
    if entries32 == 0xFFFF || cd_size32 == 0xFFFF_FFFF || cd_offset32 == 0xFFFF_FFFF {
        // ZIP64: the locator sits right before the end record and points at
        // the ZIP64 end record, which must end right at the locator.
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| bytes.get(l..l + 4) == Some(LOCATOR64))
            .ok_or(malformed("falta el localizador ZIP64"))?;
        let (Some(z_disk), Some(z64), Some(disks)) = (
            u32_at(bytes, loc + 4),
            u64_at(bytes, loc + 8),
            u32_at(bytes, loc + 16),
        ) else {
            return Err(malformed("el localizador ZIP64 está truncado"));
        };
        let z64 = at(z64)?;
        if z_disk != 0 || disks > 1 {
            return Err(malformed("es un ZIP de varios volúmenes"));
        }
        if bytes.get(z64..z64.saturating_add(4)) != Some(EOCD64) {
            return Err(malformed(
                "el registro final ZIP64 no está donde se declara",
            ));
        }
        let f = |i: usize| {
            u64_at(bytes, z64 + i).ok_or(malformed("el registro final ZIP64 está truncado"))
        };
        let (record, z_entries_disk, z_entries, z_size, z_offset) =
            (f(4)?, f(24)?, f(32)?, f(40)?, f(48)?);
        let (Some(this_disk), Some(z_cd_disk)) = (u32_at(bytes, z64 + 16), u32_at(bytes, z64 + 20))
        else {
            return Err(malformed("el registro final ZIP64 está truncado"));
        };
        if record
            .checked_add(12)
            .and_then(|r| r.checked_add(z64 as u64))
            != Some(loc as u64)
            || record < 44
        {
            return Err(malformed(
                "el registro final ZIP64 tiene una longitud incoherente",
            ));
        }
        if this_disk != 0 || z_cd_disk != 0 || z_entries_disk != z_entries {
            return Err(malformed("es un ZIP de varios volúmenes"));
        }
        // Values not saturated in the 32-bit record must agree.
        if (entries32 != 0xFFFF && entries32 != z_entries)
            || (cd_size32 != 0xFFFF_FFFF && cd_size32 != z_size)
            || (cd_offset32 != 0xFFFF_FFFF && cd_offset32 != z_offset)
        {
            return Err(malformed("los registros finales ZIP y ZIP64 no coinciden"));
        }
        (entries, cd_size, cd_offset, cd_end) = (z_entries, z_size, z_offset, z64 as u64);
    }
    if entries > limits.max_entries {
        return Err(ZipRefusal::Entries {
            count: entries,
            max: limits.max_entries,
        });
    }
    // The central directory must end where the end record starts. A reader
    // that finds it earlier than declared assumes bytes were prepended.
    let declared_end = cd_offset.checked_add(cd_size);
    if declared_end != Some(cd_end) {
        return match cd_end.checked_sub(cd_size) {
            Some(real) if real > cd_offset => Err(ZipRefusal::Prefix {
                bytes: real - cd_offset,
            }),
            _ => Err(malformed(
                "el directorio central no termina donde empieza el registro final",
            )),
        };
    }
    // No second end record inside the directory or the end records: a
    // lenient reader could fall back to it.
    let tail = at(cd_offset)?;
    if bytes[tail..eocd].windows(4).any(|w| w == EOCD) {
        return Err(malformed("hay más de un registro final"));
    }
    if entries == 0 {
        return Ok(());
    }
    let cd_end = at(cd_end)?;
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(entries as usize);
    let mut pos = tail;
    let mut total = 0u64;
    for _ in 0..entries {
        let h = bytes
            .get(pos..pos + 46)
            .filter(|h| h.starts_with(CENTRAL) && pos + 46 <= cd_end)
            .ok_or(malformed(
                "el directorio central tiene menos partes de las declaradas",
            ))?;
        let (flags, method) = (u16_at(h, 8).unwrap_or(0), u16_at(h, 10).unwrap_or(0));
        let (crc, csize32, usize32) = (
            u32_at(h, 16).unwrap_or(0),
            u32_at(h, 20).unwrap_or(0),
            u32_at(h, 24).unwrap_or(0),
        );
        let (name_len, extra_len, comment_len) = (
            u16_at(h, 28).unwrap_or(0) as usize,
            u16_at(h, 30).unwrap_or(0) as usize,
            u16_at(h, 32).unwrap_or(0) as usize,
        );
        let (disk32, local32) = (u16_at(h, 34).unwrap_or(0), u32_at(h, 42).unwrap_or(0));
        let name_at = pos + 46;
        let extra_at = name_at + name_len;
        let next = extra_at + extra_len + comment_len;
        if next > cd_end {
            return Err(malformed("una parte se sale del directorio central"));
        }
        let name = &bytes[name_at..extra_at];
        let z = zip64_extra(
            &bytes[extra_at..extra_at + extra_len],
            &[
                usize32 == 0xFFFF_FFFF,
                csize32 == 0xFFFF_FFFF,
                local32 == 0xFFFF_FFFF,
                disk32 == 0xFFFF,
            ],
        )?;
        let pick = |v32: u64, sat: u64, v64: u64| if v32 == sat { v64 } else { v32 };
        let size = pick(usize32, 0xFFFF_FFFF, z[0]);
        let csize = pick(csize32, 0xFFFF_FFFF, z[1]);
        let local = pick(local32, 0xFFFF_FFFF, z[2]);
        let disk = pick(disk32, 0xFFFF, z[3]);
        let name_str = || String::from_utf8_lossy(name).into_owned();
        if disk != 0 {
            return Err(malformed("es un ZIP de varios volúmenes"));
        }
        if method != 0 && method != 8 {
            return Err(malformed(
                "una parte usa un método de compresión no admitido (solo almacenado o deflate)",
            ));
        }
        if method == 0 && size != csize {
            return Err(malformed(
                "una parte sin compresión declara dos tamaños distintos",
            ));
        }
        if size > limits.max_entry {
            return Err(ZipRefusal::Entry {
                name: name_str(),
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
        // The local header must be where the directory says and agree with it.
        let l = at(local)?;
        let lh = bytes
            .get(l..l.saturating_add(30))
            .filter(|lh| lh.starts_with(LOCAL))
            .ok_or(malformed(
                "una parte no tiene su cabecera local donde se declara",
            ))?;
        let (l_flags, l_method, l_crc) = (
            u16_at(lh, 6).unwrap_or(0),
            u16_at(lh, 8).unwrap_or(0),
            u32_at(lh, 14).unwrap_or(0),
        );
        let (l_csize32, l_usize32) = (u32_at(lh, 18).unwrap_or(0), u32_at(lh, 22).unwrap_or(0));
        let (l_name_len, l_extra_len) = (
            u16_at(lh, 26).unwrap_or(0) as usize,
            u16_at(lh, 28).unwrap_or(0) as usize,
        );
        let l_name_at = l + 30;
        let l_extra_at = l_name_at + l_name_len;
        let data_at = l_extra_at + l_extra_len;
        let (Some(l_name), Some(l_extra)) = (
            bytes.get(l_name_at..l_extra_at),
            bytes.get(l_extra_at..data_at),
        ) else {
            return Err(malformed("una cabecera local está truncada"));
        };
        if l_name != name || l_method != method || (l_flags & 8) != (flags & 8) {
            return Err(malformed(
                "una cabecera local no coincide con el directorio central",
            ));
        }
        let (l_size, l_csize) = if l_usize32 == 0xFFFF_FFFF || l_csize32 == 0xFFFF_FFFF {
            // In a local header the ZIP64 field holds both sizes.
            let z = zip64_extra(l_extra, &[true, true, false, false])?;
            (z[0], z[1])
        } else {
            (l_usize32, l_csize32)
        };
        // With a data descriptor (flag 3) the local values may be zero.
        let agrees = |local: u64, central: u64| local == central || (flags & 8 != 0 && local == 0);
        if !agrees(l_size, size) || !agrees(l_csize, csize) || !agrees(l_crc, crc) {
            return Err(malformed(
                "una cabecera local declara tamaños distintos de los del directorio central",
            ));
        }
        let data_end = (data_at as u64)
            .checked_add(csize)
            .filter(|&e| e <= cd_offset)
            .ok_or(malformed("los datos de una parte se salen del archivo"))?;
        spans.push((local, data_end));
        pos = next;
    }
    if pos != cd_end {
        return Err(malformed(
            "el directorio central tiene más datos que las partes declaradas",
        ));
    }
    // Entries must not share bytes (overlapping entries multiply one
    // compressed stream into many parts), and the archive starts at byte 0.
    spans.sort_unstable();
    if spans[0].0 != 0 {
        return Err(ZipRefusal::Prefix { bytes: spans[0].0 });
    }
    if spans.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(malformed("dos partes comparten los mismos datos"));
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
            ZipRefusal::Prefix { bytes } => write!(
                f,
                "hay {bytes} bytes de datos antes del contenido ZIP; un archivo de Excel u OpenDocument empieza en su primer byte, así que se rechaza por seguridad"
            ),
            ZipRefusal::Malformed { detail } => write!(
                f,
                "la estructura ZIP del archivo no es coherente ({detail}); se rechaza por seguridad"
            ),
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
    fn non_zips_pass_and_truncated_zips_are_refused_without_panicking() {
        for b in [&b""[..], b"PK\x03\x04\x14\x00", &[0xffu8; 100]] {
            assert_eq!(check(b, ZipLimits::default()), Ok(()));
        }
        assert!(matches!(
            check(b"PK\x05\x06", ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
        let z = zip_with(&[("a", 10), ("b", 1000)]);
        for cut in 1..z.len() {
            // Never a panic; a cut that leaves part of the end record is refused.
            let r = check(&z[..z.len() - cut], ZipLimits::default());
            if cut <= 18 {
                assert!(r.is_err(), "cut {cut}");
            }
        }
    }

    /// The zip crate (what calamine uses) opens `bytes` and lists entries.
    fn crate_reads(bytes: &[u8]) -> usize {
        zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map(|z| z.len())
            .unwrap_or(0)
    }

    const SMALL: ZipLimits = ZipLimits {
        max_entry: 40_000,
        max_total: 100_000,
        max_entries: 10,
    };

    #[test]
    fn junk_before_the_archive_is_refused() {
        let z = zip_with(&[("xl/worksheets/sheet1.xml", 50_000)]);
        let mut prefixed = b"JUNK!!\n".to_vec();
        prefixed.extend_from_slice(&z);
        // The real reader still finds the archive behind the junk...
        assert_eq!(crate_reads(&prefixed), 1);
        // ...so the guard must not read the directory at the raw offset.
        assert_eq!(
            check(&prefixed, SMALL),
            Err(ZipRefusal::Prefix { bytes: 7 })
        );
        let small = zip_with(&[("a", 10)]);
        let mut prefixed = vec![0u8; 4096];
        prefixed.extend_from_slice(&small);
        assert_eq!(
            check(&prefixed, ZipLimits::default()),
            Err(ZipRefusal::Prefix { bytes: 4096 })
        );
        assert!(
            ZipRefusal::Prefix { bytes: 7 }
                .to_string()
                .contains("antes del contenido ZIP")
        );
    }

    #[test]
    fn trailing_data_and_extra_end_records_are_refused() {
        let z = zip_with(&[("a", 50_000)]);
        let mut trailing = z.clone();
        trailing.extend_from_slice(b"garbage");
        assert_eq!(crate_reads(&trailing), 1);
        assert!(matches!(
            check(&trailing, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
        // A second (fake, empty) end record inside the archive comment.
        let mut fake = z.clone();
        let eocd = fake.len() - 22;
        let mut comment = b"PK\x05\x06".to_vec();
        comment.extend_from_slice(&[0u8; 18]);
        comment.push(b'x');
        fake[eocd + 20..eocd + 22].copy_from_slice(&(comment.len() as u16).to_le_bytes());
        fake.extend_from_slice(&comment);
        assert!(matches!(
            check(&fake, SMALL),
            Err(ZipRefusal::Malformed { .. })
        ));
    }

    /// Offsets of the first central header and of the end record.
    fn layout(z: &[u8]) -> (usize, usize) {
        let eocd = z.len() - 22;
        (u32_at(z, eocd + 16).unwrap() as usize, eocd)
    }

    #[test]
    fn local_headers_must_agree_with_the_directory() {
        let z = zip_with(&[("a", 50_000), ("b", 10)]);
        assert_eq!(check(&z, ZipLimits::default()), Ok(()));
        // Local uncompressed size of "a" (offset 0) says something else.
        let mut bad = z.clone();
        bad[22..26].copy_from_slice(&7u32.to_le_bytes());
        assert!(matches!(
            check(&bad, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
        // The directory points entry "b" at entry "a"'s local header.
        let (cd, _) = layout(&z);
        let second = cd + 46 + 1 + u16_at(&z, cd + 30).unwrap() as usize;
        let mut bad = z.clone();
        bad[second + 42..second + 46].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            check(&bad, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
    }

    #[test]
    fn overlapping_entries_are_refused() {
        // The same local entry listed twice in the directory: each part is
        // small, but they share one compressed stream.
        let z = zip_with(&[("a", 30_000)]);
        let (cd, eocd) = layout(&z);
        let entry = z[cd..eocd].to_vec();
        let mut bad = z[..eocd].to_vec();
        bad.extend_from_slice(&entry);
        let mut end = z[eocd..].to_vec();
        end[8..10].copy_from_slice(&2u16.to_le_bytes());
        end[10..12].copy_from_slice(&2u16.to_le_bytes());
        end[12..16].copy_from_slice(&(2 * entry.len() as u32).to_le_bytes());
        bad.extend_from_slice(&end);
        assert_eq!(
            check(&bad, ZipLimits::default()),
            Err(ZipRefusal::Malformed {
                detail: "dos partes comparten los mismos datos"
            })
        );
        // The directory claims more entries than it holds.
        let mut short = z.clone();
        let n = short.len();
        short[n - 12..n - 10].copy_from_slice(&3u16.to_le_bytes());
        short[n - 14..n - 12].copy_from_slice(&3u16.to_le_bytes());
        assert!(matches!(
            check(&short, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
    }

    #[test]
    fn stored_sizes_and_zip64_fields_are_read() {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut out);
            let stored = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            z.start_file("mimetype", stored).unwrap();
            z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
                .unwrap();
            let big = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(true);
            z.start_file("content.xml", big).unwrap();
            z.write_all(&vec![b'A'; 50_000]).unwrap();
            z.finish().unwrap();
        }
        let z = out.into_inner();
        assert_eq!(check(&z, ZipLimits::default()), Ok(()));
        match check(&z, SMALL) {
            Err(ZipRefusal::Entry { name, size, .. }) => {
                assert_eq!((name.as_str(), size), ("content.xml", 50_000));
            }
            other => panic!("{other:?}"),
        }
        // A stored entry whose two sizes differ.
        let (cd, _) = layout(&z);
        let mut bad = z.clone();
        bad[cd + 24..cd + 28].copy_from_slice(&1u32.to_le_bytes());
        bad[22..26].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(
            check(&bad, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
    }

    /// Rewrite a plain archive's end as ZIP64 (record + locator + saturated
    /// end record); `entries` is what the ZIP64 record declares.
    fn as_zip64(z: &[u8], entries: u64) -> Vec<u8> {
        let (cd, eocd) = layout(z);
        let mut out = z[..eocd].to_vec();
        let z64 = out.len() as u64;
        out.extend_from_slice(b"PK\x06\x06");
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&entries.to_le_bytes());
        out.extend_from_slice(&entries.to_le_bytes());
        out.extend_from_slice(&((eocd - cd) as u64).to_le_bytes());
        out.extend_from_slice(&(cd as u64).to_le_bytes());
        out.extend_from_slice(b"PK\x06\x07");
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&z64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        out.extend_from_slice(&[0xFF; 8]);
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn zip64_end_records_are_followed_and_checked() {
        let z = zip_with(&[("a", 50_000), ("b", 10)]);
        let z64 = as_zip64(&z, 2);
        assert_eq!(crate_reads(&z64), 2, "a valid ZIP64 archive");
        assert_eq!(check(&z64, ZipLimits::default()), Ok(()));
        assert!(matches!(check(&z64, SMALL), Err(ZipRefusal::Entry { .. })));
        // Entry count from the ZIP64 record.
        let few = ZipLimits {
            max_entries: 1,
            ..ZipLimits::default()
        };
        assert_eq!(
            check(&z64, few),
            Err(ZipRefusal::Entries { count: 2, max: 1 })
        );
        // The ZIP64 record declares fewer entries than the directory holds.
        assert!(matches!(
            check(&as_zip64(&z, 1), ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
        // Saturated end record without a locator.
        let mut bare = z.clone();
        let n = bare.len();
        bare[n - 6..n - 2].copy_from_slice(&[0xFF; 4]);
        assert!(matches!(
            check(&bare, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. })
        ));
        // Junk before a ZIP64 archive is a prefix too.
        let mut prefixed = b"JUNK".to_vec();
        prefixed.extend_from_slice(&z64);
        assert!(matches!(
            check(&prefixed, ZipLimits::default()),
            Err(ZipRefusal::Malformed { .. } | ZipRefusal::Prefix { .. })
        ));
    }

    #[test]
    fn real_workbooks_pass() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for r in 0..200u32 {
            ws.write_string(r, 0, format!("fila {r}")).unwrap();
            ws.write_number(r, 1, r as f64).unwrap();
        }
        let bytes = wb.save_to_buffer().unwrap();
        assert_eq!(check(&bytes, ZipLimits::default()), Ok(()));
    }
}
