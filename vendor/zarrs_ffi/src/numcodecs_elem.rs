//! The element types of numcodecs' numeric filters (delta, quantize, astype): what their
//! `dtype` / `astype` strings name, element access in native-endian bytes, and numpy's casts.

use half::f16;
use zarrs::array::DataType;
use zarrs::array::codec::api::CodecError;

/// An element type of a filter: integer (signed or not) or float, and its width in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    Int { signed: bool, bytes: usize },
    Float { bytes: usize },
}

impl Elem {
    /// numcodecs' type string (`"<i8"`, `"|u1"`, `"f2"`) or numpy's name (`"int64"`).
    /// Big-endian (`">i4"`) and other types are None.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let named = match text {
            "float16" => "f2",
            other => crate::numcodecs_codecs::numpy_type_string(other),
        }
        .trim_start_matches(['<', '|', '=']);
        let (kind, bytes) = named.split_at_checked(1)?;
        let bytes: usize = bytes.parse().ok()?;
        match (kind, bytes) {
            ("i", 1 | 2 | 4 | 8) => Some(Self::Int {
                signed: true,
                bytes,
            }),
            ("u", 1 | 2 | 4 | 8) => Some(Self::Int {
                signed: false,
                bytes,
            }),
            ("f", 2 | 4 | 8) => Some(Self::Float { bytes }),
            _ => None,
        }
    }

    /// The element type of an array's data type, if it is one of these.
    pub(crate) fn of_data_type(data_type: &DataType) -> Option<Self> {
        Self::parse(&data_type.name_v3()?)
    }

    pub(crate) fn bytes(self) -> usize {
        match self {
            Self::Int { bytes, .. } | Self::Float { bytes } => bytes,
        }
    }

    /// How many elements `bytes` holds; an error naming numcodecs' codec `id` if the last is
    /// partial.
    pub(crate) fn count(self, id: &str, bytes: &[u8]) -> Result<usize, CodecError> {
        if !bytes.len().is_multiple_of(self.bytes()) {
            return Err(CodecError::Other(format!(
                "numcodecs.{id}: a chunk of a partial element"
            )));
        }
        Ok(bytes.len() / self.bytes())
    }

    /// The Zarr v3 name of the data type.
    pub(crate) fn v3_name(self) -> String {
        match self {
            Self::Int { signed, bytes } => {
                format!("{}int{}", if signed { "" } else { "u" }, bytes * 8)
            }
            Self::Float { bytes } => format!("float{}", bytes * 8),
        }
    }

    /// Element `i` of native-endian `bytes`, as a 64-bit integer (wrapping, like numpy's casts).
    pub(crate) fn int_at(self, bytes: &[u8], i: usize) -> i64 {
        let Self::Int { signed, bytes: n } = self else {
            unreachable!("integer types only")
        };
        let raw = &bytes[i * n..(i + 1) * n];
        match (signed, n) {
            (true, 1) => i64::from(i8::from_ne_bytes([raw[0]])),
            (false, 1) => i64::from(raw[0]),
            (true, 2) => i64::from(i16::from_ne_bytes(raw.try_into().expect("2"))),
            (false, 2) => i64::from(u16::from_ne_bytes(raw.try_into().expect("2"))),
            (true, 4) => i64::from(i32::from_ne_bytes(raw.try_into().expect("4"))),
            (false, 4) => i64::from(u32::from_ne_bytes(raw.try_into().expect("4"))),
            _ => i64::from_ne_bytes(raw.try_into().expect("8")),
        }
    }

    /// Write `value` truncated to this integer type (numpy's wrapping cast) at element `i`.
    pub(crate) fn put_int(self, bytes: &mut [u8], i: usize, value: i64) {
        let n = self.bytes();
        bytes[i * n..(i + 1) * n].copy_from_slice(&value.to_ne_bytes()[..n]);
    }

    pub(crate) fn float_at(self, bytes: &[u8], i: usize) -> f64 {
        match self.bytes() {
            2 => f16::from_ne_bytes(bytes[i * 2..i * 2 + 2].try_into().expect("2")).to_f64(),
            4 => f64::from(f32::from_ne_bytes(
                bytes[i * 4..i * 4 + 4].try_into().expect("4"),
            )),
            _ => f64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8")),
        }
    }

    /// Write `value` rounded to this float type (to nearest, ties to even, as numpy's casts).
    #[allow(clippy::cast_possible_truncation)]
    pub(crate) fn put_float(self, bytes: &mut [u8], i: usize, value: f64) {
        match self.bytes() {
            2 => bytes[i * 2..i * 2 + 2].copy_from_slice(&f16::from_f64(value).to_ne_bytes()),
            4 => bytes[i * 4..i * 4 + 4].copy_from_slice(&(value as f32).to_ne_bytes()),
            _ => bytes[i * 8..i * 8 + 8].copy_from_slice(&value.to_ne_bytes()),
        }
    }
}

impl Elem {
    /// Whether this integer type holds `value` (numpy refuses a Python integer it does not).
    pub(crate) fn holds(self, value: i128) -> bool {
        let Self::Int { signed, bytes } = self else {
            return true;
        };
        let bits = u32::try_from(bytes * 8).unwrap_or(64);
        let (lo, hi) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        (lo..=hi).contains(&value)
    }

