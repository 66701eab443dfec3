//! A visitor's rating through real relay processes: stored in the chat's
//! header and told to the chat's followers, a replay answered with what is
//! stored, refusals with their codes, and replication carrying it to the
//! other deployment.

use std::time::{Duration, Instant};
use twinline_core::protocol::{ClientFrame, ErrorCode, ServerFrame};
use twinline_core::rating::MAX_COMMENT_CHARS;
use twinline_core::{ChatId, Millis, Rating, RatingId, Score, Ulid};
use twinline_tests::client::{Operator, Visitor};
use twinline_tests::pair::Pair;
use twinline_tests::process::{RelayOptions, RelayProcess};

fn rate(chat: ChatId, id: RatingId, score: Score, comment: &str) -> ClientFrame {
    ClientFrame::Rate {
        chat,
        id,
        score,
        comment: comment.into(),
    }
}

async fn rating_frame(ws: &mut twinline_tests::client::WsClient, id: RatingId) -> Rating {
    match ws
        .recv_until(|f| matches!(f, ServerFrame::Rating { rating, .. } if rating.id == id))
        .await
    {
        ServerFrame::Rating { rating, .. } => rating,
        _ => unreachable!(),
    }
}

async fn error_code(ws: &mut twinline_tests::client::WsClient) -> ErrorCode {
    match ws
        .recv_until(|f| matches!(f, ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Error { code, .. } => code,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_rating_reaches_the_operator_a_replay_keeps_its_stamp_and_others_are_refused() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("Hello?").await;
    operator.accept(chat).await;
    visitor.ws.send(&ClientFrame::Close { chat }).await;
    operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { status, .. } if status.state == twinline_core::ChatState::Closed))
        .await;

    let first = RatingId::new(Millis(1), 1);
    visitor
        .ws
        .send(&rate(chat, first, Score::Bad, "<b>slow</b>"))
        .await;
    let stored = rating_frame(&mut visitor.ws, first).await;
    assert_eq!(
        (stored.score, stored.comment.as_str()),
        (Score::Bad, "<b>slow</b>")
    );
    assert_eq!(rating_frame(&mut operator.ws, first).await, stored);

    // The same id again (a replay after a reconnect) is what is stored.
    visitor
        .ws
        .send(&rate(chat, first, Score::Bad, "<b>slow</b>"))
        .await;
    assert_eq!(rating_frame(&mut visitor.ws, first).await, stored);

    // A later rating wins, under a later stamp.
    let second = RatingId::new(Millis(2), 2);
    visitor.ws.send(&rate(chat, second, Score::Good, "")).await;
    let later = rating_frame(&mut operator.ws, second).await;
    assert!(later.stamp > stored.stamp);

    // Refused: a comment past the limit, another chat, an operator.
    let long = "é".repeat(MAX_COMMENT_CHARS + 1);
    let third = RatingId::new(Millis(3), 3);
    visitor
        .ws
        .send(&rate(chat, third, Score::Good, &long))
        .await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::BadText);
    let other = ChatId(Ulid::new(Millis(5), 5));
    visitor.ws.send(&rate(other, third, Score::Good, "")).await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::Forbidden);
    operator.ws.send(&rate(chat, third, Score::Good, "")).await;
    assert_eq!(error_code(&mut operator.ws).await, ErrorCode::Forbidden);

    // A new connection's welcome carries the stored rating.
    let syncs = visitor.stored(&relay.ws_url()).await;
    assert_eq!(syncs[0].rating.as_deref(), Some(&later));
}

#[tokio::test]
async fn a_rating_given_on_one_deployment_is_in_the_others_welcome_under_the_same_stamp() {
    let pair = Pair::start(&[]);
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("Hello?").await;
    visitor.ws.send(&ClientFrame::Close { chat }).await;
    let id = RatingId::new(Millis(1), 9);
    visitor.ws.send(&rate(chat, id, Score::Good, "kind")).await;
    let stored = rating_frame(&mut visitor.ws, id).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let replicated = loop {
        let syncs = visitor.stored(&pair.redundant.ws_url()).await;
        if let Some(rating) = syncs.first().and_then(|s| s.rating.as_deref().cloned()) {
            break rating;
        }
        assert!(Instant::now() < deadline, "the rating did not replicate");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(replicated, stored, "replicated as stored, stamp and all");

    // The widget's replay to the redundant (it cannot know the rating
    // replicated) changes nothing there.
    let mut on_redundant =
        Visitor::resume(visitor.token.clone(), &pair.redundant.ws_url(), &[]).await;
    on_redundant
        .ws
        .send(&rate(chat, id, Score::Good, "kind"))
        .await;
    assert_eq!(rating_frame(&mut on_redundant.ws, id).await, stored);
}
