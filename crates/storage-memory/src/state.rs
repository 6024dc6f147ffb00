//! [`State`]: the maps behind [`MemoryStore`](crate::MemoryStore) and every operation on them.
//!
//! Everything here is synchronous and lock-free; the store wraps one `State` in a `RwLock` and
//! calls these methods while holding the guard (never across an `.await`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    ChatAppMessage, Condition, MessageQuery, QueryPlan, SearchHit, SearchPlan, SessionMeta,
    StoreReceipt, TextColumn, time,
};

/// A position in `(created_at µs, seq)` order: the key of every ordered index.
pub(crate) type Key = (i64, i64);

/// An ordered index from position to message id.
type Index = BTreeMap<Key, String>;

/// The most rows `list` allocates room for before it knows how many match (a page of a chat
/// is far smaller; a filtered scan of the whole store may match few).
const MAX_PREALLOCATED_ROWS: usize = 1_024;

/// Every message, the ordered indexes over them, and the session metas.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Message id → row (deleted rows included until purged).
    rows: HashMap<String, ChatAppMessage>,
    /// All rows in `(created_at, seq)` order.
    order: Index,
    /// Session id → that session's rows in `(created_at, seq)` order.
    sessions: HashMap<String, Index>,
    /// Session id → meta, for sessions with at least one live message.
    metas: HashMap<String, SessionMeta>,
    /// `(platform, user)` of a meta → the sessions whose meta has them.
    by_user: HashMap<(String, String), HashSet<String>>,
    /// The last `seq` handed out.
    last_seq: i64,
    /// Estimated bytes held by the rows (see [`row_bytes`]).
    bytes: u64,
}

/// Counts reported by [`State::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) live: u64,
    pub(crate) deleted: u64,
    pub(crate) sessions: u64,
    pub(crate) indexed_sessions: u64,
    pub(crate) bytes: u64,
    pub(crate) last_seq: i64,
}

impl State {
    /// Inserts a prepared row (see `prepare_message`): assigns the next `seq` and keeps the
    /// session meta in step. An existing id changes nothing and is `AlreadyStored`.
    pub(crate) fn insert(&mut self, mut row: ChatAppMessage, now: DateTime<Utc>) -> StoreReceipt {
        if self.rows.contains_key(&row.id) {
            return StoreReceipt::already_stored(row.id);
        }
        self.last_seq += 1;
        row.seq = self.last_seq;
        let key = key_of(&row);
        if !row.deleted {
            self.update_meta(&row, now);
        }
        self.bytes = self.bytes.saturating_add(row_bytes(&row));
        self.order.insert(key, row.id.clone());
        self.sessions
            .entry(row.chat_session_id.clone())
            .or_default()
            .insert(key, row.id.clone());
        let receipt = StoreReceipt::stored(row.id.clone());
        self.rows.insert(row.id.clone(), row);
        receipt
    }

    fn update_meta(&mut self, row: &ChatAppMessage, now: DateTime<Utc>) {
        let created_at = row.created_at.unwrap_or(now);
        if let Some(meta) = self.metas.get_mut(&row.chat_session_id) {
            meta.message_count += 1;
            let fills_platform = meta.chat_platform.is_empty() && !row.chat_platform.is_empty();
            let fills_user = meta.chat_user_id.is_empty() && !row.chat_user_id.is_empty();
            if fills_platform || fills_user {
                let old_owner = (meta.chat_platform.clone(), meta.chat_user_id.clone());
                if fills_platform {
                    meta.chat_platform.clone_from(&row.chat_platform);
                }
                if fills_user {
                    meta.chat_user_id.clone_from(&row.chat_user_id);
                }
                let new_owner = (meta.chat_platform.clone(), meta.chat_user_id.clone());
                unindex_user(&mut self.by_user, &old_owner, &row.chat_session_id);
                index_user(&mut self.by_user, new_owner, &row.chat_session_id);
            }
            // The new row has the highest seq, so it is the newest unless it is older.
            if created_at >= meta.last_message_at {
                meta.last_message_id.clone_from(&row.id);
                meta.last_message_at = created_at;
            }
            meta.updated_at = now.max(meta.updated_at);
        } else {
            let meta = SessionMeta {
                chat_session_id: row.chat_session_id.clone(),
                chat_platform: row.chat_platform.clone(),
                chat_user_id: row.chat_user_id.clone(),
                last_message_id: row.id.clone(),
                last_message_at: created_at,
                message_count: 1,
                created_at: now,
                updated_at: now,
            };
            let owner = (meta.chat_platform.clone(), meta.chat_user_id.clone());
            index_user(&mut self.by_user, owner, &row.chat_session_id);
            self.metas.insert(row.chat_session_id.clone(), meta);
        }
    }

