//! Codecs that read what other writers store and zarrs' own codecs reject.
//!
//! * gzip: RFC 1952 allows a series of members; zarr-python (numcodecs) and any `cat a.gz b.gz`
//!   produce them, zarrs' gzip codec reads the first member only ("decoded to 32 bytes, expected
//!   64"). Here every member is decoded.
//! * blosc: z5py (a C++ writer) stores padding bytes after each blosc frame; zarrs validates the
//!   frame against the whole value and refuses it. Here the value is cut at the frame's own length
//!   (`cbytes` in its header) first.
//! * bitround (Zarr v2, numcodecs filter `{"id": "bitround", "keepbits": N}`): zarrs registers it
//!   for Zarr v3 only. Decoding is the identity (rounding is lossy encoding), so it reads as is.
//!
//! numcodecs codecs zarrs lacks (`numcodecs_codecs`) are registered from here too.
//!
//! They are registered in zarrs' runtime codec registry, which takes precedence over its built-in
//! codecs, when the library is loaded (`.init_array`), so upstream's C functions get them too.
//! Encoding is zarrs' own, unchanged.

use std::borrow::Cow;
use std::sync::Arc;

use zarrs::array::codec::api::{
    BytesToBytesCodecTraits, Codec, CodecError, CodecMetadataOptions, CodecOptions,
    CodecRuntimePluginV2, CodecRuntimePluginV3, CodecTraits, CodecTraitsV2, CodecTraitsV3,
    PartialDecoderCapability, PartialEncoderCapability, RecommendedConcurrency, register_codec_v2,
    register_codec_v3,
};
use zarrs::array::codec::{BitroundCodec, BloscCodec, GzipCodec, ZstdCodec};
use zarrs::array::{ArrayBytesRaw, BytesRepresentation};
use zarrs::metadata::Configuration;
use zarrs::plugin::{ExtensionName, PluginCreateError, ZarrVersion};

/// What a wrapped codec does differently when decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Decode every gzip member, not only the first.
    GzipMembers,
    /// Drop bytes after the blosc frame.
    BloscPadding,
    /// Decode zstd into the chunk's size, not into what the frame claims.
    ZstdBounded,
}

/// zarrs' codec with a decode that reads other writers' data; everything else is the codec's.
#[derive(Debug)]
struct Repaired {
    inner: Arc<dyn BytesToBytesCodecTraits>,
    repair: Repair,
}

impl ExtensionName for Repaired {
    fn name(&self, version: ZarrVersion) -> Option<Cow<'static, str>> {
        self.inner.name(version)
    }
}

impl CodecTraits for Repaired {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        version: ZarrVersion,
        options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        self.inner.configuration(version, options)
    }

    fn partial_decoder_capability(&self) -> PartialDecoderCapability {
        // Partial reads go through `decode` (the trait's default partial decoder), so they get
        // the repair too.
        PartialDecoderCapability {
            partial_read: false,
            partial_decode: false,
        }
    }

    fn partial_encoder_capability(&self) -> PartialEncoderCapability {
        self.inner.partial_encoder_capability()
    }
}

impl BytesToBytesCodecTraits for Repaired {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn BytesToBytesCodecTraits> {
        self
    }

    fn recommended_concurrency(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> Result<RecommendedConcurrency, CodecError> {
        self.inner.recommended_concurrency(decoded_representation)
    }

    fn encoded_representation(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> BytesRepresentation {
        self.inner.encoded_representation(decoded_representation)
    }

    fn encode<'a>(
        &self,
        decoded_value: ArrayBytesRaw<'a>,
        options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        self.inner.encode(decoded_value, options)
    }

    fn decode<'a>(
        &self,
        encoded_value: ArrayBytesRaw<'a>,
        decoded_representation: &BytesRepresentation,
        options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        match self.repair {
            Repair::GzipMembers => {
                // Member after member; zero bytes after the last (padding, which Python's gzip
                // ignores and flate2's MultiGzDecoder reads as a broken header) end the value,
                // as in the direct decoder (`direct::decompress`).
                let mut decoded = Vec::new();
                let mut rest: &[u8] = &encoded_value;
                loop {
                    let mut member = flate2::bufread::GzDecoder::new(rest);
                    std::io::Read::read_to_end(&mut member, &mut decoded)?;
                    rest = member.into_inner();
                    if rest.iter().all(|b| *b == 0) {
                        return Ok(Cow::Owned(decoded));
                    }
                }
            }
            Repair::ZstdBounded => {
                zstd_bounded(&encoded_value, decoded_representation).map(Cow::Owned)
            }
            Repair::BloscPadding => {
                let frame = blosc_frame_len(&encoded_value).unwrap_or(encoded_value.len());
                let trimmed = match encoded_value {
                    Cow::Borrowed(bytes) => Cow::Borrowed(&bytes[..frame]),
                    Cow::Owned(mut bytes) => {
                        bytes.truncate(frame);
                        Cow::Owned(bytes)
                    }
                };
                self.inner.decode(trimmed, decoded_representation, options)
            }
        }
    }
}

