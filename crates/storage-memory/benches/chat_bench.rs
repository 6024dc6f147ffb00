//! chat-bench on `MemoryStore` (being written).

fn main() {}
