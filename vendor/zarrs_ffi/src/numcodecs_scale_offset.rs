//! The arithmetic of numcodecs' `fixedscaleoffset` filter, as numpy does it:
//!
//! * encode: `np.around((x - offset) * scale).astype(astype)`
//! * decode: `(e / scale + offset).astype(dtype)`
//!
//! numpy computes each step in a type set by its operands (NEP 50: a Python number takes the
//! array's type where it can): a float array stays in its float type (float16 and float32 round
//! at every step); an integer array with an integer `offset` and `scale` stays in its integer
//! type (wrapping); an integer array meeting a float, and every true division of integers, go to
//! float64. `around` rounds half to even; the final casts are numpy's (`numcodecs_elem::cast`).
//! zarrs' own fixedscaleoffset rounds half away from zero, saturates and computes small types in
//! float32, so it stored other bytes than numcodecs and read some values a unit apart.

use crate::numcodecs_elem::{Elem, cast};

/// `offset` or `scale` as stored: JSON integers keep integer arithmetic on integer arrays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub(crate) fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value.as_i64() {
            Some(int) => Some(Self::Int(int)),
            None => value.as_f64().filter(|f| f.is_finite()).map(Self::Float),
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn as_f64(self) -> f64 {
        match self {
            Self::Int(int) => int as f64,
            Self::Float(float) => float,
        }
    }
}

const F64: Elem = Elem::Float { bytes: 8 };

/// The encoded values before the cast to `astype`, in the type numpy computes them in.
/// An integer `offset` or `scale` outside an integer `dtype` is numpy's OverflowError.
pub(crate) fn encode(
    dtype: Elem,
    bytes: &[u8],
    count: usize,
    offset: Scalar,
    scale: Scalar,
) -> Result<(Elem, Vec<u8>), String> {
    match (dtype, offset, scale) {
        (Elem::Float { .. }, _, _) => {
            let (o, s) = (dtype.round(offset.as_f64()), dtype.round(scale.as_f64()));
            let mut out = vec![0u8; bytes.len()];
            for i in 0..count {
                let shifted = dtype.round(dtype.float_at(bytes, i) - o);
                let scaled = dtype.round(shifted * s).round_ties_even();
                dtype.put_float(&mut out, i, scaled);
            }
            Ok((dtype, out))
        }
        (Elem::Int { .. }, Scalar::Int(o), Scalar::Int(s)) => {
            check_holds(dtype, "offset", o)?;
            check_holds(dtype, "scale", s)?;
            let mut out = vec![0u8; bytes.len()];
            for i in 0..count {
                let value = dtype.int_at(bytes, i).wrapping_sub(o).wrapping_mul(s);
                dtype.put_int(&mut out, i, value);
            }
            Ok((dtype, out))
        }
        (Elem::Int { .. }, _, _) => {
            if let Scalar::Int(o) = offset {
                check_holds(dtype, "offset", o)?;
            }
            let mut out = vec![0u8; count * 8];
            for i in 0..count {
                let shifted = match offset {
                    // The subtraction stays in the integer type (wrapping) before the float scale.
                    Scalar::Int(o) => {
                        let mut wrapped = [0u8; 8];
                        dtype.put_int(&mut wrapped, 0, dtype.int_at(bytes, i).wrapping_sub(o));
                        dtype.exact_f64(&wrapped, 0)
                    }
                    Scalar::Float(o) => dtype.exact_f64(bytes, i) - o,
                };
                F64.put_float(&mut out, i, (shifted * scale.as_f64()).round_ties_even());
            }
            Ok((F64, out))
        }
    }
}

/// numpy's OverflowError for a Python integer `value` (`offset` or `scale`) that an integer
/// `dtype` cannot hold.
fn check_holds(dtype: Elem, name: &str, value: i64) -> Result<(), String> {
    if dtype.holds(i128::from(value)) {
        Ok(())
    } else {
        Err(format!(
            "{name} {value} is out of bounds for {}",
            dtype.v3_name()
        ))
    }
}

/// The decoded values before the cast to `dtype`, in the type numpy computes them in.
pub(crate) fn decode(
    astype: Elem,
    bytes: &[u8],
    count: usize,
    offset: Scalar,
    scale: Scalar,
) -> (Elem, Vec<u8>) {
    // Integers divide in float64; a float type divides and adds in itself.
    let kind = match astype {
        Elem::Float { .. } => astype,
        Elem::Int { .. } => F64,
    };
    let (o, s) = (kind.round(offset.as_f64()), kind.round(scale.as_f64()));
    let mut out = vec![0u8; count * kind.bytes()];
    for i in 0..count {
        let value = match astype {
            Elem::Float { .. } => astype.float_at(bytes, i),
            Elem::Int { .. } => astype.exact_f64(bytes, i),
        };
        let unscaled = kind.round(value / s);
        kind.put_float(&mut out, i, kind.round(unscaled + o));
    }
    (kind, out)
}

/// The whole filter one way: `encode` / `decode`, then the cast numcodecs ends with.
pub(crate) fn encode_cast(
    dtype: Elem,
    astype: Elem,
    bytes: &[u8],
    count: usize,
    offset: Scalar,
    scale: Scalar,
) -> Result<Vec<u8>, String> {
    let (kind, values) = encode(dtype, bytes, count, offset, scale)?;
    Ok(cast(kind, astype, &values, count))
}

