//! Reads of zarr-python's advanced selections in one call: orthogonal (an index list per axis,
//! `oindex`) and coordinate (a list of points, `vindex`).
//!
//! The selected elements are grouped by the chunk (inner chunk, if sharded) that holds them. Each
//! group decodes the smallest box of its chunk holding its elements (`decode_region`: the same
//! planner as every region read) into a scratch buffer and copies them to their places in the
//! output; groups run on the calling thread and pool helpers. Only chunks holding selected
//! elements are read, and memory stays one box per thread, whatever the selection spans.

use std::collections::BTreeMap;

use zarrs::array::ArraySubset;

use crate::args::{RwArray, byte_count, element_size, out_bytes_arg, slice_arg};
use crate::array_io::{check_length, decode_region};
use crate::error::{FfiError, FfiResult, guard};
use crate::handle::{ArrayHandle, ZarrsCffiArray, array_arg};

/// The unit selected elements are grouped by (`read_unit_shape`), or an error for irregular grids.
fn unit_shape(array: &RwArray) -> FfiResult<Vec<u64>> {
    crate::args::read_unit_shape(array)?
        .ok_or_else(|| FfiError::invalid("selections by index lists need a regular chunk grid"))
}

/// Decode the box `lo..=hi` of the array into a new buffer.
fn decode_box(array: &ArrayHandle, lo: &[u64], hi: &[u64], element: usize) -> FfiResult<Vec<u8>> {
    let shape: Vec<u64> = std::iter::zip(lo, hi).map(|(l, h)| h - l + 1).collect();
    let bytes = byte_count(&shape, element)?;
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(bytes)
        .map_err(|_| FfiError::invalid(format!("a buffer of {bytes} bytes cannot be allocated")))?;
    buffer.resize(bytes, 0);
    let subset = ArraySubset::from(std::iter::zip(lo, &shape).map(|(&s, &n)| s..s + n));
    decode_region(array, &subset, lo, &shape, &mut buffer)?;
    Ok(buffer)
}

/// The output base pointer, shared by tasks that write disjoint elements.
#[derive(Clone, Copy)]
struct OutPtr(*mut u8);
// SAFETY: every task writes only the output elements of its own group; groups are disjoint.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The output's byte `offset` (a method, so that closures capture the `Sync` wrapper).
    fn at(self, offset: usize) -> *mut u8 {
        self.0.wrapping_add(offset)
    }
}

/// Run `task` on every group (calling thread plus pool helpers); the first error wins.
fn for_each_group<T: Sync>(groups: &[T], task: impl Fn(&T) -> FfiResult + Sync) -> FfiResult {
    crate::pool::try_for_each_with_helpers(groups, |group| {
        crate::safety::catch_codec_panic(|| "a selection's chunk".to_string(), || task(group))
    })
}

// -- orthogonal -----------------------------------------------------------------------------------

/// Output positions `position..position + count` along one axis take the indices `index`,
/// `index + step`, ...: a slice's part in one unit, or a run of a list of indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    position: usize,
    index: u64,
    count: usize,
    step: i64,
}

impl Segment {
    fn at(&self, k: usize) -> u64 {
        (self.index as i64 + k as i64 * self.step) as u64
    }
    fn bounds(&self) -> (u64, u64) {
        let (first, last) = (self.index, self.at(self.count - 1));
        (first.min(last), first.max(last))
    }
}

/// One axis of an orthogonal selection: a slice (`count` indices from `start` by `step`, which
/// is not 0) or a list of indices.
enum Axis<'a> {
    Range { start: u64, step: i64, count: usize },
    List(&'a [u64]),
}

