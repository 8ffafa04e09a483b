//! numcodecs' `delta` filter (Zarr v2 `{"id": "delta", "dtype": "<i8", "astype": "<i2"}`, v3
//! `numcodecs.delta`), which zarrs lacks.
//!
//! It stores the chunk's first element, then each element minus the one before (C order), as
//! `astype`; decoding is the running sum. numcodecs computes them with numpy (`np.diff`,
//! `np.cumsum`): integers in wrapping arithmetic (cumsum of integers narrower than 64 bits runs in
//! 64 bits, then is cast), floats in the float type. The same here. Supported: integer `dtype`
//! with integer `astype` (any widths), and float `dtype` with the same `astype`; other pairs are
//! refused when the array is opened.

use std::num::NonZeroU64;
use std::sync::Arc;

use serde_json::Value;
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

use crate::numcodecs_codecs::{check_members, string_member};
use crate::numcodecs_elem::Elem;

/// numcodecs' `Delta`.
#[derive(Debug)]
pub struct DeltaCodec {
    dtype: Elem,
    astype: Elem,
    /// As configured (written back as is).
    dtype_text: String,
    astype_text: Option<String>,
}

/// The error for a configuration of the delta filter that cannot be used.
fn invalid(e: impl std::fmt::Display) -> PluginCreateError {
    crate::numcodecs_codecs::invalid("delta", e)
}

impl DeltaCodec {
    fn new(dtype_text: &str, astype_text: Option<&str>) -> Result<Self, PluginCreateError> {
        let parse = |text: &str| {
            Elem::parse(text).ok_or_else(|| invalid(format!("unsupported data type {text:?}")))
        };
        let dtype = parse(dtype_text)?;
        let astype = astype_text.map_or(Ok(dtype), parse)?;
        let supported = match (dtype, astype) {
            (Elem::Int { .. }, Elem::Int { .. }) => true,
            (Elem::Float { .. }, _) => dtype == astype,
            _ => false,
        };
        if !supported {
            return Err(invalid(format!(
                "dtype {dtype_text:?} with astype {:?} is not supported",
                astype_text.unwrap_or(dtype_text)
            )));
        }
        Ok(Self {
            dtype,
            astype,
            dtype_text: dtype_text.to_string(),
            astype_text: astype_text.map(str::to_string),
        })
    }

    fn from_configuration(
        configuration: &serde_json::Map<String, Value>,
    ) -> Result<Codec, PluginCreateError> {
        let text = |key: &str| string_member("delta", configuration, key);
        let dtype = text("dtype")?.ok_or_else(|| invalid("dtype is missing"))?;
        check_members("delta", configuration, &["id", "dtype", "astype"])?;
        Ok(Codec::ArrayToArray(Arc::new(Self::new(
            dtype,
            text("astype")?,
        )?)))
    }

    pub fn create_v3(metadata: &MetadataV3) -> Result<Codec, PluginCreateError> {
        let configuration = metadata.configuration().cloned().unwrap_or_default();
        Self::from_configuration(&configuration.into())
    }

    pub fn create_v2(metadata: &MetadataV2) -> Result<Codec, PluginCreateError> {
        Self::from_configuration(&metadata.configuration().clone().into())
    }

    /// The error for an array whose data type is not the filter's `dtype`.
    fn check(&self, data_type: &DataType) -> Result<(), CodecError> {
        match data_type.name_v3() {
            Some(name) if name == self.dtype.v3_name() => Ok(()),
            _ => Err(CodecError::Other(format!(
                "numcodecs.delta: the array's data type is not its dtype {:?}",
                self.dtype_text
            ))),
        }
    }

