//! Secrets that came in store URLs and options — a URL's password (an http(s) URL's whole user
//! info, which may be a token), the values of its query (signed URLs, SAS tokens), credential
//! options — never appear in an error message a `zarrsCffi*` function hands out (`error::guard`).
//!
//! Two layers, as in the Python package (`zarrs_cffi/secrets.py`): every URL a message quotes is
//! masked by its structure, whatever encoding it is quoted in (object_store and reqwest write
//! request URLs percent-encoded, long after the store was opened); and the secret texts themselves,
//! with their escaped forms, are remembered when a store is created and masked wherever else a
//! message quotes them (a parse error quoting a malformed URL, an escaped one).

use std::sync::RwLock;

/// At most this many texts are kept, the oldest dropped first: a process naming many credentials
/// must not grow without bound.
const KEPT: usize = 4096;
/// Shorter texts ("test", "host", a region) are too common to mask everywhere; where a URL quotes
/// them, its structure masks them.
const SHORTEST: usize = 8;
/// Words in an option's name that make its value a credential (obstore's and object_store's keys).
const CREDENTIAL_WORDS: [&str; 7] = [
    "secret",
    "token",
    "password",
    "key",
    "sas",
    "credential",
    "signature",
];

/// Texts to mask.
struct Secrets {
    /// Oldest first.
    texts: Vec<String>,
    /// The same texts in the order they are masked: a secret containing another is masked whole.
    longest_first: Vec<String>,
    kept: usize,
}

impl Secrets {
    const fn new(kept: usize) -> Self {
        Self {
            texts: Vec::new(),
            longest_first: Vec::new(),
            kept,
        }
    }

    /// Remember `texts`; one named again becomes the newest.
    fn remember(&mut self, texts: Vec<String>) {
        self.texts.retain(|known| !texts.contains(known));
        for text in texts {
            if !self.texts.contains(&text) {
                self.texts.push(text);
            }
        }
        let excess = self.texts.len().saturating_sub(self.kept);
        self.texts.drain(..excess);
        self.longest_first = self.texts.clone();
        self.longest_first
            .sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    fn redact(&self, message: String) -> String {
        self.longest_first
            .iter()
            .fold(mask_urls(&message), |message, secret| {
                if message.contains(secret.as_str()) {
                    message.replace(secret.as_str(), "***")
                } else {
                    message
                }
            })
    }
}

static SECRETS: RwLock<Secrets> = RwLock::new(Secrets::new(KEPT));

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')
}

/// Where a URL quoted in a message ends: at white space or a quote.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// `message` with every URL in it masked by its structure: the password of its user info (an
/// http(s) URL's whole user info) and every value of its query.
fn mask_urls(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_scheme_char(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = rest[at + 3..]
            .find(ends_url)
            .map_or(rest.len(), |e| at + 3 + e);
        out.push_str(&rest[..scheme_start]);
        let scheme = &rest[scheme_start..at];
        if scheme.is_empty() {
            out.push_str(&rest[at..end]); // "://" with no scheme: not a URL
        } else {
            out.push_str(&mask_url(scheme, &rest[at + 3..end]));
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn mask_url(scheme: &str, rest: &str) -> String {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) if http => format!("***@{host}"), // a password, or a token as user name
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(), // abfs://container@account: the user is no secret
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, format!("#{f}")),
                None => (query, String::new()),
            };
            let masked: Vec<String> = query
                .split('&')
                .map(|part| match part.split_once('=') {
                    Some((name, _)) => format!("{name}=***"),
                    None if part.is_empty() => String::new(),
                    None => "***".to_string(),
                })
                .collect();
            format!("{path}?{}{fragment}", masked.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// `text` as messages may quote it: as is, percent-encoded, and escaped by `{:?}`.
fn forms(text: &str) -> Vec<String> {
    let encoded: String = text
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let debug = format!("{text:?}");
    let escaped = debug[1..debug.len() - 1].to_string();
    let mut all = vec![text.to_string(), encoded, escaped];
    all.dedup();
    all
}

/// The password of the URL's user info (an http(s) URL's whole user info, which may be a token)
/// and its query's values, found by hand so that malformed URLs are covered too.
fn url_secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@') {
            found.push(user_info.split_once(':').map_or("", |(_, p)| p).to_string());
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
                found.push(user_info.to_string());
            }
        }
        if let Some((_, query)) = rest.split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            for part in query.split('&') {
                found.push(part.split_once('=').map_or(part, |(_, v)| v).to_string());
            }
        }
    }
    found.retain(|text| text.len() >= SHORTEST);
    found
}

