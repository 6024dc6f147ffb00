//! Session ids computed exactly as the Go session manager of HotPlex computes them
//! (`chatapps/session/session_manager.go`), so that ids stored by existing deployments match.

use uuid::Uuid;

/// The namespace HotPlex deployments use (`session.NewSessionManager("hotplex")`).
pub const DEFAULT_NAMESPACE: &str = "hotplex";

/// The chat session id of a thread: a version-5 UUID in the URL namespace of
/// `"<namespace>:session:<platform>:<user>:<bot>:<channel>:<thread>"` (the Go
/// `GetChatSessionID`), lowercase and hyphenated. Empty parts stay empty (the Slack adapter
/// passes an empty user, so a thread has one id whoever writes in it).
///
/// ```
/// use hotplex_storage_chat::chat_session_id;
/// let id = chat_session_id("hotplex", "slack", "", "B0BOT", "C0CHAN", "1700000000.123456");
/// assert_eq!(id, "402a092b-f90d-5c4f-a75e-8537c6d41364");
/// ```
pub fn chat_session_id(
    namespace: &str,
    platform: &str,
    user_id: &str,
    bot_user_id: &str,
    channel_id: &str,
    thread_id: &str,
) -> String {
    let name =
        format!("{namespace}:session:{platform}:{user_id}:{bot_user_id}:{channel_id}:{thread_id}");
    Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// The provider session id of an engine session: a version-5 UUID in the URL namespace of
/// `"<namespace>:provider:<provider_type>:<engine_session_id>"` (the Go
/// `GenerateProviderSessionID(engineID, providerType)` of the session manager; not the random
/// [`generate_provider_session_id`](hotplex_storage_core::generate_provider_session_id) of
/// the storage utilities).
pub fn provider_session_id(
    namespace: &str,
    provider_type: &str,
    engine_session_id: Uuid,
) -> String {
    let name = format!("{namespace}:provider:{provider_type}:{engine_session_id}");
    Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// A new engine session id: a random UUIDv4 (the Go `GenerateEngineSessionID`).
pub fn new_engine_session_id() -> Uuid {
    Uuid::new_v4()
}
