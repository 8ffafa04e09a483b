//! Copying an N-d box between C-order buffers that sit at different places of one array.
//!
//! zarrs copies between a chunk and a strided view with a general index iterator that dominates
//! whole-array reads (half the time, measured with perf). These copies move whole innermost rows
//! with `copy_nonoverlapping` and step an odometer over the outer axes.

/// A C-order buffer holding the array elements `[origin, origin + shape)`.
#[derive(Clone, Copy)]
pub struct Placed<'a> {
    pub origin: &'a [u64],
    pub shape: &'a [u64],
}

impl Placed<'_> {
    /// Element offset of array position `pos` in this buffer.
    fn offset(&self, pos: &[u64]) -> usize {
        let mut linear = 0u64;
        for ((&p, &o), &n) in pos.iter().zip(self.origin).zip(self.shape) {
            linear = linear * n + (p - o);
        }
        linear as usize
    }

    /// Bytes between neighbours along each axis.
    fn strides(&self, elsize: usize) -> Vec<usize> {
        let mut strides = vec![elsize; self.shape.len()];
        for d in (0..self.shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * self.shape[d + 1] as usize;
        }
        strides
    }
}

/// The intersection `[lo, hi)` of two boxes, or None if empty.
pub fn intersect(a: Placed, b: Placed) -> Option<(Vec<u64>, Vec<u64>)> {
    let lo: Vec<u64> = (0..a.origin.len())
        .map(|d| a.origin[d].max(b.origin[d]))
        .collect();
    let hi: Vec<u64> = (0..a.origin.len())
        .map(|d| (a.origin[d] + a.shape[d]).min(b.origin[d] + b.shape[d]))
        .collect();
    (0..lo.len()).all(|d| lo[d] < hi[d]).then_some((lo, hi))
}

/// Whether the box `inner` lies wholly inside the box `outer`.
pub fn contains(outer: Placed, inner: Placed) -> bool {
    (0..outer.origin.len()).all(|d| {
        inner.origin[d] >= outer.origin[d]
            && inner.origin[d] + inner.shape[d] <= outer.origin[d] + outer.shape[d]
    })
}

/// Copy the elements of the box `[lo, hi)` from `src` to `dst`.
///
/// # Safety
/// `src` and `dst` must be valid for their whole placed extents (`elsize` bytes per element), the
/// box must lie inside both, and no one else may write the box's part of `dst` meanwhile.
pub unsafe fn copy_box(
    src: *const u8,
    src_place: Placed,
    dst: *mut u8,
    dst_place: Placed,
    lo: &[u64],
    hi: &[u64],
    elsize: usize,
) {
    if lo.is_empty() {
        // SAFETY: a 0-d buffer holds one element, per the contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, elsize) };
        return;
    }
    // Trailing axes the box spans whole in both buffers are contiguous in both: copy them as
    // one run (a whole chunk into a chunk-shaped output is one copy, not one per row).
    let mut ndim = lo.len();
    let mut run = (hi[ndim - 1] - lo[ndim - 1]) as usize * elsize;
    while ndim > 1 {
        let d = ndim - 1;
        let extent = hi[d] - lo[d];
        if extent != src_place.shape[d] || extent != dst_place.shape[d] {
            break;
        }
        ndim -= 1;
        run *= (hi[ndim - 1] - lo[ndim - 1]) as usize;
    }
    let from = src_place.offset(lo) * elsize;
    let to = dst_place.offset(lo) * elsize;
    let strides = (src_place.strides(elsize), dst_place.strides(elsize));
    for_each_row(
        &lo[..ndim - 1],
        &hi[..ndim - 1],
        strides,
        |src_row, dst_row| {
            // SAFETY: the row lies inside both buffers, per the contract.
            unsafe {
                std::ptr::copy_nonoverlapping(src.add(from + src_row), dst.add(to + dst_row), run)
            };
        },
    );
}

