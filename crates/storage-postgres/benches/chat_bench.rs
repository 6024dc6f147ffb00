//! chat-bench for PostgreSQL (placeholder until written).
fn main() {}
