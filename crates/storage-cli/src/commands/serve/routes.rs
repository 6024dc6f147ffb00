//! The router: which page answers which path, with the guards in front of them.
//!
//! | path | page | parameters |
//! |---|---|---|
//! | `/` | recent sessions, the forms | none |
//! | `/sessions` | a user's sessions, most recent first, with counts and last message time | `user` (required), `platform` (`slack`), `page` |
//! | `/thread` | a session's messages, oldest first | `session` (required), `deleted`, `after` \| `before` \| `newest`, `limit` (1–500, 100) |
//! | `/search` | the store's `search`, snippets with the terms marked, cursor paging | `q`, `session`, `user`, `platform`, `limit` (1–100, 20), `cursor` |
//! | `/health` | the health report and counters (503 when unhealthy) | none |
//! | `/style.css` | the stylesheet (served without the token check: it holds no data) | none |
//!
//! Layers, outermost first: security headers, request log (route and status only), GET/HEAD
//! only, then the token or loopback-host guard around every page.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hotplex_storage_core::{
    ChatAppMessageStore, Cursor, HealthStatus, MessageQuery, SearchQuery, SessionMeta,
};
use maud::Markup;

use super::auth::{self, Access};
use super::error::PageError;
use super::headers;
use super::links::SearchFilters;
use super::pages::{self, SearchView, ThreadView};
use super::params::{
    self, NoParams, SEARCH_MAX_PAGE, SEARCH_PAGE, SESSIONS_MAX_PAGE, SESSIONS_PAGE, SearchParams,
    SessionsParams, THREAD_MAX_PAGE, THREAD_PAGE, ThreadParams,
};

/// The start page looks at this many of the newest messages for recent sessions.
pub(crate) const RECENT_MESSAGES: usize = 500;
/// The start page lists at most this many recent sessions.
pub(crate) const RECENT_SESSIONS: usize = 25;

/// The stylesheet.
const STYLE: &str = include_str!("style.css");

/// What every page handler reads from.
#[derive(Clone)]
struct App {
    store: Arc<dyn ChatAppMessageStore>,
}

/// A page's answer: the page, or why not.
type PageResult = Result<Response, PageError>;

/// The viewer's router over `store`, guarded by `access`.
pub(crate) fn router(store: Arc<dyn ChatAppMessageStore>, access: Arc<Access>) -> Router {
    let pages = Router::new()
        .route("/", get(home))
        .route("/sessions", get(sessions))
        .route("/thread", get(thread))
        .route("/search", get(search))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(App { store })
        .layer(from_fn_with_state(access, auth::guard));
    Router::new()
        .route("/style.css", get(style))
        .merge(pages)
        .layer(from_fn(headers::read_only))
        .layer(from_fn(log_request))
        .layer(from_fn(headers::security_headers))
}

/// `markup` as a 200 HTML response.
fn html(markup: &Markup) -> Response {
    Html(markup.clone().into_string()).into_response()
}