/// Set every element of the box `[lo, hi)` of `dst` to `element` (its bytes).
///
/// # Safety
/// `dst` must be valid for its whole placed extent (`element.len()` bytes per element), the box
/// must lie inside it, and no one else may write the box meanwhile.
pub unsafe fn fill_box(dst: *mut u8, dst_place: Placed, lo: &[u64], hi: &[u64], element: &[u8]) {
    let elsize = element.len();
    if lo.is_empty() {
        // SAFETY: a 0-d buffer holds one element, per the contract.
        unsafe { std::ptr::copy_nonoverlapping(element.as_ptr(), dst, elsize) };
        return;
    }
    let ndim = lo.len();
    let row: Vec<u8> = element.repeat((hi[ndim - 1] - lo[ndim - 1]) as usize);
    let to = dst_place.offset(lo) * elsize;
    let strides = dst_place.strides(elsize);
    let no_source = vec![0; strides.len()];
    for_each_row(
        &lo[..ndim - 1],
        &hi[..ndim - 1],
        (no_source, strides),
        |_, dst_row| {
            // SAFETY: the row lies inside `dst`, per the contract.
            unsafe {
                std::ptr::copy_nonoverlapping(row.as_ptr(), dst.add(to + dst_row), row.len())
            };
        },
    );
}

/// Call `row` with the byte offsets, in two buffers with these byte `strides`, of every position
/// of the box `[lo, hi)` over the outer axes (`lo.len()` of them; the rest lies inside a row),
/// relative to its first position, in C order. Rows advance by adding strides, not by recomputing
/// offsets (millions of rows per whole-array read).
fn for_each_row(
    lo: &[u64],
    hi: &[u64],
    (src_strides, dst_strides): (Vec<usize>, Vec<usize>),
    mut row: impl FnMut(usize, usize),
) {
    let (mut from, mut to) = (0usize, 0usize);
    let mut pos = lo.to_vec();
    loop {
        row(from, to);
        let mut d = lo.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            pos[d] += 1;
            from += src_strides[d];
            to += dst_strides[d];
            if pos[d] < hi[d] {
                break;
            }
            let span = (hi[d] - lo[d]) as usize;
            from -= span * src_strides[d];
            to -= span * dst_strides[d];
            pos[d] = lo[d];
        }
    }
}

/// One decoded chunk of a row group: its buffer, where it sits in the array, and the part
/// `[lo, hi)` of the last axis to copy (the outer axes are the group's, shared by all pieces).
pub struct RowPiece<'a> {
    pub src: *const u8,
    pub place: Placed<'a>,
    pub lo: u64,
    pub hi: u64,
}

/// Copy the box `outer_lo..outer_hi` (every axis but the last) × each piece's `[lo, hi)` from the
/// pieces to `dst`, row by row and piece by piece, through a `StreamWriter`: pieces lying side by
/// side along the last axis then reach `dst` as one ascending stream of whole cache lines.
///
/// # Safety
/// As `copy_box`, for every piece; all pieces have the same shape, and the pieces' boxes are
/// consecutive along the last axis in `dst` (piece order).
pub unsafe fn stream_row_group(
    pieces: &[RowPiece],
    dst: *mut u8,
    dst_place: Placed,
    outer_lo: &[u64],
    outer_hi: &[u64],
    elsize: usize,
) {
    let Some(first) = pieces.first() else {
        return;
    };
    let ndim = outer_lo.len() + 1;
    let mut corner = outer_lo.to_vec();
    corner.push(0);
    // Byte offsets of each piece's first row, in its buffer and in `dst`, and its row length.
    let rows: Vec<(usize, usize, usize)> = pieces
        .iter()
        .map(|piece| {
            corner[ndim - 1] = piece.lo;
            let run = (piece.hi - piece.lo) as usize * elsize;
            (
                piece.place.offset(&corner) * elsize,
                dst_place.offset(&corner) * elsize,
                run,
            )
        })
        .collect();
    let strides = (first.place.strides(elsize), dst_place.strides(elsize));
    let mut writer = StreamWriter::new();
    for_each_row(outer_lo, outer_hi, strides, |from, to| {
        for (piece, &(start, place, run)) in pieces.iter().zip(&rows) {
            // SAFETY: the row lies inside the piece's buffer and `dst`, per the contract.
            unsafe { writer.write(dst.add(place + to), piece.src.add(start + from), run) };
        }
    });
    // SAFETY: the pending bytes' line lies inside `dst`.
    unsafe { writer.finish() };
}

const LINE: usize = 64;