/// zstd frames decoded into at most the size the chunk can have. zarrs' zstd codec allocates the
/// decompressed size the frames declare before decoding: a corrupt 16-byte chunk declaring 2^62
/// bytes aborted the process (an allocation failure is no panic, which `guard` would catch).
fn zstd_bounded(encoded: &[u8], decoded: &BytesRepresentation) -> Result<Vec<u8>, CodecError> {
    use std::io::Read;
    let fits = |bytes: u64| {
        usize::try_from(bytes)
            .ok()
            .filter(|_| crate::safety::fits_in_memory(bytes))
    };
    match decoded {
        BytesRepresentation::FixedSize(size) => {
            let size = fits(*size).ok_or_else(|| {
                CodecError::Other(format!(
                    "zstd: a chunk of {size} bytes does not fit in memory"
                ))
            })?;
            let mut out = vec![0u8; size];
            let written = zstd::bulk::decompress_to_buffer(encoded, &mut out)
                .map_err(|e| CodecError::Other(format!("zstd: {e}")))?;
            if written != size {
                return Err(CodecError::Other(format!(
                    "zstd: decoded to {written} bytes, expected {size}"
                )));
            }
            Ok(out)
        }
        // (a size known only as a bound, or not at all: what is decoded, up to the bound)
        other => {
            let limit = match other {
                BytesRepresentation::BoundedSize(max) => *max,
                _ => crate::safety::physical_memory(),
            };
            let mut out = Vec::new();
            zstd::stream::read::Decoder::new(encoded)?
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)?;
            if out.len() as u64 > limit {
                return Err(CodecError::Other(format!(
                    "zstd: decodes to more than the {limit} bytes the chunk can have"
                )));
            }
            Ok(out)
        }
    }
}

/// The length of the blosc frame at the start of `encoded` (its header's `cbytes`), if the value
/// is longer than that: the bytes after it are padding. None for a value too short for a header
/// or no longer than its frame.
pub fn blosc_frame_len(encoded: &[u8]) -> Option<usize> {
    let cbytes = u32::from_le_bytes(encoded.get(12..16)?.try_into().ok()?) as usize;
    (cbytes >= 16 && cbytes < encoded.len()).then_some(cbytes)
}

pub(crate) fn repaired(codec: Codec, repair: Repair) -> Codec {
    match codec {
        Codec::BytesToBytes(inner) => Codec::BytesToBytes(Arc::new(Repaired { inner, repair })),
        other => other,
    }
}