/// The axis's segments grouped by unit (in unit order): a slice gives one segment per unit it
/// crosses; a list, runs of consecutive indices at consecutive positions.
fn axis_groups(axis: &Axis, unit: u64) -> Vec<Vec<Segment>> {
    let mut by_unit: BTreeMap<u64, Vec<Segment>> = BTreeMap::new();
    match *axis {
        Axis::Range { start, step, count } => {
            let mut k = 0usize;
            while k < count {
                let index = (start as i64 + k as i64 * step) as u64;
                let u = index / unit;
                // How many further indices stay in this unit.
                let room = if step > 0 {
                    (u + 1) * unit - 1 - index
                } else {
                    index - u * unit
                };
                let fit = (room / step.unsigned_abs()) as usize + 1;
                let n = fit.min(count - k);
                by_unit.entry(u).or_default().push(Segment {
                    position: k,
                    index,
                    count: n,
                    step,
                });
                k += n;
            }
        }
        Axis::List(indices) => {
            for (position, &index) in indices.iter().enumerate() {
                let group = by_unit.entry(index / unit).or_default();
                match group.last_mut() {
                    Some(s)
                        if s.position + s.count == position && s.at(s.count - 1) + 1 == index =>
                    {
                        s.count += 1;
                    }
                    _ => group.push(Segment {
                        position,
                        index,
                        count: 1,
                        step: 1,
                    }),
                }
            }
        }
    }
    by_unit.into_values().collect()
}

/// Every (output position, index) of a group's axis: bounded by the unit's extent.
fn expand(segments: &[Segment]) -> Vec<(usize, u64)> {
    segments
        .iter()
        .flat_map(|s| (0..s.count).map(move |k| (s.position + k, s.at(k))))
        .collect()
}

/// Copy one group's elements of an orthogonal selection from its decoded box (origin `lo`,
/// shape `box_shape`) to `out` (shape `out_shape`).
fn scatter_orthogonal(
    groups: &[&Vec<Segment>],
    lo: &[u64],
    box_shape: &[u64],
    decoded: &[u8],
    out: OutPtr,
    out_shape: &[usize],
    element: usize,
) {
    let dims = groups.len();
    if dims == 0 {
        // SAFETY: a 0-d selection is one element, in the box and in the output.
        unsafe { std::ptr::copy_nonoverlapping(decoded.as_ptr(), out.at(0), element) };
        return;
    }
    let mut box_strides = vec![1usize; dims];
    let mut out_strides = vec![1usize; dims];
    for d in (0..dims - 1).rev() {
        box_strides[d] = box_strides[d + 1] * box_shape[d + 1] as usize;
        out_strides[d] = out_strides[d + 1] * out_shape[d + 1];
    }
    let last = dims - 1;
    let leading: Vec<Vec<(usize, u64)>> = groups[..last].iter().map(|g| expand(g)).collect();
    let mut counter = vec![0usize; last];
    loop {
        let (mut src, mut dst) = (0usize, 0usize);
        for d in 0..last {
            let (position, index) = leading[d][counter[d]];
            src += (index - lo[d]) as usize * box_strides[d];
            dst += position * out_strides[d];
        }
        for s in groups[last].iter() {
            let to = (dst + s.position) * element;
            // SAFETY: every index lies in the box's row and every position in the output's row
            // (the caller checked the output's size); no other group writes these elements.
            unsafe {
                if s.step == 1 {
                    let from = (src + (s.index - lo[last]) as usize) * element;
                    std::ptr::copy_nonoverlapping(
                        decoded.as_ptr().add(from),
                        out.at(to),
                        s.count * element,
                    );
                } else {
                    for k in 0..s.count {
                        let from = (src + (s.at(k) - lo[last]) as usize) * element;
                        std::ptr::copy_nonoverlapping(
                            decoded.as_ptr().add(from),
                            out.at(to + k * element),
                            element,
                        );
                    }
                }
            }
        }
        // Odometer over the leading axes' positions, the last of them fastest.
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            counter[d] += 1;
            if counter[d] < leading[d].len() {
                break;
            }
            counter[d] = 0;
        }
    }
}

