//! A blosc chunk decoded block by block, on the calling thread and pool helpers at once.
//!
//! A blosc (1.x format) buffer is a 16-byte header, the start offset of each block, then the
//! blocks, each compressed (and shuffled) on its own. The benchmark's 512 KiB blosc-lz4 chunks
//! hold two 256 KiB blocks. Decoding one chunk on one thread leaves the other core idle between
//! calls of a chunk-by-chunk scan; here each thread reads one block's bytes from the file behind
//! a one-block header of its own and decodes it with c-blosc straight into its part of the
//! output. Anything unusual (one block, a partial last block, a stored-as-is chunk, sizes that do
//! not add up) returns `Ok(false)`: the caller decodes the chunk whole, which reports corruption.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::direct::{PAGE, corrupt, page_aligned_window};
use crate::error::FfiResult;

const HEADER: usize = 16;
/// Blocks per chunk handled here (the header is read in one small read).
const MAX_BLOCKS: usize = 64;
/// One block's header: the 16-byte buffer header and its one block start.
const BLOCK_HEADER: usize = HEADER + 4;
const VERSION_FORMAT: u8 = 2;
/// Flags: stored as-is, and bits reserved for future formats.
const MEMCPYED: u8 = 0x02;
const FUTURE: u8 = 0x08;

thread_local! {
    /// Per thread: one block's header and compressed bytes.
    pub(crate) static BLOCK: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
}

/// Why a block did not decode (labelled by the caller: the label is not `Sync`).
enum Failure {
    Io(std::io::Error),
    Blosc { block: usize, code: i32 },
}

/// What the chunk's header says: the first four header bytes (versions, flags, type size), the
/// block size and each block's (offset, length) in the file.
struct Blocks {
    head: [u8; 4],
    block_size: usize,
    spans: Vec<(usize, usize)>,
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")) as usize
}

impl Blocks {
    /// Parse the header (`head`: the file's first bytes) of a `size`-byte chunk file meant to
    /// decode to `decoded` bytes; None unless it is a well-formed chunk of 2..=MAX_BLOCKS whole,
    /// compressed blocks.
    fn parse(head: &[u8], size: usize, decoded: usize) -> Option<Self> {
        if head.len() < HEADER || head[0] != VERSION_FORMAT || head[2] & (MEMCPYED | FUTURE) != 0 {
            return None;
        }
        let (nbytes, block_size, cbytes) = (u32_at(head, 4), u32_at(head, 8), u32_at(head, 12));
        if nbytes != decoded || cbytes != size || block_size == 0 || nbytes % block_size != 0 {
            return None;
        }
        let count = nbytes / block_size;
        let first_data = HEADER + 4 * count;
        if !(2..=MAX_BLOCKS).contains(&count) || head.len() < first_data {
            return None;
        }
        let starts: Vec<usize> = (0..count).map(|j| u32_at(head, HEADER + 4 * j)).collect();
        if starts.iter().any(|&s| s < first_data || s >= size) {
            return None;
        }
        // A block ends where the next one in the file starts (blocks may be stored out of order).
        let mut sorted = starts.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        let spans = starts
            .iter()
            .map(|&s| {
                let end = sorted.iter().find(|&&t| t > s).copied().unwrap_or(size);
                (s, end - s)
            })
            .collect();
        Some(Self {
            head: [head[0], head[1], head[2], head[3]],
            block_size,
            spans,
        })
    }

    /// Decode block `j` from `file` into `dest` (`block_size` bytes).
    fn decode_block(&self, file: &File, j: usize, dest: &mut [u8]) -> Result<(), Failure> {
        let (offset, len) = self.spans[j];
        BLOCK.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            // The bytes land at the file offset's position within a page (the kernel's fast
            // copy, see `direct`), the one-block header right before them.
            let window = page_aligned_window(&mut buffer, len + 2 * PAGE).map_err(Failure::Io)?;
            let data_at = window + PAGE + offset % PAGE;
            file.read_exact_at(&mut buffer[data_at..data_at + len], offset as u64)
                .map_err(Failure::Io)?;
            let header = &mut buffer[data_at - BLOCK_HEADER..data_at];
            header[..4].copy_from_slice(&self.head);
            let size = |n: usize| (n as u32).to_le_bytes();
            header[4..8].copy_from_slice(&size(self.block_size));
            header[8..12].copy_from_slice(&size(self.block_size));
            header[12..16].copy_from_slice(&size(BLOCK_HEADER + len));
            header[16..20].copy_from_slice(&size(BLOCK_HEADER));
            // SAFETY: the one-block buffer is `BLOCK_HEADER + len` bytes, as its header says
            // (blosc checks every size inside against it); `dest` holds `block_size` bytes.
            let written = unsafe {
                blosc_src::blosc_decompress_ctx(
                    buffer[data_at - BLOCK_HEADER..].as_ptr().cast(),
                    dest.as_mut_ptr().cast(),
                    dest.len(),
                    1,
                )
            };
            if written < 0 || written as usize != dest.len() {
                return Err(Failure::Blosc {
                    block: j,
                    code: written,
                });
            }
            Ok(())
        })
    }
}

/// Decode the blosc chunk in `file` (`size` bytes) into `dest` block by block on the calling
/// thread and pool helpers. Ok(false) (nothing written) if it is not a chunk of several whole
/// compressed blocks; the caller then decodes it whole.
pub fn decode(
    file: &File,
    size: u64,
    dest: &mut [u8],
    label: &dyn Fn() -> String,
) -> FfiResult<bool> {
    let Ok(size) = usize::try_from(size) else {
        return Ok(false);
    };
    let mut head = [0u8; HEADER + 4 * MAX_BLOCKS];
    let head_len = size.min(head.len());
    file.read_exact_at(&mut head[..head_len], 0)
        .map_err(|e| crate::direct::storage_error(label, e.into()))?;
    let Some(blocks) = Blocks::parse(&head[..head_len], size, dest.len()) else {
        return Ok(false);
    };
    crate::pool::for_each_piece_with_helpers(dest, blocks.block_size, |j, piece| {
        blocks.decode_block(file, j, piece)
    })
    .map_err(|failure| match failure {
        Failure::Io(e) => crate::direct::storage_error(label, e.into()),
        Failure::Blosc { block, code } => corrupt(
            label,
            format!("blosc: block {block} does not decode (error {code})"),
        ),
    })?;
    Ok(true)
}
