//! The `/v1` JSON API over real HTTP against a whole Herald (its own SQLite file, the simulated
//! carrier on loopback): omnimessages, the blacklist, the message resource API, the OpenAPI
//! document, and the documented error shape for every way a request can fail.

mod support;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ALICE, BOB, CallbackReceiver, PATIENCE, TestApp, Via, eventually, spawn_app};

/// A `/v1` client: HTTP Basic, JSON in and out.
struct V1 {
    base: String,
    client: reqwest::Client,
}

/// One answer: status, Content-Type and the body as JSON (Null when empty).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

impl V1 {
    fn new(app: &TestApp) -> Self {
        Self {
            base: app.api.base.clone(),
            client: reqwest::Client::new(),
        }
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("Herald answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        account: (&str, &str),
        body: Option<Value>,
    ) -> Answer {
        let (content_type, bytes) = match body {
            Some(b) => (Some("application/json"), b.to_string().into_bytes()),
            None => (None, Vec::new()),
        };
        self.raw(method, path, Some(basic(account)), content_type, bytes)
            .await
    }

    async fn post_omnimessage(&self, body: Value) -> Answer {
        self.raw(
            Method::POST,
            "/v1/omnimessage",
            Some(basic(ALICE)),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

fn basic((user, password): (&str, &str)) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn sms(to: &str, text: &str) -> Value {
    json!({ "to": to, "messages": [ { "channel": "sms", "text": text, "sender": "Herald" } ] })
}

/// Asserts the documented error shape and returns (code, source) of the first error.
fn error_of(answer: &Answer, status: u16) -> (String, Option<String>) {
    assert_eq!(answer.status.as_u16(), status, "{answer:?}");
    assert!(
        answer.content_type.starts_with("application/json"),
        "{answer:?}"
    );
    let errors = answer.body["errors"].as_array().expect("an errors array");
    assert!(!errors.is_empty(), "{answer:?}");
    for error in errors {
        let item = error.as_object().expect("an error object");
        let mut keys: Vec<_> = item.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "detail", "source", "title"], "{answer:?}");
        assert!(item["title"].is_string() && item["detail"].is_string());
        assert!(item["source"].is_string() || item["source"].is_null());
    }
    (
        errors[0]["code"]
            .as_str()
            .expect("a string code")
            .to_owned(),
        errors[0]["source"].as_str().map(str::to_owned),
    )
}

fn problem(code: &str, source: Option<&str>) -> (String, Option<String>) {
    (code.to_owned(), source.map(str::to_owned))
}

#[tokio::test]
async fn an_omnimessage_is_accepted_and_its_status_follows_the_carrier_to_delivery() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let mut body = sms("+37255500000", "Hello from /v1");
    body["priority"] = json!("high");
    let created = v1.post_omnimessage(body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let omni = created.body["omnimessage_id"].as_str().unwrap().to_owned();
    assert_eq!(omni.len(), 36, "UUID form");
    assert_eq!(created.body["to"], "+37255500000");
    assert_eq!(created.body["messages"][0]["channel"], "sms");
    assert_eq!(created.body["messages"][0]["sender"], "Herald");
    assert_eq!(created.body["messages"][0]["message_id"], omni.as_str());

    // Durable before the answer, marked for JSON webhooks, with its priority.
    let id = herald::domain::MessageId::parse(&omni.replace('-', "")).unwrap();
    let view = app.store().message(&id).await.unwrap().expect("stored");
    assert_eq!(view.callback_format, herald::store::CallbackFormat::Json);
    assert_eq!(view.omnimessage_id.as_deref(), Some(omni.as_str()));
    assert_eq!(view.priority, herald::store::Priority::High);

    let path = format!("/v1/omnimessage/{omni}/status");
    let delivered = eventually(PATIENCE, "the status to read DELIVRD", || async {
        let answer = v1.call(Method::GET, &path, ALICE, None).await;
        (answer.body["statuses"][0]["status"] == "DELIVRD").then_some(answer)
    })
    .await;
    assert_eq!(delivered.status, StatusCode::OK);
    assert_eq!(delivered.body["omnimessage_id"], omni.as_str());
    assert_eq!(delivered.body["to"], "+37255500000");
    let status = &delivered.body["statuses"][0];
    assert_eq!(status["channel"], "sms");
    assert_eq!(status["err"], 0);
    assert_eq!(status["error"], Value::Null);
    assert!(status["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        status["price_info"],
        json!({ "part_price": "0.05", "parts_count": 1, "total_price": "0.05" })
    );

    // Another account cannot see it.
    let hidden = v1.call(Method::GET, &path, BOB, None).await;
    assert_eq!(error_of(&hidden, 404).0, "101");
    app.shutdown().await;
}

#[tokio::test]
async fn a_rule_refusing_the_message_is_a_rejected_status_not_an_api_error() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    // No route serves +1: err 005, as the plain-text API reports it.
    let created = v1.post_omnimessage(sms("+15555550100", "hi")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let omni = created.body["omnimessage_id"].as_str().unwrap();
    let answer = v1
        .call(
            Method::GET,
            &format!("/v1/omnimessage/{omni}/status"),
            ALICE,
            None,
        )
        .await;
    let status = &answer.body["statuses"][0];
    assert_eq!(status["status"], "REJECTD");
    assert_eq!(status["err"], 5);
    assert!(status["error"].as_str().unwrap().contains("destination"));
    assert!(
        status.get("price_info").is_none(),
        "a Rejected message costs nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn every_failure_answers_the_documented_error_shape_and_code() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let post = |body: Vec<u8>, ct: Option<&'static str>| {
        v1.raw(
            Method::POST,
            "/v1/omnimessage",
            Some(basic(ALICE)),
            ct,
            body,
        )
    };
    let as_json = Some("application/json");
    let body = |v: Value| v.to_string().into_bytes();

    let bad_json = post(b"{\"to\": ".to_vec(), as_json).await;
    assert_eq!(error_of(&bad_json, 400), problem("105", Some("payload")));

    let wrong_type = post(body(sms("+37255500000", "x")), Some("text/plain")).await;
    assert_eq!(error_of(&wrong_type, 415).0, "105");
    let untyped = post(body(sms("+37255500000", "x")), None).await;
    assert_eq!(error_of(&untyped, 415).0, "105");

    // Bodies that parse as JSON but are wrong in one field: the code, and the field `source` names.
    let to = "+37255500000";
    let field_cases = [
        (
            json!({ "messages": [ { "text": "x" } ] }),
            "106",
            "payload[to]",
        ),
        (
            json!({ "to": to, "messages": [ { "channel": "sms" } ] }),
            "106",
            "payload[messages][0][text]",
        ),
        (
            json!({ "to": to, "messages": [ { "text": "x", "validity": "soon" } ] }),
            "105",
            "payload[messages][0][validity]",
        ),
        (
            json!({ "to": to, "priority": "urgent", "messages": [ { "text": "x" } ] }),
            "105",
            "payload[priority]",
        ),
        (
            json!({ "to": to, "messages": [ { "channel": "viber", "text": "x" } ] }),
            "105",
            "payload[messages][0][channel]",
        ),
        (
            json!({ "to": to, "time_to_send": "tomorrow", "messages": [ { "text": "x" } ] }),
            "105",
            "payload[time_to_send]",
        ),
    ];
    for (request, code, source) in field_cases {
        let answer = post(body(request.clone()), as_json).await;
        assert_eq!(
            error_of(&answer, 400),
            problem(code, Some(source)),
            "for {request}"
        );
    }
    // Another channel is refused by name, so the client knows which.
    let viber = post(
        body(json!({ "to": to, "messages": [ { "channel": "viber", "text": "x" } ] })),
        as_json,
    )
    .await;
    assert!(
        viber.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("viber")
    );

    let too_big = post(vec![b' '; 2 * 1024 * 1024], as_json).await;
    assert_eq!(error_of(&too_big, 413).0, "105");

    let bad_number = v1
        .call(
            Method::POST,
            "/v1/phonebook/blacklist",
            ALICE,
            Some(json!({ "phoneNumber": "not a number" })),
        )
        .await;
    assert_eq!(
        error_of(&bad_number, 400),
        problem("201", Some("payload[phoneNumber]")),
        "the phonebook answers in its own dialect of codes"
    );

    let unknown_id = v1
        .call(
            Method::GET,
            "/v1/omnimessage/00000000-0000-0000-0000-000000000000/status",
            ALICE,
            None,
        )
        .await;
    assert_eq!(error_of(&unknown_id, 404), problem("101", None));

    let wrong_password = v1
        .call(Method::GET, "/v1/messages", (ALICE.0, "wrong"), None)
        .await;
    assert_eq!(error_of(&wrong_password, 401), problem("103", None));
    let anonymous = v1
        .raw(Method::GET, "/v1/messages", None, None, Vec::new())
        .await;
    assert_eq!(error_of(&anonymous, 401), problem("103", None));

    let wrong_method = v1
        .call(
            Method::PUT,
            "/v1/omnimessage",
            ALICE,
            Some(sms("+37255500000", "x")),
        )
        .await;
    assert_eq!(error_of(&wrong_method, 405), problem("107", None));
    let wrong_method = v1.call(Method::GET, "/v1/omnimessages", ALICE, None).await;
    assert_eq!(error_of(&wrong_method, 405).0, "107");

    let nowhere = v1.call(Method::GET, "/v1/nowhere", ALICE, None).await;
    assert_eq!(error_of(&nowhere, 404).0, "101");

    let bad_filter = v1
        .call(Method::GET, "/v1/messages?status=lost", ALICE, None)
        .await;
    assert_eq!(
        error_of(&bad_filter, 400),
        problem("105", Some("query[status]"))
    );

    // None of these left a message behind.
    let listed = v1.call(Method::GET, "/v1/messages", ALICE, None).await;
    assert_eq!(listed.body["messages"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn a_bulk_request_accepts_or_refuses_each_omnimessage_on_its_own() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let body = json!({ "messages": [
        sms("+37255500000", "first"),
        { "to": "+37255500000", "messages": [ { "channel": "whatsapp", "text": "x" } ] },
        sms("+4477009000000", "third"),
        { "to": "+37255500000" },
    ] });
    let answer = v1
        .call(Method::POST, "/v1/omnimessages", ALICE, Some(body))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    let items = answer.body["messages"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items[0]["omnimessage_id"].is_string());
    assert_eq!(
        items[1]["errors"][0]["source"],
        "payload[messages][1][messages][0][channel]"
    );
    assert_eq!(items[2]["to"], "+4477009000000");
    assert_eq!(items[3]["errors"][0]["code"], "106");
    assert_eq!(
        items[3]["errors"][0]["source"],
        "payload[messages][3][messages]"
    );

    let listed = v1.call(Method::GET, "/v1/messages", ALICE, None).await;
    let mut texts: Vec<_> = listed.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        ["first", "third"],
        "only the two accepted are stored"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn only_a_scheduled_omnimessage_can_be_deleted() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let mut later = sms("+37255500000", "later");
    later["time_to_send"] = json!("2099-01-01T00:00:00Z");
    let scheduled = v1.post_omnimessage(later).await;
    let omni = scheduled.body["omnimessage_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let by_bob = v1
        .call(
            Method::DELETE,
            &format!("/v1/omnimessage/{omni}"),
            BOB,
            None,
        )
        .await;
    assert_eq!(error_of(&by_bob, 404).0, "101");
    let deleted = v1
        .call(
            Method::DELETE,
            &format!("/v1/omnimessage/{omni}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{deleted:?}");
    let status = v1
        .call(
            Method::GET,
            &format!("/v1/omnimessage/{omni}/status"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(status.body["statuses"][0]["status"], "DELETED");
    let again = v1
        .call(
            Method::DELETE,
            &format!("/v1/omnimessage/{omni}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(error_of(&again, 404).0, "101");

    // Sent at once: not scheduled, so not deletable.
    let now = v1.post_omnimessage(sms("+37255500000", "now")).await;
    let omni = now.body["omnimessage_id"].as_str().unwrap();
    let refused = v1
        .call(
            Method::DELETE,
            &format!("/v1/omnimessage/{omni}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(error_of(&refused, 404).0, "101");
    app.shutdown().await;
}

#[tokio::test]
async fn the_blacklist_is_added_to_listed_checked_and_removed_and_refuses_messages_with_008() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let add = |n: &'static str| {
        v1.call(
            Method::POST,
            "/v1/phonebook/blacklist",
            ALICE,
            Some(json!({ "phoneNumber": n })),
        )
    };
    assert_eq!(add("+37255500077").await.status, StatusCode::NO_CONTENT);
    let repeat = add("+372 5550 0077").await;
    assert_eq!(error_of(&repeat, 409).0, "204");

    let listed = v1
        .call(Method::GET, "/v1/phonebook/blacklist", ALICE, None)
        .await;
    assert_eq!(listed.body, json!({ "phoneNumbers": ["+37255500077"] }));
    let bobs = v1
        .call(Method::GET, "/v1/phonebook/blacklist", BOB, None)
        .await;
    assert_eq!(bobs.body, json!({ "phoneNumbers": [] }));
    let check = v1
        .call(
            Method::GET,
            "/v1/phonebook/blacklist/%2B37255500077",
            ALICE,
            None,
        )
        .await;
    assert_eq!(check.status, StatusCode::NO_CONTENT);

    let refused = v1.post_omnimessage(sms("+37255500077", "hi")).await;
    let omni = refused.body["omnimessage_id"].as_str().unwrap();
    let status = v1
        .call(
            Method::GET,
            &format!("/v1/omnimessage/{omni}/status"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(status.body["statuses"][0]["err"], 8);

    let removed = v1
        .call(
            Method::DELETE,
            "/v1/phonebook/blacklist/+37255500077",
            ALICE,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = v1
        .call(
            Method::GET,
            "/v1/phonebook/blacklist/+37255500077",
            ALICE,
            None,
        )
        .await;
    assert_eq!(error_of(&gone, 404).0, "203");
    let again = v1
        .call(
            Method::DELETE,
            "/v1/phonebook/blacklist/+37255500077",
            ALICE,
            None,
        )
        .await;
    assert_eq!(error_of(&again, 404).0, "203");
    app.shutdown().await;
}

#[tokio::test]
async fn messages_are_listed_by_filter_and_page_and_one_shows_its_whole_history() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let receiver = CallbackReceiver::start().await;
    // One through the plain-text API, followed to its final callback.
    let dlr = receiver.url("/dlr");
    let plain_id = app
        .api
        .send_ok(
            ALICE,
            Via::Post,
            &[("to", "37255500000"), ("text", "plain"), ("dlr-url", &dlr)],
        )
        .await;
    app.wait_settled(&plain_id, PATIENCE).await;
    for text in ["a", "b", "c"] {
        let created = v1.post_omnimessage(sms("+4477009000001", text)).await;
        assert_eq!(created.status, StatusCode::CREATED);
    }

    // Pages of two, newest first, every message once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/messages?limit=2&cursor={c}"),
            None => "/v1/messages?limit=2".to_owned(),
        };
        let page = v1.call(Method::GET, &path, ALICE, None).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        for m in page.body["messages"].as_array().unwrap() {
            seen.push(m["text"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["c", "b", "a", "plain"]);

    let by_destination = v1
        .call(
            Method::GET,
            "/v1/messages?destination=%2B37255500000",
            ALICE,
            None,
        )
        .await;
    assert_eq!(by_destination.body["messages"].as_array().unwrap().len(), 1);
    let delivered = v1
        .call(
            Method::GET,
            "/v1/messages?status=delivered&err=000",
            ALICE,
            None,
        )
        .await;
    let delivered = delivered.body["messages"].as_array().unwrap().clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["id"], plain_id.as_str());
    assert_eq!(delivered[0]["report"]["stat"], "DELIVRD");
    let future = v1
        .call(
            Method::GET,
            "/v1/messages?since=2099-01-01T00:00:00Z",
            ALICE,
            None,
        )
        .await;
    assert_eq!(future.body["messages"], json!([]));
    let bobs = v1.call(Method::GET, "/v1/messages", BOB, None).await;
    assert_eq!(bobs.body["messages"], json!([]));

    // The plain-text message's whole history: accepted, the submit with the carrier's id, the
    // raw receipt, and each callback with the receiver's answer.
    let detail = v1
        .call(
            Method::GET,
            &format!("/v1/messages/{plain_id}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{detail:?}");
    assert_eq!(detail.body["status"], "delivered");
    let history = detail.body["history"].as_array().unwrap();
    let of = |kind: &'static str| history.iter().filter(move |e| e["kind"] == kind);
    assert_eq!(of("accepted").count(), 1);
    let submit = of("submit").next().expect("a submit");
    assert_eq!(submit["segment"], 0);
    assert_eq!(submit["detail"]["outcome"], "accepted");
    assert!(submit["detail"]["carrier_message_id"].is_string());
    let receipt = of("receipt").next().expect("a receipt");
    assert!(
        receipt["detail"]["raw_text"]
            .as_str()
            .unwrap()
            .contains("stat:DELIVRD")
    );
    assert!(receipt["detail"]["tlvs"].is_array());
    let callbacks: Vec<_> = of("callback").collect();
    assert_eq!(callbacks.len(), 2, "SENT and DELIVERED");
    assert!(callbacks.iter().all(|c| c["detail"]["http_status"] == 200));
    // The same message by its UUID form, and not for another account.
    let uuid = detail.body["message_id"].as_str().unwrap();
    let by_uuid = v1
        .call(Method::GET, &format!("/v1/messages/{uuid}"), ALICE, None)
        .await;
    assert_eq!(by_uuid.body["id"], plain_id.as_str());
    let hidden = v1
        .call(Method::GET, &format!("/v1/messages/{plain_id}"), BOB, None)
        .await;
    assert_eq!(error_of(&hidden, 404).0, "101");
    app.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_as_kept_in_the_repository() {
    let app = spawn_app(|_| {}).await;
    let v1 = V1::new(&app);
    let served = v1
        .raw(Method::GET, "/v1/openapi.json", None, None, Vec::new())
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.content_type.starts_with("application/json"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(served.body, kept);
    app.shutdown().await;
}

#[test]
fn the_openapi_document_is_valid_openapi_to_an_independent_validator() {
    // PyPI `openapi-spec-validator` (pinned in tests/peers/requirements.txt) checks the document
    // against the OpenAPI 3.1 schema; the route test above only compares paths and methods.
    let python =
        support::peers::python_importing("openapi_spec_validator", "openapi-spec-validator");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let out = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator", path])
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "docs/openapi.json is not valid OpenAPI:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
