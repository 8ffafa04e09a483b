//! numcodecs codecs that zarr-python writes and zarrs does not know by their names.
//!
//! * Zarr v3 arrays written with `zarr.codecs.numcodecs` (formerly `numcodecs.zarr3`) name their
//!   codecs `numcodecs.<id>` and store numcodecs' own configuration (without `id`, defaults
//!   omitted). zarrs reads `numcodecs.zlib`, `.bz2`, `.adler32`, `.fletcher32`, `.shuffle`, but not
//!   `numcodecs.zstd`, `.gzip`, `.blosc`, `.crc32c`, `.crc32` or `.lz4`, so those arrays could not
//!   be opened, nor `numcodecs.zlib` and `.bz2` at their default level (stored as `{}`).
//!   Here each of them is created from its numcodecs configuration the way zarrs creates the Zarr v2
//!   codec of the same id (`{"id": "zstd", ...}`), with numcodecs' defaults for omitted members.
//! * numcodecs' `delta` filter (v2 `delta`, v3 `numcodecs.delta`): `numcodecs_delta`.
//! * numcodecs' `quantize`, `astype` and `fixedscaleoffset` filters (v2 and v3):
//!   `numcodecs_cast` (zarrs' own fixedscaleoffset rounds and casts otherwise than numcodecs).
//! * Zarr v2 `crc32c` (zarrs registers it for v3 only), `crc32` and `lz4` (numcodecs' `LZ4`, a
//!   common v2 compressor), which zarrs lacks.
//!
//! numcodecs' LZ4 format: the decoded length as a little-endian u32, then one LZ4 block. It is
//! encoded here with the LZ4 library numcodecs calls (`LZ4_compress_fast`, linked already through
//! blosc), so the bytes are numcodecs'.

use std::borrow::Cow;
use std::ffi::c_int;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::codec::api::{
    BytesToBytesCodecTraits, Codec, CodecError, CodecMetadataOptions, CodecOptions,
    CodecRuntimePluginV2, CodecRuntimePluginV3, CodecTraits, CodecTraitsV2,
    PartialDecoderCapability, PartialEncoderCapability, RecommendedConcurrency, register_codec_v2,
    register_codec_v3,
};
use zarrs::array::codec::{BloscCodec, Bz2Codec, Crc32cCodec, GzipCodec, ZlibCodec, ZstdCodec};
use zarrs::array::{ArrayBytesRaw, BytesRepresentation};
use zarrs::metadata::v2::MetadataV2;
use zarrs::metadata::v3::MetadataV3;
use zarrs::metadata::{Configuration, DataTypeSize};
use zarrs::metadata_ext::codec::blosc::{
    BloscCodecConfigurationNumcodecs, codec_blosc_v2_numcodecs_to_v3,
};
use zarrs::metadata_ext::codec::crc32c::{
    Crc32cCodecConfiguration, Crc32cCodecConfigurationNumcodecs,
};
use zarrs::plugin::{ExtensionName, PluginCreateError, ZarrVersion};

use crate::codec_fixes::{Repair, repaired};

