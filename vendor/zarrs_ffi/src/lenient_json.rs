//! Metadata documents as zarr-python writes them, read without loss. Python's `json` writes
//! non-finite numbers in user attributes as the bare tokens `NaN`, `Infinity` and `-Infinity`,
//! which JSON and serde_json refuse (an array or group with `{"valid_min": NaN}` could not be
//! opened, nor a group holding one listed), and integers of any size, which serde_json reads as
//! floats past 64 bits (`10**30` came back as `1e30`). Such literals are read here as marker strings
//! (a JSON value can hold neither) and written out again by [`to_text`] as they were stored, so
//! callers see the attributes zarr-python sees. A node's own `fill_value` written as a bare
//! non-finite token (v2) becomes the spec's string ("NaN", "Infinity", "-Infinity") for zarrs,
//! and a v2 complex fill value of null (tensorstore's default) zero. Python's `json` also writes a
//! lone UTF-16 surrogate in a string (`"\ud800"`: a `str` may hold one) as an escape serde_json
//! refuses; it is read as [`SURROGATE`] and its hex digits, and written back as the escape. Array
//! documents are also checked for what zarrs would silently ignore: extensions a reader must
//! understand.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The bare non-finite tokens, longest first ("-Infinity" before "Infinity").
const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];

/// Integers with fewer digits than this fit in 64 bits: documents without a longer digit run are
/// parsed as they are.
const SAFE_DIGITS: usize = 19;

/// Stands, with the four hex digits after it, for a lone surrogate escape inside a string: a
/// noncharacter, which Unicode sets aside for such internal use.
const SURROGATE: char = '\u{FDD0}';

/// The marker string standing for a literal inside a parsed document. It starts with NUL, which no
/// attribute written by a person or by zarr-python's own encoder begins with.
fn marker(literal: &str) -> String {
    format!("\u{0}{literal}")
}

/// The literal a marker string stands for: a non-finite token or an integer.
fn literal_of(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('\u{0}')?;
    let digits = rest.strip_prefix('-').unwrap_or(rest);
    let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (integer || TOKENS.contains(&rest)).then_some(rest)
}

/// Parse a metadata document as stored, reading bare non-finite tokens and integers beyond 64
/// bits as markers; what serde_json cannot read even so fails with its own error.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    parse_marked(bytes).map(|(value, _)| value)
}

/// [`parse`], and whether the document may hold markers: false when it is plain JSON that
/// serde_json reads exactly (a string of its own that starts with NUL is then no marker).
pub fn parse_marked(bytes: &[u8]) -> Result<(Value, bool), serde_json::Error> {
    let strict = serde_json::from_slice(bytes);
    if strict.is_ok() && !has_digit_run(bytes, SAFE_DIGITS) {
        return strict.map(|value| (value, false));
    }
    // Bare tokens (the strict parse failed) or long integers (it read them as floats): quoted.
    match std::str::from_utf8(bytes).ok().and_then(quote_literals) {
        Some(quoted) => serde_json::from_str(&quoted)
            .map(|value| (value, true))
            .or(strict.map(|value| (value, false))),
        None => strict.map(|value| (value, false)),
    }
}

/// Whether `value` holds a bare non-finite number as [`parse`] reads it (not JSON).
pub fn has_non_finite(value: &Value) -> bool {
    match value {
        Value::String(text) => literal_of(text).is_some_and(|literal| TOKENS.contains(&literal)),
        Value::Array(items) => items.iter().any(has_non_finite),
        Value::Object(map) => map.values().any(has_non_finite),
        _ => false,
    }
}

/// A metadata document as `T`, read as [`parse`] reads it.
pub fn parse_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_value(parse(bytes)?)
}

/// An array's own document (`zarr.json`, `.zarray`) as `T`, read as [`parse`] reads it and made
/// what zarrs accepts where other writers differ ([`for_zarrs`]); refused if it has an extension
/// the reader must understand ([`unknown_extension`]).
pub fn parse_for_zarrs<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let doc = parse(bytes)?;
    if is_group(&doc) {
        // serde's own words would be "data did not match any variant of untagged enum".
        return Err(serde::de::Error::custom(
            "the node is a group, not an array",
        ));
    }
    if let Some(name) = unknown_extension(&doc) {
        return Err(serde::de::Error::custom(format!(
            "unsupported extension {name:?}: it does not say \"must_understand\": false, so \
             reading the array without understanding it could give wrong data (Zarr v3 spec)"
        )));
    }
    serde_json::from_value(for_zarrs(doc))
}

