//! numcodecs' `quantize`, `astype` and `fixedscaleoffset` filters (Zarr v2 ids `quantize` /
//! `astype` / `fixedscaleoffset`, v3 `numcodecs.<id>`): zarrs lacks the first two, and its
//! fixedscaleoffset rounds and casts otherwise than numcodecs (see `numcodecs_scale_offset`).
//!
//! Both store each element cast to another numeric type, and decode by casting back:
//! * `astype` (`encode_dtype`, `decode_dtype`): numpy's `astype`, both ways.
//! * `quantize` (`digits`, `dtype`, `astype`; floats only): encoding keeps `digits` decimal digits
//!   by rounding to a multiple of a power of two, `round(x * 2**bits) / 2**bits` in `dtype`
//!   (half to even, as `np.around`), then casts to `astype`; decoding casts back to `dtype`.
//!
//! The casts are numpy's (`numcodecs_elem::cast`), so what is written here is what numcodecs
//! writes. zarr-python's v3 wrappers may omit `dtype` / `decode_dtype`: then it is the array's.

use std::borrow::Cow;
use std::num::NonZeroU64;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::codec::api::{
    ArrayBytes, ArrayCodecTraits, ArrayToArrayCodecTraits, Codec, CodecError, CodecMetadataOptions,
    CodecOptions, CodecTraits, PartialDecoderCapability, PartialEncoderCapability,
    RecommendedConcurrency,
};
use zarrs::array::{DataType, FillValue};
use zarrs::metadata::Configuration;
use zarrs::metadata::v2::MetadataV2;
use zarrs::metadata::v3::MetadataV3;
use zarrs::plugin::{ExtensionName, PluginCreateError, ZarrVersion};

use crate::numcodecs_codecs::{check_members, invalid, string_member};
use crate::numcodecs_elem::{Elem, cast};
use crate::numcodecs_scale_offset::{self as scale_offset, Scalar};

/// What the filter does around the cast.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    AsType,
    /// Round to a multiple of `1 / scale` (a power of two).
    Quantize {
        scale: f64,
    },
    /// fixedscaleoffset: `(x - offset) * scale`, rounded (`numcodecs_scale_offset`).
    ScaleOffset {
        offset: Scalar,
        scale: Scalar,
    },
}

impl Kind {
    fn id(self) -> &'static str {
        match self {
            Self::AsType => "astype",
            Self::Quantize { .. } => "quantize",
            Self::ScaleOffset { .. } => "fixedscaleoffset",
        }
    }
}

/// numcodecs' `AsType` or `Quantize`.
#[derive(Clone, Debug)]
pub struct CastCodec {
    kind: Kind,
    /// The array's type (`decode_dtype` / `dtype`); None: whatever the array's type is.
    decoded: Option<Elem>,
    /// The stored type (`encode_dtype` / `astype`); None: the decoded type.
    encoded: Option<Elem>,
    /// The configuration as stored (written back unchanged).
    configuration: Map<String, Value>,
}

/// numcodecs' scale for `digits` decimal digits, computed as numcodecs does (`Quantize.encode`).
fn quantize_scale(digits: i64) -> Option<f64> {
    let digits = i32::try_from(digits).ok()?;
    let precision = 10f64.powf(-f64::from(digits));
    let exp = precision.log10();
    let exp = if exp < 0.0 { exp.floor() } else { exp.ceil() };
    let bits = 10f64.powf(-exp).log2().ceil();
    let scale = 2f64.powf(bits);
    (scale.is_finite() && scale > 0.0).then_some(scale)
}

