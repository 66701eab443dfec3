//! Attached files on both backends: chunks merge by (file, index), a
//! file's record by id, both are in the feed the peer pulls, the limits'
//! counts read the same, and an erasure of the chat takes them all.

use super::{Engine, Fixture, header, run, stamp};
use crate::erasure::{Subject, erase};
use crate::store::erasures::Reason;
use crate::store::files::{Chunk, StoredFile};
use crate::store::reads;
use crate::store::records::{Record, Refusal};
use twinline_core::files::{CHUNK_BYTES, FileMeta, FileType};
use twinline_core::{ChatId, ChatState, ChatStatus, FileId, Millis, Ulid, VisitorId};

both_backends!(
    chunks_and_files_merge_by_id_read_back_and_go_in_the_feed,
    an_erased_chat_takes_its_files_and_refuses_late_chunks_and_its_export_holds_them,
);

const FILE: FileId = FileId(Ulid(70));

fn chat() -> ChatId {
    ChatId::new(Millis(1_000), 9)
}

fn chunk(chat: ChatId, index: u64, fill: u8, len: u64) -> Record {
    Record::FileChunk(Chunk::new(
        FILE,
        chat,
        "demo",
        index,
        &vec![fill; len as usize],
    ))
}

fn stored(chat: ChatId, at: u64) -> StoredFile {
    StoredFile {
        meta: FileMeta {
            id: FILE,
            chat,
            name: "photo.png".into(),
            size: CHUNK_BYTES + 10,
            kind: FileType::Png,
            sha256: "0f".repeat(32),
        },
        site: "demo".into(),
        at: Millis(at),
    }
}

async fn chunks_and_files_merge_by_id_read_back_and_go_in_the_feed(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = chat();
    for record in [chunk(chat, 0, 1, CHUNK_BYTES), chunk(chat, 1, 2, 10)] {
        assert!(store.apply(record, "primary").await.unwrap().changed);
    }
    // The same chunk again (a retry, the peer's copy) changes nothing; other
    // bytes under its key are refused and the stored ones stay.
    let again = store
        .apply(chunk(chat, 1, 2, 10), "redundant")
        .await
        .unwrap();
    assert!(!again.changed && again.refused.is_none());
    let other = store.apply(chunk(chat, 1, 3, 10), "primary").await.unwrap();
    assert_eq!(other.refused, Some(Refusal::IdTaken("file chunk")));
    let held = store.read(|c| c.files().held_chunks(FILE)).await.unwrap();
    assert_eq!(
        held.iter().map(|h| (h.index, h.bytes)).collect::<Vec<_>>(),
        vec![(0, CHUNK_BYTES), (1, 10)]
    );
    assert!(held.iter().all(|h| h.chat == chat));
    assert_eq!(
        store
            .read(move |c| c.files().chat_usage(chat))
            .await
            .unwrap(),
        (1, CHUNK_BYTES + 10)
    );
    let chunks = store.read(|c| c.files().chunks(FILE)).await.unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].bytes().unwrap(), vec![2; 10]);

    // The file's record: two completions of one upload merge (the earlier
    // time stays), another file under its id is refused.
    assert!(file_apply(store, stored(chat, 50)).await.changed);
    assert!(!file_apply(store, stored(chat, 60)).await.changed);
    let mut renamed = stored(chat, 50);
    renamed.meta.name = "other.png".into();
    assert_eq!(
        file_apply(store, renamed).await.refused,
        Some(Refusal::IdTaken("file"))
    );
    let read = store.read(|c| c.files().file(FILE)).await.unwrap();
    assert_eq!(read, Some(stored(chat, 50)));
    assert_eq!(
        store
            .read(move |c| c.files().chat_files(chat))
            .await
            .unwrap(),
        vec![stored(chat, 50)]
    );

    // The peer pulls both chunks and the record, once each.
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "redundant"))
        .await
        .unwrap();
    let kinds: Vec<&str> = page.changes.iter().map(|c| c.record.kind()).collect();
    assert_eq!(kinds, vec!["file_chunk", "file_chunk", "file"]);
    f
}

async fn an_erased_chat_takes_its_files_and_refuses_late_chunks_and_its_export_holds_them(
    f: Fixture,
) -> Fixture {
    let store = f.store();
    let chat = chat();
    let status = ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(10, 1),
    };
    store
        .apply(Record::Chat(header(chat, status)), "primary")
        .await
        .unwrap();
    for record in [
        chunk(chat, 0, 1, CHUNK_BYTES),
        chunk(chat, 1, 2, 10),
        Record::File(stored(chat, 50)),
    ] {
        assert!(store.apply(record, "primary").await.unwrap().changed);
    }
    // The visitor's export holds the file, bytes and all.
    let export = crate::erasure::export(store, "demo", &Subject::Visitor(VisitorId(Ulid(5))))
        .await
        .unwrap();
    let files = &export.chats[0].files;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file, stored(chat, 50));
    let mut bytes = vec![1; CHUNK_BYTES as usize];
    bytes.extend([2; 10]);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&files[0].data)
            .unwrap(),
        bytes
    );
    erase(
        store,
        "primary",
        "demo",
        &Subject::Visitor(VisitorId(Ulid(5))),
        Reason::Request,
    )
    .await
    .unwrap();
    let (file, held, usage) = store
        .read(move |c| {
            let files = c.files();
            Ok((
                files.file(FILE)?,
                files.held_chunks(FILE)?,
                files.chat_usage(chat)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((file, held.len(), usage), (None, 0, (0, 0)));
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "redundant"))
        .await
        .unwrap();
    assert!(
        page.changes
            .iter()
            .all(|c| !c.record.kind().starts_with("file")),
        "{:?}",
        page.changes
            .iter()
            .map(|c| c.record.kind())
            .collect::<Vec<_>>()
    );
    // A chunk the erasure had not seen (the peer's, an upload resumed) is
    // refused, and so is the file's record.
    let late = store
        .apply(chunk(chat, 2, 3, 10), "redundant")
        .await
        .unwrap();
    assert_eq!(late.refused, Some(Refusal::Erased));
    let late = store
        .apply(Record::File(stored(chat, 70)), "redundant")
        .await
        .unwrap();
    assert_eq!(late.refused, Some(Refusal::Erased));
    f
}

/// A file's record applied as the primary's.
async fn file_apply(
    store: &crate::store::Store,
    file: StoredFile,
) -> crate::store::records::Applied {
    store.apply(Record::File(file), "primary").await.unwrap()
}
