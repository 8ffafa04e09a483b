//! Zip files through `zarrs_zip`, with two things it lacks:
//! * a stored (uncompressed) member read whole (`get`, or one range from 0 to the end) is checked against its CRC-32, as zipfile and
//!   zarr-python's `ZipStore` check it (rc-zip checks compressed members as it inflates them;
//!   zarrs_zip reads stored ones straight from the file, unchecked);
//! * a member compressed by a method this build cannot decompress gets an error naming the
//!   method: rc-zip reports one (Python's `zipfile.ZIP_LZMA`, say) as "invalid local file
//!   header", which sends a user looking for a damaged file.
//!
//! Both need each member's method and CRC-32, which `zarrs_zip` keeps private: the archive's
//! directory is parsed again, once, on the first read.
//!
//! The archive is read through the file opened when the store was (`HeldArchive`), not reopened
//! by path for each read: a zip replaced after opening (written anew and renamed over the old
//! one) is read as it was, as zarr-python's `ZipStore` reads it. Reopening read the new file at
//! the offsets of the old directory: other members' bytes, silently.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rc_zip::fsm::{ArchiveFsm, FsmResult};
use rc_zip::parse::Method;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator, InvalidByteRangeError};
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
};
use zarrs_zip::ZipStorageAdapter;

/// The archive file, opened once: the one store key `key`, read by position.
pub struct HeldArchive {
    file: File,
    key: StoreKey,
    size: u64,
}

impl HeldArchive {
    pub fn open(path: &Path, key: StoreKey) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { file, key, size })
    }

    fn read(&self, range: ByteRange) -> Result<Bytes, StorageError> {
        let (start, end) = (range.start(self.size), range.end(self.size));
        if start > end || end > self.size {
            return Err(InvalidByteRangeError::new(range, self.size).into());
        }
        let length = usize::try_from(end - start)
            .map_err(|_| StorageError::Other("a byte range too large for this machine".into()))?;
        let mut bytes = vec![0; length];
        // A file truncated since it was opened ends early: an error, not zeros.
        self.file.read_exact_at(&mut bytes, start)?;
        Ok(Bytes::from(bytes))
    }
}

impl ReadableStorageTraits for HeldArchive {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        if key != &self.key {
            return Ok(None);
        }
        Ok(Some(Box::new(byte_ranges.map(|range| self.read(range)))))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        Ok((key == &self.key).then_some(self.size))
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

/// The methods of the rc-zip features this crate enables (see Cargo.toml).
const READABLE: [Method; 4] = [Method::Store, Method::Deflate, Method::Bzip2, Method::Zstd];

/// A member's compression method and CRC-32, by member name.
type Catalog = HashMap<String, (Method, u32)>;

pub struct ZipMembers {
    inner: ZipStorageAdapter<HeldArchive>,
    /// The archive the store was opened on, for the catalog (the same file `inner` reads).
    held: Arc<HeldArchive>,
    archive: PathBuf,
    /// What precedes a store key in a member's name ("" or "group/").
    prefix: String,
    /// None if the archive could not be parsed again (then nothing is checked or explained).
    catalog: OnceLock<Option<Catalog>>,
}

impl ZipMembers {
    pub fn new(
        inner: ZipStorageAdapter<HeldArchive>,
        held: Arc<HeldArchive>,
        archive: &Path,
        prefix: &str,
    ) -> Self {
        Self {
            inner,
            held,
            archive: archive.to_path_buf(),
            prefix: prefix.to_string(),
            catalog: OnceLock::new(),
        }
    }

    fn member(&self, key: &StoreKey) -> (String, Option<(Method, u32)>) {
        let name = format!("{}{}", self.prefix, key.as_str());
        let catalog = self.catalog.get_or_init(|| catalog(&self.held));
        let found = catalog.as_ref().and_then(|c| c.get(&name)).copied();
        (name, found)
    }