/// numcodecs' default configuration of each codec read under a `numcodecs.<id>` name here.
fn numcodecs_defaults(id: &str) -> Option<Value> {
    Some(match id {
        "zstd" => serde_json::json!({"level": 0, "checksum": false}),
        "gzip" | "zlib" | "bz2" => serde_json::json!({"level": 1}),
        "blosc" => serde_json::json!({"cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}),
        "crc32c" => serde_json::json!({"location": "end"}),
        "crc32" => serde_json::json!({"location": "start"}),
        "lz4" => serde_json::json!({"acceleration": 1}),
        _ => return None,
    })
}

/// Zarr v2 codec metadata `{"id": id, ...}` holding `configuration` over numcodecs' defaults
/// (numcodecs omits members left at their defaults).
fn with_defaults<'a>(
    id: &str,
    configuration: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> Result<MetadataV2, PluginCreateError> {
    let mut merged: Map<String, Value> = match numcodecs_defaults(id) {
        Some(Value::Object(defaults)) => defaults,
        _ => Map::new(),
    };
    for (key, value) in configuration {
        merged.insert(key.clone(), value.clone());
    }
    merged.insert("id".to_string(), Value::String(id.to_string()));
    serde_json::from_value(Value::Object(merged)).map_err(|e| invalid(id, e))
}

/// The Zarr v2 codec metadata equivalent to a v3 `numcodecs.<id>` codec.
fn as_v2(id: &str, metadata: &MetadataV3) -> Result<MetadataV2, PluginCreateError> {
    with_defaults(
        id,
        metadata.configuration().into_iter().flat_map(|c| c.iter()),
    )
}

/// A Zarr v2 codec of numcodecs that zarrs lacks, its omitted members at numcodecs' defaults.
fn create_v2(metadata: &MetadataV2) -> Result<Codec, PluginCreateError> {
    let id = metadata.id();
    create(id, &with_defaults(id, metadata.configuration().iter())?)
}

/// The error for a configuration of numcodecs' codec `id` that cannot be used.
pub(crate) fn invalid(id: &str, e: impl std::fmt::Display) -> PluginCreateError {
    PluginCreateError::Other(format!("numcodecs.{id}: invalid configuration: {e}"))
}

/// An error naming the first member of `configuration` that codec `id` does not have.
pub(crate) fn check_members(
    id: &str,
    configuration: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), PluginCreateError> {
    match configuration
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
    {
        Some(unknown) => Err(invalid(id, format!("unknown member {unknown:?}"))),
        None => Ok(()),
    }
}

/// The string member `key` of codec `id`'s configuration; None if absent or null.
pub(crate) fn string_member<'a>(
    id: &str,
    configuration: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, PluginCreateError> {
    match configuration.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(other) => Err(invalid(id, format!("{key} must be a string, not {other}"))),
    }
}

/// A v3 `numcodecs.blosc` codec. numcodecs compresses the chunk's bytes (item size 1) under this
/// name, so its shuffle acts on bytes; the same is done here.
fn blosc_from_numcodecs(v2: &MetadataV2) -> Result<Codec, PluginCreateError> {
    let configuration: BloscCodecConfigurationNumcodecs = v2
        .to_typed_configuration()
        .map_err(|e| invalid("blosc", e))?;
    let v3 = codec_blosc_v2_numcodecs_to_v3(&configuration, Some(DataTypeSize::Fixed(1)));
    let codec = BloscCodec::new_with_configuration(&v3)?;
    Ok(repaired(
        Codec::BytesToBytes(Arc::new(codec)),
        Repair::BloscPadding,
    ))
}

/// A `crc32c` checksum with numcodecs' configuration (`location`: "start" or "end").
fn crc32c_from_numcodecs(v2: &MetadataV2) -> Result<Codec, PluginCreateError> {
    let configuration: Crc32cCodecConfigurationNumcodecs = v2
        .to_typed_configuration()
        .map_err(|e| invalid("crc32c", e))?;
    let codec =
        Crc32cCodec::new_with_configuration(&Crc32cCodecConfiguration::Numcodecs(configuration));
    Ok(Codec::BytesToBytes(Arc::new(codec)))
}

/// The codec a v3 `numcodecs.<id>` name stands for, for the ids zarrs lacks.
fn create_v3(metadata: &MetadataV3) -> Result<Codec, PluginCreateError> {
    let id = metadata
        .name()
        .strip_prefix("numcodecs.")
        .unwrap_or_default();
    create(id, &as_v2(id, metadata)?)
}

/// The codec of numcodecs id `id` with configuration `v2` (omitted members filled in); errors
/// name the codec.
fn create(id: &str, v2: &MetadataV2) -> Result<Codec, PluginCreateError> {
    let codec = match id {
        "zstd" => <ZstdCodec as CodecTraitsV2>::create(v2)
            .map(|codec| repaired(codec, Repair::ZstdBounded)),
        "gzip" => <GzipCodec as CodecTraitsV2>::create(v2)
            .map(|codec| repaired(codec, Repair::GzipMembers)),
        "blosc" => blosc_from_numcodecs(v2),
        "zlib" => <ZlibCodec as CodecTraitsV2>::create(v2),
        "bz2" => <Bz2Codec as CodecTraitsV2>::create(v2),
        "crc32c" => crc32c_from_numcodecs(v2),
        "crc32" => Crc32Codec::from_v2(v2),
        "lz4" => Lz4Codec::from_v2(v2),
        _ => {
            return Err(PluginCreateError::Other(format!(
                "codec numcodecs.{id} is not supported"
            )));
        }
    };
    codec.map_err(|e| match e.to_string() {
        message if message.starts_with("numcodecs.") => e,
        _ => invalid(id, e),
    })
}

/// numpy's name of a numeric type as numcodecs' type string (`"float32"` -> `"<f4"`; zarr-python
/// stores a filter's `dtype` / `astype` as the user passed them); any other text as it is.
pub(crate) fn numpy_type_string(text: &str) -> &str {
    match text {
        "int8" => "|i1",
        "uint8" => "|u1",
        "int16" => "<i2",
        "uint16" => "<u2",
        "int32" => "<i4",
        "uint32" => "<u4",
        "int64" => "<i8",
        "uint64" => "<u8",
        "float32" => "<f4",
        "float64" => "<f8",
        other => other,
    }
}

const V3_NAMES: [&str; 8] = [
    "numcodecs.zstd",
    "numcodecs.gzip",
    // zarrs knows these two, but not with numcodecs' default configuration ({}).
    "numcodecs.zlib",
    "numcodecs.bz2",
    "numcodecs.blosc",
    "numcodecs.crc32c",
    "numcodecs.crc32",
    "numcodecs.lz4",
];

/// The Zarr v2 ids registered here.
const V2_IDS: [&str; 3] = ["crc32c", "crc32", "lz4"];

/// numcodecs' `CRC32` checksum (zlib's CRC-32), a little-endian u32 before (numcodecs' default)
/// or after the data.
#[derive(Debug)]
pub struct Crc32Codec {
    at_start: bool,
}

impl Crc32Codec {
    fn from_v2(v2: &MetadataV2) -> Result<Codec, PluginCreateError> {
        let at_start = match v2.configuration().get("location").and_then(Value::as_str) {
            Some("start") => true,
            Some("end") => false,
            _ => return Err(invalid("crc32", "location must be \"start\" or \"end\"")),
        };
        Ok(Codec::BytesToBytes(Arc::new(Self { at_start })))
    }
}

impl ExtensionName for Crc32Codec {
    fn name(&self, version: ZarrVersion) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed(match version {
            ZarrVersion::V2 => "crc32",
            ZarrVersion::V3 => "numcodecs.crc32",
        }))
    }
}

