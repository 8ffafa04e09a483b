//! The order of a Zarr v3 codec list: array-to-array codecs, then one array-to-bytes codec, then
//! bytes-to-bytes codecs (the spec's rule). zarrs sorts a list given in another order and reads and
//! writes it; zarr-python refuses to open such an array ("Invalid codec order"), so what was
//! written here could not be read there. A list out of order is refused instead.

use serde_json::Value;
use zarrs::array::codec::api::Codec;
use zarrs::metadata::v3::MetadataV3;

/// Where a codec may stand.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    ArrayToArray,
    ArrayToBytes,
    BytesToBytes,
}

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Self::ArrayToArray => "an array-to-array codec",
            Self::ArrayToBytes => "an array-to-bytes codec",
            Self::BytesToBytes => "a bytes-to-bytes codec",
        }
    }
}

/// The stage of a codec's metadata, or None where zarrs cannot create the codec (it reports that
/// itself, with its own words).
fn stage(codec: &Value) -> Option<Stage> {
    let metadata: MetadataV3 = serde_json::from_value(codec.clone()).ok()?;
    Some(match Codec::from_metadata(&metadata).ok()? {
        Codec::ArrayToArray(_) => Stage::ArrayToArray,
        Codec::ArrayToBytes(_) => Stage::ArrayToBytes,
        Codec::BytesToBytes(_) => Stage::BytesToBytes,
    })
}

fn name(codec: &Value) -> &str {
    codec
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| codec.as_str())
        .unwrap_or("?")
}

/// Err naming the first codec out of order in `codecs` (and in a sharding codec's own lists).
pub fn check(codecs: &[Value]) -> Result<(), String> {
    let mut last: Option<(Stage, &str)> = None;
    for codec in codecs {
        let Some(here) = stage(codec) else {
            return Ok(());
        };
        if let Some((before, before_name)) = last
            && (here < before || (here == Stage::ArrayToBytes && before == Stage::ArrayToBytes))
        {
            return Err(format!(
                "codec {:?} ({}) cannot follow {before_name:?} ({}): the order is array-to-array \
                 codecs, one array-to-bytes codec, then bytes-to-bytes codecs (Zarr v3 spec)",
                name(codec),
                here.describe(),
                before.describe()
            ));
        }
        last = Some((here, name(codec)));
        if name(codec) == "sharding_indexed" {
            for inner in ["codecs", "index_codecs"] {
                let list = codec
                    .get("configuration")
                    .and_then(|c| c.get(inner))
                    .and_then(Value::as_array);
                if let Some(list) = list {
                    check(list)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codecs(value: Value) -> Vec<Value> {
        value.as_array().unwrap().clone()
    }

    #[test]
    fn the_spec_order_passes_and_others_are_named() {
        let good = json!([{"name": "transpose", "configuration": {"order": [1, 0]}},
            {"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]);
        assert!(check(&codecs(good)).is_ok());
        let bytes_first =
            json!([{"name": "crc32c"}, {"name": "bytes", "configuration": {"endian": "little"}}]);
        let why = check(&codecs(bytes_first)).unwrap_err();
        assert!(
            why.starts_with("codec \"bytes\" (an array-to-bytes codec) cannot follow \"crc32c\""),
            "{why}"
        );
        let late_transpose = json!([{"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "transpose", "configuration": {"order": [0]}}]);
        assert!(
            check(&codecs(late_transpose))
                .unwrap_err()
                .contains("\"transpose\" (an array-to-array codec)")
        );
        let inner = json!([{"name": "sharding_indexed", "configuration": {"chunk_shape": [2],
            "codecs": [{"name": "crc32c"}, {"name": "bytes", "configuration": {"endian": "little"}}],
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}]);
        assert!(
            check(&codecs(inner))
                .unwrap_err()
                .contains("cannot follow \"crc32c\"")
        );
        let unknown = json!([{"name": "crc32c"}, {"name": "no-such-codec"}]);
        assert!(check(&codecs(unknown)).is_ok(), "left to zarrs' own error");
    }
}