/// Whether `doc` is a group's document: v3 `"node_type": "group"`, or v2 (`.zgroup`) without the
/// members every array document has.
fn is_group(doc: &Value) -> bool {
    match doc.get("zarr_format").and_then(Value::as_u64) {
        Some(3) => doc.get("node_type") == Some(&json!("group")),
        Some(2) => doc.get("shape").is_none() && doc.get("dtype").is_none(),
        _ => false,
    }
}

/// The members a v3 array document may have without declaring themselves optional.
const V3_ARRAY_MEMBERS: [&str; 11] = [
    "zarr_format",
    "node_type",
    "shape",
    "data_type",
    "chunk_grid",
    "chunk_key_encoding",
    "fill_value",
    "codecs",
    "attributes",
    "dimension_names",
    "storage_transformers",
];

/// A member of a v3 array document that is none of the spec's and not marked
/// `"must_understand": false`: the spec requires readers that do not know it to fail (zarrs
/// ignores it).
fn unknown_extension(doc: &Value) -> Option<&str> {
    if doc.get("zarr_format") != Some(&Value::from(3)) {
        return None;
    }
    let optional = |value: &Value| value.get("must_understand") == Some(&Value::Bool(false));
    // An empty "extensions" list: how drafts of the v3 spec said "none" (early writers kept it).
    let no_extensions = |name: &str, value: &Value| name == "extensions" && value == &json!([]);
    doc.as_object()?
        .iter()
        .find(|(name, value)| {
            !V3_ARRAY_MEMBERS.contains(&name.as_str())
                && !optional(value)
                && !no_extensions(name, value)
        })
        .map(|(name, _)| name.as_str())
}

fn has_digit_run(bytes: &[u8], length: usize) -> bool {
    bytes
        .split(|b| !b.is_ascii_digit())
        .any(|run| run.len() >= length)
}