impl CodecTraits for Crc32Codec {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        _version: ZarrVersion,
        _options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        let mut configuration = Map::new();
        let location = if self.at_start { "start" } else { "end" };
        configuration.insert("location".to_string(), location.into());
        Some(configuration.into())
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

impl BytesToBytesCodecTraits for Crc32Codec {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn BytesToBytesCodecTraits> {
        self
    }

    fn recommended_concurrency(
        &self,
        _decoded_representation: &BytesRepresentation,
    ) -> Result<RecommendedConcurrency, CodecError> {
        Ok(RecommendedConcurrency::new_maximum(1))
    }

    fn encoded_representation(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> BytesRepresentation {
        match decoded_representation {
            BytesRepresentation::FixedSize(size) => BytesRepresentation::FixedSize(size + 4),
            BytesRepresentation::BoundedSize(size) => BytesRepresentation::BoundedSize(size + 4),
            BytesRepresentation::UnboundedSize => BytesRepresentation::UnboundedSize,
        }
    }

    fn encode<'a>(
        &self,
        decoded_value: ArrayBytesRaw<'a>,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        let checksum = crc32fast::hash(&decoded_value).to_le_bytes();
        let mut out = Vec::with_capacity(decoded_value.len() + 4);
        if self.at_start {
            out.extend_from_slice(&checksum);
        }
        out.extend_from_slice(&decoded_value);
        if !self.at_start {
            out.extend_from_slice(&checksum);
        }
        Ok(Cow::Owned(out))
    }