/// Every combination of one unit group per axis.
fn group_combinations(per_axis: &[Vec<Vec<Segment>>]) -> Vec<Vec<&Vec<Segment>>> {
    let mut combos: Vec<Vec<&Vec<Segment>>> = vec![Vec::new()];
    for groups in per_axis {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                groups.iter().map(move |g| {
                    let mut next = combo.clone();
                    next.push(g);
                    next
                })
            })
            .collect();
    }
    combos
}

/// The axes of an orthogonal selection from the C arguments, checked against the array's shape.
fn parse_axes<'a>(
    shape: &[u64],
    counts: &[usize],
    starts: &[u64],
    steps: &[i64],
    indices: &'a [u64],
) -> FfiResult<Vec<Axis<'a>>> {
    let outside = |d: usize, index: i128| {
        FfiError::upstream(
            zarrs_ffi::ZarrsResult::ZARRS_ERROR_INVALID_INDICES,
            format!(
                "index {index} of axis {d} is outside the array's {} elements",
                shape[d]
            ),
        )
    };
    let mut rest = indices;
    let mut axes = Vec::with_capacity(counts.len());
    for d in 0..counts.len() {
        let count = counts[d];
        if steps[d] != 0 {
            if count > 0 {
                let last = starts[d] as i128 + (count as i128 - 1) * steps[d] as i128;
                for index in [starts[d] as i128, last] {
                    if index < 0 || index >= shape[d] as i128 {
                        return Err(outside(d, index));
                    }
                }
            }
            axes.push(Axis::Range {
                start: starts[d],
                step: steps[d],
                count,
            });
            continue;
        }
        if rest.len() < count {
            return Err(FfiError::invalid(
                "pIndices holds fewer indices than pCounts names",
            ));
        }
        let (list, tail) = rest.split_at(count);
        rest = tail;
        if let Some(&bad) = list.iter().find(|&&i| i >= shape[d]) {
            return Err(outside(d, bad as i128));
        }
        axes.push(Axis::List(list));
    }
    Ok(axes)
}

fn read_orthogonal(
    array: &ArrayHandle,
    axes: &[Axis],
    counts: &[usize],
    out: &mut [u8],
) -> FfiResult {
    let element = element_size(array)?;
    let unit = unit_shape(array)?;
    let per_axis: Vec<Vec<Vec<Segment>>> = std::iter::zip(axes, &unit)
        .map(|(axis, &u)| axis_groups(axis, u))
        .collect();
    let out_ptr = OutPtr(out.as_mut_ptr());
    let combos = group_combinations(&per_axis);
    for_each_group(&combos, |groups| {
        let bounds: Vec<(u64, u64)> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(Segment::bounds)
                    .fold((u64::MAX, 0), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
            })
            .collect();
        let lo: Vec<u64> = bounds.iter().map(|b| b.0).collect();
        let hi: Vec<u64> = bounds.iter().map(|b| b.1).collect();
        let decoded = decode_box(array, &lo, &hi, element)?;
        let box_shape: Vec<u64> = std::iter::zip(&lo, &hi).map(|(l, h)| h - l + 1).collect();
        scatter_orthogonal(groups, &lo, &box_shape, &decoded, out_ptr, counts, element);
        Ok(())
    })
}