/// Writes byte runs to memory with non-temporal (cache-bypassing) stores of whole cache lines.
///
/// A plain store to a line that is not cached first reads the line from memory, so filling an
/// output larger than the caches moves each byte three times; streaming stores move it once
/// (measured on the 256 MiB benchmark scatter: 12.6 vs 19 ms on one core). Runs that continue the
/// previous one are joined, so only the first and last line of a contiguous stretch, which other
/// writers may share, are written with plain stores.
struct StreamWriter {
    /// The line being assembled: its address (0 if none) and its valid bytes `[lo, hi)`.
    line: Line,
    address: usize,
    lo: usize,
    hi: usize,
}

#[repr(C, align(64))]
struct Line([u8; LINE]);

impl StreamWriter {
    fn new() -> Self {
        Self {
            line: Line([0; LINE]),
            address: 0,
            lo: 0,
            hi: 0,
        }
    }

    /// Write `n` bytes from `src` to `dst`.
    ///
    /// # Safety
    /// Both ranges must be valid, and no one else may write the cache lines `dst`'s range touches
    /// until `finish` (bytes of a line's partial ends are written back as they were assembled).
    unsafe fn write(&mut self, dst: *mut u8, mut src: *const u8, mut n: usize) {
        let mut at = dst as usize;
        if self.address != 0 && at != self.address + self.hi {
            // SAFETY: the pending bytes' range is valid, per the contract of the write that
            // started it.
            unsafe { self.flush() };
        }
        if self.address == 0 && !at.is_multiple_of(LINE) {
            self.address = at - at % LINE;
            (self.lo, self.hi) = (at % LINE, at % LINE);
        }
        if self.address != 0 {
            let take = n.min(LINE - self.hi);
            // SAFETY: `src` holds `n >= take` bytes; the line buffer has room for `take`.
            unsafe { copy_short(src, self.line.0.as_mut_ptr().add(self.hi), take) };
            self.hi += take;
            (at, src, n) = (at + take, src.wrapping_add(take), n - take);
            if self.hi < LINE {
                return;
            }
            // SAFETY: a complete line (or its tail from `lo`) inside the caller's range.
            unsafe { self.flush() };
        }
        while n >= LINE {
            // SAFETY: `at` is line-aligned and the caller's range holds the whole line.
            unsafe { store_line(at as *mut u8, src) };
            (at, src, n) = (at + LINE, src.wrapping_add(LINE), n - LINE);
        }
        if n > 0 {
            // SAFETY: `src` holds `n < LINE` bytes.
            unsafe { copy_short(src, self.line.0.as_mut_ptr(), n) };
            (self.address, self.lo, self.hi) = (at, 0, n);
        }
    }

    /// Write the assembled line: streamed when whole, else its valid bytes with plain stores.
    ///
    /// # Safety
    /// The pending range must be valid for writes.
    unsafe fn flush(&mut self) {
        if self.address == 0 {
            return;
        }
        let dst = self.address as *mut u8;
        if (self.lo, self.hi) == (0, LINE) {
            // SAFETY: per the contract; `address` is line-aligned.
            unsafe { store_line(dst, self.line.0.as_ptr()) };
        } else {
            // SAFETY: per the contract.
            unsafe {
                copy_short(
                    self.line.0.as_ptr().add(self.lo),
                    dst.add(self.lo),
                    self.hi - self.lo,
                )
            };
        }
        self.address = 0;
    }

    /// Write what is pending and order the streamed stores before anything that follows (they
    /// are weakly ordered: another thread could otherwise see the buffer before them).
    ///
    /// # Safety
    /// As `flush`.
    unsafe fn finish(&mut self) {
        // SAFETY: per the contract.
        unsafe { self.flush() };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of x86_64.
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
    }
}

/// Copy `n <= 64` bytes from `src` to `dst` (not overlapping) without a call into libc: two
/// fixed-size moves, overlapping in the middle, cover any length from one size to twice it (as
/// memcpy does for short copies). A streamed read makes one to three such copies per chunk row;
/// as calls they took ~10 % of the uncompressed whole-array read.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes, `n <= 64`.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: per the contract; each arm's two moves lie inside the `n` bytes.
    unsafe {
        match n {
            33..=64 => two_moves::<32>(src, dst, n),
            17..=32 => two_moves::<16>(src, dst, n),
            9..=16 => two_moves::<8>(src, dst, n),
            5..=8 => two_moves::<4>(src, dst, n),
            2..=4 => two_moves::<2>(src, dst, n),
            1 => *dst = *src,
            _ => {}
        }
    }
}