pub(crate) fn decode_cast(
    dtype: Elem,
    astype: Elem,
    bytes: &[u8],
    count: usize,
    offset: Scalar,
    scale: Scalar,
) -> Vec<u8> {
    let (kind, values) = decode(astype, bytes, count, offset, scale);
    cast(kind, dtype, &values, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T: Copy, const N: usize>(values: &[T], to: fn(T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(|v| to(*v)).collect()
    }

    fn elem(text: &str) -> Elem {
        Elem::parse(text).unwrap()
    }

    // Expected values: numcodecs 0.16.6 on numpy 2.4.6, FixedScaleOffset(...).encode / .decode.

    #[test]
    fn floats_round_half_to_even_and_cast_as_numpy() {
        let x = [0.25, 0.5, 1.5, 2.5, -0.5, -2.5, 3e9];
        let (f8, i4) = (elem("<f8"), elem("<i4"));
        let (offset, scale) = (Scalar::Int(0), Scalar::Int(1));
        let encoded =
            encode_cast(f8, i4, &bytes_of(&x, f64::to_ne_bytes), 7, offset, scale).unwrap();
        let expected = [0, 0, 2, 2, 0, -2, i32::MIN];
        assert_eq!(encoded, bytes_of(&expected, i32::to_ne_bytes));
        let decoded = decode_cast(f8, i4, &encoded, 7, offset, scale);
        let expected = [0.0, 0.0, 2.0, 2.0, 0.0, -2.0, -2_147_483_648.0];
        assert_eq!(decoded, bytes_of(&expected, f64::to_ne_bytes));
    }

    #[test]
    fn float32_computes_in_float32_and_decodes_through_float64() {
        // FixedScaleOffset(offset=1, scale=10, dtype="f4", astype="u1"): 1.05 - 1 is 0.04999995
        // in float32, 1.25 a tie (2), 27 wraps to 4, 0 to 246.
        let x: [f32; 5] = [1.05, 1.25, 27.0, 0.0, 2.35];
        let (f4, u1) = (elem("float32"), elem("|u1"));
        let (offset, scale) = (Scalar::Int(1), Scalar::Int(10));
        let encoded = encode_cast(f4, u1, &bytes_of(&x, f32::to_ne_bytes), 5, offset, scale);
        assert_eq!(encoded.unwrap(), [0, 2, 4, 246, 13]);
        // Decoded: u1 / 10 + 1 in float64, then rounded to float32 once.
        let decoded = decode_cast(f4, u1, &[0, 2, 4, 246, 13], 5, offset, scale);
        let bits = [
            1_065_353_216u32,
            1_067_030_938,
            1_068_708_659,
            1_103_940_813,
            1_075_000_115,
        ];
        assert_eq!(decoded, bytes_of(&bits, u32::to_ne_bytes));
    }

    #[test]
    fn integers_wrap_with_integer_parameters_and_go_to_float64_with_float_ones() {
        let (i4, i2) = (elem("<i4"), elem("<i2"));
        let (offset, scale) = (Scalar::Int(1000), Scalar::Int(3));
        let x = bytes_of(&[1000i32, 1001, 20000, -5], i32::to_ne_bytes);
        let encoded = encode_cast(i4, i2, &x, 4, offset, scale).unwrap();
        assert_eq!(
            encoded,
            bytes_of(&[0i16, 3, -8536, -3015], i16::to_ne_bytes)
        );
        let decoded = decode_cast(i4, i2, &encoded, 4, offset, scale); // truncated toward zero
        assert_eq!(
            decoded,
            bytes_of(&[1000i32, 1001, -1845, -5], i32::to_ne_bytes)
        );

        let (u2, u1) = (elem("<u2"), elem("|u1"));
        let (offset, scale) = (Scalar::Float(0.5), Scalar::Int(3));
        let x = bytes_of(&[0u16, 1, 2, 100], u16::to_ne_bytes);
        let encoded = encode_cast(u2, u1, &x, 4, offset, scale).unwrap();
        assert_eq!(encoded, [254, 2, 4, 42]);
        let decoded = decode_cast(u2, u1, &encoded, 4, offset, scale);
        assert_eq!(decoded, bytes_of(&[85u16, 1, 1, 14], u16::to_ne_bytes));

        // numpy: "OverflowError: Python integer -1 out of bounds for uint16".
        let refused = encode_cast(u2, u1, &x, 4, Scalar::Int(-1), Scalar::Int(3));
        assert_eq!(
            refused.unwrap_err(),
            "offset -1 is out of bounds for uint16"
        );
    }

    #[test]
    fn parameters_are_json_numbers() {
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(Scalar::from_json(&json("3")), Some(Scalar::Int(3)));
        assert_eq!(Scalar::from_json(&json("-0.5")), Some(Scalar::Float(-0.5)));
        assert_eq!(Scalar::from_json(&json("\"3\"")), None);
        assert!(
            Elem::Int {
                signed: false,
                bytes: 1
            }
            .holds(255)
        );
        assert!(
            !Elem::Int {
                signed: false,
                bytes: 1
            }
            .holds(256)
        );
        assert!(
            !Elem::Int {
                signed: true,
                bytes: 2
            }
            .holds(-32769)
        );
        assert!(
            !Elem::Int {
                signed: false,
                bytes: 8
            }
            .holds(-1)
        );
    }
}