    fn encode_bytes(&self, decoded: &[u8]) -> Result<Vec<u8>, CodecError> {
        let count = self.dtype.count("delta", decoded)?;
        // numcodecs sets the first element with `enc[0] = arr[0]`, which numpy refuses for a value
        // astype cannot hold (OverflowError); the differences after it wrap.
        if count > 0 && matches!(self.dtype, Elem::Int { .. }) {
            let first = self.dtype.exact_int(decoded, 0);
            if !self.astype.holds(first) {
                return Err(CodecError::Other(format!(
                    "numcodecs.delta: a chunk's first value {first} is out of bounds for astype {} \
                     (numcodecs raises OverflowError)",
                    self.astype.v3_name()
                )));
            }
        }
        let mut out = vec![0u8; count * self.astype.bytes()];
        match self.dtype {
            Elem::Int { .. } => {
                let mut before = 0i64;
                for i in 0..count {
                    let value = self.dtype.int_at(decoded, i);
                    // np.diff in the dtype, stored as astype: wrapping.
                    let delta = if i == 0 {
                        value
                    } else {
                        value.wrapping_sub(before)
                    };
                    let in_dtype = truncate(self.dtype, delta);
                    self.astype.put_int(&mut out, i, in_dtype);
                    before = value;
                }
            }
            Elem::Float { .. } => {
                let mut before = 0f64;
                for i in 0..count {
                    let value = self.dtype.float_at(decoded, i);
                    // np.diff subtracts in the float type.
                    let delta = if i == 0 {
                        value
                    } else {
                        self.dtype.round(value - before)
                    };
                    self.astype.put_float(&mut out, i, delta);
                    before = value;
                }
            }
        }
        Ok(out)
    }

    fn decode_bytes(&self, encoded: &[u8]) -> Result<Vec<u8>, CodecError> {
        let count = self.astype.count("delta", encoded)?;
        let mut out = vec![0u8; count * self.dtype.bytes()];
        match self.dtype {
            Elem::Int { .. } => {
                let mut sum = 0i64;
                for i in 0..count {
                    sum = sum.wrapping_add(self.astype.int_at(encoded, i));
                    self.dtype.put_int(&mut out, i, sum);
                }
            }
            Elem::Float { .. } => {
                // The running sum in the float type, as np.cumsum adds.
                let mut sum = 0f64;
                for i in 0..count {
                    let term = self.astype.float_at(encoded, i);
                    sum = self.dtype.round(sum + term);
                    self.dtype.put_float(&mut out, i, sum);
                }
            }
        }
        Ok(out)
    }
}

/// `value` as the integer type `elem` holds it (wrapping), widened back to 64 bits.
fn truncate(elem: Elem, value: i64) -> i64 {
    let mut bytes = [0u8; 8];
    elem.put_int(&mut bytes, 0, value);
    elem.int_at(&bytes, 0)
}

impl ExtensionName for DeltaCodec {
    fn name(&self, version: ZarrVersion) -> Option<std::borrow::Cow<'static, str>> {
        Some(std::borrow::Cow::Borrowed(match version {
            ZarrVersion::V2 => "delta",
            ZarrVersion::V3 => "numcodecs.delta",
        }))
    }
}

