//! History for the charts (issue 6) over real HTTP: samples stored as the writer stores them,
//! rolled up by the job, read through `/api/v1/servers/{id}/series` by the same router as `serve`.

mod web;

use centinela_collector::auth::Role;
use centinela_collector::store::rollup::{self, Job, Retention};
use centinela_shared::*;
use rusqlite::params;
use web::Server;

fn temperature(celsius: f32) -> Reading {
    Reading::TemperatureV1(TemperatureV1 {
        chip: "coretemp".into(),
        device: "platform/coretemp.0".into(),
        label: "Package id 0".into(),
        celsius: Some(celsius),
        max: None,
        crit: None,
        alarm: false,
        verdict: Verdict::ok(),
    })
}

fn filesystem(used: u64) -> Reading {
    Reading::FilesystemV1(FilesystemV1 {
        mount_point: "/var".into(),
        device: "/dev/md0".into(),
        fs_type: "ext4".into(),
        total_bytes: 1000,
        available_bytes: 1000 - used,
        read_only: false,
    })
}

/// Stores samples of `pbx-01` as the writer does (table `samples`, counters in `servers`).
fn store(conn: &rusqlite::Connection, samples: &[(u64, i64, Vec<Reading>)]) {
    for (seq, at_ms, readings) in samples {
        let payload = encode_envelope(&Envelope {
            v: WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: *seq,
            taken_ms: *at_ms,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 30_000,
                outbox: OutboxStats::default(),
                probes: vec![],
                readings: readings.clone(),
            }),
        });
        conn.execute(
            "INSERT INTO servers (agent_id, first_seen, status_since) VALUES ('pbx-01', ?1, ?1) ON CONFLICT DO NOTHING",
            [at_ms],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload)
             VALUES ((SELECT id FROM servers WHERE agent_id = 'pbx-01'), ?1, ?2, ?2, ?3)",
            params![*seq as i64, at_ms, payload],
        )
        .unwrap();
        conn.execute(
            "UPDATE servers SET last_seq = max(last_seq, ?1), samples = samples + 1, last_seen = ?2
             WHERE agent_id = 'pbx-01'",
            params![*seq as i64, at_ms],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn the_series_api_needs_credentials_and_returns_the_rolled_up_history() {
    let s = Server::start().await;
    let now = chrono::Utc::now().timestamp_millis();
    // Two hours ago, one 5-minute bucket with temperatures 1..=5 and /var filling up.
    let b = rollup::bucket_start(now - 2 * 3_600_000, rollup::FIVE_MINUTES_S) * 1000;
    let mut conn = centinela_collector::store::open_writer(s.dir.path()).unwrap();
    let samples: Vec<(u64, i64, Vec<Reading>)> =
        (1..=5u64).map(|i| (i, b + i as i64 * 30_000, vec![temperature(i as f32), filesystem(400 + i * 10)])).collect();
    store(&conn, &samples);
    assert_eq!(Job::new(Retention::default()).roll_chunk(&mut conn, now, 2_000).unwrap(), 5);

    for path in ["/api/v1/servers/pbx-01/series", "/api/v1/servers/pbx-01/series?metric=temperature&range=24h"] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, 401, "{path}");
        assert!(r.body.contains("Authorization: Bearer"), "{}", r.body);
    }

    let otp = s.add_user("ana", Role::Tecnico).await;
    let cookie = s.login_changed("ana", &otp).await;

    let r = s.get("/api/v1/servers/pbx-01/series", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let metrics: Vec<&str> =
        list["metrics"].as_array().unwrap().iter().map(|m| m["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics, ["temperature", "fs_used_percent", "fs_free_bytes", "outbox_backlog"]);
    assert_eq!(list["metrics"][0]["subjects"][0], "coretemp.0: Package id 0");
    assert_eq!(list["metrics"][0]["title"], "Temperatura");

    let r = s.get("/api/v1/servers/pbx-01/series?metric=temperature&range=24h", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!((v["range"].as_str(), v["step_s"].as_i64()), (Some("24h"), Some(300)));
    assert_eq!(v["series"][0]["subject"], "coretemp.0: Package id 0");
    assert_eq!(v["series"][0]["unit"], "°C");
    assert_eq!(v["series"][0]["points"], serde_json::json!([[b, 1.0, 5.0, 3.0]]));

    // A year reads 6-hour buckets; filesystem usage carries its trend (one bucket: no trend yet).
    let r = s.get("/api/v1/servers/pbx-01/series?metric=fs_used_percent,temperature&range=1y", Some(&cookie)).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["step_s"], 21600);
    assert_eq!(v["series"][0]["metric"], "fs_used_percent");
    assert_eq!(v["series"][0]["points"][0][2], 45.0);
    assert_eq!(v["series"][1]["points"][0][3], 3.0);

    // A bearer token works as well; mistakes are answered in JSON and name what is wrong.
    let r = s.get("/api/v1/servers/pbx-01/series?metric=temperature&range=2y", Some(&cookie)).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("`range` must be one of 6h, 24h, 7d, 30d, 1y"), "{}", r.body);
    let r = s.get("/api/v1/servers/pbx-01/series?metric=temperatura", Some(&cookie)).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("unknown metric \\\"temperatura\\\""), "{}", r.body);
    let r = s.get("/api/v1/servers/pbx-99/series?metric=temperature", Some(&cookie)).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_server_page_has_the_charts_and_their_assets_are_served_with_their_types() {
    let s = Server::start().await;
    let conn = centinela_collector::store::open_writer(s.dir.path()).unwrap();
    store(&conn, &[(1, chrono::Utc::now().timestamp_millis(), vec![temperature(40.0)])]);
    let otp = s.add_user("ana", Role::Tecnico).await;
    let cookie = s.login_changed("ana", &otp).await;
    let page = s.get("/server/pbx-01", Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<section class="charts" id="historial" data-server="pbx-01""#), "{}", page.body);
    for chart in
        ["temperaturas", "ventiladores", "sistemas-de-archivos", "llamadas", "colas", "troncales", "cdr", "smart"]
    {
        assert!(page.body.contains(&format!(r#"id="grafico-{chart}""#)), "{chart}");
    }
    let charts = page.body.find(r#"class="charts""#).unwrap();
    let registro = page.body.find("Registro en el colector").unwrap();
    assert!(charts < registro, "the charts come just before the collector's record");

    for (path, kind) in [
        ("/static/charts.js", "text/javascript"),
        ("/static/vendor/uplot-1.6.32/uPlot.iife.min.js", "text/javascript"),
        ("/static/vendor/uplot-1.6.32/uPlot.min.css", "text/css"),
        ("/static/vendor/uplot-1.6.32/LICENSE", "text/plain"),
    ] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with(kind), "{path}: {:?}", r.header("content-type"));
        assert!(!r.body.is_empty());
    }
}
