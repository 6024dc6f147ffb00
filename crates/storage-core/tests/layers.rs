//! `StoreStack`: layers wrap the backend in the order added, each once; an empty stack is the
//! backend itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, Result, StorageStrategy,
    StoreStack, StrategyLayer, WriteOnlyStore,
};
use hotplex_storage_memory::MemoryStore;

/// Appends its mark to every message's content and counts its calls.
struct Mark {
    mark: &'static str,
    calls: AtomicU32,
}

impl StorageStrategy for Mark {
    fn name(&self) -> &str {
        self.mark
    }
    fn should_store(&self, _msg: &ChatAppMessage) -> bool {
        true
    }
    fn before_store(&self, msg: &mut ChatAppMessage) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        msg.content.push_str(self.mark);
        Ok(())
    }
}

fn mark(mark: &'static str) -> Arc<Mark> {
    Arc::new(Mark {
        mark,
        calls: AtomicU32::new(0),
    })
}

#[tokio::test]
async fn layers_wrap_in_order_each_once() {
    let backend = Arc::new(MemoryStore::new());
    let same = StoreStack::new().build(backend.clone()).unwrap();
    assert_eq!(same.name(), "memory");

    let (inner, outer) = (mark("+inner"), mark("+outer"));
    let stack = StoreStack::new()
        .layer(StrategyLayer::new(inner.clone()))
        .layer(StrategyLayer::new(outer.clone()));
    assert_eq!(stack.names(), ["strategy:+inner", "strategy:+outer"]);
    assert_eq!(
        format!("{stack:?}"),
        r#"["strategy:+inner", "strategy:+outer"]"#
    );
    let store = stack.build(backend.clone()).unwrap();
    store
        .store_user_message(&ChatAppMessage::user("s1", "hi"))
        .await
        .unwrap();
    let rows = backend
        .list(&MessageQuery::for_session("s1"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    // The outer layer sees the call first, so its mark comes first.
    assert_eq!(rows[0].content, "hi+outer+inner");
    assert_eq!(inner.calls.load(Ordering::Relaxed), 1);
    assert_eq!(outer.calls.load(Ordering::Relaxed), 1);
}
