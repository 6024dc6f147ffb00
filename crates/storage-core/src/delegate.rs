//! [`delegate_store!`](crate::delegate_store): implements a store trait for a decorator by
//! forwarding every method to the store it wraps, so a decorator writes out only the methods
//! it changes.

/// Implements one store trait for a type by forwarding every method to an inner store.
///
/// `[generics] Trait for Type => field name` forwards to `self.name`; `=> deref` forwards to
/// `**self` (smart pointers). For `ReadOnlyStore` and `SessionStore`, `, wrap = method` runs
/// every forwarded call through `self.method(op, || call)` (`op` the method's name, the
/// closure returning the inner call's future), e.g. to retry each. For `ChatAppMessageStore`,
/// `, initialize = method` and `, close = method` make `initialize()` / `close()` call
/// `self.method()` instead (a decorator that retries opening, or stops its own work first). A new trait method
/// fails to compile here until it is forwarded, never silently falling back to a default.
///
/// ```
/// use hotplex_storage_core::{ChatAppMessageStore, delegate_store};
///
/// /// Counts nothing yet; forwards everything.
/// struct Passthrough<S> {
///     inner: S,
/// }
///
/// delegate_store!([<S: hotplex_storage_core::ReadOnlyStore>] ReadOnlyStore for Passthrough<S> => field inner);
/// delegate_store!([<S: hotplex_storage_core::WriteOnlyStore>] WriteOnlyStore for Passthrough<S> => field inner);
/// delegate_store!([<S: hotplex_storage_core::SessionStore>] SessionStore for Passthrough<S> => field inner);
/// delegate_store!([<S: ChatAppMessageStore>] ChatAppMessageStore for Passthrough<S> => field inner);
/// ```
#[macro_export]
macro_rules! delegate_store {
    (@inner $s:ident, field $field:ident) => { $s.$field };
    (@inner $s:ident, deref) => { (**$s) };
    (@call $s:ident, [$($to:ident)+], [], $method:ident($($arg:expr),*)) => {
        $crate::delegate_store!(@inner $s, $($to)+).$method($($arg),*).await
    };
    (@call $s:ident, [$($to:ident)+], [$wrap:ident], $method:ident($($arg:expr),*)) => {
        $s.$wrap(::core::stringify!($method), || {
            $crate::delegate_store!(@inner $s, $($to)+).$method($($arg),*)
        })
        .await
    };

    ([$($gen:tt)*] ReadOnlyStore for $ty:ty => $($to:ident)+ $(, wrap = $wrap:ident)?) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::ReadOnlyStore for $ty {
            async fn get(&self, message_id: &str) -> $crate::Result<$crate::ChatAppMessage> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], get(message_id))
            }
            async fn list(
                &self,
                query: &$crate::MessageQuery,
            ) -> $crate::Result<::std::vec::Vec<$crate::ChatAppMessage>> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], list(query))
            }
            async fn count(&self, query: &$crate::MessageQuery) -> $crate::Result<u64> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], count(query))
            }
            async fn search(
                &self,
                query: &$crate::SearchQuery,
            ) -> $crate::Result<::std::vec::Vec<$crate::SearchHit>> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], search(query))
            }
        }
    };

    ([$($gen:tt)*] WriteOnlyStore for $ty:ty => $($to:tt)+) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::WriteOnlyStore for $ty {
            async fn store_user_message(
                &self,
                msg: &$crate::ChatAppMessage,
            ) -> $crate::Result<$crate::StoreReceipt> {
                $crate::delegate_store!(@inner self, $($to)+).store_user_message(msg).await
            }
            async fn store_bot_response(
                &self,
                msg: &$crate::ChatAppMessage,
            ) -> $crate::Result<$crate::StoreReceipt> {
                $crate::delegate_store!(@inner self, $($to)+).store_bot_response(msg).await
            }
            async fn store_batch(
                &self,
                msgs: &[$crate::ChatAppMessage],
            ) -> $crate::Result<::std::vec::Vec<$crate::StoreReceipt>> {
                $crate::delegate_store!(@inner self, $($to)+).store_batch(msgs).await
            }
        }
    };

    ([$($gen:tt)*] SessionStore for $ty:ty => $($to:ident)+ $(, wrap = $wrap:ident)?) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::SessionStore for $ty {
            async fn get_session_meta(
                &self,
                chat_session_id: &str,
            ) -> $crate::Result<$crate::SessionMeta> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], get_session_meta(chat_session_id))
            }
            async fn list_user_sessions(
                &self,
                platform: &str,
                user_id: &str,
            ) -> $crate::Result<::std::vec::Vec<::std::string::String>> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], list_user_sessions(platform, user_id))
            }
            async fn delete_session(&self, chat_session_id: &str) -> $crate::Result<u64> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], delete_session(chat_session_id))
            }
            async fn purge_session(&self, chat_session_id: &str) -> $crate::Result<u64> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], purge_session(chat_session_id))
            }
            async fn purge_deleted_before(
                &self,
                cutoff: $crate::__private::DateTime<$crate::__private::Utc>,
            ) -> $crate::Result<u64> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], purge_deleted_before(cutoff))
            }
            async fn purge_messages_before(
                &self,
                cutoff: $crate::__private::DateTime<$crate::__private::Utc>,
            ) -> $crate::Result<u64> {
                $crate::delegate_store!(@call self, [$($to)+], [$($wrap)?], purge_messages_before(cutoff))
            }
        }
    };

    ([$($gen:tt)*] ChatAppMessageStore for $ty:ty => $($to:ident)+
        $(, initialize = $initialize:ident)? $(, close = $close:ident)?) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::ChatAppMessageStore for $ty {
            #[allow(
                unreachable_code,
                reason = "with `initialize = method` the forward is not reached"
            )]
            async fn initialize(&self) -> $crate::Result<()> {
                $(return self.$initialize().await;)?
                $crate::delegate_store!(@inner self, $($to)+).initialize().await
            }
            #[allow(unreachable_code, reason = "with `close = method` the forward is not reached")]
            async fn close(&self) -> $crate::Result<()> {
                $(return self.$close().await;)?
                $crate::delegate_store!(@inner self, $($to)+).close().await
            }
            fn name(&self) -> &str {
                $crate::delegate_store!(@inner self, $($to)+).name()
            }
            fn version(&self) -> &str {
                $crate::delegate_store!(@inner self, $($to)+).version()
            }
            async fn health_check(&self) -> $crate::HealthCheckResult {
                $crate::delegate_store!(@inner self, $($to)+).health_check().await
            }
            async fn metrics(&self) -> $crate::Result<$crate::StorageMetrics> {
                $crate::delegate_store!(@inner self, $($to)+).metrics().await
            }
            async fn migration_status(&self) -> $crate::Result<$crate::MigrationStatus> {
                $crate::delegate_store!(@inner self, $($to)+).migration_status().await
            }
            async fn backup_to(
                &self,
                path: &::std::path::Path,
            ) -> $crate::Result<$crate::BackupReport> {
                $crate::delegate_store!(@inner self, $($to)+).backup_to(path).await
            }
        }
    };
}
