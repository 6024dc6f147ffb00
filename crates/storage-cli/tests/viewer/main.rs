//! `hotplex-storage serve` as a process on a seeded SQLite store (HOME in a temporary
//! directory, clean environment): over a real socket ([`socket`]), and in a real headless
//! Chromium ([`browser`]). [`server`] seeds the store; [`process`] starts and stops the viewer
//! and speaks plain HTTP/1.1 to it.

mod browser;
mod process;
mod server;
mod socket;