/// The metas of `ids`, in order, leaving out sessions deleted meanwhile.
async fn metas_of(
    store: &dyn ChatAppMessageStore,
    ids: &[String],
) -> Result<Vec<SessionMeta>, PageError> {
    let mut metas = Vec::with_capacity(ids.len());
    for id in ids {
        match store.get_session_meta(id).await {
            Ok(meta) => metas.push(meta),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(metas)
}

/// `/`: the sessions of the newest messages, and the forms.
async fn home(State(app): State<App>, RawQuery(query): RawQuery) -> PageResult {
    let NoParams {} = params::parse(query.as_deref())?;
    let newest = app
        .store
        .list(&MessageQuery::default().with_limit(RECENT_MESSAGES))
        .await?;
    let mut seen = HashSet::new();
    let ids: Vec<String> = newest
        .iter()
        .filter(|m| seen.insert(m.chat_session_id.as_str()))
        .take(RECENT_SESSIONS)
        .map(|m| m.chat_session_id.clone())
        .collect();
    let metas = metas_of(app.store.as_ref(), &ids).await?;
    Ok(html(&pages::home(app.store.name(), &metas, newest.len())))
}

/// `/sessions`: one page of a user's sessions.
async fn sessions(State(app): State<App>, RawQuery(query): RawQuery) -> PageResult {
    let p: SessionsParams = params::parse(query.as_deref())?;
    let user = params::required("user", p.user.as_ref())?;
    let platform = params::text(p.platform.as_ref()).unwrap_or_else(|| "slack".to_owned());
    let page = params::number("page", p.page.as_ref(), 1, SESSIONS_MAX_PAGE)?;
    let ids = app.store.list_user_sessions(&platform, &user).await?;
    let pages_total = ids.len().div_ceil(SESSIONS_PAGE).max(1);
    let from = (page - 1).saturating_mul(SESSIONS_PAGE).min(ids.len());
    let to = from.saturating_add(SESSIONS_PAGE).min(ids.len());
    let metas = metas_of(app.store.as_ref(), &ids[from..to]).await?;
    Ok(html(&pages::sessions(
        &platform,
        &user,
        &metas,
        page,
        pages_total,
        ids.len(),
    )))
}

/// `/thread`: one page of a session's messages.
async fn thread(State(app): State<App>, RawQuery(query): RawQuery) -> PageResult {
    let p: ThreadParams = params::parse(query.as_deref())?;
    let session = params::required("session", p.session.as_ref())?;
    let deleted = params::flag("deleted", p.deleted.as_ref())?;
    let newest = params::flag("newest", p.newest.as_ref())?;
    let after = params::cursor("after", p.after.as_ref())?;
    let before = params::cursor("before", p.before.as_ref())?;
    let limit = params::number("limit", p.limit.as_ref(), THREAD_PAGE, THREAD_MAX_PAGE)?;
    if usize::from(newest) + usize::from(after.is_some()) + usize::from(before.is_some()) > 1 {
        return Err(PageError::bad_request(
            "Give at most one of after, before and newest: a page starts at one place.",
        ));
    }
    let meta = match app.store.get_session_meta(&session).await {
        Ok(meta) => Some(meta),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    // One message more than the page shows tells whether more lie in the paging direction.
    let base = MessageQuery::for_session(session.clone())
        .with_include_deleted(deleted)
        .with_limit(limit + 1);
    let backwards = newest || before.is_some();
    let query = match (after, before) {
        (Some(c), _) => base.with_ascending(true).with_after(c),
        (_, Some(c)) => base.with_ascending(false).with_before(c),
        _ => base.with_ascending(!backwards),
    };
    let mut messages = app.store.list(&query).await?;
    let more = messages.len() > limit;
    messages.truncate(limit);
    if backwards {
        messages.reverse();
    }
    let paged = after.is_some() || before.is_some();
    if meta.is_none() && messages.is_empty() && !paged {
        let hint = if deleted {
            ""
        } else {
            " (if it was deleted, add deleted=1 to see its messages)"
        };
        return Err(PageError::not_found(format!(
            "No session {session:?} has messages in this store{hint}."
        )));
    }
    // The other direction: exact, with one probe past the page's edge.
    let other_side = match (after, before) {
        (Some(c), _) => {
            let edge = messages.first().and_then(Cursor::try_of).unwrap_or(c);
            exists(&app, &session, deleted, Side::Before(edge)).await?
        }
        (_, Some(c)) => {
            let edge = messages.last().and_then(Cursor::try_of).unwrap_or(c);
            exists(&app, &session, deleted, Side::After(edge)).await?
        }
        _ => false,
    };
    let view = ThreadView {
        session: &session,
        meta: meta.as_ref(),
        messages: &messages,
        deleted,
        limit,
        has_older: if backwards { more } else { other_side },
        has_newer: if backwards { other_side } else { more },
    };
    Ok(html(&pages::thread(&view)))
}

/// A side of a position in a thread.
enum Side {
    /// Strictly before it.
    Before(Cursor),
    /// Strictly after it.
    After(Cursor),
}

/// Whether `session` has a message (deleted ones counted when `deleted`) on `side`.
async fn exists(app: &App, session: &str, deleted: bool, side: Side) -> Result<bool, PageError> {
    let base = MessageQuery::for_session(session)
        .with_include_deleted(deleted)
        .with_limit(1);
    let query = match side {
        Side::Before(c) => base.with_ascending(false).with_before(c),
        Side::After(c) => base.with_ascending(true).with_after(c),
    };
    Ok(!app.store.list(&query).await?.is_empty())
}

/// `/search`: the form, and one page of hits when `q` is given.
async fn search(State(app): State<App>, RawQuery(query): RawQuery) -> PageResult {
    let p: SearchParams = params::parse(query.as_deref())?;
    let filters = SearchFilters {
        q: p.q
            .clone()
            .filter(|q| !q.trim().is_empty())
            .unwrap_or_default(),
        session: params::text(p.session.as_ref()).unwrap_or_default(),
        user: params::text(p.user.as_ref()).unwrap_or_default(),
        platform: params::text(p.platform.as_ref()).unwrap_or_default(),
        limit: params::number("limit", p.limit.as_ref(), SEARCH_PAGE, SEARCH_MAX_PAGE)?,
    };
    let cursor = params::cursor("cursor", p.cursor.as_ref())?;
    if filters.q.is_empty() {
        if cursor.is_some() {
            return Err(PageError::bad_request(
                "The parameter cursor continues a search: give q too.",
            ));
        }
        let view = SearchView {
            filters: &filters,
            hits: None,
            terms: &[],
            continued: false,
            next: None,
        };
        return Ok(html(&pages::search(&view)));
    }
    let mut search = SearchQuery::new(filters.q.clone()).with_limit(filters.limit);
    search.chat_session_id = params::text(p.session.as_ref());
    search.chat_user_id = params::text(p.user.as_ref());
    search.chat_platform = params::text(p.platform.as_ref());
    search.cursor = cursor;
    let plan = search.plan()?;
    let hits = app.store.search(&search).await?;
    let next = if hits.len() == filters.limit {
        hits.last().and_then(|h| Cursor::try_of(&h.message))
    } else {
        None
    };
    let view = SearchView {
        filters: &filters,
        hits: Some(&hits),
        terms: &plan.terms,
        continued: cursor.is_some(),
        next,
    };
    Ok(html(&pages::search(&view)))
}

/// `/health`: the report and the counters; 503 when the store is unhealthy.
async fn health(State(app): State<App>, RawQuery(query): RawQuery) -> PageResult {
    let NoParams {} = params::parse(query.as_deref())?;
    let (report, metrics) = tokio::join!(app.store.health_check(), app.store.metrics());
    let metrics_error = metrics.as_ref().err().map(ToString::to_string);
    let metrics = match &metrics {
        Ok(m) => Ok(m),
        Err(_) => Err(metrics_error.as_deref().unwrap_or_default()),
    };
    let markup = pages::health(app.store.name(), app.store.version(), &report, metrics);
    let status = if report.status == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, Html(markup.into_string())).into_response())
}

/// `/style.css`.
async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// Any other path.
async fn not_found() -> PageError {
    PageError::not_found("There is no such page in this viewer.")
}

/// Middleware: one debug event per request with the method, the route (never the path or the
/// query, which carry ids, search text or the token), the status and the time taken.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(other)".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "viewer request"
    );
    response
}