/// Copy bytes `[0, K)` and `[n - K, n)`; with `K <= n <= 2K` that is all of them.
///
/// # Safety
/// As `copy_short`, and `K <= n`.
#[inline(always)]
unsafe fn two_moves<const K: usize>(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: per the contract: both moves lie inside the `n` bytes of each buffer.
    unsafe {
        let head = std::ptr::read_unaligned(src.cast::<[u8; K]>());
        let tail = std::ptr::read_unaligned(src.add(n - K).cast::<[u8; K]>());
        std::ptr::write_unaligned(dst.cast::<[u8; K]>(), head);
        std::ptr::write_unaligned(dst.add(n - K).cast::<[u8; K]>(), tail);
    }
}

/// Store the 64 bytes at `src` to the line-aligned `dst`, bypassing the caches where the CPU can.
///
/// # Safety
/// `src` must be readable and `dst` writable for 64 bytes; `dst` must be 64-byte aligned.
#[inline(always)]
unsafe fn store_line(dst: *mut u8, src: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86_64; unaligned loads, aligned streaming stores, per the contract.
    unsafe {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        for i in 0..4 {
            let v = _mm_loadu_si128(src.add(16 * i).cast::<__m128i>());
            _mm_stream_si128(dst.add(16 * i).cast::<__m128i>(), v);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: per the contract.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, LINE)
    };
}

/// Step `position` to the next one in C order over `counts`; false (and all zeros) after the last.
pub fn step_c_order(position: &mut [u64], counts: &[u64]) -> bool {
    for d in (0..position.len()).rev() {
        position[d] += 1;
        if position[d] < counts[d] {
            return true;
        }
        position[d] = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element at `index` of a C-order buffer of `shape`, one byte per element: its flat position.
    fn flat(shape: &[u64], index: &[u64]) -> u8 {
        let at = std::iter::zip(index, shape).fold(0u64, |at, (i, n)| at * n + i);
        (at % 251) as u8
    }

    #[test]
    fn copy_box_matches_a_naive_copy() {
        let src_shape = [5u64, 7, 3];
        let src: Vec<u8> = (0..105u64).map(|k| (k % 251) as u8).collect();
        let (src_origin, dst_origin, dst_shape) = ([10u64, 20, 30], [11u64, 22, 30], [4u64, 5, 3]);
        let (lo, hi) = intersect(
            Placed {
                origin: &src_origin,
                shape: &src_shape,
            },
            Placed {
                origin: &dst_origin,
                shape: &dst_shape,
            },
        )
        .expect("they overlap");
        assert_eq!(
            (lo.clone(), hi.clone()),
            (vec![11, 22, 30], vec![15, 27, 33])
        );
        let mut dst = vec![0u8; 60];
        // SAFETY: the box lies in both buffers.
        unsafe {
            copy_box(
                src.as_ptr(),
                Placed {
                    origin: &src_origin,
                    shape: &src_shape,
                },
                dst.as_mut_ptr(),
                Placed {
                    origin: &dst_origin,
                    shape: &dst_shape,
                },
                &lo,
                &hi,
                1,
            )
        };
        for i in 0..4u64 {
            for j in 0..5u64 {
                for k in 0..3u64 {
                    let at = ((i * 5 + j) * 3 + k) as usize;
                    assert_eq!(
                        dst[at],
                        flat(&src_shape, &[i + 1, j + 2, k]),
                        "at {i},{j},{k}"
                    );
                }
            }
        }
    }

    #[test]
    fn disjoint_boxes_do_not_intersect() {
        let a = Placed {
            origin: &[0, 0],
            shape: &[4, 4],
        };
        let b = Placed {
            origin: &[4, 0],
            shape: &[4, 4],
        };
        assert_eq!(intersect(a, b), None);
    }

    #[test]
    fn step_c_order_walks_the_grid() {
        let mut position = vec![0u64, 0];
        let mut seen = vec![position.clone()];
        while step_c_order(&mut position, &[2, 3]) {
            seen.push(position.clone());
        }
        assert_eq!(seen, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
    }
}
