//! Reads of chunk files: slabs of uncompressed chunks, page-placed buffers, reads split across
//! threads.

use super::*;

thread_local! {
    /// Stored (encoded) bytes read from files, reused from chunk to chunk.
    pub(crate) static ENCODED: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
}

/// The part of an uncompressed chunk file a box needs: its slabs along the first axis
/// (`offset`, `length`), and the bytes `in_slab` of each slab the box covers.
pub(super) struct RawPart {
    pub(super) file: std::fs::File,
    pub(super) elsize: usize,
    pub(super) slab_bytes: usize,
    pub(super) offset: usize,
    pub(super) length: usize,
    pub(super) in_slab: std::ops::Range<usize>,
}

impl RawPart {
    /// Read the wanted bytes into `slabs` (the slabs' buffer, `length` bytes) at their places:
    /// far-apart spans one by one, the bytes between them left unread.
    pub(super) fn read_into(&self, slabs: &mut [u8], label: &dyn Fn() -> String) -> FfiResult {
        let count = self.length / self.slab_bytes;
        for span in spans(count, self.slab_bytes, self.in_slab.clone()) {
            let at = (self.offset + span.start) as u64;
            std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut slabs[span], at)
                .map_err(|e| storage_error(label, e.into()))?;
        }
        Ok(())
    }
}

/// A gap between two wanted byte ranges of a file worth a read of its own to skip: below it, one
/// read through the gap costs less than a second system call. Where that lies depends on the CPU
/// (C loops and the benchmark's 2,000 random 8^3 uint16 regions of 64^3 chunks, whose parts are
/// eight ~1 KiB spans 8 KiB apart, on the benchmark's VM):
/// - AMD (measured in 92b8370; the host's family was not recorded): a `pread` ~0.8 us, copying through a gap ~0.07 us a KiB; the eight spans
///   took 6.4 us as eight reads and 4.0-4.8 us as one: 8 KiB.
/// - Intel (Xeon, family 6 model 167 host): the kernel's copy dominates (37 % of the regions
///   workload in `_copy_to_iter`); the 2,000 regions took 40.6-58.0 ms read span by span against
///   53.5-69.6 ms in one read each (two sessions of 3 alternations of library builds): 4 KiB.
fn skip_gap() -> usize {
    if cpu().amd { 8192 } else { 4096 }
}

/// The byte ranges to read of `count` (>= 1) slabs of `slab_bytes` each, when each slab's wanted
/// bytes are `in_slab`: one range per slab, or a single one when the gaps between them are small.
fn spans(
    count: usize,
    slab_bytes: usize,
    in_slab: std::ops::Range<usize>,
) -> Vec<std::ops::Range<usize>> {
    if slab_bytes - in_slab.len() < skip_gap() {
        let whole = in_slab.start..(count - 1) * slab_bytes + in_slab.end;
        return std::iter::once(whole).collect();
    }
    (0..count)
        .map(|k| k * slab_bytes + in_slab.start..k * slab_bytes + in_slab.end)
        .collect()
}

// File reads. The kernel copies file pages into memory with `rep movsb`, which on AMD Zen 3 and
// Zen 4 CPUs runs ~6x slower when the destination sits 1–31 bytes past the source's position
// within a page (measured on an earlier benchmark host: 95 vs 16 ms per 128 MiB; glibc bug 30994)
// — exactly where malloc puts large buffers (16 bytes into a page). So reads land in buffers
// placed at the file offset's position within a page, and a read into a caller's misaligned
// buffer goes through such a buffer on those CPUs. Zen 5 has no such penalty (measured on the
// current host, family 1Ah: 512 KiB chunk files into a buffer at +16 bytes 38 ms per 256 MiB,
// through the aligned buffer and a copy 43 ms).

pub const PAGE: usize = 4096;

/// True if copying file bytes at `offset` to `dest` hits the slow relative alignment.
fn misaligned(dest: *const u8, offset: u64) -> bool {
    let relative = (dest as usize).wrapping_sub(offset as usize) % PAGE;
    (1..32).contains(&relative) && slow_misaligned_copy()
}

/// Whether this CPU is one whose `rep movsb` has the alignment penalty: AMD families 17h (Zen 1
/// and 2, not measured: kept on the safe side) and 19h (Zen 3 and 4). The environment variable
/// `ZARRS_CFFI_ALIGNED_FILE_READS` (`1` or `0`, read once) overrides the CPU check, so that the
/// test suite covers both ways on every CPU.
fn slow_misaligned_copy() -> bool {
    static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    let forced =
        FORCED.get_or_init(
            || match std::env::var("ZARRS_CFFI_ALIGNED_FILE_READS").as_deref() {
                Ok("1") => Some(true),
                Ok("0") => Some(false),
                _ => None,
            },
        );
    forced.unwrap_or_else(|| {
        let cpu = cpu();
        cpu.amd && matches!(cpu.family, 0x17 | 0x19)
    })
}

/// The CPU's vendor and family, which decide how file bytes are best copied (read once).
struct Cpu {
    amd: bool,
    family: u32,
}

fn cpu() -> &'static Cpu {
    static CPU: std::sync::OnceLock<Cpu> = std::sync::OnceLock::new();
    CPU.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::__cpuid;
            let vendor = __cpuid(0);
            let amd =
                (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6E65, 0x444D_4163);
            let eax = __cpuid(1).eax;
            let family = ((eax >> 8) & 0xF) + ((eax >> 20) & 0xFF);
            Cpu { amd, family }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Cpu {
            amd: false,
            family: 0,
        }
    })
}

