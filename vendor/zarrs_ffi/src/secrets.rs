//! Secrets that came in store URLs and options — a URL's password, the values of its query (signed
//! URLs, SAS tokens), credential options — never appear in an error message this library hands out.
//! object_store and reqwest write the request URL into their errors, user info and query included,
//! and those errors surface long after the store was opened, from any read or write: so the texts
//! are remembered for the process and every message is masked on its way out (`error::guard`).

use std::sync::RwLock;

/// At most this many texts are kept, the oldest dropped first: a process opening many signed URLs
/// must not grow without bound.
const KEPT: usize = 1024;
/// Shorter query values are too common to mask everywhere (`v=1`), and too short to be credentials.
const SHORTEST: usize = 3;
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

/// Texts to mask, oldest first.
struct Secrets {
    texts: Vec<String>,
    kept: usize,
}

impl Secrets {
    const fn new(kept: usize) -> Self {
        Self {
            texts: Vec::new(),
            kept,
        }
    }

    fn remember(&mut self, texts: Vec<String>) {
        for text in texts {
            if self.texts.contains(&text) {
                continue;
            }
            if self.texts.len() == self.kept {
                self.texts.remove(0);
            }
            self.texts.push(text);
        }
    }

    fn redact(&self, message: String) -> String {
        // Longest first: a secret containing another is masked whole.
        let mut longest_first: Vec<&String> = self.texts.iter().collect();
        longest_first.sort_by_key(|s| std::cmp::Reverse(s.len()));
        longest_first.into_iter().fold(message, |message, secret| {
            if !message.contains(secret.as_str()) {
                return message;
            }
            // Delimiters stay, so the message still reads as a URL.
            let shown = if secret.starts_with(':') && secret.ends_with('@') {
                ":***@"
            } else if secret.starts_with('=') {
                "=***"
            } else {
                "***"
            };
            message.replace(secret.as_str(), shown)
        })
    }
}

static SECRETS: RwLock<Secrets> = RwLock::new(Secrets::new(KEPT));

/// The secrets of a store URL, found by hand so that malformed URLs (whose parse error quotes
/// them) are covered too: the password of its user info, with its delimiters (`:pw@`, so that a
/// short one does not mask the same letters elsewhere), and the values of its query (`=value`; a
/// part without `=` whole).
fn url_secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = user_info.split_once(':')
            && !password.is_empty()
        {
            found.push(format!(":{password}@"));
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        let query = query.split('#').next().unwrap_or_default();
        for part in query.split('&') {
            match part.split_once('=') {
                Some((_, value)) if value.len() >= SHORTEST => found.push(format!("={value}")),
                Some(_) => {}
                None if part.len() >= SHORTEST => found.push(part.to_string()),
                None => {}
            }
        }
    }
    found
}

/// The values of options whose name says they hold a credential (booleans and numbers are not).
fn option_secrets<'a>(options: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    options
        .into_iter()
        .filter(|(key, value)| {
            let credential = CREDENTIAL_WORDS.iter().any(|word| key.contains(word));
            let flag = matches!(value.as_str(), "true" | "false") || value.parse::<f64>().is_ok();
            credential && !flag && value.len() >= SHORTEST
        })
        .map(|(_, value)| value.clone())
        .collect()
}

/// Mask the secrets of the store URL `url` and of its `options` in every later error message.
pub fn hide<'a>(url: &str, options: impl IntoIterator<Item = (&'a String, &'a String)>) {
    let mut texts = url_secrets(url);
    texts.extend(option_secrets(options));
    if !texts.is_empty() {
        SECRETS
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remember(texts);
    }
}

/// `message` with every remembered secret replaced by `***`.
pub fn redact(message: String) -> String {
    SECRETS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .redact(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(texts: Vec<String>, message: &str) -> String {
        let mut secrets = Secrets::new(KEPT);
        secrets.remember(texts);
        secrets.redact(message.to_string())
    }

    #[test]
    fn url_passwords_and_query_values_are_masked_with_their_delimiters() {
        let url = "http://user:Pw@127.0.0.1:1/d.zarr?token=Query-secret&v=1&BareSecret";
        let message = "GET http://user:Pw@127.0.0.1:1/d.zarr/a/zarr.json?token=Query-secret\
                       &v=1&BareSecret failed (Pw elsewhere)";
        assert_eq!(
            masked(url_secrets(url), message),
            "GET http://user:***@127.0.0.1:1/d.zarr/a/zarr.json?token=***&v=1&*** failed \
             (Pw elsewhere)"
        );
        // Malformed URLs too (found by hand, not by a URL parser).
        let url = "ftp://u:Other-pw@host/x";
        let message = format!("unsupported: {url:?}");
        assert_eq!(
            masked(url_secrets(url), &message),
            "unsupported: \"ftp://u:***@host/x\""
        );
        assert!(url_secrets("s3://bucket/data.zarr").is_empty());
        assert!(url_secrets("http://user@host/x").is_empty()); // a user name is not a secret
    }

    #[test]
    fn credential_options_are_masked_but_flags_and_numbers_are_not() {
        let options: Vec<(String, String)> = [
            ("secret_access_key", "Option-secret-value"),
            ("skip_signature", "true"),
            ("session_token", "12345"),
            ("region", "eu-central-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let texts = option_secrets(options.iter().map(|(k, v)| (k, v)));
        assert_eq!(texts, ["Option-secret-value"]);
        let message = "key Option-secret-value, true, 12345 in eu-central-1";
        assert_eq!(
            masked(texts, message),
            "key ***, true, 12345 in eu-central-1"
        );
    }

    #[test]
    fn the_longest_secret_is_masked_first_and_the_list_is_bounded() {
        let texts = vec!["abc".to_string(), "abcdef".to_string()];
        assert_eq!(masked(texts, "abcdef abc"), "*** ***");
        let mut secrets = Secrets::new(4);
        secrets.remember((0..10).map(|i| format!("secret-{i}")).collect());
        assert_eq!(secrets.texts.len(), 4);
        assert_eq!(
            secrets.redact("secret-9 secret-0".to_string()),
            "*** secret-0",
            "the newest are kept"
        );
    }
}
