//! Snapshot files: `snap-<last index, 20 digits>.bin` in one directory.
//!
//! Layout: magic `CRLSNAP1`, meta length (u32 LE), meta, data length (u64 LE), data, FNV-1a 64
//! checksum (u64 LE) of meta and data. A file is written under a temporary name, fsynced, renamed
//! and the directory fsynced, so a visible snapshot file is always complete and durable; that is
//! what allows the log behind it to be purged.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{StoreError, StoreResult};

const MAGIC: &[u8; 8] = b"CRLSNAP1";
const PREFIX: &str = "snap-";
const SUFFIX: &str = ".bin";
const TMP_SUFFIX: &str = ".tmp";

/// A snapshot as stored: opaque meta (encoded by the caller) and the app's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub index: u64,
    pub meta: Vec<u8>,
    pub data: Vec<u8>,
}

pub struct SnapshotFiles {
    dir: PathBuf,
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn sync_dir(dir: &Path) -> StoreResult<()> {
    // The rename is only durable once the directory entry is.
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl SnapshotFiles {
    /// Opens the snapshot directory, creating it, and removes leftovers of interrupted writes.
    pub fn open(dir: &Path) -> StoreResult<SnapshotFiles> {
        let at = |e: std::io::Error| StoreError(format!("snapshots in {}: {e}", dir.display()));
        fs::create_dir_all(dir).map_err(at)?;
        for ent in fs::read_dir(dir).map_err(at)? {
            let ent = ent.map_err(at)?;
            if ent.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
                fs::remove_file(ent.path()).map_err(at)?;
            }
        }
        Ok(SnapshotFiles {
            dir: dir.to_path_buf(),
        })
    }

    fn file_name(index: u64) -> String {
        format!("{PREFIX}{index:020}{SUFFIX}")
    }

    fn list(&self) -> StoreResult<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        for ent in fs::read_dir(&self.dir)? {
            let ent = ent?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if let Some(num) = name
                .strip_prefix(PREFIX)
                .and_then(|s| s.strip_suffix(SUFFIX))
                && let Ok(index) = num.parse::<u64>()
            {
                out.push((index, ent.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes the snapshot durably, then deletes older snapshot files.
    pub fn save(&self, index: u64, meta: &[u8], data: &[u8]) -> StoreResult<()> {
        let meta_len =
            u32::try_from(meta.len()).map_err(|_| StoreError("snapshot meta too large".into()))?;
        let final_path = self.dir.join(Self::file_name(index));
        let tmp_path = self
            .dir
            .join(format!("{}{TMP_SUFFIX}", Self::file_name(index)));
        {
            let mut f = std::io::BufWriter::new(File::create(&tmp_path)?);
            f.write_all(MAGIC)?;
            f.write_all(&meta_len.to_le_bytes())?;
            f.write_all(meta)?;
            f.write_all(&(data.len() as u64).to_le_bytes())?;
            f.write_all(data)?;
            f.write_all(&fnv1a(&[meta, data]).to_le_bytes())?;
            let f = f.into_inner().map_err(|e| StoreError(format!("io: {e}")))?;
            f.sync_all()?;
        }
        fs::rename(&tmp_path, &final_path)?;
        sync_dir(&self.dir)?;
        for (i, path) in self.list()? {
            if i != index {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// The newest complete snapshot, if any.
    pub fn load_latest(&self) -> StoreResult<Option<StoredSnapshot>> {
        let Some((index, path)) = self.list()?.pop() else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        File::open(&path)?.read_to_end(&mut buf)?;
        let corrupt = |what: &str| StoreError(format!("snapshot {}: {what}", path.display()));
        let mut rest = buf
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| corrupt("bad magic"))?;
        let mut take = |n: usize| -> StoreResult<&[u8]> {
            if rest.len() < n {
                return Err(corrupt("truncated"));
            }
            let (a, b) = rest.split_at(n);
            rest = b;
            Ok(a)
        };
        let meta_len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| corrupt("len"))?);
        let meta = take(meta_len as usize)?.to_vec();
        let data_len = u64::from_le_bytes(take(8)?.try_into().map_err(|_| corrupt("len"))?);
        let data_len = usize::try_from(data_len).map_err(|_| corrupt("data too large"))?;
        let data = take(data_len)?.to_vec();
        let sum = u64::from_le_bytes(take(8)?.try_into().map_err(|_| corrupt("len"))?);
        if sum != fnv1a(&[&meta, &data]) {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(Some(StoredSnapshot { index, meta, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_keeps_only_latest() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapshotFiles::open(dir.path()).unwrap();
        assert_eq!(files.load_latest().unwrap(), None);
        for index in [3u64, 10] {
            let s = StoredSnapshot {
                index,
                meta: vec![1, 2, index as u8],
                data: vec![7; index as usize],
            };
            files.save(s.index, &s.meta, &s.data).unwrap();
            assert_eq!(files.load_latest().unwrap(), Some(s));
        }
        assert_eq!(files.list().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapshotFiles::open(dir.path()).unwrap();
        let s = StoredSnapshot {
            index: 5,
            meta: vec![1],
            data: vec![2; 100],
        };
        files.save(s.index, &s.meta, &s.data).unwrap();
        let path = dir.path().join(SnapshotFiles::file_name(5));
        let mut bytes = fs::read(&path).unwrap();
        bytes[20] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert!(files.load_latest().is_err());
    }
}
