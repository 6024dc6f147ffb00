//! The query plan: what a [`MessageQuery`] means, decided in one place.
//!
//! [`QueryPlan::list`] and [`QueryPlan::count`] destructure the query without `..`, so a new
//! query field does not compile until it is planned here. The memory store evaluates the plan
//! with [`QueryPlan::matches`]; the SQL backends render it with [`QueryPlan::render`] through a
//! [`SqlDialect`] and bind the driver-free [`SqlParam`]s in their own types. Both therefore
//! honour every field, identically.

use uuid::Uuid;

use crate::{ChatAppMessage, Cursor, MessageQuery, MessageType, time};

/// A text column a query can compare for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextColumn {
    /// `chat_session_id`.
    ChatSessionId,
    /// `chat_user_id`.
    ChatUserId,
    /// `provider_type`.
    ProviderType,
    /// `provider_session_id`.
    ProviderSessionId,
    /// `chat_platform` (used by search filters).
    ChatPlatform,
}

impl TextColumn {
    /// The column name in every SQL schema.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChatSessionId => "chat_session_id",
            Self::ChatUserId => "chat_user_id",
            Self::ProviderType => "provider_type",
            Self::ProviderSessionId => "provider_session_id",
            Self::ChatPlatform => "chat_platform",
        }
    }

    /// The column's value in a message.
    pub fn value(self, msg: &ChatAppMessage) -> &str {
        match self {
            Self::ChatSessionId => &msg.chat_session_id,
            Self::ChatUserId => &msg.chat_user_id,
            Self::ProviderType => &msg.provider_type,
            Self::ProviderSessionId => &msg.provider_session_id,
            Self::ChatPlatform => &msg.chat_platform,
        }
    }
}

/// One condition of a plan; a message matches a plan when it meets all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Not soft-deleted.
    Live,
    /// The column equals the value.
    TextEquals(TextColumn, String),
    /// `engine_session_id` equals the value.
    EngineSession(Uuid),
    /// `created_at` at or after this many microseconds (a sub-microsecond bound rounds up).
    CreatedFrom(i64),
    /// `created_at` at or before this many microseconds (a sub-microsecond bound rounds down).
    CreatedUntil(i64),
    /// `message_type` is one of these (never empty).
    TypeIn(Vec<String>),
    /// `(created_at, seq)` strictly after the cursor.
    After(Cursor),
    /// `(created_at, seq)` strictly before the cursor.
    Before(Cursor),
}

impl Condition {
    /// True when `msg` meets this condition. A message without `created_at` meets no time or
    /// cursor condition.
    pub fn matches(&self, msg: &ChatAppMessage) -> bool {
        let micros = msg.created_at.map(time::to_micros);
        match self {
            Self::Live => !msg.deleted,
            Self::TextEquals(column, value) => column.value(msg) == value,
            Self::EngineSession(id) => msg.engine_session_id == *id,
            Self::CreatedFrom(bound) => micros.is_some_and(|m| m >= *bound),
            Self::CreatedUntil(bound) => micros.is_some_and(|m| m <= *bound),
            Self::TypeIn(types) => types.iter().any(|t| t == msg.message_type.as_str()),
            Self::After(cursor) => Cursor::try_of(msg).is_some_and(|p| p > *cursor),
            Self::Before(cursor) => Cursor::try_of(msg).is_some_and(|p| p < *cursor),
        }
    }
}

/// What `list` or `count` does with a query: conditions, order and window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// Every condition a result meets.
    pub conditions: Vec<Condition>,
    /// `(created_at, seq)` ascending when true, descending when false.
    pub ascending: bool,
    /// At most this many results; `None` is unlimited (always `None` for `count`).
    pub limit: Option<u64>,
    /// Results skipped after the conditions (always 0 for `count`).
    pub offset: u64,
}

impl QueryPlan {
    /// The plan of `list(query)`: every filter, the cursors, order, limit and offset.
    pub fn list(query: &MessageQuery) -> Self {
        Self::build(query, true)
    }

    /// The plan of `count(query)`: the filters only (cursors, limit and offset are ignored).
    pub fn count(query: &MessageQuery) -> Self {
        Self::build(query, false)
    }