impl CastCodec {
    fn from_configuration(
        id: &str,
        configuration: Map<String, Value>,
    ) -> Result<Codec, PluginCreateError> {
        let (decoded_key, encoded_key, allowed): (_, _, &[&str]) = match id {
            "astype" => (
                "decode_dtype",
                "encode_dtype",
                &["id", "encode_dtype", "decode_dtype"],
            ),
            "fixedscaleoffset" => (
                "dtype",
                "astype",
                &["id", "offset", "scale", "dtype", "astype"],
            ),
            _ => ("dtype", "astype", &["id", "digits", "dtype", "astype"]),
        };
        check_members(id, &configuration, allowed)?;
        let elem = |key: &str| -> Result<Option<Elem>, PluginCreateError> {
            string_member(id, &configuration, key)?
                .map(|text| {
                    Elem::parse(text).ok_or_else(|| {
                        invalid(id, format!("unsupported data type {text:?} ({key})"))
                    })
                })
                .transpose()
        };
        let decoded = elem(decoded_key)?;
        let encoded = elem(encoded_key)?;
        let kind = if id == "astype" {
            if encoded.is_none() {
                return Err(invalid(id, "encode_dtype is missing"));
            }
            Kind::AsType
        } else if id == "fixedscaleoffset" {
            let scalar = |key: &str| {
                let value = configuration
                    .get(key)
                    .ok_or_else(|| invalid(id, format!("{key} is missing")))?;
                Scalar::from_json(value).ok_or_else(|| {
                    invalid(id, format!("{key} must be a finite number, not {value}"))
                })
            };
            Kind::ScaleOffset {
                offset: scalar("offset")?,
                scale: scalar("scale")?,
            }
        } else {
            let digits = configuration
                .get("digits")
                .ok_or_else(|| invalid(id, "digits is missing"))?;
            let scale = digits.as_i64().and_then(quantize_scale).ok_or_else(|| {
                invalid(id, format!("digits must be a small integer, not {digits}"))
            })?;
            for (key, elem) in [(decoded_key, decoded), (encoded_key, encoded)] {
                if matches!(elem, Some(Elem::Int { .. })) {
                    let why = format!("{key}: only floating point data types are supported");
                    return Err(invalid(id, why));
                }
            }
            Kind::Quantize { scale }
        };
        Ok(Codec::ArrayToArray(Arc::new(Self {
            kind,
            decoded,
            encoded,
            configuration,
        })))
    }

    pub fn create_v3(metadata: &MetadataV3) -> Result<Codec, PluginCreateError> {
        let id = metadata.name().trim_start_matches("numcodecs.");
        let configuration = metadata.configuration().cloned().unwrap_or_default();
        Self::from_configuration(id, configuration.into())
    }

    pub fn create_v2(metadata: &MetadataV2) -> Result<Codec, PluginCreateError> {
        let mut configuration: Map<String, Value> = metadata.configuration().clone().into();
        configuration.remove("id");
        Self::from_configuration(metadata.id(), configuration)
    }

    fn error(&self, e: impl std::fmt::Display) -> CodecError {
        CodecError::Other(format!("numcodecs.{}: {e}", self.kind.id()))
    }

    /// The decoded and encoded element types for an array of `data_type`.
    fn types(&self, data_type: &DataType) -> Result<(Elem, Elem), CodecError> {
        let array = Elem::of_data_type(data_type);
        let decoded = match (self.decoded, array) {
            (Some(decoded), Some(array)) if decoded == array => decoded,
            (None, Some(array)) => array,
            _ => {
                return Err(self.error(format!(
                    "the array's data type {} is not the filter's {}",
                    data_type.name_v3().unwrap_or_default(),
                    self.decoded
                        .map_or("numeric type".to_string(), Elem::v3_name)
                )));
            }
        };
        if matches!(self.kind, Kind::Quantize { .. }) && matches!(decoded, Elem::Int { .. }) {
            return Err(self.error("only floating point data types are supported"));
        }
        Ok((decoded, self.encoded.unwrap_or(decoded)))
    }

    fn encode_bytes(&self, data_type: &DataType, bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
        let (decoded, encoded) = self.types(data_type)?;
        let count = decoded.count(self.kind.id(), bytes)?;
        match self.kind {
            Kind::AsType => Ok(cast(decoded, encoded, bytes, count)),
            Kind::Quantize { scale } => {
                let rounded = quantize(decoded, bytes, count, scale);
                Ok(cast(decoded, encoded, &rounded, count))
            }
            Kind::ScaleOffset { offset, scale } => {
                scale_offset::encode_cast(decoded, encoded, bytes, count, offset, scale)
                    .map_err(|e| self.error(e))
            }
        }
    }