    fn decode<'a>(
        &self,
        encoded_value: ArrayBytesRaw<'a>,
        _decoded_representation: &BytesRepresentation,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        if encoded_value.len() < 4 {
            return Err(CodecError::Other(
                "crc32: corrupt chunk: shorter than its checksum".to_string(),
            ));
        }
        let (stored, payload) = if self.at_start {
            let (stored, payload) = encoded_value.split_at(4);
            (stored, payload)
        } else {
            let (payload, stored) = encoded_value.split_at(encoded_value.len() - 4);
            (stored, payload)
        };
        if crc32fast::hash(payload).to_le_bytes() != stored {
            return Err(CodecError::InvalidChecksum);
        }
        Ok(Cow::Owned(payload.to_vec()))
    }
}

/// numcodecs' `LZ4` codec: the decoded length (u32, little-endian), then one LZ4 block.
#[derive(Debug)]
pub struct Lz4Codec {
    /// LZ4's speed/ratio knob (`LZ4_compress_fast`); decoding does not depend on it.
    acceleration: i32,
}

/// The bytes before the LZ4 block: the decoded length.
const LZ4_HEADER: usize = 4;

impl Lz4Codec {
    fn from_v2(v2: &MetadataV2) -> Result<Codec, PluginCreateError> {
        let acceleration = v2
            .configuration()
            .get("acceleration")
            .map_or(Some(1), Value::as_i64)
            .and_then(|a| i32::try_from(a).ok())
            .ok_or_else(|| invalid("lz4", "acceleration must be an integer"))?;
        Ok(Codec::BytesToBytes(Arc::new(Self { acceleration })))
    }

    /// Encode as numcodecs does (`numcodecs/lz4.pyx`: `store_le32`, then `LZ4_compress_fast`).
    fn compress(&self, decoded: &[u8]) -> Result<Vec<u8>, CodecError> {
        let too_long = || CodecError::Other("lz4: a chunk longer than 2 GiB".to_string());
        let length = c_int::try_from(decoded.len()).map_err(|_| too_long())?;
        // SAFETY: a pure function of its argument.
        let bound = unsafe { lz4_sys::LZ4_compressBound(length) };
        if bound <= 0 {
            return Err(too_long());
        }
        let mut out = vec![0u8; LZ4_HEADER + bound as usize];
        out[..LZ4_HEADER].copy_from_slice(&(length as u32).to_le_bytes());
        // SAFETY: the source holds `length` bytes and the destination `bound` bytes after the
        // header; LZ4 writes no more than the capacity it is given.
        let written = unsafe {
            lz4_sys::LZ4_compress_fast(
                decoded.as_ptr().cast(),
                out[LZ4_HEADER..].as_mut_ptr().cast(),
                length,
                bound,
                self.acceleration,
            )
        };
        if written <= 0 {
            return Err(CodecError::Other("lz4: compression failed".to_string()));
        }
        out.truncate(LZ4_HEADER + written as usize);
        Ok(out)
    }

    fn decompress(
        encoded: &[u8],
        decoded_representation: &BytesRepresentation,
    ) -> Result<Vec<u8>, CodecError> {
        let corrupt = |why: &str| CodecError::Other(format!("lz4: corrupt chunk: {why}"));
        let header = encoded
            .get(..LZ4_HEADER)
            .ok_or_else(|| corrupt("shorter than its 4-byte header"))?;
        let length = u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
        let block = &encoded[LZ4_HEADER..];
        // The header is data: it must not decide an allocation larger than the chunk can be
        // (an LZ4 block expands at most 255-fold).
        match decoded_representation {
            BytesRepresentation::FixedSize(expected) if length as u64 != *expected => {
                return Err(corrupt(&format!(
                    "it holds {length} bytes, the chunk has {expected}"
                )));
            }
            _ if length > block.len().saturating_mul(255).saturating_add(16) => {
                return Err(corrupt(&format!(
                    "{length} bytes cannot come from a {}-byte block",
                    block.len()
                )));
            }
            _ => {}
        }
        let (Ok(block_len), Ok(capacity)) = (c_int::try_from(block.len()), c_int::try_from(length))
        else {
            return Err(corrupt("longer than 2 GiB"));
        };
        let mut out = vec![0u8; length];
        // SAFETY: LZ4_decompress_safe reads at most `block_len` bytes and writes at most
        // `capacity` bytes, whatever the block holds.
        let written = unsafe {
            lz4_sys::LZ4_decompress_safe(
                block.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                block_len,
                capacity,
            )
        };
        if written < 0 || written as usize != length {
            return Err(corrupt(
                "the LZ4 block does not decode to its stated length",
            ));
        }
        Ok(out)
    }
}

