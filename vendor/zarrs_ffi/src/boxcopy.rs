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
    let ndim = lo.len();
    if ndim == 0 {
        // SAFETY: a 0-d buffer holds one element, per the contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, elsize) };
        return;
    }
    let run = (hi[ndim - 1] - lo[ndim - 1]) as usize * elsize;
    // Byte strides of each axis in both buffers: rows advance by adding them, not by
    // recomputing offsets (millions of rows per whole-array read).
    let src_strides = src_place.strides(elsize);
    let dst_strides = dst_place.strides(elsize);
    let mut from = src_place.offset(lo) * elsize;
    let mut to = dst_place.offset(lo) * elsize;
    let mut pos = lo.to_vec();
    loop {
        // SAFETY: the row lies inside both buffers, per the contract.
        unsafe { std::ptr::copy_nonoverlapping(src.add(from), dst.add(to), run) };
        // Advance the odometer over every axis but the last.
        let mut d = ndim - 1;
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