/// Read an orthogonal selection (zarr-python's `oindex`, strided slices) into `pOut`. Axis d
/// selects `pCounts[d]` indices: if `pSteps[d]` is not 0, `pStarts[d] + k * pSteps[d]` (a slice,
/// negative steps allowed); else the next `pCounts[d]` values of `pIndices` (any order, repeats
/// allowed). `pOut` receives, C order, the outer product: element (i0, i1, ...) is the array's
/// element (index0[i0], index1[i1], ...); `outBytes` = the product of the counts times the
/// element size.
///
/// # Safety
/// `array` a live handle; `pCounts`, `pStarts`, `pSteps` hold `dimensionality` values, `pIndices`
/// `indexCount`; `pOut` `outBytes` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayRetrieveOrthogonalInto(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pCounts: *const usize,
    pStarts: *const u64,
    pSteps: *const i64,
    indexCount: usize,
    pIndices: *const u64,
    outBytes: usize,
    pOut: *mut u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        check_dimensionality(array, dimensionality)?;
        let counts = slice_arg(pCounts, dimensionality, "pCounts")?;
        let starts = slice_arg(pStarts, dimensionality, "pStarts")?;
        let steps = slice_arg(pSteps, dimensionality, "pSteps")?;
        let indices = slice_arg(pIndices, indexCount, "pIndices")?;
        let out_shape: Vec<u64> = counts.iter().map(|&n| n as u64).collect();
        check_length(
            outBytes,
            byte_count(&out_shape, element_size(array)?)?,
            "output buffer",
        )?;
        let out = out_bytes_arg(pOut, outBytes, "pOut")?;
        let axes = parse_axes(array.shape(), counts, starts, steps, indices)?;
        if outBytes == 0 {
            return Ok(());
        }
        read_orthogonal(array, &axes, counts, out)
    })
}

// -- coordinates ----------------------------------------------------------------------------------

fn read_points(array: &ArrayHandle, dims: usize, coords: &[u64], out: &mut [u8]) -> FfiResult {
    let element = element_size(array)?;
    let unit = unit_shape(array)?;
    let shape = array.shape();
    let mut by_unit: BTreeMap<Vec<u64>, Vec<usize>> = BTreeMap::new();
    for (point, coord) in coords.chunks_exact(dims).enumerate() {
        if let Some(d) = (0..dims).find(|&d| coord[d] >= shape[d]) {
            return Err(FfiError::upstream(
                zarrs_ffi::ZarrsResult::ZARRS_ERROR_INVALID_INDICES,
                format!(
                    "point {point} {coord:?} is outside the array's shape {shape:?} (axis {d})"
                ),
            ));
        }
        let key = std::iter::zip(coord, &unit).map(|(c, u)| c / u).collect();
        by_unit.entry(key).or_default().push(point);
    }
    let groups: Vec<Vec<usize>> = by_unit.into_values().collect();
    let out_ptr = OutPtr(out.as_mut_ptr());
    for_each_group(&groups, |points| {
        let coord = |p: usize| &coords[p * dims..(p + 1) * dims];
        let lo: Vec<u64> = (0..dims)
            .map(|d| points.iter().map(|&p| coord(p)[d]).min().unwrap_or(0))
            .collect();
        let hi: Vec<u64> = (0..dims)
            .map(|d| points.iter().map(|&p| coord(p)[d]).max().unwrap_or(0))
            .collect();
        let decoded = decode_box(array, &lo, &hi, element)?;
        for &p in points {
            let mut src = 0usize;
            for d in 0..dims {
                src = src * (hi[d] - lo[d] + 1) as usize + (coord(p)[d] - lo[d]) as usize;
            }
            // SAFETY: `src` lies in the box, point `p` in the output; each point is in one group.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    decoded.as_ptr().add(src * element),
                    out_ptr.at(p * element),
                    element,
                );
            }
        }
        Ok(())
    })
}

/// Read `nPoints` points (zarr-python's `vindex`) into `pOut`: `pCoords` holds each point's
/// `dimensionality` coordinates in turn; `pOut` receives the points' elements in order.
///
/// # Safety
/// `array` a live handle; `pCoords` holds `nPoints * dimensionality` values; `pOut` `outBytes`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayRetrievePointsInto(
    array: ZarrsCffiArray,
    dimensionality: usize,
    nPoints: usize,
    pCoords: *const u64,
    outBytes: usize,
    pOut: *mut u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        check_dimensionality(array, dimensionality)?;
        let values = nPoints
            .checked_mul(dimensionality)
            .ok_or_else(|| FfiError::invalid("point count overflows"))?;
        let coords = slice_arg(pCoords, values, "pCoords")?;
        check_length(
            outBytes,
            byte_count(&[nPoints as u64], element_size(array)?)?,
            "output buffer",
        )?;
        let out = out_bytes_arg(pOut, outBytes, "pOut")?;
        if nPoints == 0 {
            return Ok(());
        }
        if dimensionality == 0 {
            return Err(FfiError::invalid(
                "points of a 0-d array have no coordinates",
            ));
        }
        read_points(array, dimensionality, coords, out)
    })
}

