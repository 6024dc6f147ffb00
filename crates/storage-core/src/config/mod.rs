//! Configuration support shared by the registry and every backend: the node tree a file and the
//! environment are read into ([`ConfigNode`]), serde over it with errors that name the key path
//! and the variable ([`ConfigError`]), the keys of a config struct read from its serde
//! definition ([`field_names`]), durations (`5m`) and `${VAR}`/`~` expansion, and the
//! [`BackendFactory`] through which a backend owns its section. No I/O.
//!
//! A backend's config struct is the one definition of its settings: it derives
//! `serde::Deserialize` (`deny_unknown_fields`, defaults from `Default`), implements
//! [`BackendConfig`], and registers a [`ConfigFactory`] with the registry, which hands it its
//! raw section with the environment already applied (`HOTPLEX_MESSAGE_STORE_SQLITE_POOL_SIZE`
//! → `sqlite.pool_size`). docs/configuration.md lists every key.

mod backend;
mod de;
mod duration;
mod expand;
mod fields;
mod from_str;
mod node;

pub use backend::{
    BackendConfig, BackendContext, BackendFactory, ConfigFactory, CreateFn, SearchOptions,
};
pub use de::ConfigError;
pub use duration::{format_duration, parse_duration, serde_duration, serde_opt_duration};
pub use expand::{expand_path, expand_vars};
pub use fields::field_names;
pub use from_str::serde_from_str;
pub use node::{ConfigNode, ConfigValue, Origin};