/// `text` with each bare non-finite token and each integer beyond 64 bits outside strings quoted
/// as its marker; None if it has none.
fn quote_literals(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut found = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped && c == 'u' {
                match surrogate_escape(rest) {
                    Some(SurrogateEscape::Pair(pair)) => {
                        out.push_str(pair);
                        rest = &rest[pair.len()..];
                    }
                    Some(SurrogateEscape::Lone(hex)) => {
                        out.pop(); // the backslash
                        out.push(SURROGATE);
                        out.push_str(hex);
                        rest = &rest[1 + hex.len()..];
                        found = true;
                    }
                    None => {
                        out.push(c);
                        rest = &rest[1..];
                    }
                }
                escaped = false;
                continue;
            }
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(literal) = bare_literal(rest) {
            out.push_str(&serde_json::to_string(&marker(literal)).expect("a string serialises"));
            rest = &rest[literal.len()..];
            found = true;
            continue;
        } else if c == '-' || c.is_ascii_digit() {
            // Any other number: copied whole (a token's digits are not the start of another).
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                .unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    found.then_some(out)
}

/// The UTF-16 unit four hex digits spell, if it is a surrogate.
fn surrogate(hex: &str) -> Option<u16> {
    u16::from_str_radix(hex, 16)
        .ok()
        .filter(|unit| (0xD800..0xE000).contains(unit))
}

/// A surrogate escape in a JSON string: a high and a low one (`uD83D\\uDE00`, one character)
/// or the hex digits of one without its other half.
enum SurrogateEscape<'a> {
    Pair(&'a str),
    Lone(&'a str),
}

/// The surrogate escape `rest` starts with, `rest` being an escape after its backslash (`u...`).
fn surrogate_escape(rest: &str) -> Option<SurrogateEscape<'_>> {
    let hex = rest.get(1..5)?;
    let unit = surrogate(hex)?;
    let low_follows = rest
        .get(5..11)
        .filter(|next| next.starts_with("\\u"))
        .and_then(|next| surrogate(&next[2..]))
        .is_some_and(|next| next >= 0xDC00);
    Some(if unit < 0xDC00 && low_follows {
        SurrogateEscape::Pair(&rest[..11])
    } else {
        SurrogateEscape::Lone(hex)
    })
}

/// The literal at the start of `rest` that needs a marker: a non-finite token, or an integer that
/// fits neither i64 nor u64 (not followed by a fraction or exponent, which make it a float).
fn bare_literal(rest: &str) -> Option<&str> {
    if let Some(token) = TOKENS.into_iter().find(|t| rest.starts_with(t)) {
        return Some(&rest[..token.len()]);
    }
    let sign = usize::from(rest.starts_with('-'));
    let digits = rest[sign..].bytes().take_while(u8::is_ascii_digit).count();
    let end = sign + digits;
    if digits < SAFE_DIGITS || rest[end..].starts_with(['.', 'e', 'E']) {
        return None;
    }
    let literal = &rest[..end];
    let fits = literal.parse::<i64>().is_ok() || literal.parse::<u64>().is_ok();
    (!fits).then_some(literal)
}

/// The kind of an array document's data type: numpy's kind letter of a v2 `dtype` ("<i4": 'i'),
/// or of a v3 `data_type` name ("uint8": 'u'); None for others (extension data types).
fn kind_of(doc: &Value) -> Option<char> {
    if let Some(dtype) = doc.get("dtype").and_then(Value::as_str) {
        return dtype
            .trim_start_matches(['<', '>', '|', '='])
            .chars()
            .next();
    }
    let name = doc.get("data_type").and_then(Value::as_str)?;
    [
        ("bool", 'b'),
        ("int", 'i'),
        ("uint", 'u'),
        ("float", 'f'),
        ("complex", 'c'),
    ]
    .into_iter()
    .filter(|(prefix, _)| {
        name.strip_prefix(prefix)
            .is_some_and(|bits| bits.is_empty() || bits.bytes().all(|b| b.is_ascii_digit()))
    })
    .map(|(_, kind)| kind)
    .next()
}

/// An array document (`zarr.json`, `.zarray`) as zarrs reads it, where writers spell a fill value
/// in ways zarr-python reads and zarrs refuses: a bare non-finite token (v2) or "nan" / "inf" in
/// another case becomes the spec's string; an integer written as a float (`0.0` for an int32
/// array) the integer; a bool written as 0 / 1 the bool; a v2 complex fill value of null
/// (tensorstore's default; zero to zarr-python) zero. Every other marker stays (attributes), to be
/// written back as stored.
fn for_zarrs(mut doc: Value) -> Value {
    let kind = kind_of(&doc);
    let v2 = doc.get("zarr_format") == Some(&Value::from(2));
    if let Some(codecs) = doc.get_mut("codecs") {
        default_bytes_endian(codecs);
    }
    let Some(fill) = doc.get_mut("fill_value") else {
        return doc;
    };
    let spelled = match (&*fill, kind) {
        (Value::String(text), _) => match literal_of(text) {
            Some(token) if TOKENS.contains(&token) => Some(Value::from(token)),
            // An integer beyond 64 bits: a float's fill value as zarr-python reads it (the
            // nearest float), else its digits for zarrs to refuse by name (not the marker).
            Some(integer) if matches!(kind, Some('b' | 'i' | 'u' | 'f' | 'c')) => Some(
                integer
                    .parse::<f64>()
                    .ok()
                    .filter(|_| matches!(kind, Some('f')))
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Value::from(integer), Value::Number),
            ),
            Some(_) => None, // (a string type's fill that starts with NUL: as stored)
            None => non_finite_spelling(text).map(Value::from),
        },
        (Value::Number(number), Some('i' | 'u')) => number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && !number.is_i64() && !number.is_u64())
            .and_then(|value| {
                let integer = value as i128; // saturating; checked against the value below
                (integer as f64 == value).then(|| serde_json::Number::from_i128(integer))?
            })
            .map(Value::Number),
        (Value::Number(number), Some('b')) => match number.as_u64() {
            Some(0) => Some(Value::Bool(false)),
            Some(1) => Some(Value::Bool(true)),
            _ => None,
        },
        (Value::Null, Some('c')) if v2 => Some(json!([0.0, 0.0])),
        _ => None,
    };
    if let Some(value) = spelled {
        *fill = value;
    }
    doc
}

