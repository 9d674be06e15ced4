//! Monthly figures end to end: CDR rows in the real MariaDB and a `queue_log` file, shipped by real
//! agents through a real Mosquitto to a real collector, come back as one call center's figures from
//! `GET /api/v1/reports/figures`. The center has a FreePBX (the captured CDR, plus October calls
//! and queue lines written here) and an Issabel-like PBX (no `linkedid` column, trunks named
//! otherwise, classified by its own `[reports.servers."…"]` rules).

use centinela_e2e::mariadb::Database;
use centinela_e2e::*;
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

/// Epoch seconds of an El Salvador wall-clock time (the collector's default zone, UTC−6).
fn sv(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a date").and_utc().timestamp() + 6 * 3600
}

fn figures(collector: &Collector, token: &str, query: &str) -> (u16, Value) {
    let (code, body) = http_get_as(collector.http_port, &format!("/api/v1/reports/figures?{query}"), Some(token));
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

#[test]
fn cdr_rows_in_the_pbx_database_come_back_as_the_months_figures_of_their_call_center() {
    // The FreePBX: the 76 captured rows of 27 Nov 2026, and three October calls.
    let freepbx = Database::create("centinela_e2e_report_freepbx");
    freepbx.load_captured_cdr();
    let cols = "calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, duration, billsec, \
                disposition, amaflags, uniqueid, linkedid, sequence, did, outbound_cnum";
    freepbx.execute(&[
        // Alice answers a DID call and blind-transfers it to Carol: one call, 30 + 60 s of talk.
        format!(
            "INSERT INTO cdr ({cols}) VALUES
             ('2026-10-15 10:00:00', '\"Ana\" <22001100>', '22001100', '5000', 'from-did-direct', 'PJSIP/carrier-000000a0',
              'PJSIP/1001-000000a1', 'Dial', 'PJSIP/1001,20', 32, 30, 'ANSWERED', 3, '1792080000.1', '1792080000.1', 1, '5000', ''),
             ('2026-10-15 10:00:35', '\"Ana\" <22001100>', '22001100', '5000', 'from-did-direct', 'PJSIP/carrier-000000a0',
              'PJSIP/1003-000000a2', 'Dial', 'PJSIP/1003,20', 62, 60, 'ANSWERED', 3, '1792080000.1', '1792080000.1', 2, '5000', ''),
             ('2026-10-15 11:05:00', '\"Luis\" <22001101>', '22001101', 'soporte', 'ext-queues', 'PJSIP/carrier-000000a3',
              '', 'Queue', 'soporte,t,,,600', 45, 45, 'ANSWERED', 3, '1792083900.3', '1792083900.3', 3, '5000', ''),
             ('2026-10-16 16:30:00', '\"Bob\" <5550100>', '5550100', '922445566', 'from-internal', 'PJSIP/1002-000000a4',
              'PJSIP/carrier-000000a5', 'Dial', 'PJSIP/22445566@carrier,300', 102, 100, 'ANSWERED', 3, '1792189800.4',
              '1792189800.4', 4, '', '5550100')"
        ),
    ]);
    // The Issabel-like PBX: the captured rows in a table without linkedid, sequence and
    // peeraccount, its trunk called SIP/movistar.
    let issabel = Database::create("centinela_e2e_report_issabel");
    let trunk = |c: &str| format!("REPLACE({c}, 'PJSIP/carrier', 'SIP/movistar') AS {c}");
    issabel.execute(&[format!(
        "CREATE TABLE cdr AS SELECT calldate, clid, src, dst, dcontext, {}, {}, lastapp, lastdata, duration, billsec,
                disposition, amaflags, accountcode, uniqueid, userfield, did, recordingfile, cnum, cnam,
                outbound_cnum, outbound_cnam, dst_cnam
         FROM {}.cdr WHERE calldate >= '2026-11-01'",
        trunk("channel"),
        trunk("dstchannel"),
        freepbx.name
    )]);

    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let http_port = free_port();
    let dir = tmp.path().join("collector");
    // The Issabel's trunk is only recognisable by name: its did and outbound_cnum are not trusted.
    let config = format!(
        "data_dir = \"{d}/data\"\n[mqtt]\nurl = \"{url}\"\nclient_id = \"centinela-collector-e2e\"\n\
         [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
         [reports]\nservice_level = \"20s\"\n\
         [reports.servers.\"pbx-issabel\"]\ntrunks = [\"SIP/movistar*\"]\ninbound_contexts = []\n\
         did_is_inbound = false\noutbound_cnum_is_outbound = false\n",
        d = dir.display(),
        url = broker.url()
    );
    let collector = Collector::start_with(&dir, &config, http_port, &[]);

    // The FreePBX's queue_log: two answered calls (after 12 s and 30 s, 60 s and 120 s of talk)
    // and one abandoned, in October; an agent event that is no call.
    let agent_dir = tmp.path().join("agent-freepbx");
    std::fs::create_dir_all(&agent_dir).expect("agent dir");
    let queue_log = agent_dir.join("queue_log");
    let lines = [
        (sv("2026-10-15 09:00:00"), "NONE", "NONE", "ADDMEMBER", ""),
        (sv("2026-10-15 10:00:00"), "1792080000.9", "NONE", "ENTERQUEUE", "|22001100|1"),
        (sv("2026-10-15 10:00:12"), "1792080000.9", "PJSIP/1001", "CONNECT", "12|1792080012.10|3"),
        (sv("2026-10-15 10:01:12"), "1792080000.9", "PJSIP/1001", "COMPLETECALLER", "12|60|1"),
        (sv("2026-10-15 11:00:00"), "1792083600.11", "NONE", "ENTERQUEUE", "|22001101|1"),
        (sv("2026-10-15 11:00:30"), "1792083600.11", "PJSIP/1002", "CONNECT", "30|1792083630.12|9"),
        (sv("2026-10-15 11:02:30"), "1792083600.11", "PJSIP/1002", "COMPLETEAGENT", "30|120|1"),
        (sv("2026-10-15 11:05:00"), "1792083900.3", "NONE", "ENTERQUEUE", "|22001101|1"),
        (sv("2026-10-15 11:05:45"), "1792083900.3", "NONE", "ABANDON", "1|1|45"),
    ];
    let text: String = lines
        .iter()
        .map(|(t, call, agent, event, data)| {
            let queue = if *call == "NONE" { "NONE" } else { "soporte" };
            format!("{t}|{call}|{queue}|{agent}|{event}|{data}\n")
        })
        .collect();
    std::fs::write(&queue_log, text).expect("queue_log");
    let section = |db: &Database, extra: &str| {
        format!("[database]\nurl = \"{}\"\nship_every = \"1s\"\nbackfill = \"3650d\"\n{extra}", db.url())
    };
    let queue_section = format!("[queue_log]\nfile = \"{}\"\n", queue_log.display());
    let _freepbx_agent = Agent::start_with_sections(
        &agent_dir,
        "pbx-freepbx",
        &broker.url(),
        "500ms",
        "",
        &section(&freepbx, &queue_section),
    );
    let _issabel_agent = Agent::start_with_sections(
        &tmp.path().join("agent-issabel"),
        "pbx-issabel",
        &broker.url(),
        "500ms",
        "",
        &section(&issabel, ""),
    );
    wait_until("both servers known to the collector", T, || {
        collector.sample_count("pbx-freepbx") >= 1 && collector.sample_count("pbx-issabel") >= 1
    });

    // The organisation: both servers in center 1; center 2 is another one.
    let port = collector.http_port;
    for form in [
        "csrf=x&what=dependencia&name=Impuestos+Internos",
        "csrf=x&what=center&dependencia=1&name=Centro+de+Llamadas+DGII",
        "csrf=x&what=center&dependencia=1&name=Centro+Aduanas",
        "csrf=x&what=place&server=pbx-freepbx&center=1",
        "csrf=x&what=place&server=pbx-issabel&center=1",
    ] {
        let (code, body) = http_post_as(port, "/admin/organizacion", collector.token(), form);
        assert_eq!(code, 303, "{form}: {body}");
    }
    wait_until("every CDR row at the collector", T, || {
        collector.cdr_ids("pbx-freepbx").len() >= 80 && collector.cdr_ids("pbx-issabel").len() >= 76
    });

    let token = collector.token().to_string();
    let mut oct = Value::Null;
    wait_until("October's queue figures", T, || {
        oct = figures(&collector, &token, "centro=1&mes=2026-10").1;
        oct["queues"].as_array().is_some_and(|q| !q.is_empty())
    });
    // October: the FreePBX's three calls. Received 2: the transfer (answered, 30 + 60 s) and the
    // call only the Queue app answered (no answer). Made 1: answered, 100 s, to 22445566.
    assert_eq!(
        (oct["center_name"].as_str(), oct["year"].as_i64(), oct["month"].as_i64()),
        (Some("Centro de Llamadas DGII"), Some(2026), Some(10))
    );
    assert_eq!(oct["servers"], json!(["pbx-freepbx", "pbx-issabel"]));
    assert_eq!(
        oct["received"],
        json!({ "calls": 2, "answered": 1, "no_answer": 1, "busy": 0, "failed": 0, "talk_s": 90, "avg_talk_s": 90.0 })
    );
    assert_eq!(
        oct["made"],
        json!({ "calls": 1, "answered": 1, "no_answer": 0, "busy": 0, "failed": 0, "talk_s": 100, "avg_talk_s": 100.0 })
    );
    assert_eq!(
        (oct["internal"].as_u64(), oct["calls"].as_u64(), oct["cdr_rows"].as_u64()),
        (Some(0), Some(3), Some(4))
    );
    assert_eq!(oct["by_day"].as_array().map(Vec::len), Some(31));
    assert_eq!((&oct["by_day"][14], &oct["by_day"][15]), (&json!([2, 0]), &json!([0, 1])));
    assert_eq!(
        (&oct["by_hour"][10], &oct["by_hour"][11], &oct["by_hour"][16]),
        (&json!([1, 0]), &json!([1, 0]), &json!([0, 1]))
    );
    assert_eq!(oct["top_destinations"], json!([["22445566", 1, 1]]));
    // Queue soporte: 3 offered, 2 answered (1 within 20 s), 1 abandoned; ASA (12 + 30) / 2,
    // talk (60 + 120) / 2.
    let q = &oct["queues"][0];
    assert_eq!(
        (&q["queue"], &q["offered"], &q["answered"], &q["abandoned"], &q["timed_out"], &q["answered_within"]),
        (&json!("soporte"), &json!(3), &json!(2), &json!(1), &json!(0), &json!(1))
    );
    assert_eq!((q["asa_s"].as_f64(), q["avg_talk_s"].as_f64()), (Some(21.0), Some(90.0)));
    let pct = |v: &Value| v.as_f64().map(|p| (p * 100.0).round() / 100.0);
    assert_eq!((pct(&q["service_level_pct"]), pct(&q["abandon_rate_pct"])), (Some(33.33), Some(33.33)));
    assert_eq!(oct["service_level_s"], json!(20));
    assert!(
        oct["formulas"].as_array().is_some_and(|f| f.iter().any(|f| f["name"] == "Nivel de servicio")),
        "the formulas come with the figures"
    );

    // November: the captured calls on both servers. The FreePBX, grouped by linkedid: received 14
    // (2 answered, 36 + 25 s), made 17 (4 answered, 95 s), internal 14. The Issabel, by uniqueid,
    // classified by its trunk name alone: the same calls, but its queue call answered through
    // Local/1001;1 counts the trunk leg's 39 s (the wait included) instead of the agent's 36.
    let (code, nov) = figures(&collector, &token, "centro=1&mes=2026-11");
    assert_eq!(code, 200, "{nov}");
    assert_eq!(
        nov["received"],
        json!({ "calls": 28, "answered": 4, "no_answer": 18, "busy": 0, "failed": 6, "talk_s": 125, "avg_talk_s": 31.25 })
    );
    assert_eq!(
        nov["made"],
        json!({ "calls": 34, "answered": 8, "no_answer": 12, "busy": 8, "failed": 6, "talk_s": 190, "avg_talk_s": 23.75 })
    );
    assert_eq!(
        (nov["internal"].as_u64(), nov["calls"].as_u64(), nov["cdr_rows"].as_u64()),
        (Some(28), Some(90), Some(139))
    );
    assert_eq!(nov["by_day"][26], json!([28, 34]));
    assert_eq!(nov["by_hour"][9], json!([28, 34]));
    assert_eq!(nov["top_destinations"][0], json!(["5551174", 2, 2]));
    assert_eq!(nov["queues"], json!([]), "no queue_log lines in November");

    // Access: center 2 exists but has no servers; a jefe_centro of center 2 cannot see center 1,
    // and bad parameters are refused with the fix.
    let (code, empty) = figures(&collector, &token, "centro=2&mes=2026-11");
    assert_eq!((code, &empty["calls"], &empty["servers"]), (200, &json!(0), &json!([])));
    collector.cli(&["user", "add", "jefa.aduanas", "--role", "jefe_centro", "--center", "2"]);
    let out = collector.cli(&["token", "create", "jefa.aduanas", "--label", "e2e"]);
    let jefa = out.lines().find(|l| l.starts_with("cnt_")).expect("a token").to_string();
    assert_eq!(figures(&collector, &jefa, "centro=2&mes=2026-11").0, 200);
    let (code, refused) = figures(&collector, &jefa, "centro=1&mes=2026-11");
    assert_eq!((code, refused["error"].as_str()), (404, Some("no existe el centro telefónico 1")));
    assert_eq!(figures(&collector, &token, "centro=9&mes=2026-11").0, 404);
    let (code, bad) = figures(&collector, &token, "centro=1&mes=noviembre");
    assert!(code == 400 && bad["error"].as_str().is_some_and(|e| e.contains("AAAA-MM")), "{code} {bad}");
    let (code, _) = http_get(collector.http_port, "/api/v1/reports/figures?centro=1&mes=2026-11");
    assert_eq!(code, 401);
}