impl ExtensionName for Lz4Codec {
    fn name(&self, version: ZarrVersion) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed(match version {
            ZarrVersion::V2 => "lz4",
            ZarrVersion::V3 => "numcodecs.lz4",
        }))
    }
}

impl CodecTraits for Lz4Codec {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        _version: ZarrVersion,
        _options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        let mut configuration = Map::new();
        configuration.insert("acceleration".to_string(), self.acceleration.into());
        Some(configuration.into())
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

impl BytesToBytesCodecTraits for Lz4Codec {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn BytesToBytesCodecTraits> {
        self
    }

    fn recommended_concurrency(
        &self,
        _decoded_representation: &BytesRepresentation,
    ) -> Result<RecommendedConcurrency, CodecError> {
        Ok(RecommendedConcurrency::new_maximum(1))
    }

    fn encoded_representation(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> BytesRepresentation {
        decoded_representation
            .size()
            .map_or(BytesRepresentation::UnboundedSize, |size| {
                // LZ4_COMPRESSBOUND: size + size / 255 + 16, plus the header.
                BytesRepresentation::BoundedSize(LZ4_HEADER as u64 + size + size / 255 + 16)
            })
    }

    fn encode<'a>(
        &self,
        decoded_value: ArrayBytesRaw<'a>,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        Ok(Cow::Owned(self.compress(&decoded_value)?))
    }

    fn decode<'a>(
        &self,
        encoded_value: ArrayBytesRaw<'a>,
        decoded_representation: &BytesRepresentation,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        Ok(Cow::Owned(Self::decompress(
            &encoded_value,
            decoded_representation,
        )?))
    }
}