    /// The live message with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&ChatAppMessage> {
        self.rows.get(id).filter(|row| !row.deleted)
    }

    /// The rows matching `query` (already validated), ordered, offset and limited: its
    /// [`QueryPlan::list`]. Only the returned window is cloned, into a vector allocated once.
    pub(crate) fn list(&self, query: &MessageQuery) -> Vec<ChatAppMessage> {
        let plan = QueryPlan::list(query);
        let Some((index, range)) = self.range(&plan) else {
            return Vec::new();
        };
        let limit = plan
            .limit
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let offset = usize::try_from(plan.offset).unwrap_or(usize::MAX);
        let matching = |id: &String| self.rows.get(id).filter(|row| matches_in_range(&plan, row));
        let most = limit.min(index.len().saturating_sub(offset));
        let mut out = Vec::with_capacity(most.min(MAX_PREALLOCATED_ROWS));
        if plan.ascending {
            out.extend(
                range
                    .map(|(_, id)| id)
                    .filter_map(matching)
                    .skip(offset)
                    .take(limit)
                    .cloned(),
            );
        } else {
            out.extend(
                range
                    .rev()
                    .map(|(_, id)| id)
                    .filter_map(matching)
                    .skip(offset)
                    .take(limit)
                    .cloned(),
            );
        }
        out
    }

    /// The hits of a search, newest first: the filtered range scanned in order, only hits
    /// cloned.
    pub(crate) fn search(&self, plan: &SearchPlan) -> Vec<SearchHit> {
        let Some((_, range)) = self.range(&plan.filters) else {
            return Vec::new();
        };
        range
            .rev()
            .filter_map(|(_, id)| self.rows.get(id))
            .filter(|row| matches_in_range(&plan.filters, row))
            .filter_map(|row| {
                plan.snippet(&row.content).map(|snippet| SearchHit {
                    message: row.clone(),
                    snippet,
                })
            })
            .take(plan.limit)
            .collect()
    }

    /// How many rows match `query`'s [`QueryPlan::count`].
    pub(crate) fn count(&self, query: &MessageQuery) -> u64 {
        let plan = QueryPlan::count(query);
        let Some((_, range)) = self.range(&plan) else {
            return 0;
        };
        let n = range
            .filter_map(|(_, id)| self.rows.get(id))
            .filter(|row| matches_in_range(&plan, row))
            .count();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The part of the narrowest index that can hold matches: the session's index when the
    /// plan names a session, bounded by its time and cursor conditions. `None` when nothing
    /// can match. Filtering the result with `plan.matches` is still required: the bounds are
    /// a superset.
    /// Returns the index with the range.
    fn range(
        &self,
        plan: &QueryPlan,
    ) -> Option<(&Index, std::collections::btree_map::Range<'_, Key, String>)> {
        let index = match plan.session() {
            Some(session) => self.sessions.get(session)?,
            None => &self.order,
        };
        let mut lower = Bound::Unbounded;
        let mut upper = Bound::Unbounded;
        for condition in &plan.conditions {
            match condition {
                Condition::CreatedFrom(micros) => {
                    tighten_lower(&mut lower, Bound::Included((*micros, i64::MIN)));
                }
                Condition::CreatedUntil(micros) => {
                    tighten_upper(&mut upper, Bound::Included((*micros, i64::MAX)));
                }
                Condition::After(after) => tighten_lower(
                    &mut lower,
                    Bound::Excluded((after.created_at_micros(), after.seq())),
                ),
                Condition::Before(before) => tighten_upper(
                    &mut upper,
                    Bound::Excluded((before.created_at_micros(), before.seq())),
                ),
                Condition::Live
                | Condition::TextEquals(..)
                | Condition::EngineSession(_)
                | Condition::TypeIn(_) => {}
            }
        }
        // `BTreeMap::range` panics on an inverted range; such a range holds nothing.
        if let (Some((lo, lo_inclusive)), Some((hi, hi_inclusive))) =
            (bound_key(&lower), bound_key(&upper))
            && (lo > hi || (lo == hi && !(lo_inclusive && hi_inclusive)))
        {
            return None;
        }
        Some((index, index.range((lower, upper))))
    }

    /// Soft-deletes every live row of `session` (`deleted_at = now`) and drops its meta.
    pub(crate) fn delete_session(&mut self, session: &str, now: DateTime<Utc>) -> u64 {
        let mut marked = 0;
        if let Some(index) = self.sessions.get(session) {
            for id in index.values() {
                if let Some(row) = self.rows.get_mut(id)
                    && !row.deleted
                {
                    row.deleted = true;
                    row.deleted_at = Some(now);
                    marked += 1;
                }
            }
        }
        self.remove_meta(session);
        marked
    }

    /// Removes every row of `session` and its meta.
    pub(crate) fn purge_session(&mut self, session: &str) -> u64 {
        self.remove_meta(session);
        let Some(index) = self.sessions.remove(session) else {
            return 0;
        };
        let mut removed = 0;
        for (key, id) in index {
            self.order.remove(&key);
            if let Some(row) = self.rows.remove(&id) {
                self.bytes = self.bytes.saturating_sub(row_bytes(&row));
                removed += 1;
            }
        }
        removed
    }

    /// Removes soft-deleted rows whose `deleted_at` is strictly before `cutoff`.
    pub(crate) fn purge_deleted_before(&mut self, cutoff: DateTime<Utc>) -> u64 {
        let doomed: Vec<String> = self
            .rows
            .values()
            .filter(|row| row.deleted && row.deleted_at.is_some_and(|at| at < cutoff))
            .map(|row| row.id.clone())
            .collect();
        let mut removed = 0;
        for id in doomed {
            let Some(row) = self.rows.remove(&id) else {
                continue;
            };
            let key = key_of(&row);
            self.order.remove(&key);
            if let Some(index) = self.sessions.get_mut(&row.chat_session_id) {
                index.remove(&key);
                if index.is_empty() {
                    self.sessions.remove(&row.chat_session_id);
                }
            }
            self.bytes = self.bytes.saturating_sub(row_bytes(&row));
            removed += 1;
        }
        removed
    }

    /// Removes every row created before `cutoff` (live or deleted) and recomputes the meta of
    /// each session that lost a live row: count and last message from the rows left, the
    /// meta dropped when none is live. `updated_at` never moves backwards.
    pub(crate) fn purge_messages_before(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> u64 {
        // Rows at or after the first key of `cutoff`'s microsecond ceiling are kept.
        let bound = (time::to_micros_ceil(cutoff), i64::MIN);
        let doomed: Vec<(Key, String)> = self
            .order
            .range(..bound)
            .map(|(key, id)| (*key, id.clone()))
            .collect();
        let mut touched = HashSet::new();
        for (key, id) in &doomed {
            self.order.remove(key);
            let Some(row) = self.rows.remove(id) else {
                continue;
            };
            if let Some(index) = self.sessions.get_mut(&row.chat_session_id) {
                index.remove(key);
                if index.is_empty() {
                    self.sessions.remove(&row.chat_session_id);
                }
            }
            self.bytes = self.bytes.saturating_sub(row_bytes(&row));
            if !row.deleted {
                touched.insert(row.chat_session_id);
            }
        }
        for session in touched {
            self.recompute_meta(&session, now);
        }
        u64::try_from(doomed.len()).unwrap_or(u64::MAX)
    }

    /// Recomputes the count and last message of `session`'s meta from its live rows; drops
    /// the meta when there are none.
    fn recompute_meta(&mut self, session: &str, now: DateTime<Utc>) {
        let live = self.sessions.get(session).map(|index| {
            let mut live = index
                .iter()
                .filter(|(_, id)| self.rows.get(*id).is_some_and(|row| !row.deleted));
            let count = live.clone().count();
            (count, live.next_back().map(|(key, id)| (*key, id.clone())))
        });
        match live {
            Some((count, Some(((micros, _), last_id)))) => {
                if let Some(meta) = self.metas.get_mut(session) {
                    meta.message_count = i64::try_from(count).unwrap_or(i64::MAX);
                    meta.last_message_id = last_id;
                    if let Ok(at) = time::from_micros(micros) {
                        meta.last_message_at = at;
                    }
                    meta.updated_at = now.max(meta.updated_at);
                }
            }
            _ => self.remove_meta(session),
        }
    }

    /// Drops the meta of `session` and its entry in the user index.
    fn remove_meta(&mut self, session: &str) {
        if let Some(meta) = self.metas.remove(session) {
            unindex_user(
                &mut self.by_user,
                &(meta.chat_platform, meta.chat_user_id),
                session,
            );
        }
    }

    /// The meta of `session`.
    pub(crate) fn meta(&self, session: &str) -> Option<&SessionMeta> {
        self.metas.get(session)
    }

    /// Sessions whose meta has exactly this platform and user, newest `last_message_at`
    /// first, ties by session id ascending.
    pub(crate) fn user_sessions(&self, platform: &str, user_id: &str) -> Vec<String> {
        let owner = (platform.to_owned(), user_id.to_owned());
        let Some(sessions) = self.by_user.get(&owner) else {
            return Vec::new();
        };
        let mut found: Vec<&SessionMeta> = sessions
            .iter()
            .filter_map(|session| self.metas.get(session))
            .collect();
        found.sort_by(|a, b| {
            (Reverse(a.last_message_at), &a.chat_session_id)
                .cmp(&(Reverse(b.last_message_at), &b.chat_session_id))
        });
        found
            .into_iter()
            .map(|m| m.chat_session_id.clone())
            .collect()
    }

    /// Counters for `metrics()`.
    pub(crate) fn counts(&self) -> Counts {
        let deleted = self.rows.values().filter(|row| row.deleted).count();
        let to_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Counts {
            live: to_u64(self.rows.len() - deleted),
            deleted: to_u64(deleted),
            sessions: to_u64(self.metas.len()),
            indexed_sessions: to_u64(self.sessions.len()),
            bytes: self.bytes,
            last_seq: self.last_seq,
        }
    }

    /// Drops every row, index and meta (on close).
    pub(crate) fn clear(&mut self) {
        *self = Self {
            last_seq: self.last_seq,
            ..Self::default()
        };
    }
}

/// Whether a row found through [`State::range`] matches `plan`: every condition but the
/// session equality, which the session's own index already guarantees (saving a string
/// comparison per row).
fn matches_in_range(plan: &QueryPlan, row: &ChatAppMessage) -> bool {
    plan.conditions
        .iter()
        .filter(|c| !matches!(c, Condition::TextEquals(TextColumn::ChatSessionId, _)))
        .all(|c| c.matches(row))
}

/// Adds `session` to the sessions of `owner`.
fn index_user(
    by_user: &mut HashMap<(String, String), HashSet<String>>,
    owner: (String, String),
    session: &str,
) {
    by_user.entry(owner).or_default().insert(session.to_owned());
}

/// Removes `session` from the sessions of `owner`, dropping an emptied entry.
fn unindex_user(
    by_user: &mut HashMap<(String, String), HashSet<String>>,
    owner: &(String, String),
    session: &str,
) {
    if let Some(sessions) = by_user.get_mut(owner) {
        sessions.remove(session);
        if sessions.is_empty() {
            by_user.remove(owner);
        }
    }
}

/// The index key of a stored row.
fn key_of(row: &ChatAppMessage) -> Key {
    (row.created_at.map_or(0, time::to_micros), row.seq)
}

/// The key and inclusiveness of a bound, `None` when unbounded.
fn bound_key(bound: &Bound<Key>) -> Option<(Key, bool)> {
    match bound {
        Bound::Included(k) => Some((*k, true)),
        Bound::Excluded(k) => Some((*k, false)),
        Bound::Unbounded => None,
    }
}

/// Replaces `current` with `candidate` when the candidate excludes more from below.
fn tighten_lower(current: &mut Bound<Key>, candidate: Bound<Key>) {
    let tighter = match (bound_key(current), bound_key(&candidate)) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((cur, cur_inc)), Some((new, new_inc))) => {
            new > cur || (new == cur && cur_inc && !new_inc)
        }
    };
    if tighter {
        *current = candidate;
    }
}