/// A `bytes` codec without `endian` as zarr-python 3.1.6 reads it (newer releases refuse it): in
/// the machine's order, little-endian here. The spec requires `endian` for multi-byte types, and
/// zarrs refused the array only when encoding a chunk, after the directly encoded chunks of the
/// same write were stored. Inside sharding codecs too.
fn default_bytes_endian(codecs: &mut Value) {
    let Value::Array(codecs) = codecs else {
        return;
    };
    for codec in codecs {
        if codec.as_str() == Some("bytes") {
            *codec = json!({"name": "bytes"});
        }
        let name = codec.get("name").and_then(Value::as_str).map(str::to_owned);
        let Some(object) = codec.as_object_mut() else {
            continue;
        };
        match name.as_deref() {
            Some("bytes") => {
                if let Value::Object(configuration) =
                    object.entry("configuration").or_insert_with(|| json!({}))
                {
                    configuration
                        .entry("endian")
                        .or_insert_with(|| json!("little"));
                }
            }
            Some("sharding_indexed") => {
                for inner in ["codecs", "index_codecs"] {
                    if let Some(list) = object
                        .get_mut("configuration")
                        .and_then(|c| c.get_mut(inner))
                    {
                        default_bytes_endian(list);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The spec's string for a non-finite float spelled in another case ("nan", "inf", "-Infinity").
fn non_finite_spelling(text: &str) -> Option<&'static str> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some("NaN"),
        "inf" | "infinity" | "+inf" | "+infinity" => Some("Infinity"),
        "-inf" | "-infinity" => Some("-Infinity"),
        _ => None,
    }
}

/// JSON text of `value`, with markers written as the bare tokens they stand for.
pub fn to_text(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value);
    out
}

fn write(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => match literal_of(text) {
            Some(literal) => out.push_str(literal),
            None => write_string(out, text),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON string, with each lone surrogate read by [`parse`] escaped again as it was stored.
fn write_string(out: &mut String, text: &str) {
    let quoted = Value::String(text.to_string()).to_string();
    let mut rest = quoted.as_str();
    while let Some(at) = rest.find(SURROGATE) {
        out.push_str(&rest[..at]);
        rest = &rest[at + SURROGATE.len_utf8()..];
        let hex = rest.get(..4).filter(|hex| surrogate(hex).is_some());
        match hex {
            Some(hex) => {
                out.push_str("\\u");
                out.push_str(hex);
                rest = &rest[4..];
            }
            None => out.push(SURROGATE),
        }
    }
    out.push_str(rest);
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write(out, item);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_non_finite_tokens_parse_and_are_written_back_as_stored() {
        let stored = r#"{"a": NaN, "b": [Infinity, 1, -Infinity], "c": {"d": -Infinity}}"#;
        let doc = parse(stored.as_bytes()).unwrap();
        assert_eq!(doc["a"], json!("\u{0}NaN"));
        assert_eq!(doc["b"][2], json!("\u{0}-Infinity"));
        assert_eq!(
            to_text(&doc),
            r#"{"a":NaN,"b":[Infinity,1,-Infinity],"c":{"d":-Infinity}}"#
        );
    }

    #[test]
    fn group_documents_are_named_as_such_when_an_array_is_expected() {
        for doc in [
            r#"{"zarr_format": 3, "node_type": "group", "attributes": {}}"#,
            r#"{"zarr_format": 2}"#,
        ] {
            let err = parse_for_zarrs::<Value>(doc.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("a group, not an array"), "{err}");
        }
        let array = r#"{"zarr_format": 2, "shape": [1], "dtype": "<i4"}"#;
        assert!(parse_for_zarrs::<Value>(array.as_bytes()).is_ok());
    }

    #[test]
    fn lone_surrogates_parse_and_are_written_back_as_stored() {
        // What Python's json.dumps writes for {"a": "x\ud800y", "\udfff": ["\ud83d\ude00"]}.
        let stored = r#"{"a": "x\ud800y", "\udfff": ["\ud83d\ude00", "\uDBFF\u0041"]}"#;
        assert!(serde_json::from_str::<Value>(stored).is_err());
        let doc = parse(stored.as_bytes()).unwrap();
        assert_eq!(doc["a"], json!("x\u{FDD0}d800y"));
        assert_eq!(doc["\u{FDD0}dfff"][0], json!("\u{1F600}")); // a pair is a character
        assert_eq!(
            to_text(&doc),
            r#"{"a":"x\ud800y","\udfff":["😀","\uDBFFA"]}"#
        );
        // A valid document is parsed as is; an escaped backslash before "u" is no escape.
        let plain = r#"{"a": "\\ud800"}"#;
        assert_eq!(parse(plain.as_bytes()).unwrap()["a"], json!("\\ud800"));
    }

    #[test]
    fn tokens_inside_strings_and_valid_json_are_left_alone() {
        let stored = r#"{"s": "NaN \" Infinity", "k\\": "-Infinity", "n": null, "x": 1.5}"#;
        let doc = parse(stored.as_bytes()).unwrap();
        assert_eq!(doc["s"], json!("NaN \" Infinity"));
        assert_eq!(doc["k\\"], json!("-Infinity"));
        assert_eq!(serde_json::from_str::<Value>(&to_text(&doc)).unwrap(), doc);
        let mixed = r#"{"s": "a\"NaN", "v": NaN}"#;
        let doc = parse(mixed.as_bytes()).unwrap();
        assert_eq!(doc["s"], json!("a\"NaN"));
        assert_eq!(to_text(&doc), r#"{"s":"a\"NaN","v":NaN}"#);
    }

    #[test]
    fn integers_beyond_64_bits_are_kept_digit_for_digit() {
        let stored = r#"{"big": 1000000000000000000000000000000, "u": 18446744073709551615,
            "i": -9223372036854775808, "over": 18446744073709551616, "under": -9223372036854775809,
            "f": 1000000000000000000000.5, "e": 10000000000000000000000e2, "s": "100000000000000000000000"}"#;
        let doc = parse(stored.as_bytes()).unwrap();
        assert_eq!(doc["big"], json!("\u{0}1000000000000000000000000000000"));
        assert_eq!(doc["u"], json!(u64::MAX));
        assert_eq!(doc["i"], json!(i64::MIN));
        assert_eq!(doc["s"], json!("100000000000000000000000"));
        assert!(doc["f"].is_f64() && doc["e"].is_f64());
        let text = to_text(&doc);
        for kept in [
            r#""big":1000000000000000000000000000000"#,
            r#""over":18446744073709551616"#,
            r#""under":-9223372036854775809"#,
            r#""u":18446744073709551615"#,
        ] {
            assert!(text.contains(kept), "{kept} in {text}");
        }
    }

    #[test]
    fn a_v2_complex_fill_value_of_null_becomes_zero() {
        let doc = |dtype: &str, format: u8| {
            format!(r#"{{"zarr_format": {format}, "dtype": "{dtype}", "fill_value": null}}"#)
        };
        for dtype in ["<c8", ">c16", "|c8"] {
            let read = for_zarrs(parse(doc(dtype, 2).as_bytes()).unwrap());
            assert_eq!(read["fill_value"], json!([0.0, 0.0]), "{dtype}");
        }
        for (dtype, format) in [("<f8", 2), ("<c8", 3)] {
            let read = for_zarrs(parse(doc(dtype, format).as_bytes()).unwrap());
            assert_eq!(read["fill_value"], Value::Null, "{dtype} v{format}");
        }
    }

    #[test]
    fn unknown_v3_members_are_refused_unless_marked_optional() {
        let doc = |extra: &str| {
            format!(
                r#"{{"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "uint8",
                "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": [2]}}}},
                "chunk_key_encoding": {{"name": "default"}}, "fill_value": 0,
                "codecs": [{{"name": "bytes"}}]{extra}}}"#
            )
        };
        let read = |extra: &str| parse_for_zarrs::<Value>(doc(extra).as_bytes());
        assert!(read("").is_ok());
        assert!(read(r#", "ext": {"must_understand": false, "x": 1}"#).is_ok());
        assert!(read(r#", "extensions": []"#).is_ok());
        assert!(read(r#", "extensions": [{"name": "x"}]"#).is_err());
        for refused in [
            r#", "ext": {"must_understand": true}"#,
            r#", "ext": {}"#,
            r#", "ext": 1"#,
        ] {
            let err = read(refused).unwrap_err().to_string();
            assert!(
                err.contains(r#"unsupported extension "ext""#),
                "{refused}: {err}"
            );
        }
        // v2 documents have no such rule (zarr-python writes extra members there).
        let v2 = r#"{"zarr_format": 2, "shape": [2], "extra": 1}"#;
        assert!(parse_for_zarrs::<Value>(v2.as_bytes()).is_ok());
    }

    #[test]
    fn a_bytes_codec_without_endian_is_little_endian_as_zarr_python_reads_it() {
        let doc = json!({"zarr_format": 3, "data_type": "int16", "codecs": ["bytes", {"name": "crc32c"}]});
        let read = for_zarrs(doc);
        assert_eq!(
            read["codecs"],
            json!([{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}])
        );
        let sharded = json!({"zarr_format": 3, "codecs": [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": [2], "codecs": [{"name": "bytes"}],
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "big"}}]}}]});
        let read = for_zarrs(sharded);
        let configuration = &read["codecs"][0]["configuration"];
        assert_eq!(
            configuration["codecs"][0]["configuration"]["endian"],
            json!("little")
        );
        assert_eq!(
            configuration["index_codecs"][0]["configuration"]["endian"],
            json!("big")
        );
    }

    #[test]
    fn fill_values_spelled_as_zarr_python_reads_them_become_what_zarrs_reads() {
        let fill = |format: u8, dtype: &str, fill: &str| {
            let member = if format == 2 { "dtype" } else { "data_type" };
            let text = format!(
                r#"{{"zarr_format": {format}, "{member}": "{dtype}", "fill_value": {fill}}}"#
            );
            for_zarrs(parse(text.as_bytes()).unwrap())["fill_value"].clone()
        };
        for format in [2, 3] {
            let (int32, uint8, float32, bool_) = if format == 2 {
                ("<i4", "|u1", "<f4", "|b1")
            } else {
                ("int32", "uint8", "float32", "bool")
            };
            assert_eq!(fill(format, int32, "3.0"), json!(3));
            assert_eq!(fill(format, int32, "-0.0"), json!(0));
            assert_eq!(fill(format, uint8, "255.0"), json!(255));
            assert_eq!(
                fill(format, int32, "3.5"),
                json!(3.5),
                "not an integer: left to zarrs"
            );
            assert_eq!(fill(format, int32, "7"), json!(7));
            assert_eq!(fill(format, float32, r#""nan""#), json!("NaN"));
            assert_eq!(fill(format, float32, r#""-inf""#), json!("-Infinity"));
            assert_eq!(
                fill(format, float32, "1.0"),
                json!(1.0),
                "a float's float stays"
            );
            assert_eq!(fill(format, bool_, "1"), json!(true));
            assert_eq!(
                fill(format, bool_, "2"),
                json!(2),
                "not a bool: left to zarrs"
            );
        }
        assert_eq!(fill(3, "float64", "1e300"), json!(1e300));
        // Integers beyond 64 bits: a float's fill value becomes the nearest float (zarr-python
        // reads 2**64 so); other types get the digits, which zarrs refuses naming them.
        assert_eq!(
            fill(3, "float64", "18446744073709551616"),
            json!(2f64.powi(64))
        );
        assert_eq!(fill(2, "<f4", "-100000000000000000000"), json!(-1e20));
        assert_eq!(
            fill(3, "int64", "18446744073709551616"),
            json!("18446744073709551616")
        );
        let huge = format!("1{}", "0".repeat(400)); // no float holds it
        assert_eq!(fill(3, "float64", &huge), json!(huge));
    }

    #[test]
    fn what_is_not_json_even_with_the_tokens_is_still_refused() {
        for text in [
            "{\"a\": nan}",
            "{\"a\": NaNx}",
            "{\"a\": +Infinity}",
            "{\"a\": NaN",
            "NaN NaN",
        ] {
            let err = parse(text.as_bytes()).unwrap_err();
            assert_eq!(
                err.to_string(),
                serde_json::from_str::<Value>(text).unwrap_err().to_string(),
                "{text}: the strict parser's error"
            );
        }
    }

    #[test]
    fn a_bare_fill_value_becomes_the_spec_string_and_other_tokens_stay() {
        let stored =
            r#"{"fill_value": -Infinity, "x": {"fill_value": NaN}, "attributes": {"v": NaN}}"#;
        let doc = for_zarrs(parse(stored.as_bytes()).unwrap());
        assert_eq!(doc["fill_value"], json!("-Infinity"));
        assert_eq!(doc["attributes"]["v"], json!("\u{0}NaN"));
        // As stored (node metadata, `.zattrs`), it stays the token.
        let stored = parse(br#"{"fill_value": NaN}"#).unwrap();
        assert_eq!(to_text(&stored), r#"{"fill_value":NaN}"#);
        assert_eq!(
            to_text(&doc),
            r#"{"fill_value":"-Infinity","x":{"fill_value":NaN},"attributes":{"v":NaN}}"#
        );
    }
}
