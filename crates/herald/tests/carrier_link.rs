//! The carrier supervisor against a real SMSC on loopback (Herald's own session engine in the SMSC
//! role): rebinding after a lost link, and stopping on refused credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herald::carrier::{Backoff, BindMode, BindState, CarrierLink, LinkConfig, SubmitError};
use herald_smpp::session::{Session, SessionConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn link_config(port: u16) -> LinkConfig {
    LinkConfig {
        name: "test".into(),
        host: "127.0.0.1".into(),
        port,
        system_id: "herald".into(),
        password: "secret".into(),
        system_type: "".into(),
        mode: BindMode::Transceiver,
        sessions: 1,
        session: SessionConfig::default(),
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        connect_timeout: Duration::from_secs(2),
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn supervisor_rebinds_after_the_carrier_drops_the_link() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let binds = Arc::new(AtomicUsize::new(0));
    let seen = binds.clone();
    tokio::spawn(async move {
        let mut kept = Vec::new();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let (session, _) =
                Session::accept(sock, "smsc", SessionConfig::default(), |_| async { Ok(()) })
                    .await
                    .unwrap();
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                // The first bind is cut at once, as a carrier restart would.
                session.handle.close();
            } else {
                kept.push(session);
            }
        }
    });
    let (tx, _rx) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let link = CarrierLink::start(link_config(port), tx, shutdown.clone());
    eventually("second bind", || {
        binds.load(Ordering::SeqCst) >= 2 && link.is_bound()
    })
    .await;
    let status = &link.stats().binds[0];
    assert_eq!(status.state, BindState::Bound);
    assert_eq!(status.reconnects, 1);
    shutdown.cancel();
    eventually("shut down", || {
        link.stats().binds[0].state == BindState::ShutDown
    })
    .await;
}

#[tokio::test]
async fn supervisor_stops_for_good_when_credentials_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = Session::accept(sock, "smsc", SessionConfig::default(), |_| async {
                Err(0x0E)
            })
            .await;
        }
    });
    let (tx, _rx) = mpsc::channel(8);
    let link = CarrierLink::start(link_config(port), tx, CancellationToken::new());
    eventually("stopped", || {
        link.stats().binds[0].state == BindState::Stopped
    })
    .await;
    assert!(
        link.stats().binds[0]
            .last_error
            .as_ref()
            .unwrap()
            .message
            .contains("credentials")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "no retry after a credential error"
    );
    let err = link.submit(Default::default()).await.unwrap_err();
    assert_eq!(err, SubmitError::NotBound("test".into()));
    assert!(!err.outcome_unknown());
}

#[tokio::test]
async fn supervisor_keeps_retrying_an_unreachable_carrier_with_backoff() {
    // Reserve a port, then close it so connects are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (tx, _rx) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let link = CarrierLink::start(link_config(port), tx, shutdown.clone());
    eventually("a failed attempt", || {
        link.stats().binds[0].last_error.is_some()
    })
    .await;
    assert!(!link.is_bound());
    // Now the carrier comes up on that port: the supervisor finds it.
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (session, _) =
            Session::accept(sock, "smsc", SessionConfig::default(), |_| async { Ok(()) })
                .await
                .unwrap();
        session.handle.closed().await;
    });
    eventually("bound once the carrier is up", || link.is_bound()).await;
    shutdown.cancel();
}

#[tokio::test]
async fn carrier_stats_count_submits_and_receipts_and_say_since_when_a_bind_is_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sim = herald::simulator::SimConfig {
        system_id: "herald".into(),
        password: None,
        receipt_delay: Duration::from_millis(10),
        ..Default::default()
    };
    let stop_sim = CancellationToken::new();
    tokio::spawn(herald::simulator::serve(listener, sim, stop_sim.clone()));
    let (tx, mut rx) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let before = herald::clock::now_millis();
    let link = CarrierLink::start(link_config(port), tx, shutdown.clone());
    tokio::time::timeout(Duration::from_secs(5), link.wait_bound())
        .await
        .unwrap();
    let stats = link.stats();
    assert_eq!(stats.name, "test");
    assert!(stats.is_up());
    let bind = &stats.binds[0];
    assert_eq!(bind.state, BindState::Bound);
    assert!(bind.since >= before, "since {} before {before}", bind.since);
    assert_eq!((bind.window_in_use, bind.window_size), (0, 10));
    assert_eq!((bind.submits, bind.receipts, bind.reconnects), (0, 0, 0));

    for n in 0..3 {
        // Numbers the simulated carrier delivers at once.
        let destination = format!("3725550001{n}");
        let pdu = herald_smpp::pdu::submit_sm(&herald_smpp::pdu::Submit {
            source: "Herald",
            destination: &destination,
            data_coding: 0,
            esm_class: 0,
            short_message: b"hello",
            registered_delivery: 1,
            validity_period: None,
        })
        .unwrap();
        link.submit(pdu).await.unwrap();
    }
    // Receipts are counted as they arrive, before anyone answers them.
    for _ in 0..3 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(delivery.carrier, "test");
        delivery
            .incoming
            .responder
            .ok(rusmpp::Pdu::DeliverSmResp(Default::default()));
    }
    let stats = link.stats();
    assert_eq!((stats.submits(), stats.receipts()), (3, 3));
    assert_eq!(stats.binds[0].window_in_use, 0, "every submit was answered");

    shutdown.cancel();
    eventually("shut down", || {
        link.stats().binds[0].state == BindState::ShutDown
    })
    .await;
    assert!(!link.stats().is_up());
    stop_sim.cancel();
}

