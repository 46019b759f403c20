//! Group commit: concurrent writes of one kind are collected and committed in
//! one transaction, so N files cost one commit (one fsync) instead of N.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Most items one transaction takes.
const MAX_BATCH: usize = 256;

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;

/// The same failure for every caller of a batch (a `StoreError` is not `Clone`).
fn shared(e: &StoreError) -> StoreError {
    StoreError::Batch {
        message: e.to_string(),
        transient: e.is_transient(),
    }
}

/// A queue in front of a batch operation. The task behind it lives as long as
/// any clone of the `Batcher` (it ends when the last sender is dropped).
pub struct Batcher<T, R> {
    tx: mpsc::Sender<(T, Reply<R>)>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<T: Send + Sync + 'static, R: Send + 'static> Batcher<T, R> {
    /// `run` commits a batch and returns one result per item, in order.
    ///
    /// When a batch fails for a reason other than a busy or unreachable
    /// database and holds more than one item, each item is run again on its
    /// own: one bad item (a constraint it breaks, a value the database
    /// refuses) fails only its own caller, never its neighbours.
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: Fn(Vec<Arc<T>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, StoreError>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(T, Reply<R>)>(MAX_BATCH * 4);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut items = vec![first];
                while items.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(item) => items.push(item),
                        Err(_) => break,
                    }
                }
                let (values, replies): (Vec<T>, Vec<Reply<R>>) = items.into_iter().unzip();
                let values: Vec<Arc<T>> = values.into_iter().map(Arc::new).collect();
                match run(values.clone()).await {
                    Ok(results) => {
                        for (reply, r) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok(r));
                        }
                    }
                    // One item: its caller gets the error itself (a caller
                    // may tell a conflict from other failures).
                    Err(e) if values.len() == 1 => {
                        if let Some(reply) = replies.into_iter().next() {
                            let _ = reply.send(Err(e));
                        }
                    }
                    // A busy or unreachable database fails every item alike
                    // (and each alone would wait out its own timeout).
                    Err(e) if e.is_transient() => {
                        for reply in replies {
                            let _ = reply.send(Err(shared(&e)));
                        }
                    }
                    Err(_) => {
                        for (value, reply) in values.into_iter().zip(replies) {
                            let r = run(vec![value]).await.and_then(|mut v| {
                                v.pop().ok_or_else(|| StoreError::batch("no result"))
                            });
                            let _ = reply.send(r);
                        }
                    }
                }
            }
        });
        Batcher { tx }
    }

    pub async fn submit(&self, item: T) -> Result<R, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| StoreError::batch("store is closed"))?;
        rx.await.map_err(|_| StoreError::batch("store is closed"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sizes = Arc<std::sync::Mutex<Vec<usize>>>;
    type Run = fn(&[Arc<i64>]) -> Result<Vec<i64>, StoreError>;

    /// A batcher over `run` (one call per batch, fallible), and the sizes of
    /// the batches it ran.
    fn recording(run: Run) -> (Batcher<i64, i64>, Sizes) {
        let sizes = Sizes::default();
        let seen = sizes.clone();
        let b = Batcher::spawn(move |items: Vec<Arc<i64>>| {
            seen.lock().unwrap().push(items.len());
            let r = run(&items);
            async move { r }
        });
        (b, sizes)
    }

    // One item the database refuses fails only its own caller: the batch it
    // arrived in is retried item by item, and its neighbours are committed.
    #[tokio::test]
    async fn a_bad_item_fails_only_its_caller() {
        let (b, sizes) = recording(|items| {
            if items.iter().any(|i| **i < 0) {
                return Err(StoreError::batch("refused"));
            }
            Ok(items.iter().map(|i| **i * 10).collect())
        });
        // Submitted together, so they are collected into one batch.
        let (a, bad, c) = tokio::join!(b.submit(1), b.submit(-1), b.submit(3));
        assert_eq!(a.unwrap(), 10);
        assert_eq!(c.unwrap(), 30);
        assert!(
            matches!(bad, Err(StoreError::Batch { message, transient: false }) if message.contains("refused"))
        );
        // The test runtime has one thread: the batcher runs once all three
        // are queued. One batch of three, then each item on its own.
        assert_eq!(*sizes.lock().unwrap(), vec![3, 1, 1, 1]);
    }

    // A busy or unreachable database fails the whole batch at once, and the
    // callers still see a transient error (they retry instead of giving up).
    #[tokio::test]
    async fn an_unreachable_database_fails_the_batch_as_transient() {
        let (b, sizes) = recording(|_| Err(StoreError::Db(sqlx::Error::PoolTimedOut)));
        let (a, c) = tokio::join!(b.submit(1), b.submit(2));
        for r in [a, c] {
            let e = r.unwrap_err();
            assert!(e.is_transient(), "{e}");
        }
        assert_eq!(*sizes.lock().unwrap(), vec![2]);
    }
}