    /// A stored member's whole value, checked against its CRC-32 (0: none recorded).
    fn checked(&self, key: &StoreKey, value: MaybeBytes) -> Result<MaybeBytes, StorageError> {
        let Some(bytes) = &value else {
            return Ok(value);
        };
        if let (name, Some((Method::Store, expected))) = self.member(key) {
            let actual = crc32fast::hash(bytes);
            if expected != 0 && actual != expected {
                return Err(StorageError::Other(format!(
                    "zip member {name} of {} is corrupt: its CRC-32 is {actual:08x}, the archive \
                     records {expected:08x}",
                    self.archive.display()
                )));
            }
        }
        Ok(value)
    }

    /// `error` as it came, or a message naming the method when that is why `key` failed.
    fn explain(&self, key: &StoreKey, error: StorageError) -> StorageError {
        match self.member(key) {
            (name, Some((method, _))) if !READABLE.contains(&method) => {
                StorageError::Other(format!(
                    "zip member {name} of {} is compressed with {}, which this library cannot \
                 decompress (it reads stored, deflate, bzip2 and zstd members); re-create the \
                 archive with ZIP_STORED or ZIP_DEFLATED",
                    self.archive.display(),
                    method_name(method)
                ))
            }
            _ => error,
        }
    }
}

fn method_name(method: Method) -> String {
    match method {
        Method::Lzma => "LZMA".into(),
        Method::Xz => "XZ".into(),
        Method::Deflate64 => "Deflate64".into(),
        Method::Ppmd => "PPMd".into(),
        Method::Aex => "AE-x encryption".into(),
        Method::Unrecognized(id) => format!("method {id}"),
        other => format!("{other:?}"),
    }
}

/// Every member's method and CRC-32, if the archive parses.
fn catalog(archive: &HeldArchive) -> Option<Catalog> {
    let mut fsm = ArchiveFsm::new(archive.size);
    let parsed = loop {
        if let Some(offset) = fsm.wants_read() {
            let read = archive.file.read_at(fsm.space(), offset).ok()?;
            fsm.fill(read);
        }
        match fsm.process().ok()? {
            FsmResult::Continue(next) => fsm = next,
            FsmResult::Done(parsed) => break parsed,
        }
    };
    Some(
        parsed
            .entries()
            .map(|entry| (entry.name.clone(), (entry.method, entry.crc32)))
            .collect(),
    )
}

impl ReadableStorageTraits for ZipMembers {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        match self.inner.get(key) {
            Ok(value) => self.checked(key, value),
            Err(e) => Err(self.explain(key, e)),
        }
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<ByteRange> = byte_ranges.collect();
        if let [ByteRange::FromStart(0, None)] = ranges.as_slice() {
            // A whole member (how chunks are read): checked as `get` checks it.
            let value = self.get(key)?;
            return Ok(value.map(|bytes| {
                let once: Box<dyn Iterator<Item = Result<Bytes, StorageError>> + 'a> =
                    Box::new(std::iter::once(Ok(bytes)));
                once
            }));
        }
        self.inner
            .get_partial_many(key, Box::new(ranges.into_iter()))
            .map_err(|e| self.explain(key, e))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl ListableStorageTraits for ZipMembers {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix)
    }