    /// Integer element `i` as it is (uint64 beyond i64 included).
    #[allow(clippy::cast_sign_loss)]
    pub(crate) fn exact_int(self, bytes: &[u8], i: usize) -> i128 {
        let value = self.int_at(bytes, i);
        match self {
            Self::Int {
                signed: false,
                bytes: 8,
            } => i128::from(value as u64),
            _ => i128::from(value),
        }
    }

    /// Integer element `i` as float64, rounded once (uint64 beyond i64 included), as numpy
    /// converts it.
    #[allow(clippy::cast_precision_loss, clippy::cast_sign_loss)]
    pub(crate) fn exact_f64(self, bytes: &[u8], i: usize) -> f64 {
        let value = self.int_at(bytes, i);
        match self {
            Self::Int {
                signed: false,
                bytes: 8,
            } => value as u64 as f64,
            _ => value as f64,
        }
    }

    /// `value` rounded to this float type. An operation in f64 on values of a narrower type,
    /// rounded once to that type, gives numpy's result in the type (f64 has more than twice
    /// the digits, so rounding twice cannot differ from rounding once).
    #[allow(clippy::cast_possible_truncation)]
    pub(crate) fn round(self, value: f64) -> f64 {
        match self.bytes() {
            2 => f16::from_f64(value).to_f64(),
            4 => f64::from(value as f32),
            _ => value,
        }
    }
}

// `put_int` keeps the first bytes of `to_ne_bytes`: the low-order ones on a little-endian target.
#[cfg(not(target_endian = "little"))]
compile_error!("numcodecs_elem assumes a little-endian target");

/// numpy's `astype` from `from` to `to` over whole elements (`src` holds `count` of `from`).
/// Integers wrap; integers to floats and floats to narrower floats round to nearest; floats to
/// integers truncate toward zero, and a value outside the target's range (undefined in C, so in
/// numpy) gives what numpy gives on x86-64 for finite values (through a 32-bit conversion for
/// types up to 32 bits, int32's minimum when out of its range; uint32 through 64 bits).
pub(crate) fn cast(from: Elem, to: Elem, src: &[u8], count: usize) -> Vec<u8> {
    let mut out = vec![0u8; count * to.bytes()];
    match (from, to) {
        (Elem::Int { .. }, Elem::Int { .. }) => {
            for i in 0..count {
                to.put_int(&mut out, i, from.int_at(src, i));
            }
        }
        (Elem::Int { signed, bytes }, Elem::Float { .. }) => {
            for i in 0..count {
                let value = from.int_at(src, i);
                // uint64 above i64::MAX is held wrapped in the i64.
                #[allow(clippy::cast_sign_loss)]
                let exact = if !signed && bytes == 8 {
                    i128::from(value as u64)
                } else {
                    i128::from(value)
                };
                put_rounded(to, &mut out, i, exact);
            }
        }
        (Elem::Float { .. }, Elem::Int { .. }) => {
            for i in 0..count {
                to.put_int(&mut out, i, float_to_int(from.float_at(src, i), to));
            }
        }
        (Elem::Float { .. }, Elem::Float { .. }) => {
            for i in 0..count {
                to.put_float(&mut out, i, from.float_at(src, i));
            }
        }
    }
    out
}

/// An integer as the float type `to`, rounded once (as C converts).
#[allow(clippy::cast_precision_loss)]
fn put_rounded(to: Elem, out: &mut [u8], i: usize, value: i128) {
    match to.bytes() {
        // Integers beyond f64's 53 bits are beyond float16's range (infinity) too.
        2 => to.put_float(out, i, value as f64),
        4 => out[i * 4..i * 4 + 4].copy_from_slice(&(value as f32).to_ne_bytes()),
        _ => out[i * 8..i * 8 + 8].copy_from_slice(&(value as f64).to_ne_bytes()),
    }
}

/// numpy's float-to-integer cast on x86-64 (`cvttsd2si`: out of range or NaN gives the signed
/// minimum of the conversion's width), before the wrap to the target's width.
#[allow(clippy::cast_possible_truncation)]
fn float_to_int(value: f64, to: Elem) -> i64 {
    const I32_LIMIT: f64 = 2_147_483_648.0;
    const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let through_64 = |v: f64| {
        if (-I64_LIMIT..I64_LIMIT).contains(&v) {
            v as i64
        } else {
            i64::MIN
        }
    };
    match to {
        Elem::Int {
            signed: false,
            bytes: 8,
        } if (I64_LIMIT..2.0 * I64_LIMIT).contains(&value) => value as u64 as i64,
        Elem::Int {
            signed: false,
            bytes: 4 | 8,
        }
        | Elem::Int {
            signed: true,
            bytes: 8,
        } => through_64(value),
        _ => {
            if value > -I32_LIMIT - 1.0 && value < I32_LIMIT {
                i64::from(value as i32)
            } else {
                i64::from(i32::MIN)
            }
        }
    }
}