/// Read `length` bytes at `offset` of `file` into `buffer` (grown as needed, its memory reused),
/// placed at the offset's position within a page; returns them.
pub(super) fn read_at<'a>(
    file: &std::fs::File,
    offset: u64,
    length: usize,
    buffer: &'a mut Vec<u8>,
) -> std::io::Result<&'a [u8]> {
    let start = read_window(file, offset, length, buffer)?;
    Ok(&buffer[start..start + length])
}

/// `read_at`, returning where in `buffer` the bytes start.
pub(super) fn read_window(
    file: &std::fs::File,
    offset: u64,
    length: usize,
    buffer: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let start = page_aligned_window(buffer, length + PAGE)? + offset as usize % PAGE;
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buffer[start..start + length], offset)?;
    Ok(start)
}

/// Where a page-aligned window of `len` bytes starts in `buffer`, which is first replaced by
/// fresh zeroed memory (its contents dropped) if it is too short to hold one. A size that cannot
/// be allocated (a corrupt header or index claiming terabytes) is an error, not an abort.
pub fn page_aligned_window(buffer: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
    let needed = len
        .checked_add(PAGE)
        .filter(|n| crate::safety::fits_in_memory(*n as u64));
    let Some(needed) = needed else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("a buffer of {len} bytes cannot be allocated"),
        ));
    };
    if buffer.len() < needed {
        // Fresh pages, touched only as they are written (no memset, unlike `resize`).
        let mut fresh = Vec::new();
        fresh.try_reserve_exact(needed).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("a buffer of {len} bytes cannot be allocated"),
            )
        })?;
        fresh.resize(needed, 0);
        *buffer = fresh;
    }
    Ok(buffer.as_ptr().align_offset(PAGE))
}

/// Pieces a large read of an uncompressed chunk is split into (`read_exact_into`).
const READ_PIECE: usize = 128 * 1024;

/// Read the start of `file` into `dest` (exactly its length). A large read is split into pieces
/// that the calling thread and pool helpers read at once: the kernel's copy out of the page cache
/// is all the work of such a read (a loop over the benchmark's 512 KiB raw chunk files in C, one
/// read per chunk against two threads reading halves: 27-38 ms against 19-21 ms per pass).
pub(super) fn read_exact_into(file: &std::fs::File, dest: &mut [u8]) -> std::io::Result<()> {
    if dest.len() < 2 * READ_PIECE || !crate::pool::may_spread() {
        return read_piece(file, 0, dest); // one read: no other thread would take a piece
    }
    crate::pool::for_each_piece_with_helpers(dest, READ_PIECE, |k, piece| {
        read_piece(file, (k * READ_PIECE) as u64, piece)
    })
}

/// Read `dest.len()` bytes at `offset` of `file` into `dest`, through an aligned per-thread
/// buffer when `dest` sits at the slow relative alignment (a userspace copy has no such penalty).
fn read_piece(file: &std::fs::File, offset: u64, dest: &mut [u8]) -> std::io::Result<()> {
    if !misaligned(dest.as_ptr(), offset) {
        return std::os::unix::fs::FileExt::read_exact_at(file, dest, offset);
    }
    ENCODED.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        copy_in_small_blocks(dest, read_at(file, offset, dest.len(), &mut buffer)?);
        Ok(())
    })
}

/// Below this many bytes glibc's `memcpy` copies with vector loads and stores, not `rep movsb`
/// (its threshold is 2112 bytes on CPUs with fast short `rep movsb`, more on the others).
const SMALL_COPY: usize = 2048;

/// `dest.copy_from_slice(src)` in `SMALL_COPY` blocks. The copy out of the aligned buffer is
/// relatively misaligned by construction, and on the CPUs where that matters (`misaligned`)
/// `rep movsb` is as slow in user space as in the kernel: one 128 KiB `memcpy` per piece made a
/// chunk scan on two threads take 141-162 ms a pass against 77-83 ms on one thread, whose
/// 512 KiB copies glibc runs with vector loops (Zen 3 host, family 19h).
fn copy_in_small_blocks(dest: &mut [u8], src: &[u8]) {
    for (to, from) in dest.chunks_mut(SMALL_COPY).zip(src.chunks(SMALL_COPY)) {
        to.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_small_gaps_and_split_large_ones() {
        // Wanted bytes 100..200 of each 1000-byte slab: the 900-byte gaps merge.
        assert_eq!(spans(3, 1000, 100..200), vec![100..2200]);
        // 64 KiB slabs: each slab's bytes are read on their own.
        let slab = 64 * 1024;
        assert_eq!(spans(2, slab, 8..16), [8..16, slab + 8..slab + 16]);
    }

    #[test]
    fn page_aligned_window_refuses_impossible_sizes() {
        let mut buffer = Vec::new();
        let at = page_aligned_window(&mut buffer, 10_000).unwrap();
        assert_eq!((buffer.as_ptr() as usize + at) % PAGE, 0);
        assert!(buffer.len() >= at + 10_000);
        assert!(page_aligned_window(&mut buffer, usize::MAX - 1).is_err());
        assert!(page_aligned_window(&mut buffer, 1 << 60).is_err());
    }
}