    fn decode_bytes(&self, data_type: &DataType, bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
        let (decoded, encoded) = self.types(data_type)?;
        let count = encoded.count(self.kind.id(), bytes)?;
        Ok(match self.kind {
            Kind::ScaleOffset { offset, scale } => {
                scale_offset::decode_cast(decoded, encoded, bytes, count, offset, scale)
            }
            _ => cast(encoded, decoded, bytes, count),
        })
    }
}

/// `np.around(scale * x) / scale` in the float type of `elem`: numpy multiplies a float32 or
/// float16 array by a Python float in that type (float16 holds no scale above 65504: the scale
/// is then infinite and the result NaN, as numcodecs gives).
fn quantize(elem: Elem, bytes: &[u8], count: usize, scale: f64) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    let scale = elem.round(scale);
    for i in 0..count {
        let scaled = elem.round(elem.float_at(bytes, i) * scale);
        elem.put_float(&mut out, i, scaled.round_ties_even() / scale);
    }
    out
}

impl ExtensionName for CastCodec {
    fn name(&self, version: ZarrVersion) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed(match (version, self.kind) {
            (ZarrVersion::V2, Kind::AsType) => "astype",
            (ZarrVersion::V2, Kind::Quantize { .. }) => "quantize",
            (ZarrVersion::V3, Kind::AsType) => "numcodecs.astype",
            (ZarrVersion::V3, Kind::Quantize { .. }) => "numcodecs.quantize",
            (ZarrVersion::V2, Kind::ScaleOffset { .. }) => "fixedscaleoffset",
            (ZarrVersion::V3, Kind::ScaleOffset { .. }) => "numcodecs.fixedscaleoffset",
        }))
    }
}

impl CodecTraits for CastCodec {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        _version: ZarrVersion,
        _options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        Some(self.configuration.clone().into())
    }

    fn partial_decoder_capability(&self) -> PartialDecoderCapability {
        PartialDecoderCapability {
            partial_read: false,
            partial_decode: false,
        }
    }

    fn partial_encoder_capability(&self) -> PartialEncoderCapability {
        PartialEncoderCapability {
            partial_encode: false,
        }
    }
}

impl ArrayCodecTraits for CastCodec {
    fn recommended_concurrency(
        &self,
        _shape: &[NonZeroU64],
        _data_type: &DataType,
    ) -> Result<RecommendedConcurrency, CodecError> {
        Ok(RecommendedConcurrency::new_maximum(1))
    }
}

impl ArrayToArrayCodecTraits for CastCodec {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn ArrayToArrayCodecTraits> {
        self
    }

    fn encoded_data_type(&self, decoded_data_type: &DataType) -> Result<DataType, CodecError> {
        let (_, encoded) = self.types(decoded_data_type)?;
        DataType::from_metadata(&MetadataV3::new(encoded.v3_name())).map_err(|e| self.error(e))
    }