impl CodecTraits for DeltaCodec {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        _version: ZarrVersion,
        _options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        let mut configuration = serde_json::Map::new();
        configuration.insert("dtype".to_string(), self.dtype_text.clone().into());
        if let Some(astype) = &self.astype_text {
            configuration.insert("astype".to_string(), astype.clone().into());
        }
        Some(configuration.into())
    }

    fn partial_decoder_capability(&self) -> PartialDecoderCapability {
        // Each element depends on all before it: chunks decode whole.
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

impl ArrayCodecTraits for DeltaCodec {
    fn recommended_concurrency(
        &self,
        _shape: &[NonZeroU64],
        _data_type: &DataType,
    ) -> Result<RecommendedConcurrency, CodecError> {
        Ok(RecommendedConcurrency::new_maximum(1))
    }
}

impl ArrayToArrayCodecTraits for DeltaCodec {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn ArrayToArrayCodecTraits> {
        self
    }

    fn encoded_data_type(&self, decoded_data_type: &DataType) -> Result<DataType, CodecError> {
        self.check(decoded_data_type)?;
        DataType::from_metadata(&MetadataV3::new(self.astype.v3_name()))
            .map_err(|e| CodecError::Other(format!("numcodecs.delta: {e}")))
    }

    fn encode<'a>(
        &self,
        bytes: ArrayBytes<'a>,
        _shape: &[NonZeroU64],
        data_type: &DataType,
        _fill_value: &FillValue,
        _options: &CodecOptions,
    ) -> Result<ArrayBytes<'a>, CodecError> {
        self.check(data_type)?;
        Ok(self.encode_bytes(&bytes.into_fixed()?)?.into())
    }

    fn decode<'a>(
        &self,
        bytes: ArrayBytes<'a>,
        _shape: &[NonZeroU64],
        data_type: &DataType,
        _fill_value: &FillValue,
        _options: &CodecOptions,
    ) -> Result<ArrayBytes<'a>, CodecError> {
        self.check(data_type)?;
        Ok(self.decode_bytes(&bytes.into_fixed()?)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(dtype: &str, astype: Option<&str>) -> DeltaCodec {
        DeltaCodec::new(dtype, astype).unwrap()
    }

    fn i64s(values: &[i64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn integers_store_differences_in_astype_and_sum_back() {
        let delta = codec("<i8", Some("<i2"));
        let data = i64s(&[1000, 1003, 1001, 1001, -5]);
        let encoded = delta.encode_bytes(&data).unwrap();
        let stored: Vec<i16> = encoded
            .chunks(2)
            .map(|c| i16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(stored, [1000, 3, -2, 0, -1006]);
        assert_eq!(delta.decode_bytes(&encoded).unwrap(), data);
    }

    #[test]
    fn float16_differences_and_sums_round_in_float16() {
        // numcodecs 0.16.6: Delta(dtype="f2") on [1.0, 1.001, 1000.0, 0.3] (as float16) stores
        // [1.0, 0.0009765625, 999.0, -999.5], and np.cumsum in float16 gives back
        // [1.0, 1.0009765625, 1000.0, 0.5]: lossy, as numcodecs is.
        let f16s = |values: &[f64]| -> Vec<u8> {
            values
                .iter()
                .flat_map(|v| half::f16::from_f64(*v).to_ne_bytes())
                .collect()
        };
        let delta = codec("<f2", None);
        let encoded = delta
            .encode_bytes(&f16s(&[1.0, 1.001, 1000.0, 0.3]))
            .unwrap();
        assert_eq!(encoded, f16s(&[1.0, 0.000_976_562_5, 999.0, -999.5]));
        let decoded = delta.decode_bytes(&encoded).unwrap();
        assert_eq!(decoded, f16s(&[1.0, 1.000_976_562_5, 1000.0, 0.5]));
    }

    #[test]
    fn a_first_value_astype_cannot_hold_is_refused_as_numpy_refuses_it() {
        let delta = codec("<i8", Some("|i1"));
        let error = delta
            .encode_bytes(&i64s(&[300, 301]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("first value 300 is out of bounds for astype int8"),
            "{error}"
        );
        // The differences after it wrap (numpy's unsafe array assignment).
        let encoded = delta.encode_bytes(&i64s(&[100, 400])).unwrap();
        assert_eq!(encoded, [100, 44]);
        let unsigned = codec("<u8", None);
        assert!(unsigned.encode_bytes(&u64::MAX.to_ne_bytes()).is_ok());
    }

    #[test]
    fn unsigned_and_narrow_types_wrap_as_numpy() {
        let delta = codec("|u1", None);
        let data = vec![250u8, 3, 255, 0];
        let encoded = delta.encode_bytes(&data).unwrap();
        assert_eq!(encoded, [250, 9, 252, 1]); // np.diff on uint8 wraps
        assert_eq!(delta.decode_bytes(&encoded).unwrap(), data);
        let wide = codec("uint64", None);
        let data: Vec<u8> = [u64::MAX, 0, 7]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(
            wide.decode_bytes(&wide.encode_bytes(&data).unwrap())
                .unwrap(),
            data
        );
    }

    #[test]
    fn floats_sum_in_their_type() {
        let delta = codec("<f4", None);
        let data: Vec<u8> = [0.1f32, 0.3, -2.5, 1e7, 1e7 + 1.0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let decoded = delta
            .decode_bytes(&delta.encode_bytes(&data).unwrap())
            .unwrap();
        assert_eq!(decoded.len(), data.len());
    }

    #[test]
    fn unsupported_pairs_and_bad_configurations_are_refused() {
        assert!(DeltaCodec::new("<f8", Some("<f4")).is_err());
        assert!(DeltaCodec::new("<i4", Some("<f4")).is_err());
        assert!(DeltaCodec::new(">i4", None).is_err());
        assert!(DeltaCodec::new("<c8", None).is_err());
        let configuration: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"dtype": "<i4", "typo": 1}"#).unwrap();
        assert!(DeltaCodec::from_configuration(&configuration).is_err());
        let configuration: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"astype": "<i4"}"#).unwrap();
        assert!(DeltaCodec::from_configuration(&configuration).is_err());
    }
}