    /// The values' sizes, as `size_key` and every other store give them (zarrs_zip's own
    /// `size_prefix` sums the compressed sizes).
    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        let mut total = 0;
        for key in self.inner.list_prefix(prefix)? {
            total += self.inner.size_key(&key)?.unwrap_or(0);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zarrs::storage::StoreKey;

    /// A one-member archive: `data` stored under `name` with the method id `method` (the bytes
    /// are not compressed, so any method but 0 fails to decompress them).
    fn archive(name: &str, method: u16, data: &[u8]) -> Vec<u8> {
        let le16 = |v: usize| u16::try_from(v).unwrap().to_le_bytes();
        let le32 = |v: usize| u32::try_from(v).unwrap().to_le_bytes();
        let crc = crc32fast::hash(data) as usize;
        let common = |out: &mut Vec<u8>| {
            out.extend(le16(20)); // version needed
            out.extend(le16(0)); // flags
            out.extend(method.to_le_bytes());
            out.extend([0, 0, 0x21, 0]); // time, date
            out.extend(le32(crc));
            out.extend(le32(data.len()));
            out.extend(le32(data.len()));
            out.extend(le16(name.len()));
            out.extend(le16(0)); // extra length
        };
        let mut zip = b"PK\x03\x04".to_vec();
        common(&mut zip);
        zip.extend(name.as_bytes());
        zip.extend(data);
        let directory = zip.len();
        zip.extend(b"PK\x01\x02");
        zip.extend(le16(20)); // version made by
        common(&mut zip);
        zip.extend([0; 10]); // comment length, disk, internal and external attributes
        zip.extend(le32(0)); // local header offset
        zip.extend(name.as_bytes());
        let directory_size = zip.len() - directory;
        zip.extend(b"PK\x05\x06");
        zip.extend([0; 4]); // disk numbers
        zip.extend(le16(1));
        zip.extend(le16(1));
        zip.extend(le32(directory_size));
        zip.extend(le32(directory));
        zip.extend(le16(0)); // comment length
        zip
    }

    /// A fresh directory for one test (std has no temporary directories that clean up).
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zip_members-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn open(dir: &Path, bytes: &[u8], prefix: &str) -> ZipMembers {
        let path = dir.join("data.zip");
        std::fs::write(&path, bytes).unwrap();
        let key = StoreKey::new("data.zip").unwrap();
        let held = Arc::new(HeldArchive::open(&path, key.clone()).unwrap());
        let adapter = ZipStorageAdapter::new_with_path(held.clone(), key, prefix).unwrap();
        ZipMembers::new(adapter, held, &path, prefix)
    }

    #[test]
    fn an_archive_replaced_after_opening_is_read_as_it_was() {
        let dir = scratch("replaced");
        let store = open(&dir, &archive("c/0", 0, b"first"), "");
        let key = StoreKey::new("c/0").unwrap();
        // Written anew and renamed over the old one, as tools replace files.
        let next = dir.join("next.zip");
        std::fs::write(&next, archive("c/0", 0, b"other bytes, longer")).unwrap();
        std::fs::rename(&next, dir.join("data.zip")).unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().as_ref(), b"first");
        let part = store
            .get_partial_many(
                &key,
                Box::new([ByteRange::FromStart(1, Some(3))].into_iter()),
            )
            .unwrap()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(part.as_ref(), b"irs");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_member_of_an_unreadable_method_is_named_with_its_method() {
        let dir = scratch("unreadable");
        let store = open(&dir, &archive("g/zarr.json", 14, b"{}"), "g/");
        let key = StoreKey::new("zarr.json").unwrap();
        let message = store.get(&key).unwrap_err().to_string();
        assert!(
            message.contains("zip member g/zarr.json of")
                && message.contains("is compressed with LZMA"),
            "{message}"
        );
        let unknown = open(&dir, &archive("zarr.json", 77, b"{}"), "");
        let message = unknown.get(&key).unwrap_err().to_string();
        assert!(message.contains("compressed with method 77"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn readable_members_read_as_stored() {
        let dir = scratch("readable");
        let store = open(&dir, &archive("zarr.json", 0, b"{}"), "");
        let key = StoreKey::new("zarr.json").unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().as_ref(), b"{}");
        let catalog = catalog(&store.held).unwrap();
        assert_eq!(
            catalog.get("zarr.json"),
            Some(&(Method::Store, crc32fast::hash(b"{}")))
        );
        assert_eq!(catalog.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stored_member_that_fails_its_crc_is_an_error() {
        let dir = scratch("corrupt");
        let mut bytes = archive("c/0", 0, b"\x01\x02\x03\x04");
        let at = bytes
            .windows(4)
            .position(|w| w == b"\x01\x02\x03\x04")
            .unwrap();
        bytes[at] = 0xff; // the data, not the recorded CRC
        let store = open(&dir, &bytes, "");
        let key = StoreKey::new("c/0").unwrap();
        let message = store.get(&key).unwrap_err().to_string();
        assert!(
            message.contains("zip member c/0 of") && message.contains("is corrupt: its CRC-32"),
            "{message}"
        );
        let Err(whole) = store.get_partial_many(
            &key,
            Box::new(std::iter::once(ByteRange::FromStart(0, None))),
        ) else {
            panic!("a whole-member range is checked too")
        };
        assert_eq!(whole.to_string(), message);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
