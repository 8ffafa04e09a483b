//! A value the process makes once and a forked child makes again (the decode pool, the I/O
//! runtime), read by every call without a lock.
//!
//! A mutex around such a slot was taken on every call: one global lock on the read path, and one
//! a forked child could inherit locked (a child hung in its first read about once in 1,500 forks
//! while another thread read). The slot is an `ArcSwapOption` instead: a call loads the value
//! lock-free. Only making or replacing the value takes a lock (`building`), which the `fork`
//! handlers in `pool` hold across `fork()`.

use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwapOption;

use crate::error::FfiResult;
use crate::pool::process_id;

struct Owned<T> {
    /// The process that made `value`.
    pid: u32,
    value: Arc<T>,
}

pub struct ProcessSlot<T> {
    current: ArcSwapOption<Owned<T>>,
    building: Mutex<()>,
}

impl<T> ProcessSlot<T> {
    pub const fn new() -> Self {
        Self {
            current: ArcSwapOption::const_empty(),
            building: Mutex::new(()),
        }
    }

    /// This process's value, if it has one that `fits`.
    pub fn get(&self, fits: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let pid = process_id();
        let current = self.current.load();
        let owned = current.as_ref()?;
        (owned.pid == pid && fits(&owned.value)).then(|| owned.value.clone())
    }

    /// This process's value if it `fits`, else a new one from `make` (replacing the old).
    pub fn get_or_make(
        &self,
        fits: impl Fn(&T) -> bool,
        make: impl FnOnce() -> FfiResult<T>,
    ) -> FfiResult<Arc<T>> {
        if let Some(value) = self.get(&fits) {
            return Ok(value);
        }
        let _building = self.lock_building();
        if let Some(value) = self.get(&fits) {
            return Ok(value); // another thread made it meanwhile
        }
        let pid = process_id();
        let value = Arc::new(make()?);
        let old = self.current.swap(Some(Arc::new(Owned {
            pid,
            value: value.clone(),
        })));
        if let Some(stale) = old
            && stale.pid != pid
        {
            // Inherited across fork: its threads do not exist here, and dropping it would wait
            // on them for ever. Leaked on purpose.
            std::mem::forget(stale);
        }
        Ok(value)
    }

    /// The lock taken to make or replace the value (the `fork` handlers hold it across `fork()`).
    pub fn lock_building(&self) -> MutexGuard<'_, ()> {
        self.building.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_once_and_again_when_it_no_longer_fits() {
        let slot: ProcessSlot<usize> = ProcessSlot::new();
        assert!(slot.get(|_| true).is_none());
        let first = slot.get_or_make(|_| true, || Ok(2)).unwrap();
        let again = slot.get_or_make(|_| true, || panic!("made twice")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let bigger = slot.get_or_make(|n| *n >= 4, || Ok(4)).unwrap();
        assert_eq!(*bigger, 4);
        assert_eq!(*first, 2); // a call still holding the old value keeps it
        assert!(Arc::ptr_eq(&slot.get(|_| true).unwrap(), &bigger));
    }

    #[test]
    fn a_failed_make_leaves_the_slot_as_it_was() {
        let slot: ProcessSlot<usize> = ProcessSlot::new();
        let err = slot.get_or_make(|_| true, || Err(crate::error::FfiError::invalid("no")));
        assert!(err.is_err());
        assert!(slot.get(|_| true).is_none());
    }
}