    fn build(query: &MessageQuery, listing: bool) -> Self {
        let MessageQuery {
            chat_session_id,
            chat_user_id,
            engine_session_id,
            provider_type,
            provider_session_id,
            start_time,
            end_time,
            message_types,
            limit,
            offset,
            ascending,
            include_deleted,
            after,
            before,
        } = query;
        let mut conditions = Vec::new();
        if !include_deleted {
            conditions.push(Condition::Live);
        }
        for (column, value) in [
            (TextColumn::ChatSessionId, chat_session_id),
            (TextColumn::ChatUserId, chat_user_id),
            (TextColumn::ProviderType, provider_type),
            (TextColumn::ProviderSessionId, provider_session_id),
        ] {
            if let Some(value) = value {
                conditions.push(Condition::TextEquals(column, value.clone()));
            }
        }
        if let Some(engine) = engine_session_id {
            conditions.push(Condition::EngineSession(*engine));
        }
        // Stored times are whole microseconds and bounds compare exactly: a start with a
        // sub-microsecond part rounds up, an end rounds down.
        if let Some(start) = start_time {
            conditions.push(Condition::CreatedFrom(time::to_micros_ceil(*start)));
        }
        if let Some(end) = end_time {
            conditions.push(Condition::CreatedUntil(time::to_micros(*end)));
        }
        if !message_types.is_empty() {
            conditions.push(Condition::TypeIn(
                message_types
                    .iter()
                    .map(MessageType::as_str)
                    .map(str::to_owned)
                    .collect(),
            ));
        }
        if !listing {
            return Self {
                conditions,
                ascending: *ascending,
                limit: None,
                offset: 0,
            };
        }
        conditions.extend(after.map(Condition::After));
        conditions.extend(before.map(Condition::Before));
        Self {
            conditions,
            ascending: *ascending,
            limit: match *limit {
                0 => None,
                n => Some(u64::try_from(n).unwrap_or(u64::MAX)),
            },
            offset: u64::try_from(*offset).unwrap_or(u64::MAX),
        }
    }

    /// True when `msg` meets every condition (the window is not applied).
    pub fn matches(&self, msg: &ChatAppMessage) -> bool {
        self.conditions.iter().all(|c| c.matches(msg))
    }

    /// The session this plan is confined to, if any (an index hint for stores).
    pub fn session(&self) -> Option<&str> {
        self.conditions.iter().find_map(|c| match c {
            Condition::TextEquals(TextColumn::ChatSessionId, s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// Renders `SELECT {columns} FROM {table} WHERE …`, plus, when `windowed`, the order and
    /// `LIMIT`/`OFFSET` (as parameters), in `dialect`'s SQL. Every value is a parameter.
    pub fn render(
        &self,
        dialect: &SqlDialect,
        columns: &str,
        table: &str,
        windowed: bool,
    ) -> SqlStatement {
        let mut sql =
            SqlStatement::new(dialect, format!("SELECT {columns} FROM {table} WHERE TRUE"));
        for condition in &self.conditions {
            match condition {
                Condition::Live => {
                    sql.text.push_str(" AND ");
                    sql.text.push_str(dialect.live);
                }
                Condition::TextEquals(column, value) => sql.push(
                    &format!(" AND {} = ?", column.name()),
                    [SqlParam::Text(value.clone())],
                ),
                Condition::EngineSession(id) => {
                    sql.push(" AND engine_session_id = ?", [SqlParam::Uuid(*id)]);
                }
                Condition::CreatedFrom(micros) => {
                    sql.push(" AND created_at >= ?", [SqlParam::Micros(*micros)]);
                }
                Condition::CreatedUntil(micros) => {
                    sql.push(" AND created_at <= ?", [SqlParam::Micros(*micros)]);
                }
                Condition::TypeIn(types) => sql.push(
                    &format!(" AND {}", dialect.type_in),
                    [SqlParam::TextList(types.clone())],
                ),
                Condition::After(cursor) => sql.push(
                    " AND (created_at, seq) > (?, ?)",
                    [
                        SqlParam::Micros(cursor.created_at_micros()),
                        SqlParam::Int(cursor.seq()),
                    ],
                ),
                Condition::Before(cursor) => sql.push(
                    " AND (created_at, seq) < (?, ?)",
                    [
                        SqlParam::Micros(cursor.created_at_micros()),
                        SqlParam::Int(cursor.seq()),
                    ],
                ),
            }
        }
        if windowed {
            sql.text.push_str(if self.ascending {
                " ORDER BY created_at ASC, seq ASC"
            } else {
                " ORDER BY created_at DESC, seq DESC"
            });
            let limit = self.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            let offset = i64::try_from(self.offset).unwrap_or(i64::MAX);
            sql.push(
                " LIMIT ? OFFSET ?",
                [SqlParam::Limit(limit), SqlParam::Int(offset)],
            );
        }
        sql
    }
}

/// A value bound to a statement parameter, before the driver's conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    /// Text.
    Text(String),
    /// A UUID.
    Uuid(Uuid),
    /// A timestamp in microseconds since the Unix epoch, UTC.
    Micros(i64),
    /// An integer.
    Int(i64),
    /// A list of texts (for `message_type IN …`).
    TextList(Vec<String>),
    /// A `LIMIT`: `None` is unlimited.
    Limit(Option<i64>),
}

/// The few places where the SQL backends' dialects differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlDialect {
    /// The placeholder prefix: `'?'` renders `?1`, `'$'` renders `$1`.
    pub placeholder: char,
    /// The condition "not soft-deleted".
    pub live: &'static str,
    /// The condition "`message_type` in the list bound to `?`".
    pub type_in: &'static str,
}

/// A statement under construction: SQL text plus its positional parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    /// The statement text.
    pub text: String,
    /// Values for placeholders 1, 2, … in order.
    pub params: Vec<SqlParam>,
    placeholder: char,
}

impl SqlStatement {
    /// A statement starting with `text` (which has no placeholders).
    pub fn new(dialect: &SqlDialect, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            params: Vec::new(),
            placeholder: dialect.placeholder,
        }
    }