/// Register the codecs above with zarrs (once, when the library is loaded).
fn register() {
    register_codec_v3(CodecRuntimePluginV3::new(
        |name| name == "gzip",
        |metadata| {
            Ok(repaired(
                <GzipCodec as CodecTraitsV3>::create(metadata)?,
                Repair::GzipMembers,
            ))
        },
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| id == "gzip",
        |metadata| {
            Ok(repaired(
                <GzipCodec as CodecTraitsV2>::create(metadata)?,
                Repair::GzipMembers,
            ))
        },
    ));
    register_codec_v3(CodecRuntimePluginV3::new(
        |name| name == "blosc",
        |metadata| {
            Ok(repaired(
                <BloscCodec as CodecTraitsV3>::create(metadata)?,
                Repair::BloscPadding,
            ))
        },
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| id == "blosc",
        |metadata| {
            Ok(repaired(
                <BloscCodec as CodecTraitsV2>::create(metadata)?,
                Repair::BloscPadding,
            ))
        },
    ));
    register_codec_v3(CodecRuntimePluginV3::new(
        |name| name == "zstd",
        |metadata| {
            Ok(repaired(
                <ZstdCodec as CodecTraitsV3>::create(metadata)?,
                Repair::ZstdBounded,
            ))
        },
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| id == "zstd",
        |metadata| {
            Ok(repaired(
                <ZstdCodec as CodecTraitsV2>::create(metadata)?,
                Repair::ZstdBounded,
            ))
        },
    ));
    register_codec_v2(CodecRuntimePluginV2::new(
        |id| id == "bitround",
        |metadata| {
            let configuration = metadata.to_typed_configuration()?;
            let codec = BitroundCodec::new_with_configuration(&configuration)
                .map_err(|e| PluginCreateError::Other(format!("bitround: {e}")))?;
            Ok(Codec::ArrayToArray(Arc::new(codec)))
        },
    ));
    crate::numcodecs_codecs::register();
}

extern "C" fn register_at_load() {
    // A panic must not unwind out of a loader callback.
    let _ = std::panic::catch_unwind(register);
}

#[used]
#[unsafe(link_section = ".init_array")]
static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blosc_frame_len_cuts_padding_only() {
        let mut frame = vec![0u8; 40];
        frame[12..16].copy_from_slice(&24u32.to_le_bytes());
        assert_eq!(blosc_frame_len(&frame), Some(24));
        assert_eq!(blosc_frame_len(&frame[..24]), None);
        assert_eq!(blosc_frame_len(&frame[..10]), None);
        frame[12..16].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            blosc_frame_len(&frame),
            None,
            "a frame shorter than its header"
        );
    }

    #[test]
    fn zstd_frames_decode_into_the_chunks_size_not_the_size_they_claim() {
        // A frame header declaring 2^62 decoded bytes (zarrs allocated them: the process aborted)
        let claims_too_much = [
            0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x01, 0, 0,
        ];
        for decoded in [
            BytesRepresentation::FixedSize(32),
            BytesRepresentation::BoundedSize(32),
            BytesRepresentation::UnboundedSize,
        ] {
            assert!(
                zstd_bounded(&claims_too_much, &decoded).is_err(),
                "{decoded:?}"
            );
        }
        let data: Vec<u8> = (0..64u8).collect();
        let frame = zstd::bulk::compress(&data, 1).unwrap();
        for decoded in [
            BytesRepresentation::FixedSize(64),
            BytesRepresentation::BoundedSize(100),
            BytesRepresentation::UnboundedSize,
        ] {
            assert_eq!(zstd_bounded(&frame, &decoded).unwrap(), data, "{decoded:?}");
        }
        for decoded in [
            BytesRepresentation::FixedSize(63),
            BytesRepresentation::FixedSize(65),
            BytesRepresentation::BoundedSize(63),
        ] {
            assert!(zstd_bounded(&frame, &decoded).is_err(), "{decoded:?}");
        }
    }

    #[test]
    fn gzip_members_all_decoded() {
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let mut two = gz(&[1u8; 32]);
        two.extend(gz(&[2u8; 32]));
        let codec = Repaired {
            inner: Arc::new(GzipCodec::new(1).unwrap()),
            repair: Repair::GzipMembers,
        };
        let decoded = codec
            .decode(
                Cow::Borrowed(&two),
                &BytesRepresentation::FixedSize(64),
                &CodecOptions::default(),
            )
            .unwrap();
        assert_eq!(&decoded[..32], &[1u8; 32]);
        assert_eq!(&decoded[32..], &[2u8; 32]);
        let decoded = decoded.into_owned();
        two.extend([0u8; 4]); // zero padding after the last member is ignored
        let padded = codec.decode(
            Cow::Borrowed(&two),
            &BytesRepresentation::FixedSize(64),
            &CodecOptions::default(),
        );
        assert_eq!(padded.unwrap(), decoded);
        two.push(1); // anything else is not
        let garbage = codec.decode(
            Cow::Borrowed(&two),
            &BytesRepresentation::FixedSize(64),
            &CodecOptions::default(),
        );
        assert!(garbage.is_err());
    }
}
