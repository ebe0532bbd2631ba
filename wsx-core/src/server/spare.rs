//! A connection's spare heap slot for handler futures.
//!
//! A handler's future is polled once where it is made (`start_handler` in `route.rs`), and
//! most finish on that poll. It is pinned on the heap before it, because one that waits
//! must not move afterwards. Rather than allocating and freeing that box on every
//! request, a connection keeps the last one, emptied in place, for the next future of the
//! same type: a connection that sends the same event over and over allocates no box. A
//! future that waits leaves with its box, and the connection keeps a new empty one. A
//! future of another type replaces it; one larger than [`MAX_KEPT`] bytes is boxed on its
//! own and never kept, so what a connection holds between requests is bounded.

use futures::future::OptionFuture;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;

/// The largest handler future whose box a connection keeps, in bytes.
pub(crate) const MAX_KEPT: usize = 256;

/// A handler future on the heap, or nothing once it finished.
pub(crate) type Slot<F> = Pin<Box<OptionFuture<F>>>;

/// The kept slot: a [`Slot`] of some handler's future type, behind one more box that
/// erases the type (made once per connection and kept with the slot).
#[derive(Default)]
pub(crate) struct Spare(Option<Box<dyn Any + Send>>);

impl Spare {
    /// Whether a slot for `F` is kept after use.
    pub(crate) const fn keeps<F>() -> bool {
        std::mem::size_of::<F>() <= MAX_KEPT
    }

    /// Takes the kept slot if it is one for `F`, else makes an empty one. Give it back
    /// with [`keep`](Self::keep) once it is empty again.
    pub(crate) fn take<F: Future + Send + 'static>(&mut self) -> Box<dyn Any + Send> {
        match self.0.take() {
            Some(kept) if kept.is::<Slot<F>>() => kept,
            _ => Box::new(empty::<F>()),
        }
    }

    /// Keeps an emptied slot for the next request.
    pub(crate) fn keep(&mut self, slot: Box<dyn Any + Send>) {
        self.0 = Some(slot);
    }

    /// Whether a slot is kept, and for futures of type `F`.
    #[cfg(test)]
    pub(crate) fn holds<F: Future + 'static>(&self) -> bool {
        self.0.as_ref().is_some_and(|kept| kept.is::<Slot<F>>())
    }
}

/// A slot holding nothing.
pub(crate) fn empty<F: Future>() -> Slot<F> {
    Box::pin(OptionFuture::from(None))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    type Small = std::future::Ready<u8>;
    type Other = std::future::Ready<u16>;

    fn address(slot: &mut Box<dyn Any + Send>) -> *const () {
        let slot = slot.downcast_mut::<Slot<Small>>().unwrap();
        std::ptr::from_ref(&*slot.as_mut()).cast()
    }

    #[test]
    fn a_kept_slot_is_given_back_for_the_same_type_only() {
        let mut spare = Spare::default();
        let mut first = spare.take::<Small>();
        let at = address(&mut first);
        spare.keep(first);
        let mut again = spare.take::<Small>();
        assert_eq!(address(&mut again), at, "the same heap slot, not a new one");
        spare.keep(again);
        let other = spare.take::<Other>();
        assert!(other.is::<Slot<Other>>());
        assert!(spare.0.is_none(), "the slot of another type was dropped");
    }

    #[test]
    fn only_small_futures_are_kept() {
        assert!(Spare::keeps::<Small>());
        assert!(!Spare::keeps::<[u8; MAX_KEPT + 1]>());
    }
}