/// Register the codecs above with zarrs (called once, when the library is loaded).
pub(crate) fn register() {
    register_codec_v3(CodecRuntimePluginV3::new(
        |name| V3_NAMES.contains(&name),
        create_v3,
    ));
    register_codec_v3(CodecRuntimePluginV3::new(
        |name| name == "numcodecs.delta",
        crate::numcodecs_delta::DeltaCodec::create_v3,
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| id == "delta",
        crate::numcodecs_delta::DeltaCodec::create_v2,
    ));
    register_codec_v3(CodecRuntimePluginV3::new(
        |name| {
            [
                "numcodecs.quantize",
                "numcodecs.astype",
                "numcodecs.fixedscaleoffset",
            ]
            .contains(&name)
        },
        crate::numcodecs_cast::CastCodec::create_v3,
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| ["quantize", "astype", "fixedscaleoffset"].contains(&id),
        crate::numcodecs_cast::CastCodec::create_v2,
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| V2_IDS.contains(&id),
        create_v2,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(json: &str) -> MetadataV3 {
        serde_json::from_str(json).unwrap()
    }

    fn roundtrip(codec: &Codec, data: &[u8]) -> Vec<u8> {
        let Codec::BytesToBytes(codec) = codec else {
            panic!("a bytes-to-bytes codec")
        };
        let options = CodecOptions::default();
        let encoded = codec.encode(Cow::Borrowed(data), &options).unwrap();
        let representation = BytesRepresentation::FixedSize(data.len() as u64);
        codec
            .decode(encoded, &representation, &options)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn numcodecs_names_round_trip_with_defaults_and_configurations() {
        let data: Vec<u8> = (0..4000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        for json in [
            r#"{"name": "numcodecs.zstd", "configuration": {}}"#,
            r#"{"name": "numcodecs.zstd", "configuration": {"level": 5, "checksum": true}}"#,
            r#"{"name": "numcodecs.gzip"}"#,
            r#"{"name": "numcodecs.zlib", "configuration": {}}"#,
            r#"{"name": "numcodecs.bz2", "configuration": {}}"#,
            r#"{"name": "numcodecs.bz2", "configuration": {"level": 9}}"#,
            r#"{"name": "numcodecs.blosc", "configuration": {"cname": "zstd", "shuffle": 2}}"#,
            r#"{"name": "numcodecs.blosc", "configuration": {"shuffle": -1}}"#,
            r#"{"name": "numcodecs.crc32c", "configuration": {"location": "start"}}"#,
            r#"{"name": "numcodecs.lz4", "configuration": {"acceleration": 3}}"#,
            r#"{"name": "numcodecs.crc32"}"#,
            r#"{"name": "numcodecs.crc32", "configuration": {"location": "end"}}"#,
        ] {
            let codec = create_v3(&v3(json)).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(roundtrip(&codec, &data), data, "{json}");
        }
    }

    #[test]
    fn bad_configurations_are_errors_naming_the_codec() {
        for json in [
            r#"{"name": "numcodecs.zstd", "configuration": {"level": "high"}}"#,
            r#"{"name": "numcodecs.blosc", "configuration": {"cname": "nope"}}"#,
            r#"{"name": "numcodecs.lz4", "configuration": {"acceleration": 1.5}}"#,
            r#"{"name": "numcodecs.crc32c", "configuration": {"location": "middle"}}"#,
            r#"{"name": "numcodecs.crc32", "configuration": {"location": 0}}"#,
        ] {
            let Err(error) = create_v3(&v3(json)) else {
                panic!("{json} accepted")
            };
            let error = error.to_string();
            assert!(
                error.contains("numcodecs.") || error.contains("level"),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn crc32_is_zlibs_checked_and_placed_where_configured() {
        let options = CodecOptions::default();
        let representation = BytesRepresentation::FixedSize(9);
        for (at_start, range) in [(true, 0..4), (false, 9..13)] {
            let codec = Crc32Codec { at_start };
            let encoded = codec.encode(Cow::Borrowed(b"123456789"), &options).unwrap();
            // The CRC-32 check value of "123456789".
            assert_eq!(&encoded[range], &0xCBF4_3926u32.to_le_bytes());
            let mut damaged = encoded.to_vec();
            damaged[6] ^= 1;
            assert!(
                codec
                    .decode(Cow::Owned(damaged), &representation, &options)
                    .is_err()
            );
            assert!(
                codec
                    .decode(Cow::Borrowed(&[1, 2]), &representation, &options)
                    .is_err()
            );
        }
    }

    #[test]
    fn lz4_layout_is_numcodecs() {
        let data = vec![7u8; 1000];
        let codec = Lz4Codec { acceleration: 1 };
        let encoded = codec.compress(&data).unwrap();
        assert_eq!(&encoded[..4], &1000u32.to_le_bytes());
        // An LZ4 block of one literal run followed by a long match, as LZ4_compress_fast makes.
        let mut block = vec![0u8; 1000];
        let n = unsafe {
            lz4_sys::LZ4_decompress_safe(
                encoded[4..].as_ptr().cast(),
                block.as_mut_ptr().cast(),
                (encoded.len() - 4) as c_int,
                1000,
            )
        };
        assert_eq!(n, 1000);
        assert_eq!(block, data);
    }

    #[test]
    fn lz4_corrupt_chunks_are_errors_not_allocations() {
        let fixed = BytesRepresentation::FixedSize(1000);
        let unknown = BytesRepresentation::UnboundedSize;
        let good = Lz4Codec { acceleration: 1 }.compress(&[3u8; 1000]).unwrap();
        assert!(Lz4Codec::decompress(&good[..3], &fixed).is_err());
        let mut wrong_length = good.clone();
        wrong_length[..4].copy_from_slice(&999u32.to_le_bytes());
        assert!(Lz4Codec::decompress(&wrong_length, &fixed).is_err());
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let error = Lz4Codec::decompress(&huge, &unknown)
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot come from"), "{error}");
        let mut garbage = good.clone();
        for byte in &mut garbage[4..] {
            *byte = 0xff;
        }
        assert!(Lz4Codec::decompress(&garbage, &fixed).is_err());
        assert_eq!(
            Lz4Codec::decompress(&good, &unknown).unwrap(),
            vec![3u8; 1000]
        );
    }
}
