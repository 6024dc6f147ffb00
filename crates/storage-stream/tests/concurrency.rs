//! Many streams from many tasks on a multi-threaded runtime: exactly one row per stream, every
//! chunk exactly once, in order — also while the flusher races with completions.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_core::StorageError;
use hotplex_storage_stream::{StreamConfig, StreamMessageStore};
use support::{RecordingStore, meta, template};

fn chunk(stream: usize, i: usize) -> String {
    // 4 to 16 bytes, unique per (stream, i), so a lost, repeated or reordered chunk shows.
    let pad = "~".repeat(i % 7);
    format!("{stream:02x}{i:x}{pad};")
}

/// Rows of each stream key, in insertion order.
fn rows_by_key(store: &RecordingStore) -> BTreeMap<String, Vec<String>> {
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in store.rows() {
        let key = meta(&row, "stream_key")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        by_key.entry(key).or_default().push(row.content);
    }
    by_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_streams_of_a_thousand_chunks_make_exactly_a_hundred_rows() {
    const STREAMS: usize = 100;
    const CHUNKS: usize = 1000;
    const TASKS: usize = 20;
    let recorder = RecordingStore::new();
    let streams =
        Arc::new(StreamMessageStore::new(recorder.clone(), StreamConfig::default()).unwrap());
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let streams = Arc::clone(&streams);
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (task..STREAMS).step_by(TASKS).collect();
            let templates: Vec<_> = mine
                .iter()
                .map(|s| template(&format!("sess-{s}")))
                .collect();
            for i in 0..CHUNKS {
                for (s, t) in mine.iter().zip(&templates) {
                    streams
                        .on_stream_chunk_with(&format!("stream-{s}"), &chunk(*s, i), t)
                        .await
                        .unwrap();
                }
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            for (s, t) in mine.iter().zip(&templates) {
                streams
                    .on_stream_complete(&format!("stream-{s}"), t)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    streams.close().await.unwrap();

    let rows = recorder.rows();
    assert_eq!(rows.len(), STREAMS);
    for row in &rows {
        let key = meta(row, "stream_key").as_str().unwrap();
        let s: usize = key.trim_start_matches("stream-").parse().unwrap();
        let expected: String = (0..CHUNKS).map(|i| chunk(s, i)).collect();
        assert_eq!(row.content, expected, "stream {s}");
        assert_eq!(row.chat_session_id, format!("sess-{s}"));
        assert_eq!(meta(row, "stream_chunks"), CHUNKS);
    }
    let m = streams.metrics();
    assert_eq!(m.completed, STREAMS as u64);
    assert_eq!(m.chunks_accepted, (STREAMS * CHUNKS) as u64);
    assert_eq!((m.active_buffers, m.buffered_bytes), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flusher_racing_completions_never_loses_or_duplicates_a_chunk() {
    const STREAMS: usize = 40;
    const CHUNKS: usize = 200;
    let recorder = RecordingStore::new();
    let config = StreamConfig {
        timeout: Duration::from_millis(1),
        flush_interval: Duration::from_millis(1),
        ..StreamConfig::default()
    };
    let streams = Arc::new(StreamMessageStore::new(recorder.clone(), config).unwrap());
    let flusher = {
        let streams = Arc::clone(&streams);
        tokio::spawn(async move {
            while streams.flush_expired().await.is_ok() {
                tokio::task::yield_now().await;
            }
        })
    };
    let mut tasks = Vec::new();
    for s in 0..STREAMS {
        let streams = Arc::clone(&streams);
        tasks.push(tokio::spawn(async move {
            let key = format!("race-{s}");
            let t = template(&key);
            for i in 0..CHUNKS {
                streams
                    .on_stream_chunk_with(&key, &chunk(s, i), &t)
                    .await
                    .unwrap();
                if i % 40 == 39 {
                    // Long enough to expire: the next chunk starts a new stream.
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                if i % 50 == 49 {
                    match streams.on_stream_complete(&key, &t).await {
                        // The flusher stored the tail as interrupted just before: fine.
                        Ok(_) | Err(StorageError::InvalidMessage { .. }) => {}
                        Err(e) => panic!("completion failed: {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    streams.close().await.unwrap();
    flusher.await.unwrap();

    let by_key = rows_by_key(&recorder);
    assert_eq!(by_key.len(), STREAMS);
    for (key, contents) in by_key {
        let s: usize = key.trim_start_matches("race-").parse().unwrap();
        let expected: String = (0..CHUNKS).map(|i| chunk(s, i)).collect();
        assert_eq!(contents.concat(), expected, "{key}");
    }
    let m = streams.metrics();
    assert_eq!(m.chunks_accepted, (STREAMS * CHUNKS) as u64);
    assert_eq!(m.flushed, recorder.len() as u64);
}
