//! The embedded Web PubSub hub over real sockets: handshake, tokens, server actions, client
//! requests, the reliable protocol and recovery, close actions.

mod support;

use std::time::Duration;

use cosmospark::devhost::webpubsub::{AccessKey, HubConfig, client_access};
use futures_util::SinkExt;
use serde_json::json;
use support::pubsub::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn subprotocol_is_echoed_and_connected_frame_describes_the_connection() {
    let t = start().await;
    for (protocol, reliable) in [(JSON, false), (RELIABLE, true)] {
        let (mut client, response) =
            connect(&t.url(&grant(Some("alice"), &[], &[])), Some(protocol))
                .await
                .unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            protocol,
            "subprotocol must be echoed"
        );
        let connected = client.next_json().await;
        assert_eq!(connected["type"], "system");
        assert_eq!(connected["event"], "connected");
        assert_eq!(connected["userId"], "alice");
        let id = connected["connectionId"].as_str().unwrap();
        assert!(t.hub.connections(HUB).iter().any(|c| c.connection_id == id));
        assert_eq!(
            connected.get("reconnectionToken").is_some(),
            reliable,
            "{connected}"
        );
    }
}

#[tokio::test]
async fn simple_client_gets_raw_payloads_and_no_system_frames() {
    let t = start().await;
    let (mut client, response) = connect(&t.url(&grant(Some("s"), &[], &["news"])), None)
        .await
        .unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    t.apply_json(
        json!({"actionName":"sendToGroup","group":"news","dataType":"json","data":"{\"a\":1}"}),
    );
    t.apply_json(json!({"actionName":"sendToUser","userId":"s","dataType":"text","data":"hi"}));
    t.apply_json(
        json!({"actionName":"sendToAll","dataType":"binary","data":{"type":"Buffer","data":[1,2]}}),
    );
    assert_eq!(client.next_message().await, Message::text(r#"{"a":1}"#));
    assert_eq!(client.next_message().await, Message::text("hi"));
    assert_eq!(client.next_message().await, Message::binary(vec![1u8, 2]));
}

#[tokio::test]
async fn unsupported_subprotocol_is_refused() {
    let t = start().await;
    let url = t.url(&grant(None, &[], &[]));
    assert_eq!(
        refusal_status(&url, Some("protobuf.webpubsub.azure.v1")).await,
        400
    );
}

#[tokio::test]
async fn tokens_with_bad_signature_wrong_audience_or_expiry_are_refused() {
    let t = start().await;
    let g = grant(Some("u"), &[], &[]);
    let hour = Duration::from_secs(3600);

    let forged = client_access(
        &t.base,
        &AccessKey::new("other-key").unwrap(),
        HUB,
        &g,
        hour,
    )
    .unwrap();
    assert_eq!(refusal_status(&forged.url, Some(JSON)).await, 401);

    // Signed for another hub, then presented here.
    let other_hub = t.hub.client_connection(&t.base, "other", &g, hour).unwrap();
    let url = format!(
        "{}/client/hubs/{HUB}?access_token={}",
        t.base.replace("http", "ws"),
        other_hub.access_token
    );
    assert_eq!(refusal_status(&url, Some(JSON)).await, 401);

    let expired = expired_token(&t.base, &g);
    let url = format!(
        "{}/client/hubs/{HUB}?access_token={expired}",
        t.base.replace("http", "ws")
    );
    assert_eq!(refusal_status(&url, Some(JSON)).await, 401);

    let missing = format!("{}/client/hubs/{HUB}", t.base.replace("http", "ws"));
    assert_eq!(refusal_status(&missing, Some(JSON)).await, 401);

    assert!(t.hub.connections(HUB).is_empty());
}

fn expired_token(base: &str, g: &cosmospark::devhost::webpubsub::ClientGrant) -> String {
    let claims = json!({
        "aud": format!("{base}/client/hubs/{HUB}"),
        "sub": g.user_id,
        "iat": 1_000_000_000u64,
        "exp": 1_000_000_060u64,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-key"),
    )
    .unwrap()
}

#[tokio::test]
async fn server_actions_reach_exactly_the_right_connections() {
    let t = start().await;
    let (mut a1, c) = t.client(&grant(Some("alice"), &[], &[]), JSON).await;
    let a1_id = c["connectionId"].as_str().unwrap().to_string();
    let (mut a2, _) = t.client(&grant(Some("alice"), &[], &[]), JSON).await;
    let (mut b, c) = t.client(&grant(Some("bob"), &[], &[]), JSON).await;
    let b_id = c["connectionId"].as_str().unwrap().to_string();

    // The derived output-binding fixture, as a function returns it.
    let delivered = t.apply_json(json!([
        {"actionName":"sendToAll","data":"{\"type\":\"leaderboard\",\"top\":[{\"user\":\"u-42\",\"points\":17}]}","dataType":"json"},
        {"actionName":"sendToUser","userId":"bob","data":"You scored a point","dataType":"text"},
        {"actionName":"addUserToGroup","userId":"bob","group":"tile-12"},
        {"actionName":"sendToGroup","group":"tile-12","data":"{\"type\":\"hello\"}","dataType":"json","excluded":[a1_id.clone()]}
    ]));
    assert_eq!(delivered, 3 + 1 + 1 + 1);
    let board = json!({"type":"leaderboard","top":[{"user":"u-42","points":17}]});
    assert_eq!(a1.drain_data().await, vec![board.clone()]);
    assert_eq!(a2.drain_data().await, vec![board.clone()]);
    let got = b.drain().await;
    assert_eq!(
        got[0],
        json!({"type":"message","from":"server","dataType":"json","data":board})
    );
    assert_eq!(
        got[1],
        json!({"type":"message","from":"server","dataType":"text","data":"You scored a point"})
    );
    assert_eq!(
        got[2],
        json!({"type":"message","from":"group","group":"tile-12","dataType":"json","data":{"type":"hello"}})
    );
    assert_eq!(got.len(), 3);

    t.apply_json(
        json!({"actionName":"sendToAll","data":"x","dataType":"text","excluded":[b_id.clone()]}),
    );
    t.apply_json(json!({"actionName":"sendToUser","userId":"alice","data":"u","dataType":"text"}));
    t.apply_json(json!({"actionName":"sendToConnection","connectionId":a1_id,"data":"AQI=","dataType":"binary"}));
    assert_eq!(
        a1.drain_data().await,
        vec![json!("x"), json!("u"), json!("AQI=")]
    );
    assert_eq!(a2.drain_data().await, vec![json!("x"), json!("u")]);
    assert!(b.drain().await.is_empty());

    t.apply_json(json!({"actionName":"addConnectionToGroup","connectionId":a1_id,"group":"g"}));
    t.apply_json(json!({"actionName":"addUserToGroup","userId":"bob","group":"g"}));
    t.apply_json(json!({"actionName":"sendToGroup","group":"g","data":"1","dataType":"text"}));
    t.apply_json(
        json!({"actionName":"removeConnectionFromGroup","connectionId":a1_id,"group":"g"}),
    );
    t.apply_json(json!({"actionName":"sendToGroup","group":"g","data":"2","dataType":"text"}));
    t.apply_json(json!({"actionName":"removeUserFromGroup","userId":"bob","group":"g"}));
    t.apply_json(json!({"actionName":"sendToGroup","group":"g","data":"3","dataType":"text"}));
    t.apply_json(json!({"actionName":"removeUserFromAllGroups","userId":"bob"}));
    t.apply_json(
        json!({"actionName":"sendToGroup","group":"tile-12","data":"4","dataType":"text"}),
    );
    assert_eq!(a1.drain_data().await, vec![json!("1")]);
    assert!(a2.drain().await.is_empty());
    assert_eq!(b.drain_data().await, vec![json!("1"), json!("2")]);
}

#[tokio::test]
async fn group_requests_are_acked_and_checked_against_roles() {
    let t = start().await;
    let roles = [
        "webpubsub.joinLeaveGroup.lobby",
        "webpubsub.sendToGroup.lobby",
    ];
    let (mut c, _) = t.client(&grant(Some("carol"), &roles, &[]), JSON).await;
    let (mut d, _) = t
        .client(
            &grant(Some("dave"), &["webpubsub.joinLeaveGroup"], &[]),
            JSON,
        )
        .await;

    c.send_json(json!({"type":"joinGroup","group":"lobby","ackId":1}))
        .await;
    assert_eq!(
        c.next_json().await,
        json!({"type":"ack","ackId":1,"success":true})
    );
    c.send_json(json!({"type":"joinGroup","group":"lobby","ackId":1}))
        .await;
    let dup = c.next_json().await;
    assert_eq!(dup["success"], false);
    assert_eq!(dup["error"]["name"], "Duplicate");
    c.send_json(json!({"type":"joinGroup","group":"vip","ackId":2}))
        .await;
    let denied = c.next_json().await;
    assert_eq!(
        (denied["ackId"].as_u64(), &denied["error"]["name"]),
        (Some(2), &json!("Forbidden"))
    );

    d.send_json(json!({"type":"joinGroup","group":"lobby","ackId":1}))
        .await;
    assert_eq!(d.next_json().await["success"], true);
    d.send_json(
        json!({"type":"sendToGroup","group":"lobby","ackId":2,"dataType":"text","data":"no"}),
    )
    .await;
    assert_eq!(d.next_json().await["error"]["name"], "Forbidden");

    c.send_json(
        json!({"type":"sendToGroup","group":"lobby","ackId":3,"dataType":"json","data":{"hi":1}}),
    )
    .await;
    let mut got = c.drain().await;
    got.sort_by_key(|v| v["type"].as_str().map(String::from));
    assert_eq!(got[0]["ackId"], 3);
    assert_eq!(
        got[1],
        json!({"type":"message","from":"group","group":"lobby","fromUserId":"carol","dataType":"json","data":{"hi":1}})
    );
    assert_eq!(d.drain().await, vec![got[1].clone()]);

    c.send_json(json!({"type":"sendToGroup","group":"lobby","noEcho":true,"dataType":"text","data":"quiet"})).await;
    assert!(c.drain().await.is_empty(), "noEcho must skip the sender");
    assert_eq!(d.drain_data().await, vec![json!("quiet")]);

    d.send_json(json!({"type":"leaveGroup","group":"lobby","ackId":3}))
        .await;
    assert_eq!(d.next_json().await["success"], true);
    c.send_json(
        json!({"type":"sendToGroup","group":"lobby","noEcho":true,"dataType":"text","data":"gone"}),
    )
    .await;
    c.drain().await;
    assert!(d.drain().await.is_empty());

    c.send_json(json!({"type":"event","event":"typing","ackId":9,"dataType":"text","data":"x"}))
        .await;
    assert_eq!(c.next_json().await["success"], true);
    c.send_json(json!({"type":"joinGroup","ackId":10})).await;
    let bad = c.next_json().await;
    assert_eq!(bad["error"]["name"], "BadRequest");
    assert!(bad["error"]["message"].as_str().unwrap().contains("group"));
}

#[tokio::test]
async fn token_groups_are_joined_and_permissions_can_be_granted_and_revoked() {
    let t = start().await;
    let (mut c, connected) = t.client(&grant(Some("erin"), &[], &["news"]), JSON).await;
    let id = connected["connectionId"].as_str().unwrap().to_string();
    assert_eq!(t.hub.connections(HUB)[0].groups, vec!["news"]);
    t.apply_json(json!({"actionName":"sendToGroup","group":"news","dataType":"text","data":"n"}));
    assert_eq!(c.drain_data().await, vec![json!("n")]);

    c.send_json(json!({"type":"joinGroup","group":"x","ackId":1}))
        .await;
    assert_eq!(c.next_json().await["error"]["name"], "Forbidden");
    t.apply_json(json!({"actionName":"grantPermission","connectionId":id,"permission":"joinLeaveGroup","targetName":"x"}));
    c.send_json(json!({"type":"joinGroup","group":"x","ackId":2}))
        .await;
    assert_eq!(c.next_json().await["success"], true);
    t.apply_json(json!({"actionName":"revokePermission","connectionId":id,"permission":"joinLeaveGroup","targetName":"x"}));
    c.send_json(json!({"type":"leaveGroup","group":"x","ackId":3}))
        .await;
    assert_eq!(c.next_json().await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn reliable_messages_carry_sequence_ids_until_acked() {
    let t = start().await;
    let (mut c, _) = t.client(&grant(Some("r"), &[], &[]), RELIABLE).await;
    for n in 0..3 {
        t.apply_json(
            json!({"actionName":"sendToUser","userId":"r","dataType":"text","data":n.to_string()}),
        );
    }
    let got = c.drain().await;
    let ids: Vec<_> = got
        .iter()
        .map(|m| m["sequenceId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(t.hub.connections(HUB)[0].unacked, 3);
    c.send_json(json!({"type":"sequenceAck","sequenceId":2}))
        .await;
    c.drain().await;
    assert_eq!(t.hub.connections(HUB)[0].unacked, 1);

    // The plain JSON protocol has no sequence ids and buffers nothing.
    let (mut p, _) = t.client(&grant(Some("p"), &[], &[]), JSON).await;
    t.apply_json(json!({"actionName":"sendToUser","userId":"p","dataType":"text","data":"x"}));
    let got = p.drain().await;
    assert!(got[0].get("sequenceId").is_none(), "{}", got[0]);
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let t = start().await;
    let (mut c, _) = t.client(&grant(None, &[], &[]), JSON).await;
    c.send_json(json!({"type":"ping"})).await;
    assert_eq!(c.next_json().await, json!({"type":"pong"}));
}

#[tokio::test]
async fn recovery_resends_unacked_messages_and_keeps_user_groups_and_sequence() {
    let t = start().await;
    let url = t.url(&grant(Some("rita"), &[], &["room"]));
    let (mut c, response) = connect(&url, Some(RELIABLE)).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], RELIABLE);
    let connected = c.next_json().await;
    let id = connected["connectionId"].as_str().unwrap().to_string();
    let token = connected["reconnectionToken"].as_str().unwrap().to_string();

    t.apply_json(
        json!({"actionName":"sendToGroup","group":"room","dataType":"text","data":"acked"}),
    );
    t.apply_json(
        json!({"actionName":"sendToGroup","group":"room","dataType":"text","data":"unacked"}),
    );
    c.send_json(json!({"type":"sequenceAck","sequenceId":1}))
        .await;
    assert_eq!(c.drain().await.len(), 2);

    assert!(t.hub.drop_connection(HUB, &id));
    let (_, close) = c.until_closed().await;
    assert!(close.is_none(), "a dropped socket sends no close frame");
    t.apply_json(
        json!({"actionName":"sendToGroup","group":"room","dataType":"text","data":"while down"}),
    );
    let snapshot = &t.hub.connections(HUB)[0];
    assert!(!snapshot.attached);

    let resume = format!("{url}&awps_connection_id={id}&awps_reconnection_token={token}");
    let (mut c, response) = connect(&resume, Some(RELIABLE)).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], RELIABLE);
    let got = c.drain().await;
    let seen: Vec<_> = got
        .iter()
        .map(|m| (m["sequenceId"].as_u64().unwrap(), m["data"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![(2, json!("unacked")), (3, json!("while down"))],
        "no connected frame, only unacked"
    );

    let snapshot = t.hub.connections(HUB);
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].connection_id, id);
    assert_eq!(snapshot[0].user_id.as_deref(), Some("rita"));
    assert_eq!(snapshot[0].groups, vec!["room"]);
    assert!(snapshot[0].attached);
    t.apply_json(
        json!({"actionName":"sendToUser","userId":"rita","dataType":"text","data":"after"}),
    );
    assert_eq!(c.drain().await[0]["sequenceId"], 4);
}

#[tokio::test]
async fn recovery_is_refused_with_1008_for_a_wrong_token_or_a_cleanly_closed_connection() {
    let t = start().await;
    let url = t.url(&grant(Some("v"), &[], &[]));
    let (mut c, connected) = t.client(&grant(Some("v"), &[], &[]), RELIABLE).await;
    let id = connected["connectionId"].as_str().unwrap().to_string();
    let token = connected["reconnectionToken"].as_str().unwrap().to_string();

    let wrong = format!("{url}&awps_connection_id={id}&awps_reconnection_token=nope");
    let (mut intruder, _) = connect(&wrong, Some(RELIABLE)).await.unwrap();
    let (frames, close) = intruder.until_closed().await;
    assert_eq!(frames[0]["event"], "disconnected");
    assert_eq!(close.unwrap().code, CloseCode::Policy);
    assert!(
        t.hub.connections(HUB)[0].attached,
        "the real connection is untouched"
    );

    c.ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    let (_, reply) = c.until_closed().await;
    assert_eq!(
        reply.unwrap().code,
        CloseCode::Normal,
        "the hub answers a close"
    );
    let mut cleared = false;
    for _ in 0..1000 {
        if t.hub.connections(HUB).is_empty() {
            cleared = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(cleared, "a clean close forgets the connection");
    let again = format!("{url}&awps_connection_id={id}&awps_reconnection_token={token}");
    let (mut late, _) = connect(&again, Some(RELIABLE)).await.unwrap();
    assert_eq!(late.until_closed().await.1.unwrap().code, CloseCode::Policy);
}

#[tokio::test]
async fn dropped_reliable_connection_is_forgotten_after_the_grace_period() {
    let t = start_with(HubConfig {
        recovery_grace: Duration::from_millis(50),
        ..HubConfig::default()
    })
    .await;
    let (_c, connected) = t.client(&grant(Some("g"), &[], &[]), RELIABLE).await;
    let id = connected["connectionId"].as_str().unwrap();
    t.hub.drop_connection(HUB, id);
    assert_eq!(t.hub.connections(HUB).len(), 1);
    let mut gone = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if t.hub.connections(HUB).is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone);
}

#[tokio::test]
async fn close_actions_send_disconnected_and_close_with_1008() {
    let t = start().await;
    let (mut a, ca) = t.client(&grant(Some("a"), &[], &["g"]), RELIABLE).await;
    let (mut b, cb) = t.client(&grant(Some("b"), &[], &["g"]), JSON).await;
    let (mut c, cc) = t.client(&grant(Some("c"), &[], &[]), JSON).await;
    let (a_id, b_id, c_id) = (
        ca["connectionId"].clone(),
        cb["connectionId"].clone(),
        cc["connectionId"].clone(),
    );

    assert_eq!(
        t.apply_json(
            json!({"actionName":"closeClientConnection","connectionId":c_id,"reason":"kicked"})
        ),
        1
    );
    let (frames, close) = c.until_closed().await;
    assert_eq!(
        frames,
        vec![json!({"type":"system","event":"disconnected","message":"kicked"})]
    );
    let close = close.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::Policy, "kicked")
    );

    assert_eq!(
        t.apply_json(json!({"actionName":"closeGroupConnections","group":"g","excluded":[b_id]})),
        1
    );
    assert_eq!(a.until_closed().await.1.unwrap().code, CloseCode::Policy);
    assert!(b.drain().await.is_empty());

    assert_eq!(t.apply_json(json!({"actionName":"closeAllConnections"})), 1);
    assert_eq!(b.until_closed().await.1.unwrap().code, CloseCode::Policy);
    assert!(t.hub.connections(HUB).is_empty());
    let _ = a_id;
}

#[tokio::test]
async fn reliable_client_that_never_acks_is_closed_once_its_buffer_is_full() {
    let t = start_with(HubConfig {
        max_buffered: 3,
        ..HubConfig::default()
    })
    .await;
    let (mut c, _) = t.client(&grant(Some("slow"), &[], &[]), RELIABLE).await;
    for n in 1..=4 {
        t.apply_json(json!({"actionName":"sendToUser","userId":"slow","dataType":"text","data":n.to_string()}));
    }
    let (frames, close) = c.until_closed().await;
    let data: Vec<_> = frames.iter().map(|f| f["data"].clone()).collect();
    assert_eq!(data[..4], [json!("1"), json!("2"), json!("3"), json!("4")]);
    assert_eq!(frames[4]["event"], "disconnected");
    assert_eq!(close.unwrap().code, CloseCode::Policy);
    assert!(t.hub.connections(HUB).is_empty());
}