/// The values of options whose name says they hold a credential (not an `*_id`, not a flag).
fn option_secrets<'a>(options: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    options
        .into_iter()
        .filter(|(key, value)| {
            CREDENTIAL_WORDS.iter().any(|word| key.contains(word))
                && !key.ends_with("_id")
                && !matches!(value.as_str(), "true" | "false")
                && value.len() >= SHORTEST
        })
        .map(|(_, value)| value.clone())
        .collect()
}

/// Mask the secrets of the store URL `url` and of its `options` in every later error message,
/// wherever they are quoted.
pub fn hide<'a>(url: &str, options: impl IntoIterator<Item = (&'a String, &'a String)>) {
    let mut texts = url_secrets(url);
    texts.extend(option_secrets(options));
    let texts: Vec<String> = texts.iter().flat_map(|t| forms(t)).collect();
    if !texts.is_empty() {
        SECRETS
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remember(texts);
    }
}

/// `message` with every URL's secrets and every remembered secret replaced by `***`.
pub fn redact(message: String) -> String {
    SECRETS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .redact(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_masked_by_structure_in_any_encoding() {
        let message = "GET http://reader:Pw%7Cx%5ESecret7@127.0.0.1:1/d.zarr/a?sig=Q%3Cuery&v=1 \
                       failed; \"s3://AK:SK@bucket/x\", https://TOKEN@host/x?download#top, \
                       abfs://container@account.dfs.core.windows.net/p and a://b";
        assert_eq!(
            mask_urls(message),
            "GET http://***@127.0.0.1:1/d.zarr/a?sig=***&v=*** failed; \"s3://AK:***@bucket/x\", \
             https://***@host/x?***#top, abfs://container@account.dfs.core.windows.net/p and a://b"
        );
        assert_eq!(mask_urls("no url: ://x here"), "no url: ://x here");
    }

    #[test]
    fn remembered_secrets_are_masked_outside_urls_in_their_escaped_forms() {
        let mut secrets = Secrets::new(KEPT);
        let url = "http://u:pa\"ss-Word4@h/x?sig=long-signature-1";
        secrets.remember(url_secrets(url).iter().flat_map(|t| forms(t)).collect());
        let message =
            format!("malformed store URL {url:?}; also pa\"ss-Word4 and long-signature-1");
        let masked = secrets.redact(message);
        assert!(!masked.contains("ss-Word4"), "{masked}");
        assert!(!masked.contains("long-signature-1"), "{masked}");
        assert!(url_secrets("s3://bucket/data.zarr?v=1").is_empty());
        assert!(url_secrets("http://user@host/x").is_empty()); // shorter than SHORTEST: by structure
    }

    #[test]
    fn credential_options_are_masked_but_ids_flags_and_short_values_are_not() {
        let options: Vec<(String, String)> = [
            ("secret_access_key", "Option-secret-value"),
            ("access_key_id", "AKIAEXAMPLE1234"),
            ("skip_signature", "true"),
            ("session_token", "test"),
            ("region", "eu-central-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            option_secrets(options.iter().map(|(k, v)| (k, v))),
            ["Option-secret-value"]
        );
    }

    #[test]
    fn the_newest_secrets_are_kept() {
        let mut secrets = Secrets::new(4);
        secrets.remember((0..10).map(|i| format!("secret-{i}")).collect());
        secrets.remember(vec!["secret-6".to_string()]); // named again: the newest
        secrets.remember(vec!["secret-10".to_string()]);
        assert_eq!(
            secrets.texts,
            ["secret-8", "secret-9", "secret-6", "secret-10"]
        );
    }
}
