//! The private runtime behind the blocking API: one thread running a current-thread tokio
//! runtime, alive while any blocking handle is.

use std::fmt;
use std::future::Future;
use std::panic;
use std::sync::mpsc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub(crate) struct RuntimeThread {
    handle: Handle,
    /// Dropping the sender (with the last blocking handle) lets the thread finish.
    _stop: oneshot::Sender<()>,
}

impl fmt::Debug for RuntimeThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeThread").finish_non_exhaustive()
    }
}

impl RuntimeThread {
    /// Starts the thread.
    ///
    /// # Panics
    /// When the OS refuses a new thread or the runtime's I/O driver (as `std::thread::spawn`
    /// does).
    pub(crate) fn start() -> Self {
        let (handle_tx, handle_rx) = mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("runpod-serverless-blocking".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = handle_tx.send(Err(err));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                // Spawned tasks run while this blocks; the runtime is dropped on this thread, never
                // inside a caller's async context.
                runtime.block_on(async move {
                    let _ = stop_rx.await;
                });
            });
        if let Err(err) = spawned {
            panic!("cannot start the runpod-serverless blocking runtime thread: {err}");
        }
        match handle_rx.recv() {
            Ok(Ok(handle)) => Self {
                handle,
                _stop: stop_tx,
            },
            Ok(Err(err)) => panic!("cannot build the runpod-serverless blocking runtime: {err}"),
            Err(_) => panic!("the runpod-serverless blocking runtime thread exited at start"),
        }
    }

    /// The next item of a stream driven on the runtime thread: the stream travels there for one
    /// item and comes back with it. Once it ends, `slot` stays empty and every later call
    /// answers `None` without a trip. Every blocking iterator is this.
    pub(crate) fn next_item<S>(&self, slot: &mut Option<S>) -> Option<S::Item>
    where
        S: futures_core::Stream + Unpin + Send + 'static,
        S::Item: Send + 'static,
    {
        use futures_util::StreamExt as _;
        let mut stream = slot.take()?;
        let (stream, item) = self.block_on(async move {
            let item = stream.next().await;
            (stream, item)
        });
        if item.is_some() {
            *slot = Some(stream);
        }
        item
    }

    /// Runs `f` on a clone of the async value `on` (a handle) and blocks until it is done: the
    /// body of every blocking handle method.
    pub(crate) fn call<S, T, F>(&self, on: &S, f: impl FnOnce(S) -> F) -> T
    where
        S: Clone,
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.block_on(f(on.clone()))
    }

    /// Runs `fut` on the private runtime and blocks the calling thread until it is done.
    ///
    /// Works from any thread, including one that is inside a tokio runtime: nothing here
    /// enters the caller's runtime (it only blocks that thread while waiting).
    pub(crate) fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let task = self.handle.spawn(fut);
        self.handle.spawn(async move {
            let _ = tx.send(task.await);
        });
        match rx.recv() {
            Ok(Ok(output)) => output,
            Ok(Err(join)) => match join.try_into_panic() {
                // Re-raise a panic of the future on the caller's thread, where it belongs.
                Ok(payload) => panic::resume_unwind(payload),
                Err(_) => panic!("a runpod-serverless blocking call was cancelled"),
            },
            Err(_) => panic!("the runpod-serverless blocking runtime stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_outside_any_runtime() {
        let rt = RuntimeThread::start();
        assert_eq!(rt.block_on(async { 2 + 2 }), 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn does_not_panic_inside_a_runtime() {
        let rt = RuntimeThread::start();
        let got = rt.block_on(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            "done"
        });
        assert_eq!(got, "done");
        // Dropping the runtime thread from inside an async context must not panic either.
        drop(rt);
    }

    #[test]
    fn panics_of_the_future_reach_the_caller() {
        let rt = RuntimeThread::start();
        let caught = panic::catch_unwind(panic::AssertUnwindSafe(|| {
            rt.block_on(async { panic!("inner") })
        }));
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner"));
        // The runtime survives a panicking task.
        assert_eq!(rt.block_on(async { 1 }), 1);
    }
}