/// Replaces `current` with `candidate` when the candidate excludes more from above.
fn tighten_upper(current: &mut Bound<Key>, candidate: Bound<Key>) {
    let tighter = match (bound_key(current), bound_key(&candidate)) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((cur, cur_inc)), Some((new, new_inc))) => {
            new < cur || (new == cur && cur_inc && !new_inc)
        }
    };
    if tighter {
        *current = candidate;
    }
}

/// Estimated bytes a row occupies: its text fields and serialised metadata.
fn row_bytes(row: &ChatAppMessage) -> u64 {
    let text = [
        &row.id,
        &row.chat_session_id,
        &row.chat_platform,
        &row.chat_user_id,
        &row.chat_bot_user_id,
        &row.chat_channel_id,
        &row.chat_thread_id,
        &row.engine_namespace,
        &row.provider_session_id,
        &row.provider_type,
        &row.from_user_id,
        &row.from_user_name,
        &row.to_user_id,
        &row.content,
    ]
    .iter()
    .map(|s| s.len())
    .sum::<usize>()
        + row.message_type.as_str().len();
    let metadata = if row.metadata.is_empty() {
        0
    } else {
        serde_json::to_vec(&row.metadata).map_or(0, |v| v.len())
    };
    u64::try_from(text + metadata).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotplex_storage_core::{Cursor, ValidationLimits, prepare_message};

    fn row(session: &str, micros: i64) -> ChatAppMessage {
        let msg = ChatAppMessage::user(session, "c")
            .with_created_at(time::from_micros(micros).expect("valid"));
        prepare_message(&msg, &ValidationLimits::default(), Utc::now()).expect("valid")
    }

    #[test]
    fn inverted_or_empty_ranges_list_nothing_instead_of_panicking() {
        let mut state = State::default();
        for micros in [10, 20, 20, 30] {
            state.insert(row("s", micros), time::now_micros());
        }
        let second = state.list(&MessageQuery::default().with_ascending(true))[1].clone();
        let at = |m| time::from_micros(m).expect("valid");
        // A cursor after the end time: the range would be inverted.
        let q = MessageQuery {
            end_time: Some(at(15)),
            after: Some(Cursor::of(&second).unwrap()),
            ..MessageQuery::default()
        };
        assert!(state.list(&q).is_empty());
        // Cursor and time bound on the same key, one exclusive.
        let q = MessageQuery {
            start_time: Some(at(20)),
            end_time: Some(at(20)),
            before: Some(Cursor::new(at(20), i64::MIN)),
            ..MessageQuery::default()
        };
        assert!(state.list(&q).is_empty());
        let q = MessageQuery {
            start_time: Some(at(20)),
            end_time: Some(at(20)),
            ..MessageQuery::default()
        };
        assert_eq!(state.list(&q).len(), 2);
        assert_eq!(state.count(&q), 2);
    }

    #[test]
    fn lists_beyond_the_preallocated_window_are_complete_and_ordered() {
        let mut state = State::default();
        let now = time::now_micros();
        let n = MAX_PREALLOCATED_ROWS + 76;
        for micros in 0..n {
            state.insert(row("big", i64::try_from(micros).unwrap() + 1), now);
        }
        state.insert(row("other", 5), now);
        let all = state.list(&MessageQuery::for_session("big"));
        assert_eq!(all.len(), n);
        assert!(all.iter().all(|m| m.chat_session_id == "big"));
        assert!(
            all.windows(2).all(|w| w[0].created_at > w[1].created_at),
            "newest first"
        );
        let tail = state.list(
            &MessageQuery::for_session("big")
                .with_offset(n - 3)
                .with_limit(10),
        );
        assert_eq!(tail.len(), 3);
        assert_eq!(tail[2].id, all[n - 1].id);
        assert_eq!(state.count(&MessageQuery::for_session("big")), n as u64);
        state.delete_session("big", now);
        assert!(state.list(&MessageQuery::for_session("big")).is_empty());
        assert_eq!(state.count(&MessageQuery::for_session("other")), 1);
    }

    #[test]
    fn the_user_index_follows_metas() {
        let mut state = State::default();
        let now = time::now_micros();
        state.insert(row("s1", 1), now);
        assert!(state.user_sessions("", "").contains(&"s1".to_owned()));
        let mut later = row("s1", 2);
        later.chat_platform = "slack".into();
        later.chat_user_id = "U1".into();
        state.insert(later, now);
        assert!(state.user_sessions("", "").is_empty(), "moved to its user");
        assert_eq!(state.user_sessions("slack", "U1"), ["s1"]);
        state.delete_session("s1", now);
        assert!(state.user_sessions("slack", "U1").is_empty());
        assert!(state.by_user.is_empty(), "emptied entries are dropped");
    }

    #[test]
    fn bytes_are_released_by_purges() {
        let mut state = State::default();
        state.insert(row("s", 1), time::now_micros());
        assert!(state.counts().bytes > 0);
        state.delete_session("s", time::now_micros());
        state.purge_deleted_before(Utc::now() + chrono::Duration::seconds(1));
        assert_eq!(state.counts().bytes, 0);
        assert_eq!(
            state.counts().indexed_sessions,
            0,
            "empty indexes are dropped"
        );
    }
}
