//! Per-thread error messages and the panic guard every exported function runs inside.
//!
//! Upstream keeps one process-global error string, so under threads a message can belong to another
//! call. The project's own functions record their message here, per thread, and return a code.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use zarrs_ffi::ZarrsResult;

/// Result codes of zarrs-cffi's own functions, beyond upstream's `ZarrsResult` (0 to -14).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZarrsCffiResult {
    /// No array or group exists at the path.
    ZARRS_CFFI_ERROR_NODE_NOT_FOUND = -100,
    /// A node already exists where a new one was to be created.
    ZARRS_CFFI_ERROR_NODE_EXISTS = -101,
    /// An argument was rejected: NULL, not UTF-8, a wrong length, an out-of-range value.
    ZARRS_CFFI_ERROR_INVALID_ARGUMENT = -102,
    /// A Rust panic was caught; the process is intact, the handle may be unusable.
    ZARRS_CFFI_ERROR_PANIC = -103,
    /// Stored bytes could not be decoded (truncated, corrupt or garbage chunk or shard).
    ZARRS_CFFI_ERROR_CODEC = -104,
    /// A write to a read-only store (zip file, HTTP server); nothing was changed.
    ZARRS_CFFI_ERROR_READ_ONLY = -105,
    /// The store refused the credentials or the access (HTTP 401 / 403).
    ZARRS_CFFI_ERROR_PERMISSION = -106,
}

/// An error on its way out through the C ABI: a code and a message.
#[derive(Clone, Debug)]
pub struct FfiError {
    pub code: i32,
    pub message: String,
}

impl FfiError {
    pub fn new(code: impl Into<i32>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ZarrsCffiResult::ZARRS_CFFI_ERROR_INVALID_ARGUMENT, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ZarrsCffiResult::ZARRS_CFFI_ERROR_NODE_NOT_FOUND, message)
    }

    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(ZarrsCffiResult::ZARRS_CFFI_ERROR_NODE_EXISTS, message)
    }

    pub fn upstream(code: ZarrsResult, message: impl Into<String>) -> Self {
        Self::new(code as i32, message)
    }
}

impl From<ZarrsCffiResult> for i32 {
    fn from(value: ZarrsCffiResult) -> Self {
        value as i32
    }
}

pub type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = message);
}

/// Run `body`, turning an error or a panic into a result code and this thread's error message.
/// Returns 0 (ZARRS_SUCCESS) on success; the message is cleared then.
pub fn guard(body: impl FnOnce() -> FfiResult) -> i32 {
    GUARDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let result = catch_unwind(AssertUnwindSafe(body));
    GUARDED.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    crate::pool::set_io_bound(false);
    let _ = catch_unwind(crate::scratch::trim_after_call);
    match result {
        Ok(Ok(())) => {
            set_last_error(String::new());
            0
        }
        Ok(Err(err)) => {
            let code = refined_code(&err);
            let message = crate::secrets::redact(without_html_page(err.message));
            set_last_error(shortened(message));
            code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(crate::secrets::redact(format!(
                "internal error (panic caught in zarrs-cffi): {what}"
            )));
            ZarrsCffiResult::ZARRS_CFFI_ERROR_PANIC as i32
        }
    }
}

/// Storage errors reach this layer as text (zarrs' `StorageError::Other` carries object_store's
/// message), from many call sites; those a caller must tell apart get their own codes here.
fn refined_code(err: &FfiError) -> i32 {
    let message = err.message.as_str();
    let read_only = "a write operation was attempted on a read only store";
    let denied = [
        "lacked the necessary privileges",
        "lacked valid authentication credentials",
        "403 Forbidden",
        "401 Unauthorized",
        // A key refused inside a 200 answer to S3's DeleteObjects (a policy denying deletes)
        "(code: AccessDenied)",
    ];
    if message.contains(read_only) {
        ZarrsCffiResult::ZARRS_CFFI_ERROR_READ_ONLY as i32
    } else if message.contains(crate::object_keys::KEY_REFUSED) {
        ZarrsCffiResult::ZARRS_CFFI_ERROR_INVALID_ARGUMENT as i32
    } else if denied.iter().any(|d| message.contains(d)) {
        ZarrsCffiResult::ZARRS_CFFI_ERROR_PERMISSION as i32
    } else {
        err.code
    }
}

/// The longest error message handed out whole: a server's error body is quoted in full by
/// object_store (megabytes, from some servers), which no reader of an exception wants.
const LONGEST_MESSAGE: usize = 8192;

/// `message`, its middle left out if it is longer than `LONGEST_MESSAGE` bytes (its start names
/// the failure, its end carries the hints this library appends).
fn shortened(message: String) -> String {
    if message.len() <= LONGEST_MESSAGE {
        return message;
    }
    let mut head = LONGEST_MESSAGE / 2;
    while !message.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = message.len() - LONGEST_MESSAGE / 4;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} ... ({} bytes left out) ... {}",
        &message[..head],
        tail - head,
        &message[tail..]
    )
}