    fn encode<'a>(
        &self,
        bytes: ArrayBytes<'a>,
        _shape: &[NonZeroU64],
        data_type: &DataType,
        _fill_value: &FillValue,
        _options: &CodecOptions,
    ) -> Result<ArrayBytes<'a>, CodecError> {
        Ok(self.encode_bytes(data_type, &bytes.into_fixed()?)?.into())
    }

    fn decode<'a>(
        &self,
        bytes: ArrayBytes<'a>,
        _shape: &[NonZeroU64],
        data_type: &DataType,
        _fill_value: &FillValue,
        _options: &CodecOptions,
    ) -> Result<ArrayBytes<'a>, CodecError> {
        Ok(self.decode_bytes(data_type, &bytes.into_fixed()?)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(id: &str, json: &str) -> Result<CastCodec, PluginCreateError> {
        let configuration: Map<String, Value> = serde_json::from_str(json).unwrap();
        let Codec::ArrayToArray(codec) = CastCodec::from_configuration(id, configuration)? else {
            unreachable!("an array-to-array codec")
        };
        Ok(codec.as_any().downcast_ref::<CastCodec>().unwrap().clone())
    }

    fn data_type(name: &str) -> DataType {
        DataType::from_metadata(&MetadataV3::new(name)).unwrap()
    }

    fn f64s(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    fn as_f64s(bytes: &[u8]) -> Vec<f64> {
        bytes
            .chunks(8)
            .map(|c| f64::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn quantize_matches_numcodecs_docstring() {
        // numcodecs' Quantize docstring: x = np.linspace(0, 1, 10), digits=1 and digits=2.
        let x: Vec<f64> = (0..10).map(|i| f64::from(i) / 9.0).collect();
        let q1 = codec("quantize", r#"{"digits": 1, "dtype": "<f8"}"#).unwrap();
        let encoded = q1.encode_bytes(&data_type("float64"), &f64s(&x)).unwrap();
        assert_eq!(
            as_f64s(&encoded),
            [
                0.0, 0.125, 0.25, 0.3125, 0.4375, 0.5625, 0.6875, 0.75, 0.875, 1.0
            ]
        );
        let q2 = codec("quantize", r#"{"digits": 2, "dtype": "float64"}"#).unwrap();
        let encoded = q2.encode_bytes(&data_type("float64"), &f64s(&x)).unwrap();
        assert_eq!(as_f64s(&encoded)[1..4], [0.109375, 0.21875, 0.3359375]);
        // Decoding is the cast back: the quantized values are kept.
        let decoded = q2.decode_bytes(&data_type("float64"), &encoded).unwrap();
        assert_eq!(decoded, encoded);
    }

    fn f16_bits(values: &[f64]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| half::f16::from_f64(*v).to_ne_bytes())
            .collect()
    }

    fn as_u16s(bytes: &[u8]) -> Vec<u16> {
        bytes
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn float16_is_quantized_and_cast_in_float16_as_numcodecs_does() {
        // numcodecs 0.16.6 on numpy 2.4.6: Quantize(digits, dtype="f2").encode(x).view("u2").
        // The product overflows float16 (inf), and from digits=5 on the scale itself does
        // (2**17): every value is then NaN (0 * inf, inf / inf).
        let x = [
            0.1,
            1.2345,
            -3.140625, // -3.14159 as float16
            64.5,
            100.0,
            1000.5,
            65504.0,
            -0.0,
            f64::INFINITY,
        ];
        let expected: [(i64, [u16; 9]); 4] = [
            (
                1,
                [
                    12288, 15616, 49728, 21512, 22080, 25553, 31744, 32768, 31744,
                ],
            ),
            (
                2,
                [
                    11904, 15600, 49736, 21512, 22080, 31744, 31744, 32768, 31744,
                ],
            ),
            (
                3,
                [
                    11872, 15600, 49736, 31744, 31744, 31744, 31744, 32768, 31744,
                ],
            ),
            (5, [65024; 9]),
        ];
        for (digits, bits) in expected {
            let json = format!(r#"{{"digits": {digits}, "dtype": "f2"}}"#);
            let q = codec("quantize", &json).unwrap();
            let encoded = q
                .encode_bytes(&data_type("float16"), &f16_bits(&x))
                .unwrap();
            assert_eq!(as_u16s(&encoded), bits, "digits {digits}");
        }
        // AsType("f2", decode_dtype="f8"): rounded to nearest; beyond 65504 infinite.
        let a = codec("astype", r#"{"encode_dtype": "f2", "decode_dtype": "<f8"}"#).unwrap();
        let encoded = a
            .encode_bytes(&data_type("float64"), &f64s(&[1.0 / 3.0, 70000.0, 1e-8]))
            .unwrap();
        assert_eq!(as_u16s(&encoded), [13653, 31744, 0]);
        // AsType("i1", decode_dtype="f2"): through a 32-bit integer, wrapped (inf: 0).
        let a = codec(
            "astype",
            r#"{"encode_dtype": "|i1", "decode_dtype": "float16"}"#,
        )
        .unwrap();
        let encoded = a
            .encode_bytes(&data_type("float16"), &f16_bits(&x))
            .unwrap();
        assert_eq!(
            encoded.iter().map(|b| *b as i8).collect::<Vec<_>>(),
            [0, 1, -3, 64, 100, -24, -32, 0, 0]
        );
    }

    #[test]
    fn quantize_rounds_half_to_even_and_casts_to_astype() {
        assert_eq!(quantize_scale(0), Some(1.0));
        let q = codec(
            "quantize",
            r#"{"digits": 0, "dtype": "<f8", "astype": "<f4"}"#,
        )
        .unwrap();
        let encoded = q
            .encode_bytes(&data_type("float64"), &f64s(&[0.5, 1.5, 2.5, -0.5]))
            .unwrap();
        let stored: Vec<f32> = encoded
            .chunks(4)
            .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(stored, [0.0, 2.0, 2.0, -0.0]);
        let decoded = q.decode_bytes(&data_type("float64"), &encoded).unwrap();
        assert_eq!(as_f64s(&decoded), [0.0, 2.0, 2.0, -0.0]);
    }

    #[test]
    fn astype_casts_as_numpy() {
        let a = codec(
            "astype",
            r#"{"encode_dtype": "|u1", "decode_dtype": "<f8"}"#,
        )
        .unwrap();
        let encoded = a
            .encode_bytes(
                &data_type("float64"),
                &f64s(&[-1.0, -1.7, 300.0, 2.9, f64::NAN, 3e9]),
            )
            .unwrap();
        assert_eq!(encoded, [255, 255, 44, 2, 0, 0]); // numpy 2 on x86-64
        let decoded = a.decode_bytes(&data_type("float64"), &encoded).unwrap();
        assert_eq!(as_f64s(&decoded), [255.0, 255.0, 44.0, 2.0, 0.0, 0.0]);
        // uint64 beyond i64::MAX to and from float64; decode_dtype omitted (the array's).
        let wide = codec("astype", r#"{"encode_dtype": "<f8"}"#).unwrap();
        let big: Vec<u8> = [u64::MAX - 4095, 1 << 63, 7]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let encoded = wide.encode_bytes(&data_type("uint64"), &big).unwrap();
        assert_eq!(
            as_f64s(&encoded),
            [1.8446744073709548e19, 9.223372036854776e18, 7.0]
        );
        assert_eq!(
            wide.decode_bytes(&data_type("uint64"), &encoded).unwrap(),
            big
        );
    }

    #[test]
    fn bad_configurations_and_mismatched_arrays_are_refused() {
        for (id, json) in [
            ("quantize", r#"{"dtype": "<f8"}"#),
            ("quantize", r#"{"digits": "2", "dtype": "<f8"}"#),
            ("quantize", r#"{"digits": 2, "dtype": "<i4"}"#),
            ("quantize", r#"{"digits": 2000000000000, "dtype": "<f8"}"#),
            ("quantize", r#"{"digits": 2, "dtype": "<f8", "typo": 1}"#),
            ("astype", r#"{"decode_dtype": "<f8"}"#),
            ("astype", r#"{"encode_dtype": ">f4"}"#),
            ("astype", r#"{"encode_dtype": "<c8"}"#),
        ] {
            let error = codec(id, json).unwrap_err().to_string();
            assert!(error.contains(&format!("numcodecs.{id}")), "{error}");
        }
        let q = codec("quantize", r#"{"digits": 2, "dtype": "<f8"}"#).unwrap();
        assert!(q.encoded_data_type(&data_type("float32")).is_err());
        let q = codec("quantize", r#"{"digits": 2}"#).unwrap();
        assert!(q.encoded_data_type(&data_type("int16")).is_err());
        assert!(q.decode_bytes(&data_type("float64"), &[0u8; 7]).is_err());
    }
}
