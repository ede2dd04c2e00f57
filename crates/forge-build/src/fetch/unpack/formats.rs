//! The archive formats: tar (with its compressions and pax/GNU headers),
//! zip (and wheels) and deb, each read as a stream of entries handed to the
//! [`Extractor`].

use std::fs::File;
use std::io::{self, BufReader, Read};

use forge_core::recipe::Unpack;

use super::extractor::{show, Extractor, Node};
use super::{UnpackError, MAX_EXTENSION_HEADER, MAX_LINK_TARGET, XZ_MEMLIMIT};
use crate::fetch::ar::ArReader;

pub(super) fn extract(x: &mut Extractor, file: File) -> Result<(), UnpackError> {
    let r = BufReader::new(file);
    match x.kind {
        Unpack::Zip | Unpack::Whl => extract_zip(x, r),
        Unpack::Deb => extract_deb(x, r),
        tar_kind => {
            let decoded = decoder(tar_kind, r).map_err(|e| x.read_err(None, e))?;
            extract_tar(x, decoded)
        }
    }
}

/// The decompressing reader for a tar kind.
fn decoder<'a, R: Read + 'a>(kind: Unpack, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Unpack::TarGz => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Unpack::TarXz => {
            let stream =
                xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
                    .map_err(io::Error::other)?;
            Box::new(xz2::read::XzDecoder::new_stream(r, stream))
        }
        Unpack::TarZst => Box::new(zstd::stream::read::Decoder::new(r)?),
        Unpack::TarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        _ => Box::new(r),
    })
}

/// Reads at most `limit` bytes of an extension header's data.
fn read_bounded(r: &mut dyn Read, size: u64) -> io::Result<Vec<u8>> {
    if size > MAX_EXTENSION_HEADER {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("extension header of {size} bytes exceeds the limit of {MAX_EXTENSION_HEADER}"),
        ));
    }
    let mut buf = Vec::new();
    r.take(size).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The `path`, `linkpath` and `size` records of a pax extended header, and
/// whether it describes a sparse file.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    sparse: bool,
}

fn parse_pax(data: &[u8]) -> io::Result<Pax> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed pax header: {what}"),
        )
    };
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        // Each record is "<len> <key>=<value>\n", <len> counting all of it.
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without a length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > sp + 1 && l <= rest.len())
            .ok_or_else(|| bad("bad record length"))?;
        let record = &rest[sp + 1..len];
        rest = &rest[len..];
        let record = record
            .strip_suffix(b"\n")
            .ok_or_else(|| bad("record not ending in a newline"))?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record without `=`"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => {
                pax.size = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad("size is not a number"))?,
                )
            }
            k if k.starts_with(b"GNU.sparse.") => pax.sparse = true,
            _ => {}
        }
    }
    Ok(pax)
}

/// Unpacks a tar stream. The tar crate is used in raw mode, and GNU long
/// names and pax headers are handled here, so that their size is bounded
/// ([`MAX_EXTENSION_HEADER`]) and nothing is ever unpacked by the crate.
fn extract_tar(x: &mut Extractor, r: impl Read) -> Result<(), UnpackError> {
    use tar::EntryType as T;
    let mut archive = tar::Archive::new(r);
    let entries = archive.entries().map_err(|e| x.read_err(None, e))?;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax = Pax::default();
    let mut last_name: Option<Vec<u8>> = None;
    for entry in entries.raw(true) {
        let mut entry = entry.map_err(|e| x.read_err(last_name.as_deref(), e))?;
        let header = entry.header().clone();
        let ty = header.entry_type();
        let size = header
            .entry_size()
            .map_err(|e| x.read_err(last_name.as_deref(), e))?;
        let ext_err = |x: &Extractor, e| x.read_err(last_name.as_deref(), e);
        match ty {
            T::GNULongName => {
                let mut name = read_bounded(&mut entry, size).map_err(|e| ext_err(x, e))?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some(name);
                continue;
            }
            T::GNULongLink => {
                let mut name = read_bounded(&mut entry, size).map_err(|e| ext_err(x, e))?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_link = Some(name);
                continue;
            }
            T::XHeader => {
                let data = read_bounded(&mut entry, size).map_err(|e| ext_err(x, e))?;
                pax = parse_pax(&data).map_err(|e| ext_err(x, e))?;
                continue;
            }
            T::XGlobalHeader => continue,
            _ => {}
        }
        let name = pax
            .path
            .take()
            .or_else(|| long_name.take())
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link = pax
            .linkpath
            .take()
            .or_else(|| long_link.take())
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        let (pax_size, sparse) = (pax.size.take(), std::mem::take(&mut pax.sparse));
        long_name = None;
        long_link = None;
        last_name = Some(name.clone());
        let unsupported = |kind: &str| UnpackError::Unsupported {
            archive: x.archive.clone(),
            entry: show(&name),
            kind: kind.to_owned(),
        };
        if sparse || ty == T::GNUSparse {
            return Err(unsupported("gnu sparse file"));
        }
        if pax_size.is_some_and(|s| s != size) {
            // The tar crate in raw mode positions by the header's size.
            return Err(unsupported("pax size record that differs from the header"));
        }
        let special = |kind| UnpackError::SpecialFile {
            archive: x.archive.clone(),
            entry: show(&name),
            kind,
        };
        let node = match ty {
            T::Regular | T::Continuous => Node::File {
                executable: header.mode().unwrap_or(0) & 0o111 != 0,
                data: &mut entry,
            },
            T::Directory => Node::Dir,
            T::Symlink => Node::Symlink {
                target: link.unwrap_or_default(),
            },
            T::Link => Node::HardLink {
                target: link.unwrap_or_default(),
            },
            T::Char => return Err(special("character device")),
            T::Block => return Err(special("block device")),
            T::Fifo => return Err(special("fifo")),
            other => {
                return Err(unsupported(&format!(
                    "tar entry type {:?}",
                    other.as_byte() as char
                )))
            }
        };
        x.entry(&name, node)?;
    }
    if long_name.is_some() || long_link.is_some() || pax.path.is_some() {
        return Err(x.read_err(
            last_name.as_deref(),
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends after an extension header",
            ),
        ));
    }
    Ok(())
}