/// Servers answer errors with an HTML page, which object_store quotes whole after the status line
/// (`501 Not Implemented: <!DOCTYPE HTML>` and a dozen lines of markup that only repeat it): the
/// page is cut from the message, what follows it kept.
fn without_html_page(message: String) -> String {
    let lower = message.to_ascii_lowercase(); // same byte offsets: ASCII letters only change
    let start = ["<!doctype html", "<html"]
        .iter()
        .filter_map(|tag| lower.find(tag))
        .min();
    let Some(start) = start else {
        return message;
    };
    let end = lower[start..]
        .find("</html>")
        .map_or(message.len(), |at| start + at + "</html>".len());
    let rest = message[end..].trim();
    let separator = if rest.is_empty() { "" } else { " " };
    format!(
        "{} (the server's HTML page left out){separator}{rest}",
        message[..start].trim_end()
    )
}

/// The message of the last failed zarrs-cffi call on this thread ("" after a success).
///
/// Returns a new string; free it with `zarrsFreeString`. Upstream's `zarrsLastError` stays the
/// global one that upstream functions set.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiLastError() -> *mut c_char {
    let message = LAST_ERROR.with(|slot| slot.borrow().clone());
    // Interior NULs cannot be represented in a C string; replace them rather than fail.
    CString::new(message.replace('\0', "\\0"))
        .unwrap_or_default()
        .into_raw()
}

/// The first error (in time) that any of several threads reports; later ones are dropped.
pub struct FirstError<E = FfiError> {
    failed: AtomicBool,
    error: Mutex<Option<E>>,
}

impl<E> Default for FirstError<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> FirstError<E> {
    pub const fn new() -> Self {
        Self {
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    /// Keep `error` unless one was recorded before.
    pub fn record(&self, error: E) {
        self.failed.store(true, Ordering::Relaxed);
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(error);
    }

    /// Whether an error was recorded (work not yet started may be skipped).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Err(the first error) if one was recorded.
    pub fn into_result(self) -> Result<(), E> {
        match self.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Calls inside `guard` now, in any thread: a panic then is caught and reported (see `quiet_panics`).
static GUARDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Panics inside this library's own entry points are not printed: `guard` catches each and turns
/// it into an error carrying its message, redacted, and the default hook also wrote it to the host
/// program's stderr (with a backtrace under `RUST_BACKTRACE`), unredacted (a storage URL's
/// credentials). A panic while no guarded call runs (upstream `zarrs_ffi` functions, which do not
/// catch them) still goes to the default hook. The hook is this library's own: each Rust library
/// in a process has its own. `ZARRS_CFFI_PRINT_PANICS=1` keeps printing every panic.
#[cfg(not(test))]
mod quiet_panics {
    use std::sync::atomic::Ordering;

    extern "C" fn install() {
        let _ = std::panic::catch_unwind(|| {
            if std::env::var("ZARRS_CFFI_PRINT_PANICS").is_ok_and(|v| v == "1") {
                return;
            }
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if super::GUARDED.load(Ordering::Relaxed) == 0 {
                    default(info);
                }
            }));
        });
    }

    #[used]
    #[unsafe(link_section = ".init_array")]
    static INSTALL_AT_LOAD: extern "C" fn() = install;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_keep_their_start_and_end() {
        let short = "404 Not Found".to_string();
        assert_eq!(shortened(short.clone()), short);
        let long = format!("GET k: 500: {} (a hint)", "ä".repeat(1_000_000));
        let cut = shortened(long.clone());
        assert!(cut.len() < LONGEST_MESSAGE + 100, "{}", cut.len());
        assert!(cut.starts_with("GET k: 500: ") && cut.ends_with(" (a hint)"));
        assert!(cut.contains("bytes left out"));
    }

    #[test]
    fn refusals_are_permission_errors_wherever_the_server_says_them() {
        let storage = ZarrsResult::ZARRS_ERROR_STORAGE as i32;
        for message in [
            "Error performing PUT http://h/b/k: 403 Forbidden",
            "DeleteObjects request failed for key a/c/0: Access Denied (code: AccessDenied)",
        ] {
            let err = FfiError::upstream(ZarrsResult::ZARRS_ERROR_STORAGE, message);
            assert_eq!(
                refined_code(&err),
                ZarrsCffiResult::ZARRS_CFFI_ERROR_PERMISSION as i32,
                "{message}"
            );
        }
        let other = FfiError::upstream(ZarrsResult::ZARRS_ERROR_STORAGE, "503 Slow Down");
        assert_eq!(refined_code(&other), storage);
    }

    #[test]
    fn html_pages_quoted_from_servers_are_cut() {
        let quoted = "listing \"/\": Server returned non-2xx status code: 501 Not Implemented: \
                      <!DOCTYPE HTML>\n<html lang=\"en\">\n<head>...</head></HTML>\n (a hint)";
        assert_eq!(
            without_html_page(quoted.to_string()),
            "listing \"/\": Server returned non-2xx status code: 501 Not Implemented: \
             (the server's HTML page left out) (a hint)"
        );
        let unended = "500 Internal Server Error: <html><body>oops";
        assert_eq!(
            without_html_page(unended.to_string()),
            "500 Internal Server Error: (the server's HTML page left out)"
        );
        let plain = "reading \"c/0\": 403 Forbidden: <Error><Code>AccessDenied</Code></Error>";
        assert_eq!(without_html_page(plain.to_string()), plain);
    }
}
