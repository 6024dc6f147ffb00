//! [`delegate_store!`](crate::delegate_store): implements a store trait for a decorator by
//! forwarding every method to the store it wraps, so a decorator writes out only the methods
//! it changes.

/// Implements one store trait for a type by forwarding every method to an inner store.
///
/// `[generics] Trait for Type => field name` forwards to `self.name`; `=> deref` forwards to
/// `**self` (smart pointers). For `ChatAppMessageStore`, `, close = method` makes `close()`
/// call `self.method()` instead (a decorator that stops its own work first). A new trait method
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

    ([$($gen:tt)*] ReadOnlyStore for $ty:ty => $($to:tt)+) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::ReadOnlyStore for $ty {
            async fn get(&self, message_id: &str) -> $crate::Result<$crate::ChatAppMessage> {
                $crate::delegate_store!(@inner self, $($to)+).get(message_id).await
            }
            async fn list(
                &self,
                query: &$crate::MessageQuery,
            ) -> $crate::Result<::std::vec::Vec<$crate::ChatAppMessage>> {
                $crate::delegate_store!(@inner self, $($to)+).list(query).await
            }
            async fn count(&self, query: &$crate::MessageQuery) -> $crate::Result<u64> {
                $crate::delegate_store!(@inner self, $($to)+).count(query).await
            }
            async fn search(
                &self,
                query: &$crate::SearchQuery,
            ) -> $crate::Result<::std::vec::Vec<$crate::SearchHit>> {
                $crate::delegate_store!(@inner self, $($to)+).search(query).await
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

    ([$($gen:tt)*] SessionStore for $ty:ty => $($to:tt)+) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::SessionStore for $ty {
            async fn get_session_meta(
                &self,
                chat_session_id: &str,
            ) -> $crate::Result<$crate::SessionMeta> {
                $crate::delegate_store!(@inner self, $($to)+).get_session_meta(chat_session_id).await
            }
            async fn list_user_sessions(
                &self,
                platform: &str,
                user_id: &str,
            ) -> $crate::Result<::std::vec::Vec<::std::string::String>> {
                $crate::delegate_store!(@inner self, $($to)+)
                    .list_user_sessions(platform, user_id)
                    .await
            }
            async fn delete_session(&self, chat_session_id: &str) -> $crate::Result<u64> {
                $crate::delegate_store!(@inner self, $($to)+).delete_session(chat_session_id).await
            }
            async fn purge_session(&self, chat_session_id: &str) -> $crate::Result<u64> {
                $crate::delegate_store!(@inner self, $($to)+).purge_session(chat_session_id).await
            }
            async fn purge_deleted_before(
                &self,
                cutoff: $crate::__private::DateTime<$crate::__private::Utc>,
            ) -> $crate::Result<u64> {
                $crate::delegate_store!(@inner self, $($to)+).purge_deleted_before(cutoff).await
            }
            async fn purge_messages_before(
                &self,
                cutoff: $crate::__private::DateTime<$crate::__private::Utc>,
            ) -> $crate::Result<u64> {
                $crate::delegate_store!(@inner self, $($to)+).purge_messages_before(cutoff).await
            }
        }
    };

    ([$($gen:tt)*] ChatAppMessageStore for $ty:ty => $($to:ident)+ $(, close = $close:ident)?) => {
        #[$crate::__private::async_trait]
        impl $($gen)* $crate::ChatAppMessageStore for $ty {
            async fn initialize(&self) -> $crate::Result<()> {
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