const S_IFMT: u32 = 0o170_000;

fn extract_zip<R: Read + io::Seek>(x: &mut Extractor, r: R) -> Result<(), UnpackError> {
    let zip_err = |x: &Extractor, entry: Option<&[u8]>, source| UnpackError::Zip {
        archive: x.archive.clone(),
        entry: entry.map(show),
        source,
    };
    let mut zip = zip::ZipArchive::new(r).map_err(|e| zip_err(x, None, e))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| zip_err(x, None, e))?;
        let name = f.name_raw().to_vec();
        let mode = f.unix_mode().unwrap_or(0);
        let special = |kind| UnpackError::SpecialFile {
            archive: x.archive.clone(),
            entry: show(&name),
            kind,
        };
        match mode & S_IFMT {
            0o020_000 => return Err(special("character device")),
            0o060_000 => return Err(special("block device")),
            0o010_000 => return Err(special("fifo")),
            0o140_000 => return Err(special("socket")),
            _ => {}
        }
        if f.is_symlink() {
            let target = read_bounded_link(&mut f).map_err(|e| x.read_err(Some(&name), e))?;
            x.entry(&name, Node::Symlink { target })?;
        } else if f.is_dir() {
            x.entry(&name, Node::Dir)?;
        } else {
            let executable = mode & 0o111 != 0;
            x.entry(
                &name,
                Node::File {
                    executable,
                    data: &mut f,
                },
            )?;
        }
    }
    Ok(())
}

fn read_bounded_link(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_LINK_TARGET + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_LINK_TARGET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("symlink target longer than {MAX_LINK_TARGET} bytes"),
        ));
    }
    Ok(buf)
}

/// The tar kind of a deb's data member, by name.
fn data_tar_kind(name: &[u8]) -> Option<Unpack> {
    Some(match name {
        b"data.tar" => Unpack::Tar,
        b"data.tar.gz" => Unpack::TarGz,
        b"data.tar.xz" => Unpack::TarXz,
        b"data.tar.zst" => Unpack::TarZst,
        b"data.tar.bz2" => Unpack::TarBz2,
        _ => return None,
    })
}

fn extract_deb(x: &mut Extractor, r: impl Read) -> Result<(), UnpackError> {
    let ar_err = |x: &Extractor, source| UnpackError::Ar {
        archive: x.archive.clone(),
        source,
    };
    let mut ar = ArReader::new(r).map_err(|e| ar_err(x, e))?;
    let mut members = Vec::new();
    while let Some(member) = ar.next_member().map_err(|e| ar_err(x, e))? {
        let name = member.name.clone();
        if let Some(kind) = data_tar_kind(&name) {
            let decoded = decoder(kind, member).map_err(|e| x.read_err(Some(&name), e))?;
            return extract_tar(x, decoded);
        }
        if name.starts_with(b"data.tar") {
            return Err(UnpackError::Unsupported {
                archive: x.archive.clone(),
                entry: show(&name),
                kind: "deb data member compression (expected none, gz, xz, zst or bz2)".into(),
            });
        }
        members.push(show(&name));
    }
    Err(UnpackError::NoDataTar {
        archive: x.archive.clone(),
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records() {
        let p =
            parse_pax(b"30 path=a/very/long/path/name\n19 linkpath=target\n11 size=42\n").unwrap();
        assert_eq!(p.path.as_deref(), Some(&b"a/very/long/path/name"[..]));
        assert_eq!(p.linkpath.as_deref(), Some(&b"target"[..]));
        assert_eq!(p.size, Some(42));
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"x").is_err());
        assert!(parse_pax(b"7 path\n").is_err());
    }
}