/// With several sessions, each is a bind of its own, and submits go to the one with the most room
/// in its window: six submits over three sessions of window 2 fill every window, and with one
/// session gone the others take everything.
#[tokio::test]
async fn submits_spread_over_the_sessions_by_free_window() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // The SMSC holds every submit_sm until `release`, counting them per connection.
    let release = Arc::new(tokio::sync::Notify::new());
    let per_bind: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
    let handles: Arc<std::sync::Mutex<Vec<herald_smpp::session::SessionHandle>>> = Arc::default();
    let (release2, per_bind2, handles2) = (release.clone(), per_bind.clone(), handles.clone());
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            // Three binds; the one that comes back after being dropped is refused for good, so
            // the test knows where every submit can go.
            let refuse = per_bind2.lock().unwrap().len() >= 3;
            let accepted =
                Session::accept(sock, "smsc", SessionConfig::default(), |_| async move {
                    if refuse { Err(0x0E) } else { Ok(()) }
                })
                .await;
            let Ok((mut session, _)) = accepted else {
                continue;
            };
            let index = {
                let mut counts = per_bind2.lock().unwrap();
                counts.push(0);
                counts.len() - 1
            };
            handles2.lock().unwrap().push(session.handle.clone());
            let (release, per_bind) = (release2.clone(), per_bind2.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(incoming) = session.incoming.recv().await {
                    per_bind.lock().unwrap()[index] += 1;
                    n += 1;
                    let release = release.clone();
                    let id = format!("b{index}m{n}");
                    tokio::spawn(async move {
                        release.notified().await;
                        incoming.responder.ok(rusmpp::pdus::SubmitSmResp::new(
                            id.parse().unwrap(),
                            Vec::new(),
                        ));
                    });
                }
            });
        }
    });
    let mut cfg = link_config(port);
    cfg.sessions = 3;
    cfg.session.window = 2;
    let (tx, _rx) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let link = CarrierLink::start(cfg, tx, shutdown.clone());
    assert_eq!(link.window(), 6, "the windows of every session");
    eventually("three binds up", || {
        link.stats()
            .binds
            .iter()
            .all(|b| b.state == BindState::Bound)
    })
    .await;
    let sessions: Vec<usize> = link.stats().binds.iter().map(|b| b.session).collect();
    assert_eq!(sessions, [1, 2, 3]);

    let submit = |link: CarrierLink| async move { link.submit(Default::default()).await };
    let pending: Vec<_> = (0..6).map(|_| tokio::spawn(submit(link.clone()))).collect();
    eventually("six submits at the SMSC", || {
        per_bind.lock().unwrap().iter().sum::<usize>() == 6
    })
    .await;
    assert_eq!(*per_bind.lock().unwrap(), [2, 2, 2]);
    let in_use: Vec<usize> = link.stats().binds.iter().map(|b| b.window_in_use).collect();
    assert_eq!(in_use, [2, 2, 2]);
    answer_all(&release, pending).await;

    // The SMSC drops one session (and refuses it when it comes back): the other two take every
    // submit.
    handles.lock().unwrap()[0].close();
    eventually("that session stopped", || {
        link.stats()
            .binds
            .iter()
            .any(|b| b.state == BindState::Stopped)
    })
    .await;
    let before = per_bind.lock().unwrap().clone();
    let pending: Vec<_> = (0..4).map(|_| tokio::spawn(submit(link.clone()))).collect();
    eventually("four more submits at the SMSC", || {
        per_bind.lock().unwrap().iter().sum::<usize>() == 10
    })
    .await;
    let after = per_bind.lock().unwrap().clone();
    assert_eq!(after[0], before[0], "nothing on the dropped session");
    assert_eq!(after.len(), 3, "no fourth bind");
    assert_eq!((after[1] - before[1], after[2] - before[2]), (2, 2));
    answer_all(&release, pending).await;
    shutdown.cancel();
}

/// Has the SMSC answer the submits held back until each of `pending` has its response.
async fn answer_all(
    release: &tokio::sync::Notify,
    pending: Vec<tokio::task::JoinHandle<Result<rusmpp::Command, SubmitError>>>,
) {
    for submit in pending {
        // An answer task may start waiting after a wake-up went out: wake again until done.
        while !submit.is_finished() {
            release.notify_waiters();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        submit.await.unwrap().unwrap();
    }
}