fn check_dimensionality(array: &RwArray, dimensionality: usize) -> FfiResult {
    if dimensionality != array.dimensionality() {
        return Err(FfiError::upstream(
            zarrs_ffi::ZarrsResult::ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY,
            format!(
                "the selection has {dimensionality} axes, the array {}",
                array.dimensionality()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(position: usize, index: u64, count: usize, step: i64) -> Segment {
        Segment {
            position,
            index,
            count,
            step,
        }
    }

    #[test]
    fn a_slice_gives_one_segment_per_unit_it_crosses() {
        let groups = axis_groups(
            &Axis::Range {
                start: 3,
                step: 4,
                count: 5,
            },
            8,
        ); // 3 7 11 15 19
        assert_eq!(
            groups,
            vec![
                vec![seg(0, 3, 2, 4)],
                vec![seg(2, 11, 2, 4)],
                vec![seg(4, 19, 1, 4)]
            ]
        );
        let down = axis_groups(
            &Axis::Range {
                start: 17,
                step: -5,
                count: 4,
            },
            8,
        ); // 17 12 7 2
        assert_eq!(
            down,
            vec![
                vec![seg(2, 7, 2, -5)],
                vec![seg(1, 12, 1, -5)],
                vec![seg(0, 17, 1, -5)]
            ]
        );
        assert_eq!(down[0][0].bounds(), (2, 7));
    }

    #[test]
    fn a_list_merges_runs_and_keeps_repeats_and_order() {
        let indices = [4, 5, 6, 9, 1, 1, 7];
        let groups = axis_groups(&Axis::List(&indices), 8);
        assert_eq!(
            groups,
            vec![
                vec![
                    seg(0, 4, 3, 1),
                    seg(4, 1, 1, 1),
                    seg(5, 1, 1, 1),
                    seg(6, 7, 1, 1)
                ],
                vec![seg(3, 9, 1, 1)]
            ]
        );
        assert_eq!(
            expand(&groups[0]),
            vec![(0, 4), (1, 5), (2, 6), (4, 1), (5, 1), (6, 7)]
        );
    }

    #[test]
    fn out_of_range_axes_are_rejected() {
        let shape = [10u64];
        assert!(parse_axes(&shape, &[3], &[4], &[3], &[]).is_err()); // 4 7 10
        assert!(parse_axes(&shape, &[3], &[2], &[-2], &[]).is_err()); // 2 0 -2
        assert!(parse_axes(&shape, &[2], &[0], &[0], &[3, 10]).is_err());
        assert!(parse_axes(&shape, &[2], &[0], &[0], &[3]).is_err()); // too few indices
        assert!(parse_axes(&shape, &[3], &[9], &[-4], &[]).is_ok()); // 9 5 1
    }

    #[test]
    fn scatter_places_every_element_of_an_outer_product() {
        // A 4 x 4 box holding 0..16, rows [2, 0] and columns 1..4 by 2 -> out 2 x 2.
        let decoded: Vec<u8> = (0..16).collect();
        let rows = vec![seg(0, 2, 1, 1), seg(1, 0, 1, 1)];
        let cols = vec![seg(0, 1, 2, 2)];
        let mut out = vec![0u8; 4];
        scatter_orthogonal(
            &[&rows, &cols],
            &[0, 0],
            &[4, 4],
            &decoded,
            OutPtr(out.as_mut_ptr()),
            &[2, 2],
            1,
        );
        assert_eq!(out, vec![9, 11, 1, 3]);
    }
}
