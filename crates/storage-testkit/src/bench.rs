//! chat-bench (in progress).