    /// Appends `fragment`, numbering each of its `?` markers and binding them, in order, to
    /// `values` (extra markers reuse nothing: callers pass one value per marker).
    pub fn push(&mut self, fragment: &str, values: impl IntoIterator<Item = SqlParam>) {
        let mut values = values.into_iter();
        let mut pieces = fragment.split('?');
        if let Some(first) = pieces.next() {
            self.text.push_str(first);
        }
        for piece in pieces {
            if let Some(value) = values.next() {
                self.params.push(value);
            }
            self.text.push(self.placeholder);
            self.text.push_str(&self.params.len().to_string());
            self.text.push_str(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const DOLLAR: SqlDialect = SqlDialect {
        placeholder: '$',
        live: "NOT deleted",
        type_in: "message_type = ANY(?)",
    };

    #[test]
    fn every_field_is_planned_and_values_are_never_inlined() {
        let t = Utc.timestamp_opt(1_700_000_000, 500).unwrap();
        let evil = "x' OR 1=1 --".to_owned();
        let query = MessageQuery {
            chat_session_id: Some(evil.clone()),
            chat_user_id: Some("u".into()),
            engine_session_id: Some(Uuid::nil()),
            provider_type: Some("p".into()),
            provider_session_id: Some("ps".into()),
            start_time: Some(t),
            end_time: Some(t),
            message_types: vec![MessageType::USER_INPUT],
            limit: 50,
            offset: 5,
            ascending: true,
            include_deleted: false,
            after: Some(Cursor::new(t, 7)),
            before: Some(Cursor::new(t, 9)),
        };
        let plan = QueryPlan::list(&query);
        assert_eq!(plan.conditions.len(), 11);
        assert_eq!(plan.session(), Some(evil.as_str()));
        assert_eq!(
            plan.conditions[6],
            Condition::CreatedFrom(1_700_000_000_000_001)
        );
        assert_eq!(
            plan.conditions[7],
            Condition::CreatedUntil(1_700_000_000_000_000)
        );
        let sql = plan.render(&DOLLAR, "*", "messages", true);
        assert!(!sql.text.contains(&evil) && !sql.text.contains("50"));
        assert_eq!(sql.params.len(), 14);
        for i in 1..=sql.params.len() {
            assert!(sql.text.contains(&format!("${i}")), "{}", sql.text);
        }
        assert!(
            sql.text
                .ends_with("ORDER BY created_at ASC, seq ASC LIMIT $13 OFFSET $14")
        );
        assert_eq!(sql.params[12], SqlParam::Limit(Some(50)));

        let count = QueryPlan::count(&query);
        assert_eq!(count.conditions.len(), 9);
        assert_eq!((count.limit, count.offset), (None, 0));
        let sql = count.render(&DOLLAR, "count(*)", "messages", false);
        assert!(!sql.text.contains("ORDER BY") && !sql.text.contains("seq)"));
    }

    #[test]
    fn matching_follows_the_conditions() {
        let mut msg = ChatAppMessage::user("s", "c");
        msg.created_at = Some(Utc.timestamp_opt(100, 0).unwrap());
        msg.seq = 3;
        let all = QueryPlan::list(&MessageQuery::default());
        assert!(all.matches(&msg));
        assert_eq!((all.limit, all.offset), (None, 0));
        msg.deleted = true;
        assert!(!all.matches(&msg));
        assert!(QueryPlan::list(&MessageQuery::default().with_include_deleted(true)).matches(&msg));
        let cursor = Cursor::of(&msg).unwrap();
        let after = QueryPlan::list(
            &MessageQuery::default()
                .with_include_deleted(true)
                .with_after(cursor),
        );
        assert!(!after.matches(&msg));
        let huge = QueryPlan::list(
            &MessageQuery::default()
                .with_limit(usize::MAX)
                .with_offset(usize::MAX),
        );
        let sql = huge.render(&DOLLAR, "*", "m", true);
        assert_eq!(
            sql.params[..],
            [SqlParam::Limit(Some(i64::MAX)), SqlParam::Int(i64::MAX)]
        );
    }
}
